//! Character references as SpamAssassin's HTML renderer reads them: HTML::Parser's decoding
//! (its `dtext` and attribute values), not the browser's.
//!
//! - A numeric reference needs no `;`: `&#83&#112eed` is "Speed" (the digits end it). `&#0`,
//!   an empty one and one past U+10FFFF stay as written; a surrogate becomes U+FFFD.
//! - The HTML 2 names (the Latin-1 letters and signs, `amp`, `lt`, `gt`, `quot`, `apos`) need
//!   no `;` either; in text, not in attribute values, a longer run of letters and digits that
//!   starts with one is read as it and the rest (`&copy2010` is "©2010", `&nbspx` a no-break
//!   space and "x").
//! - The HTML 4 names (`bull`, `hellip`, `euro`, ...) need their `;`.
//!
//! Each case was checked with HTML::Parser 3.81 (the Debian package SpamAssassin 4.0.1 uses).
//! Bayes and the built-in rules read `crate::html::decode_entities`, which decodes only
//! references that end in `;` (their figures were measured with it).

/// The names read without `;`, sorted: HTML 2's, code points 160-255 and five ASCII.
static BARE: &[(&str, u32)] = &[
    ("AElig", 198),
    ("Aacute", 193),
    ("Acirc", 194),
    ("Agrave", 192),
    ("Aring", 197),
    ("Atilde", 195),
    ("Auml", 196),
    ("Ccedil", 199),
    ("ETH", 208),
    ("Eacute", 201),
    ("Ecirc", 202),
    ("Egrave", 200),
    ("Euml", 203),
    ("Iacute", 205),
    ("Icirc", 206),
    ("Igrave", 204),
    ("Iuml", 207),
    ("Ntilde", 209),
    ("Oacute", 211),
    ("Ocirc", 212),
    ("Ograve", 210),
    ("Oslash", 216),
    ("Otilde", 213),
    ("Ouml", 214),
    ("THORN", 222),
    ("Uacute", 218),
    ("Ucirc", 219),
    ("Ugrave", 217),
    ("Uuml", 220),
    ("Yacute", 221),
    ("aacute", 225),
    ("acirc", 226),
    ("acute", 180),
    ("aelig", 230),
    ("agrave", 224),
    ("amp", 38),
    ("apos", 39),
    ("aring", 229),
    ("atilde", 227),
    ("auml", 228),
    ("brvbar", 166),
    ("ccedil", 231),
    ("cedil", 184),
    ("cent", 162),
    ("copy", 169),
    ("curren", 164),
    ("deg", 176),
    ("divide", 247),
    ("eacute", 233),
    ("ecirc", 234),
    ("egrave", 232),
    ("eth", 240),
    ("euml", 235),
    ("frac12", 189),
    ("frac14", 188),
    ("frac34", 190),
    ("gt", 62),
    ("iacute", 237),
    ("icirc", 238),
    ("iexcl", 161),
    ("igrave", 236),
    ("iquest", 191),
    ("iuml", 239),
    ("laquo", 171),
    ("lt", 60),
    ("macr", 175),
    ("micro", 181),
    ("middot", 183),
    ("nbsp", 160),
    ("not", 172),
    ("ntilde", 241),
    ("oacute", 243),
    ("ocirc", 244),
    ("ograve", 242),
    ("ordf", 170),
    ("ordm", 186),
    ("oslash", 248),
    ("otilde", 245),
    ("ouml", 246),
    ("para", 182),
    ("plusmn", 177),
    ("pound", 163),
    ("quot", 34),
    ("raquo", 187),
    ("reg", 174),
    ("sect", 167),
    ("shy", 173),
    ("sup1", 185),
    ("sup2", 178),
    ("sup3", 179),
    ("szlig", 223),
    ("thorn", 254),
    ("times", 215),
    ("uacute", 250),
    ("ucirc", 251),
    ("ugrave", 249),
    ("uml", 168),
    ("uuml", 252),
    ("yacute", 253),
    ("yen", 165),
    ("yuml", 255),
];

/// The names read only with `;`, sorted: HTML 4's symbols, Greek letters and punctuation.
static WITH_SEMICOLON: &[(&str, u32)] = &[
    ("Alpha", 913),
    ("Beta", 914),
    ("Chi", 935),
    ("Dagger", 8225),
    ("Delta", 916),
    ("Epsilon", 917),
    ("Eta", 919),
    ("Gamma", 915),
    ("Iota", 921),
    ("Kappa", 922),
    ("Lambda", 923),
    ("Mu", 924),
    ("Nu", 925),
    ("OElig", 338),
    ("Omega", 937),
    ("Omicron", 927),
    ("Phi", 934),
    ("Pi", 928),
    ("Prime", 8243),
    ("Psi", 936),
    ("Rho", 929),
    ("Scaron", 352),
    ("Sigma", 931),
    ("Tau", 932),
    ("Theta", 920),
    ("Upsilon", 933),
    ("Xi", 926),
    ("Yuml", 376),
    ("Zeta", 918),
    ("alefsym", 8501),
    ("alpha", 945),
    ("and", 8743),
    ("ang", 8736),
    ("asymp", 8776),
    ("bdquo", 8222),
    ("beta", 946),
    ("bull", 8226),
    ("cap", 8745),
    ("chi", 967),
    ("circ", 710),
    ("clubs", 9827),
    ("cong", 8773),
    ("crarr", 8629),
    ("cup", 8746),
    ("dArr", 8659),
    ("dagger", 8224),
    ("darr", 8595),
    ("delta", 948),
    ("diams", 9830),
    ("empty", 8709),
    ("emsp", 8195),
    ("ensp", 8194),
    ("epsilon", 949),
    ("equiv", 8801),
    ("eta", 951),
    ("euro", 8364),
    ("exist", 8707),
    ("fnof", 402),
    ("forall", 8704),
    ("frasl", 8260),
    ("gamma", 947),
    ("ge", 8805),
    ("hArr", 8660),
    ("harr", 8596),
    ("hearts", 9829),
    ("hellip", 8230),
    ("image", 8465),
    ("infin", 8734),
    ("int", 8747),
    ("iota", 953),
    ("isin", 8712),
    ("kappa", 954),
    ("lArr", 8656),
    ("lambda", 955),
    ("lang", 9001),
    ("larr", 8592),
    ("lceil", 8968),
    ("ldquo", 8220),
    ("le", 8804),
    ("lfloor", 8970),
    ("lowast", 8727),
    ("loz", 9674),
    ("lrm", 8206),
    ("lsaquo", 8249),
    ("lsquo", 8216),
    ("mdash", 8212),
    ("minus", 8722),
    ("mu", 956),
    ("nabla", 8711),
    ("ndash", 8211),
    ("ne", 8800),
    ("ni", 8715),
    ("notin", 8713),
    ("nsub", 8836),
    ("nu", 957),
    ("oelig", 339),
    ("oline", 8254),
    ("omega", 969),
    ("omicron", 959),
    ("oplus", 8853),
    ("or", 8744),
    ("otimes", 8855),
    ("part", 8706),
    ("permil", 8240),
    ("perp", 8869),
    ("phi", 966),
    ("pi", 960),
    ("piv", 982),
    ("prime", 8242),
    ("prod", 8719),
    ("prop", 8733),
    ("psi", 968),
    ("rArr", 8658),
    ("radic", 8730),
    ("rang", 9002),
    ("rarr", 8594),
    ("rceil", 8969),
    ("rdquo", 8221),
    ("real", 8476),
    ("rfloor", 8971),
    ("rho", 961),
    ("rlm", 8207),
    ("rsaquo", 8250),
    ("rsquo", 8217),
    ("sbquo", 8218),
    ("scaron", 353),
    ("sdot", 8901),
    ("sigma", 963),
    ("sigmaf", 962),
    ("sim", 8764),
    ("spades", 9824),
    ("sub", 8834),
    ("sube", 8838),
    ("sum", 8721),
    ("sup", 8835),
    ("supe", 8839),
    ("tau", 964),
    ("there4", 8756),
    ("theta", 952),
    ("thetasym", 977),
    ("thinsp", 8201),
    ("tilde", 732),
    ("trade", 8482),
    ("uArr", 8657),
    ("uarr", 8593),
    ("upsih", 978),
    ("upsilon", 965),
    ("weierp", 8472),
    ("xi", 958),
    ("zeta", 950),
    ("zwj", 8205),
    ("zwnj", 8204),
];

fn lookup(table: &[(&str, u32)], name: &str) -> Option<char> {
    table
        .binary_search_by(|(n, _)| n.cmp(&name))
        .ok()
        .and_then(|i| char::from_u32(table[i].1))
}

/// `s` with its character references decoded as HTML::Parser decodes text (`prefixes`: a name
/// may be followed by more letters or digits) or an attribute value (not).
pub(crate) fn decode(s: &str, prefixes: bool) -> String {
    crate::html::replace_references(s, |after| reference(after, prefixes))
}

/// The character of the reference at the start of `s` (after its `&`) and the bytes it takes,
/// its `;` included when it has one.
fn reference(s: &str, prefixes: bool) -> Option<(char, usize)> {
    let semicolon = |at: usize| usize::from(s[at..].starts_with(';'));
    if let Some(num) = s.strip_prefix('#') {
        let (digits, radix, skip) = match num.strip_prefix(['x', 'X']) {
            Some(hex) => (hex, 16, 2),
            None => (num, 10, 1),
        };
        let n = digits
            .bytes()
            .take_while(|b| char::from(*b).is_digit(radix))
            .count();
        let v = u32::from_str_radix(digits.get(..n).filter(|d| !d.is_empty())?, radix).ok()?;
        if v == 0 || v > 0x10FFFF {
            return None;
        }
        let end = skip + n;
        return Some((
            char::from_u32(v).unwrap_or(char::REPLACEMENT_CHARACTER),
            end + semicolon(end),
        ));
    }
    let n = s.bytes().take_while(u8::is_ascii_alphanumeric).count();
    let name = &s[..n];
    if n == 0 {
        return None;
    }
    if let Some(c) = lookup(BARE, name) {
        return Some((c, n + semicolon(n)));
    }
    if semicolon(n) == 1
        && let Some(c) = lookup(WITH_SEMICOLON, name)
    {
        return Some((c, n + 1));
    }
    if !prefixes {
        return None;
    }
    (1..n)
        .rev()
        .find_map(|len| lookup(BARE, &name[..len]).map(|c| (c, len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each line as HTML::Parser 3.81 gives it (`dtext`, and an `<img alt>` attribute).
    #[test]
    fn references_decode_as_html_parser_decodes_them() {
        let text = [
            ("&#83&#112eed", "Speed"),
            ("&ampx &amp &lt; &#0; &#x41&#X42", "&x & < &#0; AB"),
            ("&nbspx &copy2010 &#65533,", "\u{a0}x \u{a9}2010 \u{fffd},"),
            (
                "&#1114112; &#xD800; &eacute &Eacute; &#x;",
                "&#1114112; \u{fffd} \u{e9} \u{c9} &#x;",
            ),
            (
                "&ltfoo &hellipx &euro5 &rsquos &trade; &bull",
                "<foo &hellipx &euro5 &rsquos \u{2122} &bull",
            ),
            (
                "&zzz; &amp;amp; &#83x &#0083 &#x0041;",
                "&zzz; &amp; Sx S A",
            ),
        ];
        for (input, want) in text {
            assert_eq!(decode(input, true), want, "{input}");
        }
        assert_eq!(decode("Spe&#100Date &amp &ampx", false), "SpedDate & &ampx");
    }

    #[test]
    fn the_tables_are_sorted_for_binary_search() {
        for t in [BARE, WITH_SEMICOLON] {
            assert!(t.windows(2).all(|w| w[0].0 < w[1].0));
        }
        assert_eq!(BARE.len(), 101);
        assert_eq!(WITH_SEMICOLON.len(), 152);
    }
}
