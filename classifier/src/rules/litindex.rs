//! The literal prefilter index (see [`LitIndex`]).

/// Most literals whose automaton is a full DFA (a transition table per state) rather than the
/// automaton the builder picks for that many (a noncontiguous or contiguous NFA). With the
/// built-in rules' 605 body literals the DFA scanned a body in 11 us instead of 24-26
/// (`rules_timing`, first 1,200 SpamAssassin-corpus messages x 2): a table that small stays in
/// cache. With the stock SpamAssassin rules' 6,045 body literals the DFA was slower (the body
/// prefilter 368 against 322-363 us), so larger sets keep the builder's choice. Which
/// automaton scans changes no result. corpora/SA-FIDELITY.md, "Session 24".
const DFA_LITERALS: usize = 1_000;

/// The literal prefilter: finds which of a set of short lower-case literals occur in a text,
/// case-insensitively. Indexed by each literal's first three bytes, with a bitmap to reject most
/// positions at once. Building it is a few microseconds (an Aho-Corasick automaton over the same
/// literals takes hundreds, which a one-message process cannot repay); scanning is one
/// table probe per byte.
#[derive(Debug, Clone)]
pub(super) struct LitIndex {
    /// Bit per 12-bit hash of a three-byte prefix.
    bloom: Vec<u64>,
    /// (prefix, literal, id), sorted by prefix.
    entries: Vec<([u8; 3], Box<[u8]>, usize)>,
    /// The same literals as an Aho-Corasick automaton, for a long-lived rule set (see
    /// [`super::RuleSet::prepare_now`]); used instead of the index when present. Its patterns
    /// are the distinct literals (ASCII case folded), each standing for the ids in `owners`.
    pub(super) automaton: Option<aho_corasick::AhoCorasick>,
    /// The ids of each of the automaton's patterns: `owners[ends[p - 1]..ends[p]]` (from 0 for
    /// the first).
    owners: Vec<usize>,
    ends: Vec<usize>,
}

impl LitIndex {
    pub(super) fn new(lits: &[Vec<u8>], automaton: bool) -> LitIndex {
        let (distinct, owners, ends) = if automaton {
            distinct(lits)
        } else {
            Default::default()
        };
        let automaton = automaton
            .then(|| {
                aho_corasick::AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .match_kind(aho_corasick::MatchKind::Standard)
                    .kind(
                        (distinct.len() <= DFA_LITERALS)
                            .then_some(aho_corasick::AhoCorasickKind::DFA),
                    )
                    .build(&distinct)
                    .ok()
            })
            .flatten();
        let mut bloom = vec![0u64; 64];
        let mut entries = Vec::with_capacity(lits.len());
        for (id, l) in lits.iter().enumerate() {
            if l.len() < 3 {
                continue; // never produced (MIN_PREFILTER_LEN is 3)
            }
            let key = [
                l[0].to_ascii_lowercase(),
                l[1].to_ascii_lowercase(),
                l[2].to_ascii_lowercase(),
            ];
            let h = Self::hash(key);
            bloom[h >> 6] |= 1 << (h & 63);
            entries.push((key, l.to_ascii_lowercase().into_boxed_slice(), id));
        }
        entries.sort_by_key(|e| e.0);
        LitIndex {
            bloom,
            entries,
            automaton,
            owners,
            ends,
        }
    }

    fn hash(k: [u8; 3]) -> usize {
        let x = u32::from(k[0]) << 16 | u32::from(k[1]) << 8 | u32::from(k[2]);
        (x.wrapping_mul(0x9E37_79B1) >> 20) as usize & 4095
    }

    /// Calls `found` with the id of every literal that occurs in `hay` (possibly repeatedly).
    pub(super) fn scan(&self, hay: &[u8], mut found: impl FnMut(usize)) {
        if let Some(ac) = &self.automaton {
            for m in ac.find_overlapping_iter(hay) {
                let p = m.pattern().as_usize();
                let from = p.checked_sub(1).map_or(0, |q| self.ends[q]);
                for &id in &self.owners[from..self.ends[p]] {
                    found(id);
                }
            }
            return;
        }
        if hay.len() < 3 {
            return;
        }
        for i in 0..hay.len() - 2 {
            let key = [
                hay[i].to_ascii_lowercase(),
                hay[i + 1].to_ascii_lowercase(),
                hay[i + 2].to_ascii_lowercase(),
            ];
            let h = Self::hash(key);
            if self.bloom[h >> 6] & (1 << (h & 63)) == 0 {
                continue;
            }
            let start = self.entries.partition_point(|e| e.0 < key);
            for (k, lit, id) in &self.entries[start..] {
                if *k != key {
                    break;
                }
                let rest = &hay[i..];
                if rest.len() >= lit.len()
                    && rest[..lit.len()]
                        .iter()
                        .zip(lit.iter())
                        .all(|(a, b)| a.to_ascii_lowercase() == *b)
                {
                    found(*id);
                }
            }
        }
    }
}

/// The distinct literals of `lits` (ASCII case folded, in order of first appearance), with the
/// ids each stands for: `owners[ends[p - 1]..ends[p]]` for the `p`th. An automaton reports an
/// occurrence once for every pattern that matches there, and the stock rules repeat literals
/// (12,577 body literals, 8,032 distinct): over the distinct ones the body automaton reported a
/// quarter of the matches and scanned a body in 57 us instead of 83 (a scratch program on 1,000
/// SpamAssassin-corpus bodies; corpora/SA-FIDELITY.md, "Session 38").
fn distinct(lits: &[Vec<u8>]) -> (Vec<Vec<u8>>, Vec<usize>, Vec<usize>) {
    let mut slot: std::collections::HashMap<Vec<u8>, usize> = std::collections::HashMap::new();
    let mut distinct: Vec<Vec<u8>> = Vec::new();
    let mut ids: Vec<Vec<usize>> = Vec::new();
    for (id, l) in lits.iter().enumerate() {
        let folded = l.to_ascii_lowercase();
        let p = *slot.entry(folded).or_insert_with_key(|k| {
            distinct.push(k.clone());
            ids.push(Vec::new());
            distinct.len() - 1
        });
        ids[p].push(id);
    }
    let mut owners = Vec::with_capacity(lits.len());
    let mut ends = Vec::with_capacity(ids.len());
    for group in ids {
        owners.extend(group);
        ends.push(owners.len());
    }
    (distinct, owners, ends)
}
