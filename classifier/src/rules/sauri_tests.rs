use std::collections::HashSet;

use super::canon::canonicalize;
use super::text_uris;

fn tlds() -> HashSet<String> {
    ["com", "net", "org", "work", "online", "biz", "uk"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}

fn found(text: &str) -> Vec<String> {
    text_uris(&[text.to_owned()], &tlds())
}

#[test]
fn schemeless_hosts_need_a_listed_tld() {
    assert_eq!(
        found("Apply at Jobs-today.Work now"),
        ["http://Jobs-today.Work"]
    );
    assert_eq!(
        found("see shop.example.com/offer."),
        ["http://shop.example.com/offer"]
    );
    // Not after a dot or a letter, not under an unlisted TLD, not with `_` in the domain.
    assert!(found("v1.2.notatld x.y").is_empty());
    assert!(found("a_b.com").is_empty());
    assert!(found("foo.com.bar").is_empty());
}

#[test]
fn schemes_www_and_addresses() {
    assert_eq!(
        found("go to http://a.example.com/x?y=1, or www2.example.net."),
        ["http://a.example.com/x?y=1", "http://www2.example.net"]
    );
    assert_eq!(
        found("write to Sales@Example.com!"),
        ["mailto:Sales@Example.com"]
    );
    assert_eq!(found("mail:me@example.org"), ["mailto:me@example.org"]);
    // An address under an unlisted TLD, and a cid:, are dropped.
    assert!(found("x@example.invalid cid:part1@example.com").is_empty());
    // `)` ends a URI unless `(` came first.
    assert_eq!(
        found("(see http://example.com/a)"),
        ["http://example.com/a"]
    );
}

#[test]
fn readings_as_spamassassin_canonicalises() {
    let r = canonicalize("http://visitor@192.51.2.7/members/", &tlds());
    assert!(
        r.contains(&"http://192.51.2.7/members/".to_owned()),
        "{r:?}"
    );
    let r = canonicalize(
        "http://click.example.com/r?dest=http://198.51.100.9/p/&x=1",
        &tlds(),
    );
    assert!(r.contains(&"http://198.51.100.9/p/".to_owned()), "{r:?}");
    let r = canonicalize("http://%77%77%77.example.com:80/", &tlds());
    assert!(
        r.contains(&"http://www.example.com:80/".to_owned()),
        "{r:?}"
    );
    assert!(r.contains(&"http://www.example.com/".to_owned()), "{r:?}");
    let r = canonicalize("http://3232235777/", &tlds());
    assert!(r.contains(&"http://192.168.1.1/".to_owned()), "{r:?}");
    let r = canonicalize("http://0x7f.0.0.01/", &tlds());
    assert!(r.contains(&"http://127...1/".to_owned()), "{r:?}");
    let r = canonicalize("http://intranet/", &tlds());
    assert!(r.contains(&"http://www.intranet.com/".to_owned()), "{r:?}");
    let r = canonicalize("mailto:a@example.com?subject=hi", &tlds());
    assert!(r.contains(&"mailto:a@example.com".to_owned()), "{r:?}");
}

#[test]
fn html_links_resolve_against_base() {
    let mut uris = Vec::new();
    let mut mailtos = Vec::new();
    let mut base = None;
    let mut detail = super::UriDetail::default();
    let a = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
    super::html::html_uri(
        &mut uris,
        &mut mailtos,
        &mut base,
        &mut detail,
        "base",
        &a("href", "http://example.com/dir/page.html"),
    );
    super::html::html_uri(
        &mut uris,
        &mut mailtos,
        &mut base,
        &mut detail,
        "a",
        &a("href", "../up/x.html"),
    );
    super::html::html_uri(
        &mut uris,
        &mut mailtos,
        &mut base,
        &mut detail,
        "form",
        &a("action", " http://192.0.2.1/r.asp "),
    );
    super::html::html_uri(
        &mut uris,
        &mut mailtos,
        &mut base,
        &mut detail,
        "img",
        &a("src", "mailto:x@example.com"),
    );
    super::html::html_uri(
        &mut uris,
        &mut mailtos,
        &mut base,
        &mut detail,
        "a",
        &a("href", " MAILTO:y@example.com?subject=x"),
    );
    assert_eq!(base.as_deref(), Some("http://example.com/dir/"));
    // Only an `<a>` tag's mailto: links are FreeMail's (SpamAssassin's `types->{a}`).
    assert_eq!(mailtos, ["MAILTO:y@example.com?subject=x"]);
    // Link texts are keyed by the link as written, not resolved (`anchor_last`).
    let keys: Vec<&str> = detail.anchors.keys().map(String::as_str).collect();
    assert_eq!(keys, ["../up/x.html", "MAILTO:y@example.com?subject=x"]);
    assert!(!detail.iframe_src && !detail.truncated);
    assert_eq!(
        uris,
        [
            "http://example.com/dir/page.html",
            "http://example.com/up/x.html",
            // The anchor's link as written is a key of HTML.pm's URI hash too.
            "../up/x.html",
            "http://192.0.2.1/r.asp",
            "mailto:x@example.com",
            "MAILTO:y@example.com?subject=x"
        ]
    );
}

#[test]
fn never_panics_on_odd_text() {
    let long = format!(
        "{}http://example.com/{}",
        "é".repeat(1500),
        "ü".repeat(2000)
    );
    let _ = text_uris(&super::split_lines(&long), &tlds());
    for t in [
        "",
        "@",
        "é@é.com",
        "http://",
        "www.",
        "\u{1b}(Bwww.example.com",
        "a.com:99999999/\u{a0}",
        "%%41@x.com",
    ] {
        let _ = found(t);
        let _ = canonicalize(t, &tlds());
    }
}

#[test]
fn a_rendered_part_is_cut_at_50000_characters() {
    // Two-byte letters: SpamAssassin counts characters, so the cut falls on the line break
    // after the 50,010th letter, not near the 25,000th.
    let text = format!("{}\nrest\n", "я".repeat(50_010));
    let cut = super::scan_cut(&text);
    assert_eq!(cut.chars().count(), 50_011);
    assert!(cut.ends_with("я\n"));
    // No break or space within 1,024 characters: right at 50,000.
    let text = "я".repeat(60_000);
    assert_eq!(super::scan_cut(&text).chars().count(), 50_000);
    assert_eq!(super::scan_cut("short"), "short");
}

/// A host written in Unicode is also read in its ASCII form, as SpamAssassin's
/// `uri_list_canonicalize` adds it (`idn_to_ascii`, checked against SpamAssassin 4.0.1 with
/// Net::LibIDN2 on `http://Bücher.de:8080/x`, `https://xn--bcher-kva.de:443/y`,
/// `http://Bücher.de:443/w` and the edge set's `url8.eml`).
#[test]
fn unicode_hosts_in_their_ascii_form() {
    let mut t = tlds();
    t.extend(["de".to_owned(), "xn--p1ai".to_owned()]);
    let r = canonicalize("http://Bücher.de:8080/x", &t);
    assert!(r.contains(&"http://Bücher.de:8080/x".to_owned()), "{r:?}");
    assert!(
        r.contains(&"http://xn--bcher-kva.de:8080/x".to_owned()),
        "{r:?}"
    );
    // Only the default port of the scheme is dropped.
    let r = canonicalize("http://Bücher.de:80/w", &t);
    assert!(r.contains(&"http://xn--bcher-kva.de/w".to_owned()), "{r:?}");
    let r = canonicalize("http://Bücher.de:443/w", &t);
    assert!(!r.iter().any(|u| u == "http://xn--bcher-kva.de/w"), "{r:?}");
    // The ideographic full stop is a dot; the host is the ASCII form.
    assert_eq!(
        super::canon::host_of("http://мойсайт\u{3002}рф/", &t).as_deref(),
        Some("xn--80arbjktj.xn--p1ai")
    );
    assert_eq!(
        text_uris(&["http://мойсайт.рф\n".to_owned()], &t),
        ["http://мойсайт.рф"]
    );
}

/// `get_body_text_array_common`'s white space handling: a NUL of the text itself is a line
/// break after `tr/\x00/\n/`, not squeezed (SpamAssassin 4.0.1 on the edge set's
/// rs/06a1d54f-broken_richtext.eml, a ZIP sent as text/richtext: UPPERCASE_50_75 and
/// `__TVD_SPACE_RATIO` measured one line where it reads many).
#[test]
fn nul_characters_are_line_breaks() {
    assert_eq!(super::squeeze("a\0\0b  c\n\n d\t\te"), "a\n\nb c\n d e");
    assert_eq!(super::squeeze("PK\u{3}\u{4} \0x"), "PK\u{3}\u{4} \nx");
}
