//! The prefilter table format (`rules/default.prefilter`, the prefilter cache): one row per
//! rule or alternative with its pattern fingerprint and required literals, in clauses (see
//! [`super::literals::required_clauses`]).

use super::*;

/// Parses a prefilter table: `NAME<TAB>FINGERPRINT<TAB>HEX HEX ... | HEX ...` (clauses
/// separated by ` | `) or `... <TAB>-`.
/// Rule name → (pattern fingerprint, clauses or `None` for "always run").
pub(super) type PrefilterTable<'a> = HashMap<&'a str, (u64, Option<Clauses>)>;

pub(super) fn parse_prefilter_table(text: &str) -> PrefilterTable<'_> {
    let mut out = HashMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let mut f = line.split('\t');
        let (Some(name), Some(fp), Some(lits)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let Ok(fp) = u64::from_str_radix(fp, 16) else {
            continue;
        };
        let lits = if lits == "-" {
            None
        } else {
            let decoded: Option<Clauses> = lits
                .split(" | ")
                .map(|c| c.split(' ').map(unhex).collect())
                .collect();
            match decoded {
                Some(d) => Some(d),
                None => continue,
            }
        };
        out.insert(name, (fp, lits));
    }
    out
}

/// Decodes lower- or upper-case hex; `None` on anything else. Hand-rolled: the table is
/// decoded once per process, and `from_str_radix` per byte pair made that about a million
/// instructions of a one-message `classify` (callgrind).
pub(super) fn unhex(s: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    let mut out = Vec::with_capacity(b.len() / 2);
    for pair in b.chunks_exact(2) {
        out.push(nibble(pair[0])? << 4 | nibble(pair[1])?);
    }
    Some(out)
}

/// Clauses as a table row writes them: each literal in hex, literals separated by a space,
/// clauses by ` | `.
pub(super) fn clauses_text(clauses: &Clauses) -> String {
    clauses
        .iter()
        .map(|c| {
            c.iter()
                .map(|x| x.iter().map(|b| format!("{b:02x}")).collect::<String>())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

impl RuleSet {
    /// The prefilter table for this rule set, in the format of `rules/default.prefilter`.
    #[doc(hidden)]
    pub fn prefilter_table(&self) -> String {
        let mut out = String::from(
            "# mailsift prefilter literals: NAME, pattern fingerprint, hex literals in clauses \
             ('-': none).\n\
             # Generated; see DEFAULT_PREFILTER in classifier/src/rules/mod.rs.\n",
        );
        // One row: name, pattern fingerprint, required literals in hex ('-': none).
        let mut row = |name: &str, p: &Pattern| {
            let lits = p
                .required_clauses()
                .map_or_else(|| "-".to_owned(), |c| clauses_text(&c));
            out.push_str(&format!("{name}\t{:016x}\t{lits}\n", p.fingerprint()));
        };
        for r in &self.inner.rules {
            if let Test::Header { pattern, .. } | Test::Regex(pattern) = &r.test {
                row(&r.name, pattern);
            }
            if let Some(alts) = splittable(r).and_then(Pattern::alternatives) {
                for (k, a) in alts.iter().enumerate() {
                    row(&format!("{}|{k}", r.name), a);
                }
            }
        }
        out
    }
}
