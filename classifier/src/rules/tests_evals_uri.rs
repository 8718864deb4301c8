//! Cases for the link evals (`evals_uri.rs`), run by `every_eval_is_documented_and_exercised`
//! (no `util_rb_tld` there: host names are not valid, IP addresses are; the fuller cases,
//! checked with `spamassassin -L -t`, are in `evals_uri_tests.rs`).

/// (eval call, kind, message, expected) for the link evals.
pub(super) fn cases() -> Vec<(&'static str, &'static str, String, bool)> {
    let html = |body: &str| {
        format!("Subject: x\nContent-Type: text/html\n\n<html><body>{body}</body></html>\n")
    };
    let ip_link = r#"<a href="http://192.168.10.1/login">https://www.bank.com/login</a>"#;
    vec![
        ("check_https_ip_mismatch()", "body", html(ip_link), true),
        (
            "check_https_ip_mismatch()",
            "body",
            html(r#"<a href="http://192.168.10.1/">https://10.0.0.1/</a>"#),
            false,
        ),
        (
            "check_uri_truncated()",
            "body",
            html(&format!(
                r#"<a href="http://x.com/{}">x</a>"#,
                "a".repeat(9000)
            )),
            true,
        ),
        ("check_uri_truncated()", "body", html(ip_link), false),
        (
            "check_for_http_redirector()",
            "body",
            html(r#"<a href="http://10.0.0.1/r?u=http://10.0.0.2/">x</a>"#),
            true,
        ),
        (
            "check_for_http_redirector()",
            "body",
            html(r#"<a href="http://www.x.com/r?u=http://www.x.com/">x</a>"#),
            false,
        ),
        (
            "check_https_http_mismatch('1','10')",
            "body",
            html(ip_link),
            false,
        ),
        (
            "check_iframe_src()",
            "body",
            html(r#"<iframe src="a.html"></iframe>"#),
            true,
        ),
        (
            "check_iframe_src()",
            "body",
            html(r#"<iframe src=""></iframe>"#),
            false,
        ),
    ]
}
