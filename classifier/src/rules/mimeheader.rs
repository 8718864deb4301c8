//! `mimeheader` rules (SpamAssassin's MIMEHeader plugin): a regex over a header field of every
//! MIME part, the message's own header included, each value tested on its own.
//!
//! As the plugin documents: names are case-insensitive; a value is unfolded (the line break
//! and the blanks around it become one space) and RFC 2047-decoded, or with `:raw` kept as
//! written, folding included. The rule hits when some part's value matches (`=~`), or when
//! no part's value does (`!~`).

use super::Test;
use super::evals::Env;
use super::parse::Builder;
use super::pattern::Pattern;

/// A parsed `mimeheader NAME Field[:raw] =~ /re/` test.
#[derive(Debug, Clone)]
pub(crate) struct MimeHeaderTest {
    /// The field name.
    pub name: String,
    /// `:raw`: the value as written.
    pub raw: bool,
    pub pattern: Pattern,
    pub negate: bool,
}

/// Parses the definition after the rule name.
pub(crate) fn parse(b: &Builder<'_>, rule: &str, def: &str) -> Result<Test, String> {
    let def = def.trim();
    let (field, rest) = def
        .split_once(char::is_whitespace)
        .ok_or("mimeheader rule needs 'Field =~ /re/'")?;
    let rest = rest.trim_start();
    let (negate, rest) = if let Some(r) = rest.strip_prefix("=~") {
        (false, r)
    } else if let Some(r) = rest.strip_prefix("!~") {
        (true, r)
    } else {
        return Err("mimeheader rule needs 'Field =~ /re/' or 'Field !~ /re/'".into());
    };
    let (name, raw) = match field.split_once(':') {
        None => (field, false),
        Some((n, "raw")) => (n, true),
        Some((_, m)) => return Err(format!("mimeheader modifier ':{m}' is not supported")),
    };
    if name.is_empty() {
        return Err("mimeheader rule needs a field name".into());
    }
    let (pattern, tail) = b.pattern(rule, rest, false)?;
    if !tail.is_empty() {
        return Err(format!("unexpected text after the pattern: '{tail}'"));
    }
    Ok(Test::MimeHeader(MimeHeaderTest {
        name: name.to_owned(),
        raw,
        pattern,
        negate,
    }))
}

impl MimeHeaderTest {
    /// Evaluates the rule on a message.
    pub(crate) fn matches(&self, env: &Env<'_>, long_lived: bool) -> bool {
        let any = env.parts().iter().any(|p| {
            if self.raw {
                p.raw_values(&self.name)
                    .any(|v| self.pattern.is_match_with(&v, long_lived))
            } else {
                p.values(&self.name)
                    .any(|v| self.pattern.is_match_with(&cleaned(v), long_lived))
            }
        });
        any != self.negate
    }
}

/// Unfolds (each line break with its surrounding blanks becomes one space) and decodes RFC
/// 2047 words.
fn cleaned(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for (i, line) in v.split('\n').enumerate() {
        let line = line.trim_end_matches(['\r', ' ', '\t']);
        if i > 0 {
            out.truncate(out.trim_end_matches([' ', '\t']).len());
            out.push(' ');
            out.push_str(line.trim_start_matches([' ', '\t']));
        } else {
            out.push_str(line);
        }
    }
    if out.contains("=?") {
        super::htext::decode_words(&out)
    } else {
        out
    }
}

#[cfg(test)]
mod tests {

    use crate::rules::tests::hits_now as hits;

    const MSG: &str = "From: a@b.example\nSubject: x\nContent-Type: multipart/mixed; \
                       boundary=\"B\"\n\n--B\nContent-Type: text/plain\n\nhi\n--B\n\
                       Content-Type: application/octet-stream;\n\tname=\"lotto.pdf\"\n\
                       Content-Disposition: attachment; filename=\"lotto.pdf\"\n\nJVBE\n--B--\n";

    #[test]
    fn each_part_is_tested_on_its_own() {
        let rules = "mimeheader OCTET Content-Type =~ /^application\\/octet-stream.*\\.pdf/i\n\
                     mimeheader RAWFOLD Content-Type:raw =~ /stream;\\n\\tname=/\n\
                     mimeheader MAIN Content-Type =~ /^multipart\\/mixed/\n\
                     mimeheader NOPE Content-Type =~ /^image\\//\n\
                     mimeheader NOTIMG Content-Type !~ /^image\\//\n\
                     mimeheader TEXTSTART Content-Type =~ /^text\\/plain$/\n";
        let h = hits(rules, MSG);
        for r in ["OCTET", "RAWFOLD", "MAIN", "NOTIMG", "TEXTSTART"] {
            assert!(h.contains(&r.to_owned()), "{r} should hit: {h:?}");
        }
        assert!(!h.contains(&"NOPE".to_owned()));
    }

    /// The message's own header keeps the blanks after the colon in a `:raw` value; a part's
    /// does not (SpamAssassin 4.0.1 on the three forms: only the second and third hit).
    #[test]
    fn raw_values_of_the_message_header_keep_their_leading_blanks() {
        let rules = "mimeheader GIF Content-Type:raw =~ /^image\\/gif;\\n\\tname=/\n";
        let gif = "Content-Type: image/gif;\n\tname=\"a.gif\"\n\nR0lG\n";
        assert!(hits(rules, gif).is_empty());
        let tight = gif.replace("Content-Type: ", "Content-Type:");
        assert_eq!(hits(rules, &tight), ["GIF"]);
        let part = format!(
            "Subject: x\nContent-Type: multipart/mixed; boundary=\"B\"\n\n--B\n{gif}--B--\n"
        );
        assert_eq!(hits(rules, &part), ["GIF"]);
    }

    #[test]
    fn values_are_unfolded_and_decoded() {
        assert_eq!(
            super::cleaned("application/x;\n\tname=\"=?utf-8?q?caf=C3=A9?=\""),
            "application/x; name=\"café\""
        );
    }
}
