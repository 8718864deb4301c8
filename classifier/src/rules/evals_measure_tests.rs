//! Tests of evals_measure.rs against the simpler walks they replaced.

use proptest::prelude::*;

use super::{letter_counts, looks_substituted, obfuscated_word_count};

/// The walk `obfuscated_word_count` replaced: over a vector of the text's characters.
fn by_characters(text: &str) -> u32 {
    let mut count = 0u32;
    let chars: Vec<char> = text.chars().take(200_000).collect();
    let mut i = 0;
    while i < chars.len() {
        // (a) Single letters split by one repeated separator: v.i.a.g.r.a, F R E E M
        if chars[i].is_ascii_alphabetic()
            && (i == 0 || !chars[i - 1].is_alphanumeric())
            && i + 1 < chars.len()
        {
            let sep = chars[i + 1];
            if matches!(sep, '.' | '-' | '*' | '_' | '|' | ' ' | '~' | '+' | '=') {
                let mut n = 1;
                let mut j = i + 1;
                while j + 1 < chars.len() && chars[j] == sep && chars[j + 1].is_ascii_alphabetic() {
                    if j + 2 < chars.len() && chars[j + 2].is_alphanumeric() {
                        break;
                    }
                    n += 1;
                    j += 2;
                }
                let need = if sep == ' ' { 5 } else { 4 };
                if n >= need {
                    count += 1;
                    i = j;
                    continue;
                }
            }
        }
        // (b) A word with look-alike digits or '$' between letters: m0rtgage, V1AGRA, ca$h.
        if chars[i].is_alphanumeric() && (i == 0 || !chars[i - 1].is_alphanumeric()) {
            let start = i;
            let mut j = i;
            while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '$') {
                j += 1;
            }
            if j < chars.len() && chars[j].is_alphanumeric() {
                // Non-ASCII letters: not our concern.
                while j < chars.len() && chars[j].is_alphanumeric() {
                    j += 1;
                }
                i = j;
                continue;
            }
            let w = &chars[start..j];
            if substituted_chars(w) {
                count += 1;
            }
            i = j.max(i + 1);
            continue;
        }
        i += 1;
    }
    count
}

/// The word test on characters: the walk gives it ASCII letters, digits and `$` only.
fn substituted_chars(w: &[char]) -> bool {
    let bytes: Vec<u8> = w.iter().map(|&c| u8::try_from(c).unwrap_or(0)).collect();
    looks_substituted(&bytes)
}

/// Strings over an alphabet that reaches every branch: letters, the look-alike digits and
/// `$`, each separator, line breaks, and non-ASCII letters (one of them title case), marks,
/// spaces and ideographs, as two to four bytes of UTF-8.
fn mixed() -> impl Strategy<Value = String> {
    let alphabet: Vec<char> =
        "aAvViIgGrRxZ013$9.-*_|~+= \n\t\u{e9}\u{c9}\u{df}\u{1c5}\u{a0}\u{2022}\u{301}\u{4e2d}\u{1f600}"
            .chars()
            .collect();
    proptest::collection::vec(proptest::sample::select(alphabet), 0..80)
        .prop_map(|v| v.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn obfuscated_words_as_by_characters(s in mixed()) {
        prop_assert_eq!(obfuscated_word_count(&s), by_characters(&s));
    }

    #[test]
    fn obfuscated_words_add_up_over_lines(a in mixed(), b in mixed()) {
        let joined = format!("{a}\n{b}\n\n");
        prop_assert_eq!(
            obfuscated_word_count(&joined),
            obfuscated_word_count(&a) + obfuscated_word_count(&b)
        );
    }

    #[test]
    fn letter_counts_as_by_characters(s in mixed()) {
        for s in [s.clone(), s.chars().filter(char::is_ascii).collect()] {
            let letters = s.chars().filter(|c| c.is_alphabetic()).count();
            let upper = s.chars().filter(|c| c.is_alphabetic() && c.is_uppercase()).count();
            prop_assert_eq!(letter_counts(&s), (letters, upper));
        }
    }
}

#[test]
fn obfuscated_words_examples() {
    for s in [
        "buy v.i.a.g.r.a now",
        "F R E E M O N E Y offer",
        "cheap m0rtgage and ca$hback",
        "caf\u{e9} m0rtgage\u{e9}",
        "x\u{e9}v.i.a.g.r.a",
        "v.i.a.g.r.a\u{e9}",
    ] {
        assert_eq!(obfuscated_word_count(s), by_characters(s), "{s}");
    }
    assert_eq!(obfuscated_word_count("cheap m0rtgage and ca$hback"), 2);
    // A letter after a non-ASCII one starts no spelled-out word: "v" goes with "x\u{e9}",
    // and "i.a.g.r.a" still counts.
    assert_eq!(obfuscated_word_count("x\u{e9}v.i.a.g.r.a"), 1);
    assert_eq!(obfuscated_word_count("x\u{e9}v.i.a.g"), 0);
    // Only the first 200,000 characters are read, as before: the last word is cut.
    let long = format!("{}v.i.a.g.r.a", "\u{e9} ".repeat(99_995));
    assert_eq!(obfuscated_word_count(&long), by_characters(&long));
    assert_eq!(obfuscated_word_count(&long), 1);
    let cut = format!("{}v.i.a.g.r.a", "\u{e9} ".repeat(99_998));
    assert_eq!(obfuscated_word_count(&cut), 0);
    assert_eq!(by_characters(&cut), 0);
}
