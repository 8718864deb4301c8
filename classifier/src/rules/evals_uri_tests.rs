//! The link evals against messages whose hits SpamAssassin 4.0.1 gives (each checked with
//! `spamassassin -L -t --cf` and the same rules: `T_IPM` ... hit exactly as asserted here).

const RULES: &str = "util_rb_tld com org\n\
    body T_IPM eval:check_https_ip_mismatch()\n\
    body T_TRUNC eval:check_uri_truncated()\n\
    body T_REDIR eval:check_for_http_redirector()\n\
    body T_MM eval:check_https_http_mismatch('1','10')\n\
    body T_IFR eval:check_iframe_src()\n";

fn hits(body: &str) -> Vec<String> {
    let raw = format!(
        "From: a@example.org\nTo: b@example.org\nSubject: test\nContent-Type: text/html\n\n\
         <html><body>{body}</body></html>\n"
    );
    let mut h = crate::rules::tests::hits_now(RULES, &raw);
    h.sort();
    h
}

#[test]
fn https_text_on_a_link_to_an_ip_address() {
    let h = hits(r#"<a href="http://192.168.10.1/login">https://www.bank.com/login</a>"#);
    assert_eq!(h, ["T_IPM"]);
    // Upper case, a user name in the link and an image inside the link text still count.
    let h = hits(
        r#"<a href="https://user@10.1.2.3/x">go <img src="a.gif"> see HTTPS://www.bank.com</a>"#,
    );
    assert_eq!(h, ["T_IPM"]);
    // Text naming an https IP address, or only http, does not.
    assert!(hits(r#"<a href="http://192.168.10.1/">https://10.0.0.1/</a>"#).is_empty());
    assert!(hits(r#"<a href="http://192.168.10.1/">http://www.bank.com/</a>"#).is_empty());
}

#[test]
fn https_text_naming_another_domain() {
    let evil = r#"<a href="http://evil.com/">https://www.bankofamerica.com/</a>"#;
    assert_eq!(hits(evil), ["T_MM"]);
    // An IP address in the text is compared as it is.
    assert_eq!(
        hits(r#"<a href="http://evil.com/">https://10.0.0.1/</a>"#),
        ["T_MM"]
    );
    // The same registered domain; a link host under no listed top-level domain.
    let same = r#"<a href="http://www.bankofamerica.com/x">https://bankofamerica.com/</a>"#;
    assert!(hits(same).is_empty());
    assert!(
        hits(r#"<a href="http://evil.invalidtld/">https://www.bankofamerica.com/</a>"#).is_empty()
    );
    // Fewer than 10 links with text to valid hosts: 9 hit, 10 do not.
    let links = |n: usize| (0..n).map(|i| format!(r#"<a href="http://s{i}.com/">x</a>"#));
    assert_eq!(
        hits(&(evil.to_owned() + &links(8).collect::<String>())),
        ["T_MM"]
    );
    assert!(hits(&(evil.to_owned() + &links(9).collect::<String>())).is_empty());
    let empty = r#"<a href="http://evil.com/"></a><a href="http://good.com/">https://good.com</a>"#;
    assert!(hits(empty).is_empty());
}

#[test]
fn iframe_with_a_source() {
    assert_eq!(
        hits(r#"<iframe src="http://x.example.com/a.html"></iframe>hi"#),
        ["T_IFR"]
    );
    assert_eq!(hits(r#"<iframe src="a.html"></iframe>hi"#), ["T_IFR"]);
    assert!(hits(r#"<iframe src=""></iframe><iframe width=1></iframe>hi"#).is_empty());
}

#[test]
fn links_over_8192_bytes_are_cut() {
    let link = |n: usize| format!(r#"<a href="http://x.com/{}">x</a>"#, "a".repeat(n));
    assert_eq!(hits(&link(9000)), ["T_TRUNC"]);
    assert!(hits(&link(8000)).is_empty());
}

#[test]
fn redirects_to_another_domain() {
    let h = hits(r#"<a href="http://www.google.com/url?q=http://evil.com/">x</a>"#);
    assert_eq!(h, ["T_REDIR"]);
    assert_eq!(
        hits("see http://www.google.com/url?q=https://evil.com/x"),
        ["T_REDIR"]
    );
    let same = r#"<a href="http://a.google.com/url?q=http://www.google.com/">x</a>"#;
    assert!(hits(same).is_empty());
    // SpamAssassin's own readings of a numeric host include `10...1` (its octet clean-up),
    // whose tail names 10.0.0.1: a hit in SpamAssassin too.
    assert_eq!(
        hits(r#"<a href="http://10.0.0.1/r?u=http://10.0.0.1/">x</a>"#),
        ["T_REDIR"]
    );
}

/// The stock 20_aux_tlds.cf lists the IDN top-level domains under
/// `if can(Mail::SpamAssassin::Conf::feature_registryboundaries)`, which SpamAssassin 4 has:
/// a link under `xn--p1ai` is a URI (the edge set's `url9.eml`, SpamAssassin's `__HAS_URI`).
#[test]
fn idn_top_level_domains_under_the_registryboundaries_feature() {
    let rules = "if can(Mail::SpamAssassin::Conf::feature_registryboundaries)\n\
        clear_util_rb\n\
        util_rb_tld com xn--p1ai\n\
        endif\n\
        uri T_ANY /./\n";
    let msg = |link: &str| format!("Subject: t\nContent-Type: text/plain\n\n{link}\n");
    let h = crate::rules::tests::hits_now(rules, &msg("http://xn--80arbjktj.xn--p1ai"));
    assert_eq!(h, ["T_ANY"]);
    assert!(crate::rules::tests::hits_now(rules, &msg("http://xn--80arbjktj.xn--p1aj")).is_empty());
}

/// A link in `<a href>` is listed as written as well as resolved against `<base href>`
/// (SpamAssassin 4.0.1 on spam-1/00412: `/mhg/?aid=...` beside `http://200.43.112.5/mhg/...`).
#[test]
fn anchor_links_are_listed_as_written_beside_their_resolution() {
    let rules = "uri T_REL /^\\/mhg\\//\nuri T_ABS /^http:\\/\\/192\\.0\\.2\\.5\\/mhg\\//\n";
    let msg = |body: &str| {
        format!("Subject: t\nContent-Type: text/html\n\n<html><head>{body}</a></body></html>\n")
    };
    let mut h = crate::rules::tests::hits_now(
        rules,
        &msg(r#"<base href="http://192.0.2.5/"></head><body><a href="/mhg/?x=1">go"#),
    );
    h.sort();
    assert_eq!(h, ["T_ABS", "T_REL"]);
    // An image's link is listed resolved only.
    let h = crate::rules::tests::hits_now(
        rules,
        &msg(r#"<base href="http://192.0.2.5/"></head><body><img src="/mhg/a.gif"><a>"#),
    );
    assert_eq!(h, ["T_ABS"]);
}
