//! Colours as SpamAssassin's HTML renderer reads them (`name_to_rgb` and the CSS `background`
//! shorthand in its `Mail::SpamAssassin::HTML`): a named colour, a `#` hex colour (shorthand
//! expanded, padded or cut to six digits) or `rgb(...)` becomes `#rrggbb`; anything else is the
//! word `invalid`, which the font tests then report.

/// The CSS3 named colours (the 16 of HTML 4 among them), as SpamAssassin 4.0.1 knows them.
const NAMED: &[(&str, u32)] = &[
    ("aliceblue", 0xf0f8ff),
    ("antiquewhite", 0xfaebd7),
    ("aqua", 0x00ffff),
    ("aquamarine", 0x7fffd4),
    ("azure", 0xf0ffff),
    ("beige", 0xf5f5dc),
    ("bisque", 0xffe4c4),
    ("black", 0x000000),
    ("blanchedalmond", 0xffebcd),
    ("blue", 0x0000ff),
    ("blueviolet", 0x8a2be2),
    ("brown", 0xa52a2a),
    ("burlywood", 0xdeb887),
    ("cadetblue", 0x5f9ea0),
    ("chartreuse", 0x7fff00),
    ("chocolate", 0xd2691e),
    ("coral", 0xff7f50),
    ("cornflowerblue", 0x6495ed),
    ("cornsilk", 0xfff8dc),
    ("crimson", 0xdc143c),
    ("cyan", 0x00ffff),
    ("darkblue", 0x00008b),
    ("darkcyan", 0x008b8b),
    ("darkgoldenrod", 0xb8860b),
    ("darkgray", 0xa9a9a9),
    ("darkgreen", 0x006400),
    ("darkgrey", 0xa9a9a9),
    ("darkkhaki", 0xbdb76b),
    ("darkmagenta", 0x8b008b),
    ("darkolivegreen", 0x556b2f),
    ("darkorange", 0xff8c00),
    ("darkorchid", 0x9932cc),
    ("darkred", 0x8b0000),
    ("darksalmon", 0xe9967a),
    ("darkseagreen", 0x8fbc8f),
    ("darkslateblue", 0x483d8b),
    ("darkslategray", 0x2f4f4f),
    ("darkslategrey", 0x2f4f4f),
    ("darkturquoise", 0x00ced1),
    ("darkviolet", 0x9400d3),
    ("deeppink", 0xff1493),
    ("deepskyblue", 0x00bfff),
    ("dimgray", 0x696969),
    ("dimgrey", 0x696969),
    ("dodgerblue", 0x1e90ff),
    ("firebrick", 0xb22222),
    ("floralwhite", 0xfffaf0),
    ("forestgreen", 0x228b22),
    ("fuchsia", 0xff00ff),
    ("gainsboro", 0xdcdcdc),
    ("ghostwhite", 0xf8f8ff),
    ("gold", 0xffd700),
    ("goldenrod", 0xdaa520),
    ("gray", 0x808080),
    ("green", 0x008000),
    ("greenyellow", 0xadff2f),
    ("grey", 0x808080),
    ("honeydew", 0xf0fff0),
    ("hotpink", 0xff69b4),
    ("indianred", 0xcd5c5c),
    ("indigo", 0x4b0082),
    ("ivory", 0xfffff0),
    ("khaki", 0xf0e68c),
    ("lavender", 0xe6e6fa),
    ("lavenderblush", 0xfff0f5),
    ("lawngreen", 0x7cfc00),
    ("lemonchiffon", 0xfffacd),
    ("lightblue", 0xadd8e6),
    ("lightcoral", 0xf08080),
    ("lightcyan", 0xe0ffff),
    ("lightgoldenrodyellow", 0xfafad2),
    ("lightgray", 0xd3d3d3),
    ("lightgreen", 0x90ee90),
    ("lightgrey", 0xd3d3d3),
    ("lightpink", 0xffb6c1),
    ("lightsalmon", 0xffa07a),
    ("lightseagreen", 0x20b2aa),
    ("lightskyblue", 0x87cefa),
    ("lightslategray", 0x778899),
    ("lightslategrey", 0x778899),
    ("lightsteelblue", 0xb0c4de),
    ("lightyellow", 0xffffe0),
    ("lime", 0x00ff00),
    ("limegreen", 0x32cd32),
    ("linen", 0xfaf0e6),
    ("magenta", 0xff00ff),
    ("maroon", 0x800000),
    ("mediumaquamarine", 0x66cdaa),
    ("mediumblue", 0x0000cd),
    ("mediumorchid", 0xba55d3),
    ("mediumpurple", 0x9370db),
    ("mediumseagreen", 0x3cb371),
    ("mediumslateblue", 0x7b68ee),
    ("mediumspringgreen", 0x00fa9a),
    ("mediumturquoise", 0x48d1cc),
    ("mediumvioletred", 0xc71585),
    ("midnightblue", 0x191970),
    ("mintcream", 0xf5fffa),
    ("mistyrose", 0xffe4e1),
    ("moccasin", 0xffe4b5),
    ("navajowhite", 0xffdead),
    ("navy", 0x000080),
    ("oldlace", 0xfdf5e6),
    ("olive", 0x808000),
    ("olivedrab", 0x6b8e23),
    ("orange", 0xffa500),
    ("orangered", 0xff4500),
    ("orchid", 0xda70d6),
    ("palegoldenrod", 0xeee8aa),
    ("palegreen", 0x98fb98),
    ("paleturquoise", 0xafeeee),
    ("palevioletred", 0xdb7093),
    ("papayawhip", 0xffefd5),
    ("peachpuff", 0xffdab9),
    ("peru", 0xcd853f),
    ("pink", 0xffc0cb),
    ("plum", 0xdda0dd),
    ("powderblue", 0xb0e0e6),
    ("purple", 0x800080),
    ("red", 0xff0000),
    ("rosybrown", 0xbc8f8f),
    ("royalblue", 0x4169e1),
    ("saddlebrown", 0x8b4513),
    ("salmon", 0xfa8072),
    ("sandybrown", 0xf4a460),
    ("seagreen", 0x2e8b57),
    ("seashell", 0xfff5ee),
    ("sienna", 0xa0522d),
    ("silver", 0xc0c0c0),
    ("skyblue", 0x87ceeb),
    ("slateblue", 0x6a5acd),
    ("slategray", 0x708090),
    ("slategrey", 0x708090),
    ("snow", 0xfffafa),
    ("springgreen", 0x00ff7f),
    ("steelblue", 0x4682b4),
    ("tan", 0xd2b48c),
    ("teal", 0x008080),
    ("thistle", 0xd8bfd8),
    ("tomato", 0xff6347),
    ("turquoise", 0x40e0d0),
    ("violet", 0xee82ee),
    ("wheat", 0xf5deb3),
    ("white", 0xffffff),
    ("whitesmoke", 0xf5f5f5),
    ("yellow", 0xffff00),
    ("yellowgreen", 0x9acd32),
];

/// The word SpamAssassin uses for a colour it cannot read.
pub(crate) const INVALID: &str = "invalid";

/// A colour value as `#rrggbb` (or `#` and fewer digits for odd hex input), or [`INVALID`].
pub(crate) fn name_to_rgb(value: &str) -> String {
    let color = value.to_lowercase();
    let color = color.trim_matches(|c: char| c.is_whitespace());
    if let Some((_, v)) = NAMED.iter().find(|(n, _)| *n == color) {
        return format!("#{v:06x}");
    }
    let hexish = color.bytes().all(|b| b == b'#' || b.is_ascii_hexdigit());
    if !hexish && !has_rgb_call(color) {
        return INVALID.to_owned();
    }
    let mut color = color.to_owned();
    if let Some([r, g, b]) = rgb_numbers(&color, true) {
        color = format!(
            "#{}{}{}",
            dec2hex(r * 255 / 100),
            dec2hex(g * 255 / 100),
            dec2hex(b * 255 / 100)
        );
    }
    if let Some([r, g, b]) = rgb_numbers(&color, false) {
        color = format!("#{}{}{}", dec2hex(r), dec2hex(g), dec2hex(b));
    }
    if !color.starts_with('#') {
        return INVALID.to_owned();
    }
    let mut hex: String = color.chars().filter(char::is_ascii_hexdigit).collect();
    if hex.len() > 6 {
        hex.truncate(6);
    }
    if hex.len() > 3 && hex.len() < 6 {
        hex.truncate(3);
    }
    while !hex.len().is_multiple_of(3) {
        hex.push('0');
    }
    if hex.len() == 3 {
        hex = hex.chars().flat_map(|c| [c, c]).collect();
    }
    format!("#{hex}")
}

/// `rgb(` followed by digits, `%`, commas and spaces and a `)`, anywhere in the text.
fn has_rgb_call(s: &str) -> bool {
    s.match_indices("rgb(").any(|(i, _)| {
        s[i + 4..]
            .find(|c: char| !(c.is_ascii_digit() || c == '%' || c == ',' || c == ' '))
            .is_some_and(|end| s[i + 4 + end..].starts_with(')'))
    })
}

/// The three numbers of the first `rgb(a, b, c)` (with `%` after each when `percent`), commas
/// followed by optional blanks, optional blanks before the `)`.
fn rgb_numbers(s: &str, percent: bool) -> Option<[u64; 3]> {
    'outer: for (i, _) in s.match_indices("rgb(") {
        let mut rest = &s[i + 4..];
        let mut out = [0u64; 3];
        for (k, slot) in out.iter_mut().enumerate() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                continue 'outer;
            }
            *slot = rest[..digits].parse().unwrap_or(u64::MAX / 1000);
            rest = &rest[digits..];
            if percent {
                let Some(r) = rest.strip_prefix('%') else {
                    continue 'outer;
                };
                rest = r;
            }
            if k < 2 {
                let Some(r) = rest.strip_prefix(',') else {
                    continue 'outer;
                };
                rest = r.trim_start_matches(|c: char| c.is_whitespace());
            }
        }
        if rest
            .trim_start_matches(|c: char| c.is_whitespace())
            .starts_with(')')
        {
            return Some(out);
        }
    }
    None
}

/// Lower-case hex, at least two digits.
fn dec2hex(v: u64) -> String {
    format!("{v:02x}")
}

/// The CSS `background` shorthand split as SpamAssassin splits it: layers at top-level commas,
/// values at spaces, parentheses and quotes kept whole.
pub(crate) fn css_background_layers(value: &str) -> Vec<Vec<String>> {
    let mut layers = Vec::new();
    let mut tokens: Vec<String> = Vec::new();
    let mut token = String::new();
    // 0: top level, 1: inside (), 2: inside "", 3: inside ''.
    let mut state = 0u8;
    let mut stack: Vec<u8> = Vec::new();
    for ch in value.chars() {
        match (state, ch) {
            (0, ' ') => {
                if !token.is_empty() {
                    tokens.push(std::mem::take(&mut token));
                }
            }
            (0, ',') => {
                if !token.is_empty() {
                    tokens.push(std::mem::take(&mut token));
                }
                layers.push(std::mem::take(&mut tokens));
            }
            (0 | 1, '(' | '"' | '\'') if !(state == 1 && ch == '(') => {
                token.push(ch);
                stack.push(state);
                state = match ch {
                    '(' => 1,
                    '"' => 2,
                    _ => 3,
                };
            }
            (1, ')') => {
                token.push(ch);
                tokens.push(std::mem::take(&mut token));
                state = stack.pop().unwrap_or(0);
            }
            (2, '"') | (3, '\'') => {
                token.push(ch);
                state = stack.pop().unwrap_or(0);
            }
            _ => token.push(ch),
        }
    }
    if !token.is_empty() {
        tokens.push(token);
    }
    if !tokens.is_empty() {
        layers.push(tokens);
    }
    layers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_read_as_spamassassin_reads_them() {
        assert_eq!(name_to_rgb(" White "), "#ffffff");
        assert_eq!(name_to_rgb("#FFF"), "#ffffff");
        assert_eq!(name_to_rgb("#12345"), "#112233");
        assert_eq!(name_to_rgb("#1234567"), "#123456");
        assert_eq!(name_to_rgb("#ab"), "#aabb00");
        assert_eq!(name_to_rgb("ff0000"), INVALID);
        assert_eq!(name_to_rgb("rgb(255, 0, 16)"), "#ff0010");
        assert_eq!(name_to_rgb("rgb(100%,0%,50%)"), "#ff007f");
        assert_eq!(name_to_rgb("rgb(1, 2)"), INVALID);
        assert_eq!(name_to_rgb("bluish"), INVALID);
        assert_eq!(name_to_rgb(""), INVALID);
    }

    #[test]
    fn background_layers() {
        assert_eq!(
            css_background_layers("url(\"a b.png\") red, #fff 10%"),
            vec![
                vec!["url(\"a b.png\")".to_owned(), "red".to_owned()],
                vec!["#fff".to_owned(), "10%".to_owned()]
            ]
        );
    }
}
