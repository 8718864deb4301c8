//! East Asian charsets read as SpamAssassin reads them, for the rules of SpamAssassin's files.
//!
//! mail-parser 0.11 without its `full_encoding` feature reads a part or an encoded word in
//! Big5, GB2312/GBK/GB18030, EUC-KR, EUC-JP, Shift_JIS or ISO-2022-JP as UTF-8: every invalid
//! byte becomes a U+FFFD, and ISO-2022-JP keeps its escape sequences (`ESC $ B`). That reading
//! stays what Bayes and the built-in rules read ([`super::TextPart::raw`]): decoding these
//! charsets for Bayes flagged a Japanese ham on both SpamAssassin-corpus orders (E35 in
//! corpora/EXPERIMENTS.md). SpamAssassin decodes them (`normalize_charset`, on by default), so
//! its body and header rules see the characters; [`super::TextPart::sa_raw`] and
//! [`decode_word`] give the rules of loaded SpamAssassin files that reading (E38).

use std::borrow::Cow;

use encoding_rs::{BIG5, EUC_JP, EUC_KR, Encoding, GB18030, GBK, ISO_2022_JP, SHIFT_JIS};
use mail_parser::MessagePart;

use super::TransferEncoding;
use mail_parser::decoders::base64::base64_decode;

impl super::TextPart {
    /// The part's content (before HTML reduction) as SpamAssassin decodes it, which the rules
    /// of loaded SpamAssassin files render: [`super::TextPart::sa_raw`] when set, else `raw`.
    pub fn sa_text(&self) -> &str {
        self.sa_raw.as_deref().unwrap_or(&self.raw)
    }

    /// The text SpamAssassin's `rawbody` rules read ([`super::TextPart::sa_rawbody`]).
    pub fn rawbody(&self) -> &str {
        self.sa_rawbody.as_deref().unwrap_or(&self.raw)
    }

    /// True when SpamAssassin reads the part as HTML ([`super::TextPart::sa_kind`]).
    pub fn sa_html(&self) -> bool {
        self.sa_kind == super::TextKind::Html
    }
}

/// The encoding of an East Asian charset label (WHATWG labels: `big5`, `gb2312`, `gbk`,
/// `ks_c_5601-1987`, `euc-kr`, `euc-jp`, `shift_jis`, `iso-2022-jp`, ...), or `None` for any
/// other charset, which mail-parser already decodes as SpamAssassin does.
pub(crate) fn east_asian(label: &str) -> Option<&'static Encoding> {
    let enc = Encoding::for_label_no_replacement(label.trim().as_bytes())?;
    [BIG5, GBK, GB18030, EUC_KR, EUC_JP, SHIFT_JIS, ISO_2022_JP]
        .contains(&enc)
        .then_some(enc)
}

/// A text part in an East Asian charset decoded from its bytes as written (transfer encoding
/// undone), line ends LF as [`super::push_text`] gives them; `None` when the charset is not
/// one of those or the transfer encoding does not decode.
///
/// In any other charset but UTF-8, a part whose bytes are valid UTF-8 (and not all ASCII) is
/// read as UTF-8, as SpamAssassin's `Node::_normalize` tries UTF-8 before the declared charset
/// for a part's text: an `iso-8859-1` part holding `EF BF BD` is one U+FFFD there, three Latin-1
/// letters to mail-parser (`__HIGHBITS` on 14 of the first 300 SpamAssassin-corpus messages).
///
/// 8-bit bytes that are not UTF-8, where mail-parser's reading of them, `parsed`, holds a
/// U+FFFD (it reads a part without a charset, in UTF-8, or in a charset it has no decoder for,
/// as UTF-8 lossily): `_normalize` finds no decoder that takes them and reads them as
/// Windows-1252 (its guess for Latin-1-like bytes, and its last resort: Debian has no
/// Encode::Detect). So a windows-1251 text attachment without a charset is Latin-1 letters to
/// SpamAssassin's rules, two bytes each in its UTF-8 body, not a U+FFFD's three
/// (`tvd_vertical_words` on the edge set's rs/4dc25f7c-spam.eml). A charset mail-parser reads
/// so though Perl's Encode knows it (`cp866`, `x-mac-cyrillic`) is decoded with encoding_rs,
/// strictly as Perl decodes, and read as Windows-1252 where a byte does not decode.
pub(super) fn sa_part_text(
    raw_message: &[u8],
    part: &MessagePart<'_>,
    charset: Option<&str>,
    parsed: &str,
) -> Option<String> {
    let label = charset.map(str::trim);
    if let Some(l) = label
        && let Some(enc) = east_asian(l)
    {
        let bytes = transfer_decoded(raw_message, part)?;
        return Some(decode(l, enc, &bytes));
    }
    if qp_undecoded(raw_message, part) {
        // mail-parser's text is the part as written: SpamAssassin's is decoded.
        let bytes = transfer_decoded(raw_message, part)?;
        let text = match std::str::from_utf8(&bytes) {
            Ok(t) => t.to_owned(),
            Err(_) => {
                let parsed = decode_charset(label, &bytes);
                undecodable(label, &bytes, &parsed).unwrap_or(parsed)
            }
        };
        return Some(text.replace("\r\n", "\n"));
    }
    let utf8_label = label.is_none_or(is_utf8_label);
    if utf8_label && !parsed.contains('\u{fffd}') {
        return None;
    }
    let bytes = transfer_decoded(raw_message, part)?;
    if bytes.is_ascii() {
        return None;
    }
    if let Ok(text) = std::str::from_utf8(&bytes) {
        // mail-parser reads a part without a charset, or in UTF-8, as UTF-8 too.
        return (!utf8_label).then(|| text.replace("\r\n", "\n"));
    }
    undecodable(label, &bytes, parsed).map(|t| t.replace("\r\n", "\n"))
}

/// SpamAssassin's reading of 8-bit `bytes` that are not UTF-8, declared `label`, where
/// mail-parser's reading of them, `parsed`, holds a U+FFFD and SpamAssassin's differs (see
/// [`sa_part_text`]); `None` where mail-parser's reading is SpamAssassin's.
pub(crate) fn undecodable(label: Option<&str>, bytes: &[u8], parsed: &str) -> Option<String> {
    if !parsed.contains('\u{fffd}') {
        return None;
    }
    let label = label.map(str::trim);
    let windows_1252 = || decode_charset(Some("windows-1252"), bytes);
    let perl_decoder = label
        .filter(|l| {
            !is_utf8_label(l)
                && !is_ascii_label(l)
                && !l.eq_ignore_ascii_case("x-user-defined")
                && !l.to_ascii_lowercase().ends_with("-i")
        })
        .and_then(|l| Encoding::for_label_no_replacement(l.as_bytes()))
        .filter(|&enc| enc != encoding_rs::WINDOWS_1252);
    let text = match perl_decoder {
        Some(enc) => match enc.decode_without_bom_handling_and_without_replacement(bytes) {
            Some(text) => text.into_owned(),
            None => windows_1252(),
        },
        None => windows_1252(),
    };
    // A charset mail-parser reads as Windows-1252 already (`windows-1252` holding 0x81).
    (text != parsed).then_some(text)
}

/// Whether a charset label names UTF-8 (`UTF-8`, `utf8`).
pub(crate) fn is_utf8_label(label: &str) -> bool {
    label.eq_ignore_ascii_case("utf-8") || label.eq_ignore_ascii_case("utf8")
}

/// The labels `_normalize` reads as US-ASCII (`US-ASCII`, `ASCII`, `ANSI_X3.4-1968`,
/// `ISO646-US`): with 8-bit bytes, none decodes strictly.
fn is_ascii_label(label: &str) -> bool {
    let l = label.to_ascii_lowercase();
    matches!(
        l.as_str(),
        "us-ascii"
            | "ascii"
            | "ansi_x3.4-1968"
            | "ansi_x3.4-1986"
            | "ansi x3.4-1968"
            | "ansi x3.4-1986"
            | "iso646-us"
    )
}

/// A part's bytes as written with its transfer encoding undone; `None` when it does not
/// decode. The declared encoding: mail-parser's own field says `None` for a part it could not
/// decode (then this fails too, and recover.rs's reading of a base64 body with a footer
/// applies).
fn transfer_decoded<'m>(raw_message: &'m [u8], part: &MessagePart<'_>) -> Option<Cow<'m, [u8]>> {
    let body = raw_message.get(part.offset_body as usize..part.offset_end as usize)?;
    Some(match super::transfer_encoding(part) {
        TransferEncoding::Base64 => Cow::Owned(base64_decode(body)?),
        TransferEncoding::QuotedPrintable => Cow::Owned(qp_decode(body)),
        _ => Cow::Borrowed(body),
    })
}

/// The part as SpamAssassin's `rawbody` rules read it, where that differs from mail-parser's
/// text: the bytes with the transfer encoding undone and the charset not (`Node::decode`),
/// each byte one character (see [`bytewise`]), for UTF-7, whose text is 7-bit whatever it
/// encodes (mail-parser decodes it to characters); for an East Asian charset whose bytes are
/// not UTF-8 (mail-parser reads them lossily, a three-byte U+FFFD for each byte, so
/// SpamAssassin's 2-4 KB rawbody pieces were cut elsewhere: the sa-variants `cjk` form's
/// `__HS_QUOTE`, `^> ` at a piece's start); and for a quoted-printable part mail-parser could
/// not decode ([`qp_undecoded`]). Line ends LF, as [`super::push_text`] gives its text.
pub(super) fn sa_rawbody(
    raw_message: &[u8],
    part: &MessagePart<'_>,
    charset: Option<&str>,
) -> Option<String> {
    let label = charset.map(str::trim);
    let qp = qp_undecoded(raw_message, part);
    let east = label.is_some_and(|l| east_asian(l).is_some());
    if !qp && !east && !label.is_some_and(is_utf7) {
        return None;
    }
    let bytes = transfer_decoded(raw_message, part)?;
    if east && !qp && std::str::from_utf8(&bytes).is_ok() {
        // mail-parser's UTF-8 reading is the bytes, exactly.
        return None;
    }
    Some(bytewise(charset, &bytes).replace("\r\n", "\n"))
}

/// `bytes` with each byte one character: in its single-byte charset as mail-parser decodes it,
/// else as Latin-1 (a byte above 0x7f is still one above 0x7f to a `rawbody` rule's
/// `[\x80-\xff]`, the one class of the stock rawbody rules that names such bytes).
pub(crate) fn bytewise(charset: Option<&str>, bytes: &[u8]) -> String {
    if single_byte(charset) {
        decode_charset(charset, bytes)
    } else {
        bytes.iter().map(|&b| char::from(b)).collect()
    }
}

/// Whether mail-parser's text of a quoted-printable part is not SpamAssassin's decoding of it
/// ([`qp_decode`]): where mail-parser gave up decoding (a `=` after a `=`, as in `version==`
/// at a line's end: spam-2/01304) and kept the part as written, `=3D` and soft line breaks
/// included; and where a carriage return stands alone in it, which mail-parser's decoder drops
/// and SpamAssassin keeps (white space to its HTML renderer: `vary by\rstate` in spam-2/00541
/// is two words to SpamAssassin, `__CLICK_HERE` there one).
pub(super) fn qp_undecoded(raw_message: &[u8], part: &MessagePart<'_>) -> bool {
    if super::transfer_encoding(part) != TransferEncoding::QuotedPrintable {
        return false;
    }
    let body = raw_message
        .get(part.offset_body as usize..part.offset_end as usize)
        .unwrap_or_default();
    part.is_encoding_problem
        || memchr::memchr_iter(b'\r', body).any(|i| body.get(i + 1) != Some(&b'\n'))
}

/// Whether a charset label names a single-byte charset (ISO-8859-*, Windows-125*, KOI8-*, and
/// US-ASCII, whose 8-bit bytes mail-parser reads as Latin-1): each byte of it decodes to one
/// character.
pub(crate) fn single_byte(label: Option<&str>) -> bool {
    label.is_some_and(|l| {
        Encoding::for_label_no_replacement(l.trim().as_bytes())
            .is_some_and(Encoding::is_single_byte)
    })
}

/// Whether a charset label names UTF-7.
pub(crate) fn is_utf7(charset: &str) -> bool {
    matches!(
        charset.trim(),
        "utf-7" | "unicode-1-1-utf-7" | "x-unicode-2-0-utf-7"
    )
}

/// Quoted-printable as SpamAssassin decodes it (`Util::qp_decode`), in its three passes: white
/// space before a line break dropped, then soft line breaks (`=` before a line break) joined,
/// then each `=XX` of the joined text a byte; any other `=` is kept as written (mail-parser's
/// decoder gives up on the whole part at a malformed escape). The hex escapes are read after
/// the joining: `version==` at a line's end, then `3D5` (spam-2/01304) is `version=5`.
pub(crate) fn qp_decode(body: &[u8]) -> Vec<u8> {
    let line_break = |rest: &[u8]| match rest {
        [b'\n', ..] => Some(1),
        [b'\r', b'\n', ..] => Some(2),
        _ => None,
    };
    let mut joined = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if b == b' ' || b == b'\t' {
            let end = body[i..]
                .iter()
                .position(|&c| c != b' ' && c != b'\t')
                .map_or(body.len(), |n| i + n);
            if line_break(&body[end..]).is_none() {
                joined.extend_from_slice(&body[i..end]);
            }
            i = end;
            continue;
        }
        if b == b'=' {
            // `=`, white space (dropped first), a line break.
            let end = body[i + 1..]
                .iter()
                .position(|&c| c != b' ' && c != b'\t')
                .map_or(body.len(), |n| i + 1 + n);
            if let Some(n) = line_break(&body[end..]) {
                i = end + n;
                continue;
            }
        }
        joined.push(b);
        i += 1;
    }
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(joined.len());
    let mut i = 0;
    while i < joined.len() {
        if joined[i] == b'='
            && let [h, l, ..] = joined[i + 1..]
            && let (Some(h), Some(l)) = (hex(h), hex(l))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(joined[i]);
        i += 1;
    }
    out
}

/// `bytes` declared in the East Asian charset `label` (whose encoding is `enc`), as
/// SpamAssassin's `_normalize` reads a part, line ends LF:
/// - bytes that hold 8-bit characters and are valid UTF-8 are read as UTF-8 (it tries that
///   first);
/// - else the declared charset, when Perl's strict decoder takes every byte. encoding_rs's
///   decoders are WHATWG's supersets (GB2312 is read as GBK, EUC-KR as Windows-949), so for
///   those two labels the bytes must also keep to the EUC code ranges Perl's `euc-cn` and
///   `euc-kr` know;
/// - else Windows-1252, SpamAssassin's last resort (without Encode::Detect, which Debian does
///   not install), its five undefined bytes read as U+FFFD as Perl's decoder reads them.
///
/// spam-2/01064 of the SpamAssassin corpus, declared `gb2312` with GBK characters, is read as
/// Windows-1252 by SpamAssassin: its `è`-like letters then count for MIXED_ES.
pub(crate) fn decode(label: &str, enc: &'static Encoding, bytes: &[u8]) -> String {
    let text = if bytes.iter().any(|&b| b >= 0x80)
        && let Ok(utf8) = std::str::from_utf8(bytes)
    {
        Cow::Borrowed(utf8)
    } else {
        match enc.decode_without_bom_handling_and_without_replacement(bytes) {
            Some(text) if strict_euc(label, bytes) => text,
            // mail-parser's cp1252 reads the five undefined bytes as U+FFFD, as Perl's does.
            _ => Cow::Owned(decode_charset(Some("windows-1252"), bytes)),
        }
    };
    text.replace("\r\n", "\n")
}

/// Whether `bytes` keep to the two-byte ranges of Perl's strict EUC decoders when `label`
/// names one of them (`gb2312`: leading bytes A1-F7; `euc-kr`: A1-FE; trailing bytes A1-FE);
/// true for any other label.
fn strict_euc(label: &str, bytes: &[u8]) -> bool {
    let lead_max = match label.trim().to_ascii_lowercase().as_str() {
        "gb2312" | "euc-cn" | "x-euc-cn" | "csgb2312" | "gb_2312-80" => 0xf7,
        "euc-kr" | "x-euc-kr" | "cseuckr" => 0xfe,
        _ => return true,
    };
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x80 {
            i += 1;
            continue;
        }
        let trail = bytes.get(i + 1).copied().unwrap_or(0);
        if !(0xa1..=lead_max).contains(&b) || !(0xa1..=0xfe).contains(&trail) {
            return false;
        }
        i += 2;
    }
    true
}

/// Decoded bytes in their declared charset as mail-parser reads it (UTF-8, lossily, when it
/// has no decoder for the charset).
pub(crate) fn decode_charset(charset: Option<&str>, bytes: &[u8]) -> String {
    let decoder =
        charset.and_then(|c| mail_parser::decoders::charsets::map::charset_decoder(c.as_bytes()));
    match decoder {
        Some(decode) => decode(bytes),
        None => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// An RFC 2047 encoded word at the start of `s` (`=?charset?B|Q?text?=`) whose charset is
/// East Asian, decoded: the text and the bytes of `s` it took. `None` for any other word (the
/// caller decodes those as mail-parser does) or a malformed one.
pub(crate) fn decode_word(s: &[u8]) -> Option<(String, usize)> {
    let rest = s.strip_prefix(b"=?")?;
    let q1 = rest.iter().position(|&b| b == b'?')?;
    let label = std::str::from_utf8(&rest[..q1]).ok()?;
    // RFC 2231 adds a language after `*`.
    let enc = east_asian(label.split('*').next().unwrap_or(label))?;
    let kind = *rest.get(q1 + 1)?;
    if rest.get(q1 + 2) != Some(&b'?') {
        return None;
    }
    let text_at = q1 + 3;
    let len = rest.get(text_at..)?.windows(2).position(|w| w == b"?=")?;
    let text = &rest[text_at..text_at + len];
    if text.iter().any(|b| b.is_ascii_whitespace()) {
        return None;
    }
    let bytes = match kind.to_ascii_uppercase() {
        b'B' => base64_decode(text)?,
        b'Q' => q_decode(text)?,
        _ => return None,
    };
    let (decoded, _) = enc.decode_without_bom_handling(&bytes);
    Some((decoded.into_owned(), 2 + text_at + len + 2))
}

/// RFC 2047's Q encoding: `_` is a space, `=XX` a byte.
fn q_decode(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'_' => out.push(b' '),
            b'=' => {
                let hex = std::str::from_utf8(text.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_east_asian_labels() {
        assert_eq!(east_asian("Big5"), Some(BIG5));
        assert_eq!(east_asian("gb2312"), Some(GBK));
        assert_eq!(east_asian("ks_c_5601-1987"), Some(EUC_KR));
        assert_eq!(east_asian(" ISO-2022-JP"), Some(ISO_2022_JP));
        assert_eq!(east_asian("shift_jis"), Some(SHIFT_JIS));
        assert_eq!(east_asian("utf-8"), None);
        assert_eq!(east_asian("iso-8859-1"), None);
        assert_eq!(east_asian("koi8-r"), None);
        assert_eq!(east_asian("x-unknown"), None);
    }

    #[test]
    fn parts_fall_back_as_spamassassins_normalize_does() {
        // GB2312 proper (EUC-CN ranges): decoded. "中文" = D6 D0 CE C4.
        let gb = b"\xd6\xd0\xce\xc4 e";
        assert_eq!(decode("gb2312", GBK, gb), "中文 e");
        // A GBK-only character (lead 0x81) declared gb2312: Perl's euc-cn croaks, so
        // SpamAssassin reads the part as Windows-1252 (spam-2/01064); declared gbk it decodes.
        let gbk = b"\x81\x40\xe8\xe9\r\n";
        assert_eq!(decode("gb2312", GBK, gbk), "\u{fffd}@\u{e8}\u{e9}\n");
        assert_eq!(decode("gbk", GBK, gbk), "丂栝\n");
        // 8-bit bytes that are valid UTF-8 are read as UTF-8 whatever the declared charset.
        assert_eq!(decode("big5", BIG5, "é".as_bytes()), "é");
        // Seven-bit ISO-2022-JP is decoded (no 8-bit byte, so no UTF-8 attempt).
        assert_eq!(decode("iso-2022-jp", ISO_2022_JP, b"\x1b$B$3\x1b(B"), "こ");
        // Bytes the declared decoder rejects: Windows-1252, its undefined bytes U+FFFD.
        assert_eq!(
            decode("euc-kr", EUC_KR, b"\xb0\x81\x9d"),
            "\u{b0}\u{fffd}\u{fffd}"
        );
    }

    #[test]
    fn utf7_rawbody_is_the_text_as_written() {
        // mail-parser's resources legacy_001.eml: SpamAssassin's rawbody holds no 8-bit byte
        // (no __L_BODY_8BITS, so XPRIO), its body the decoded text.
        let raw = "Subject: x\nContent-Type: text/plain; charset=utf-7\n\
                   Content-Transfer-Encoding: quoted-printable\n\nDie Fr+APY-sche =\r\nund\n";
        let v = crate::MessageView::parse(raw.as_bytes(), &crate::limits::Limits::default());
        let p = &v.text_parts[0];
        assert_eq!(p.rawbody(), "Die Fr+APY-sche und\n");
        assert!(p.text.contains("Frösche"), "{:?}", p.text);
        assert!(v.raw_body().is_ascii());
    }

    #[test]
    fn encoded_words_in_east_asian_charsets() {
        // spam-1/00326's Subject (ISO-2022-JP, base64).
        let s = b"=?ISO-2022-JP?B?GyRCTCQ+NUJ6OS05cCIoPF5HLiEqPVAycSQkJE45LT5sGyhC?= tail";
        let (text, used) = decode_word(s).expect("decodes");
        assert_eq!(used, s.len() - " tail".len());
        assert_eq!(text, "未承諾広告※灼熱！出会いの広場");
        // spam-2/01317's Subject (Big5, Q).
        let s = b"=?big5?Q?=A6n=C5=A5=A3x=AD=B5=BC=D6=B0e=B5=B9=A7A?=";
        let (text, used) = decode_word(s).expect("decodes");
        assert_eq!(used, s.len());
        assert_eq!(text, "好聽ㄉ音樂送給你");
        // Other charsets are mail-parser's to decode; malformed words are left alone.
        assert_eq!(decode_word(b"=?utf-8?B?w6k=?="), None);
        assert_eq!(decode_word(b"=?big5?X?abc?="), None);
        assert_eq!(decode_word(b"=?big5?Q?a b?="), None);
        assert_eq!(decode_word(b"=?big5?Q?=A"), None);
    }

    #[test]
    fn parts_keep_their_reading_and_gain_spamassassins() {
        use crate::{Limits, MessageView};
        // "未承諾広告" in ISO-2022-JP, as written (7 bit), and in Big5 under base64.
        let jis = b"Subject: x\nContent-Type: text/plain; charset=ISO-2022-JP\n\n\
                    \x1b$BL$>5Bz9-9p\x1b(B ok\n";
        let v = MessageView::parse(jis, &Limits::default());
        let p = &v.text_parts[0];
        assert!(p.raw.contains("\u{1b}$BL$>5Bz9-9p\u{1b}(B"), "{:?}", p.raw);
        assert_eq!(p.text, p.raw);
        assert_eq!(p.sa_text(), "未承諾広告 ok\n");
        // base64 of Big5 "好聽" + CRLF.
        let big5 = b"Subject: x\nContent-Type: text/html; charset=big5\n\
                     Content-Transfer-Encoding: base64\n\npm7FpQ0K\n";
        let v = MessageView::parse(big5, &Limits::default());
        let p = &v.text_parts[0];
        assert_eq!(p.sa_text(), "好聽\n");
        assert!(p.raw.contains('\u{fffd}'), "{:?}", p.raw);
        // Other charsets: one reading, unless the bytes are valid UTF-8 (then SpamAssassin's).
        let latin = b"Subject: x\nContent-Type: text/plain; charset=iso-8859-1\n\ncaf\xe9\n";
        let v = MessageView::parse(latin, &Limits::default());
        assert_eq!(v.text_parts[0].sa_raw, None);
        assert_eq!(v.text_parts[0].sa_text(), "café\n");
        for cte in ["8bit", "quoted-printable"] {
            let body = if cte == "8bit" {
                "D\u{fffd}ise"
            } else {
                "D=EF=BF=BDise"
            };
            let mislabelled = format!(
                "Subject: x\nContent-Type: text/plain; charset=iso-8859-1\n\
                 Content-Transfer-Encoding: {cte}\n\n{body}\n"
            );
            let v = MessageView::parse(mislabelled.as_bytes(), &Limits::default());
            let p = &v.text_parts[0];
            assert_eq!(p.raw, "D\u{ef}\u{bf}\u{bd}ise\n", "{cte}");
            assert_eq!(p.sa_text(), "D\u{fffd}ise\n", "{cte}");
        }
    }

    /// 8-bit bytes no decoder takes are Windows-1252 to SpamAssassin, checked with
    /// SpamAssassin 4.0.1 on each label: "Древний" in windows-1251 bytes, curly quotes, and
    /// 0x81 (undefined in Windows-1252: U+FFFD).
    #[test]
    fn undecodable_bytes_read_as_windows_1252() {
        use crate::{Limits, MessageView};
        let bytes = b"word \xc4\xf0\xe5\xe2\xed\xe8\xe9 \x93q\x94 \x81 end\n";
        let parse = |ctype: &str| {
            let mut raw = format!("Subject: x\nContent-Type: {ctype}\n\n").into_bytes();
            raw.extend_from_slice(bytes);
            MessageView::parse(&raw, &Limits::default()).text_parts[0].clone()
        };
        let w1252 = "word Äðåâíèé \u{201c}q\u{201d} \u{fffd} end\n";
        for ctype in [
            "text/plain",
            "text/plain; charset=utf-8",
            "text/plain; charset=x-unknown",
            "text/plain; charset=us-ascii",
            "text/plain; charset=ISO646-US",
            "text/plain; charset=x-user-defined",
        ] {
            let p = parse(ctype);
            assert_eq!(p.sa_text(), w1252, "{ctype}");
        }
        // Bayes and the built-in rules keep mail-parser's reading.
        assert!(parse("text/plain").raw.contains('\u{fffd}'));
        // A charset Perl decodes and mail-parser does not.
        assert_eq!(
            parse("text/plain; charset=cp866").sa_text(),
            "word ─Ёхтэшщ УqФ Б end\n"
        );
        // A charset mail-parser decodes: its reading (Windows-1252's undefined 0x81 included).
        let p = parse("text/plain; charset=windows-1252");
        assert_eq!((p.sa_raw.as_deref(), p.sa_text()), (None, w1252));
        // An attachment named *.html, which SpamAssassin renders as HTML.
        let mut raw = b"Subject: x\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\n\
                        Content-Type: text/plain\n\nhello\n--b\n\
                        Content-Type: application/octet-stream; name=\"x.html\"\n\n<p>"
            .to_vec();
        raw.extend_from_slice(bytes);
        raw.extend_from_slice(b"</p>\n--b--\n");
        let v = MessageView::parse(&raw, &Limits::default());
        assert_eq!(v.text_parts[1].sa_text(), format!("<p>{w1252}</p>"));
    }

    /// A quoted-printable part mail-parser gives up on (`==` at a line's end) keeps its text as
    /// written for Bayes; SpamAssassin's rules read it decoded (spam-2/01304: `__L_BODY_8BITS`,
    /// rawbody `/[\x80-\xff]/`, hits the `=A3=AC` of its GB2312 text in SpamAssassin 4.0.1);
    /// likewise a part with a carriage return alone.
    #[test]
    fn quoted_printable_mail_parser_gives_up_on() {
        use crate::{Limits, MessageView};
        let raw = |charset: &str, word: &str| {
            format!(
                "Subject: x\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\n\
                 Content-Type: text/html; charset={charset}\n\
                 Content-Transfer-Encoding: quoted-printable\n\n\
                 <p class=3D\"a\">{word}China=A3=ACChina</p>\n\
                 <embed src=3D\"x.cab#version==\n3D5,0\">\n--b--\n"
            )
        };
        let v = MessageView::parse(raw("iso-8859-1", "caf=E9 ").as_bytes(), &Limits::default());
        let p = &v.text_parts[0];
        assert!(p.raw.contains("class=3D"), "{:?}", p.raw);
        assert_eq!(
            p.sa_text(),
            "<p class=\"a\">café China£¬China</p>\n<embed src=\"x.cab#version=5,0\">"
        );
        assert_eq!(p.rawbody(), p.sa_text(), "one character per byte");
        let v = MessageView::parse(raw("gb2312", "").as_bytes(), &Limits::default());
        let p = &v.text_parts[0];
        assert!(p.sa_text().contains("China，China"), "{:?}", p.sa_text());
        assert!(
            p.rawbody().contains("China\u{a3}\u{ac}China"),
            "{:?}",
            p.rawbody()
        );
        // A carriage return alone: mail-parser's decoder drops it, SpamAssassin keeps it
        // (spam-2/00541's `vary by\rstate`).
        let cr = b"Subject: x\nContent-Type: text/html\n\
                   Content-Transfer-Encoding: quoted-printable\n\n\
                   <p>vary by\rstate, Please\r<a href=3Dx>CLICK</a></p>\n";
        let v = MessageView::parse(cr, &Limits::default());
        let p = &v.text_parts[0];
        assert!(p.raw.contains("vary bystate"), "{:?}", p.raw);
        assert_eq!(
            p.sa_text(),
            "<p>vary by\rstate, Please\r<a href=x>CLICK</a></p>\n"
        );
    }

    /// An East Asian part's rawbody is its bytes, one character each, as SpamAssassin's
    /// `rawbody` rules count them (its 2-4 KB pieces are cut by bytes); its text is decoded.
    #[test]
    fn east_asian_rawbody_is_the_bytes() {
        use crate::{Limits, MessageView};
        // "대한" in EUC-KR (B4 EB C7 D1), then a quote line.
        let raw =
            b"Subject: x\nContent-Type: text/plain; charset=euc-kr\n\n\xb4\xeb\xc7\xd1\n> quoted\n";
        let v = MessageView::parse(raw, &Limits::default());
        let p = &v.text_parts[0];
        assert_eq!(p.rawbody(), "\u{b4}\u{eb}\u{c7}\u{d1}\n> quoted\n");
        assert!(p.raw.contains('\u{fffd}'), "{:?}", p.raw);
        assert_eq!(p.sa_text(), "대한\n> quoted\n");
        // Valid UTF-8 under the label: mail-parser's reading is the bytes already.
        let utf8 = "Subject: x\nContent-Type: text/plain; charset=euc-kr\n\n대한\n";
        let v = MessageView::parse(utf8.as_bytes(), &Limits::default());
        assert_eq!(v.text_parts[0].sa_rawbody, None);
    }

    #[test]
    fn quoted_printable_as_spamassassin_decodes_it() {
        assert_eq!(qp_decode(b"a=3Db  \nc=\nd=\r\ne"), b"a=b\ncde".to_vec());
        // Malformed escapes stay as written; the rest still decodes.
        assert_eq!(qp_decode(b"x=ZZ=4 =41="), b"x=ZZ=4 A=".to_vec());
        assert_eq!(qp_decode(b"tab\t\r\n"), b"tab\r\n".to_vec());
        // SpamAssassin 4.0.1's Util::qp_decode on each: escapes read after the joining, white
        // space only before a line break dropped (also between `=` and the break).
        assert_eq!(qp_decode(b"version==\n3D5,0"), b"version=5,0".to_vec());
        assert_eq!(qp_decode(b"a=3=\nD b"), b"a= b".to_vec());
        assert_eq!(qp_decode(b"soft= \t\nbreak"), b"softbreak".to_vec());
        assert_eq!(qp_decode(b"end  "), b"end  ".to_vec());
        assert_eq!(qp_decode(b"=4a=4A"), b"JJ".to_vec());
    }

    #[test]
    fn q_encoding() {
        assert_eq!(q_decode(b"a_b=41"), Some(b"a bA".to_vec()));
        assert_eq!(q_decode(b"=4"), None);
        assert_eq!(q_decode(b"=ZZ"), None);
    }
}
