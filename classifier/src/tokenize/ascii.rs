//! Word segmentation of ASCII text, the same words as `unicode_word_indices` (UAX #29) gives,
//! without its Unicode tables: most mail text is ASCII, and segmenting was the tokenizer's
//! largest cost. The property test below holds it to `unicode-segmentation` on any ASCII text.
//!
//! For ASCII, UAX #29 joins letters, digits and `_` (WB5, WB8-WB10, WB13a/b); a `:`, `.` or `'`
//! between two letters (WB6/WB7: MidLetter, MidNumLet, Single_Quote); and a `,`, `;`, `.` or
//! `'` between two digits (WB11/WB12: MidNum, MidNumLet, Single_Quote). It breaks everywhere
//! else, and `unicode_word_indices` keeps only the segments with a letter or digit.

/// Calls `f` with the byte offset and text of each word of the ASCII `text`, in order.
pub(super) fn words(text: &str, mut f: impl FnMut(usize, &str)) {
    let b = text.as_bytes();
    let joins = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    while i < b.len() {
        if !joins(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        let mut alnum = false;
        loop {
            let c = b[i];
            alnum |= c.is_ascii_alphanumeric();
            let Some(&next) = b.get(i + 1) else { break };
            if joins(next) {
                i += 1;
                continue;
            }
            let after = b.get(i + 2).copied().unwrap_or(0);
            let between_letters = c.is_ascii_alphabetic()
                && after.is_ascii_alphabetic()
                && matches!(next, b':' | b'.' | b'\'');
            let between_digits = c.is_ascii_digit()
                && after.is_ascii_digit()
                && matches!(next, b',' | b';' | b'.' | b'\'');
            if between_letters || between_digits {
                i += 2;
                continue;
            }
            break;
        }
        if alnum {
            f(start, &text[start..=i]);
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use unicode_segmentation::UnicodeSegmentation;

    fn ours(text: &str) -> Vec<(usize, String)> {
        let mut v = Vec::new();
        super::words(text, |at, w| v.push((at, w.to_owned())));
        v
    }

    fn uax29(text: &str) -> Vec<(usize, String)> {
        text.unicode_word_indices()
            .map(|(at, w)| (at, w.to_owned()))
            .collect()
    }

    #[test]
    fn examples() {
        for text in [
            "Don't buy 1,000.50 shares of e.g. ACME_Corp: a:b c_ _ __x a..b 1.a a.1 x'",
            "mail me at bob@example.com, http://x.example/a?b=c&d=e_f",
            "",
            "___",
            "3.14;2,71'8 end.",
        ] {
            assert_eq!(ours(text), uax29(text), "{text:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn same_words_as_unicode_segmentation(text in "[a-zA-Z0-9_ .:,;'\"!@#$%&*()=+/<>?\\[\\]{}|~`^\\\\\t\r\n-]{0,80}") {
            prop_assert_eq!(ours(&text), uax29(&text));
        }

        #[test]
        fn same_words_on_any_ascii(bytes in proptest::collection::vec(0u8..128, 0..120)) {
            let text = String::from_utf8(bytes).expect("ASCII");
            prop_assert_eq!(ours(&text), uax29(&text));
        }
    }
}
