//! Unit tests of [`super`] (the MIME walk as SpamAssassin's parser reads a message).

use super::*;

fn view(raw: &str) -> MessageView {
    MessageView::parse(raw.as_bytes(), &crate::limits::Limits::default())
}

#[test]
fn walks_nested_parts_in_order() {
    let raw = "From: a@b.example\nContent-Type: multipart/mixed; boundary=\"XX\"\n\n\
               preamble\n--XX\nContent-Type: multipart/alternative;\n\tboundary=YY\n\n\
               --YY\nContent-Type: text/plain\n\nhello\n--YY\nContent-Type: text/html\n\
               Content-Transfer-Encoding: quoted-printable\n\n<p>hi=20there</p>\n--YY--\n\
               --XX\nContent-Type: application/pdf; name=\"x.pdf\"\n\
               Content-Disposition: attachment\n\nJVBER\n--XX--\n";
    let parts = walk(&view(raw));
    let types: Vec<&str> = parts.iter().map(|p| p.ctype.as_str()).collect();
    assert_eq!(
        types,
        [
            "multipart/mixed",
            "multipart/alternative",
            "text/plain",
            "text/html",
            "application/pdf"
        ]
    );
    assert_eq!(parts[2].body, "hello");
    assert_eq!(parts[3].cte, "quoted-printable");
    assert_eq!(
        parts.iter().map(|p| p.depth).collect::<Vec<_>>(),
        [0, 1, 2, 2, 1]
    );
    assert_eq!(
        parts[1].values("content-type").next(),
        Some("multipart/alternative;\n\tboundary=YY")
    );
}

#[test]
fn encoded_attached_messages_are_walked_decoded() {
    // SpamAssassin decodes a message/rfc822 part before parsing it; an empty one stays a
    // leaf.
    let inner = "Subject: in\nContent-Type: text/html\n\n<p>x</p>\n";
    let b64 = "U3ViamVjdDogaW4KQ29udGVudC1UeXBlOiB0ZXh0L2h0bWwKCjxwPng8L3A+Cg==";
    assert_eq!(String::from_utf8_lossy(&base64_lenient(b64)), inner);
    let raw = format!(
        "Content-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: message/rfc822\n\
         Content-Transfer-Encoding: base64\n\n{}\n{}\n--B\n\
         Content-Type: message/rfc822\n\n--B--\n",
        &b64[..40],
        &b64[40..]
    );
    let parts = walk(&view(&raw));
    let types: Vec<(&str, usize, bool)> = parts
        .iter()
        .map(|p| (p.ctype.as_str(), p.depth, p.container))
        .collect();
    assert_eq!(
        types,
        [
            ("multipart/mixed", 0, true),
            ("message/rfc822", 1, true),
            ("text/html", 2, false),
            ("message/rfc822", 1, false),
        ]
    );
    assert_eq!(parts[2].body, "<p>x</p>\n");
}

#[test]
fn a_folded_boundary_is_read_unfolded() {
    // mail-parser's resources thirdparty_012.eml: `boundary="foo\n bar"` names `foo bar`.
    let raw = "Content-Type: multipart/mixed; boundary=\"foo\n bar\"\n\nprologue\n\
               --foo bar\nContent-Type: text/plain\n\nhello\n--foo bar--\n";
    let parts = walk(&view(raw));
    assert_eq!(parts.len(), 2);
    assert_eq!(
        (parts[1].ctype.as_str(), parts[1].body.as_str()),
        ("text/plain", "hello")
    );
    assert_eq!(unfold("a\n \t b\nc"), "a b\nc");
}

#[test]
fn the_last_content_type_counts() {
    // A part header that runs into the next one's: SpamAssassin reads the last field.
    let raw = "Content-Type: multipart/alternative; boundary=A\n\
               Content-Type: text/plain\n\nplain\n";
    assert_eq!(walk(&view(raw))[0].ctype, "text/plain");
}

#[test]
fn multipart_lines_as_spamassassin_reads_them() {
    let types = |raw: &str| -> Vec<(String, String)> {
        walk(&view(raw))
            .into_iter()
            .map(|p| (p.ctype, p.body))
            .collect()
    };
    let pair = |t: &str, b: &str| (t.to_owned(), b.to_owned());
    // Bug 7358: a part that names its parent's boundary takes the delimiters up to the
    // next closing one (Python's test_email msg_15.txt).
    let same = "Content-Type: multipart/mixed; boundary=B\n\n--B\n\
                Content-Type: multipart/alternative; boundary=B\n\n\n--B\n\
                Content-Type: text/plain\n\nplain\n--B\nContent-Type: text/html\n\n\
                <p>h</p>\n--B--\n\n--B\nContent-Type: image/gif\n\nR0lG\n--B--\n";
    assert_eq!(
        types(same),
        [
            pair("multipart/mixed", ""),
            pair("multipart/alternative", ""),
            pair("text/plain", "plain"),
            pair("text/html", "<p>h</p>"),
            pair("image/gif", "R0lG"),
        ]
    );
    // A field still open when the part ends is dropped; a header that runs into the body
    // ends at the first line that is not a field; a multipart without a boundary is text.
    let open = "Content-Type: multipart/mixed; boundary=B\n\n--B\n\
                Content-Type: text/html\n--B\nContent-Type: text/html\nhello\n--B\n\
                Content-Type: multipart/related\n\nx\n--B--\n";
    let parts = walk(&view(open));
    assert_eq!(
        types(open),
        [
            pair("multipart/mixed", ""),
            pair("text/plain", ""),
            pair("text/html", "hello"),
            pair("text/plain", "x"),
        ]
    );
    assert!(parts[0].flags.missing_separator);
    // A message body that starts with neither an empty line nor the delimiter gets one
    // first (bug 6845): with no delimiter at all, the whole body is one headerless part.
    let none = "Content-Type: multipart/mixed; boundary=B\n\nHi there,\n\nbye\n";
    let parts = walk(&view(none));
    assert_eq!(
        types(none),
        [
            pair("multipart/mixed", ""),
            pair("text/plain", "Hi there,\n\nbye\n")
        ]
    );
    assert!(!parts[0].flags.missing_separator);
    // A digest's part without a type is a message (bug 5741; Python's msg_30.txt).
    let digest = "Content-Type: multipart/digest; boundary=B\n\n--B\n\n\
                  Content-Type: text/plain\nSubject: one\n\nmessage 1\n--B--\n";
    assert_eq!(
        types(digest),
        [
            pair("multipart/digest", ""),
            pair("message/rfc822", ""),
            pair("text/plain", "message 1"),
        ]
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// Any arrangement of delimiters, part headers, blank and text lines (nested and
    /// repeated boundaries, encoded attached messages): the walk ends within its bounds,
    /// in depth-first order under the message's own multipart, and the body of every part
    /// directly under it is text of the message.
    #[test]
    fn walks_any_multipart_arrangement(lines in proptest::collection::vec(0usize..14, 0..60)) {
        const LINES: [&str; 14] = [
            "--B\n", "--B--\n", "--C\n", "--C--\n", "\n", "hello world\n",
            "Content-Type: multipart/mixed; boundary=C\n",
            "Content-Type: multipart/alternative; boundary=B\n",
            "Content-Type: message/rfc822\n", "Content-Transfer-Encoding: base64\n",
            "Q29udGVudC1UeXBlOiB0ZXh0L2h0bWwKCjxwPng8L3A+Cg==\n", "\tcontinued\n",
            "Content-Type: multipart/digest; boundary=B\n", "Content-Type: text/html\r\n",
        ];
        let mut raw = String::from("Content-Type: multipart/mixed; boundary=B\n\n");
        for &l in &lines {
            raw.push_str(LINES[l]);
        }
        let parts = walk(&view(&raw));
        proptest::prop_assert!(parts.len() <= MAX_PARTS);
        proptest::prop_assert_eq!(parts[0].ctype.as_str(), "multipart/mixed");
        proptest::prop_assert_eq!(parts[0].depth, 0);
        for w in parts.windows(2) {
            proptest::prop_assert!(w[1].depth >= 1 && w[1].depth <= w[0].depth + 1);
        }
        for p in parts.iter().filter(|p| p.depth == 1 && !p.container) {
            proptest::prop_assert!(raw.contains(p.body.as_str()), "{:?} in {:?}", p.body, raw);
        }
    }
}

#[test]
fn empty_after_decoding() {
    let part = |cte: &str, body: &str| MimePart {
        cte: cte.into(),
        body: body.into(),
        ..MimePart::default()
    };
    assert!(part("", "").decodes_empty());
    assert!(!part("", "\n").decodes_empty());
    assert!(!part("quoted-printable", "  =\n\t\n").decodes_empty());
    assert!(part("quoted-printable", "=\n=\r\n").decodes_empty());
    assert!(!part("quoted-printable", " \t=\n").decodes_empty());
    assert!(part("base64", " \n==\n").decodes_empty());
    assert!(part("base64", "Q").decodes_empty());
    assert!(!part("base64", "QQ").decodes_empty());
}

#[test]
fn params() {
    assert_eq!(
        param("multipart/mixed; boundary=\"a b\"", "boundary").as_deref(),
        Some("a b")
    );
    assert_eq!(
        param("text/plain; charset=utf-8", "charset").as_deref(),
        Some("utf-8")
    );
    assert_eq!(param("text/plain; xname=a", "name"), None);
}

#[test]
fn media_types_as_parse_content_type_reads_them() {
    for (ct, want) in [
        ("Text/HTML; charset=utf-8", "text/html"),
        // No `;` before the parameters: the type ends at the white space.
        ("multipart/mixed\n\tboundary=\"b\"", "multipart/mixed"),
        ("multipart/mixed boundary=b", "multipart/mixed"),
        ("image/png/extra", "image/png"),
        // Text types other than html, calendar and x-vcard are text/plain.
        ("text/enriched", "text/plain"),
        ("text", "text/plain"),
        ("text/calendar; method=x", "text/calendar"),
        ("textile/x", "textile/x"),
        // No slash: kept as written.
        ("application", "application"),
        ("", "text/plain"),
        ("  ; charset=x", "text/plain"),
    ] {
        assert_eq!(media_type(ct), want, "{ct:?}");
    }
}

#[test]
fn base64_as_spamassassins_base64_decode_reads_it() {
    // Clean (the alphabet and `=` only, a multiple of 4): inner padding reads as zero bits.
    // (Expected values printed by SpamAssassin 4.0.1's `Util::base64_decode`.)
    assert_eq!(base64_lenient("aGk=\naGk="), b"hi\0hi".to_vec());
    assert_eq!(base64_lenient("aGVsbG8="), b"hello".to_vec());
    // Any other text: characters outside the alphabet dropped, the final `=` run too, an
    // inner `=` read as `/`, a lone last character dropped.
    assert_eq!(
        base64_lenient("aGVs bG8=\n-- \nfooter"),
        vec![104, 101, 108, 108, 111, 63, 126, 138, 45, 122]
    );
    assert_eq!(base64_lenient("Zm9v!"), b"foo".to_vec());
}

#[test]
fn charset_as_parse_content_type_reads_it() {
    let part = |ct: &str| MimePart {
        headers: vec![("Content-Type".to_owned(), ct.to_owned())],
        ..MimePart::default()
    };
    assert_eq!(
        part("text/plain; charset=\"UTF-8\"; format=flowed")
            .charset()
            .as_deref(),
        Some("utf-8")
    );
    assert_eq!(
        part("text/plain; charset=us-ascii (plain)")
            .charset()
            .as_deref(),
        Some("us-ascii (plain)")
    );
    assert_eq!(
        part("text/plain; charset='iso-8859-1").charset().as_deref(),
        Some("iso-8859-1")
    );
    assert_eq!(part("text/plain; xcharset=big5").charset(), None);
    assert_eq!(part("text/plain").charset(), None);
    // The last Content-Type counts.
    let two = MimePart {
        headers: vec![
            (
                "Content-Type".to_owned(),
                "multipart/alternative; boundary=x".to_owned(),
            ),
            (
                "Content-Type".to_owned(),
                "text/plain; charset=UTF-8".to_owned(),
            ),
        ],
        ..MimePart::default()
    };
    assert_eq!(two.charset().as_deref(), Some("utf-8"));
}

#[test]
fn names_and_effective_types_as_spamassassins_parser_reads_them() {
    let part = |ctype: &str, fields: &[(&str, &str)]| MimePart {
        headers: fields
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        ctype: ctype.to_owned(),
        ..MimePart::default()
    };
    // spam-2/01306 of the SpamAssassin corpus: Content-Disposition's name first.
    let p = part(
        "application/octet-stream",
        &[
            (
                "Content-Type",
                "application/octet-stream;\n\tname=\"C:\\WINDOWS\\Desktop\\Brand New Premium.htm\"",
            ),
            (
                "Content-Disposition",
                "attachment;\n\tfilename=\"Brand New Premium.htm\"",
            ),
        ],
    );
    assert_eq!(p.name().as_deref(), Some("Brand New Premium.htm"));
    assert!(p.effective_html());
    // Else Content-Type's name, in its own case.
    let p = part(
        "application/octet-stream",
        &[(
            "Content-Type",
            "application/octet-stream; Name=\"Page.SHTML\"",
        )],
    );
    assert_eq!(p.name().as_deref(), Some("Page.SHTML"));
    assert!(p.effective_html());
    let p = part(
        "application/pdf",
        &[("Content-Type", "application/pdf; xname=a.html; name=b.pdf")],
    );
    assert_eq!(p.name().as_deref(), Some("b.pdf"));
    assert!(!p.effective_html());
    assert!(part("text/html", &[]).effective_html());
}

#[test]
fn long_runs_of_blank_lines_cut_as_message_new_cuts_them() {
    // 25 blank lines (one with a tab) between two lines: the first and the last 19 stay.
    let run: String = (0..25)
        .map(|i| if i == 3 { "\t\n" } else { "\n" })
        .collect();
    let body = format!("a\n{run}b\n");
    let cut = cut_blank_runs(&body);
    assert_eq!(cut, format!("a\n{}b\n", "\n".repeat(20)));
    // At the very start of the body the first two stay, and the last 19.
    let body = format!("{}x\n", " \n".repeat(30));
    assert_eq!(cut_blank_runs(&body), format!("{}x\n", " \n".repeat(21)));
    // 20 are left alone, borrowed.
    let body = format!("a\n{}b", "\n".repeat(20));
    assert!(matches!(cut_blank_runs(&body), Cow::Borrowed(_)));
    // The walk reads the cut body (spam-2/01254 of the SpamAssassin corpus: HTML_IMAGE_ONLY_24
    // measures the HTML part's length after the cut).
    let raw = format!(
        "Content-Type: text/html\n\n<html><img src=x>\n{}</html>\n",
        "\n".repeat(40)
    );
    let parts = walk(&view(&raw));
    assert_eq!(
        parts[0].body,
        format!("<html><img src=x>\n{}</html>\n", "\n".repeat(20))
    );
}

#[test]
fn a_multiparts_long_lines_are_cut_as_spamassassin_stores_them() {
    // `_parse_multipart` cuts a part's line over 2,048 bytes (its line break counted) into
    // lines of 2,048; a message's own body keeps its lines (CSDMC2010 TRAIN_00947, whose
    // 8,289-byte HTML line moved its rawbody pieces once the message was a multipart).
    let line = "word ".repeat(1000);
    let raw = format!(
        "Subject: x\nContent-Type: multipart/mixed; boundary=B\n\n--B\n\
         Content-Type: text/html\n\n{line}\nend\n--B--\n"
    );
    let parts = walk(&view(&raw));
    let body = &parts[1].body;
    let lens: Vec<usize> = body.split_inclusive('\n').map(str::len).collect();
    assert_eq!(lens, [2049, 2049, 905, 3]);
    assert_eq!(
        body.replace('\n', ""),
        format!("{line}end").replace('\n', "")
    );
    let single = format!("Subject: x\nContent-Type: text/html\n\n{line}\nend\n");
    let parts = walk(&view(&single));
    assert_eq!(parts[0].body.lines().next().map(str::len), Some(5000));
}
