//! Cases for the link evals (`evals_uri.rs`), run by `every_eval_is_documented_and_exercised`
//! (no `util_rb_tld` there: host names are not valid, IP addresses are; the fuller cases,
//! checked with `spamassassin -L -t`, are in `evals_uri_tests.rs`), and for WelcomeListSubject.

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

/// (settings, eval call, message, expected) for WelcomeListSubject, each checked with
/// `spamassassin -L -t --cf` and the same settings (SUBJECT_IN_WELCOMELIST / _BLOCKLIST).
pub(super) fn subject_cases() -> Vec<(&'static str, &'static str, String, bool)> {
    let msg = |subject: &str| format!("From: a@example.org\nSubject: {subject}\n\nhello\n");
    let welcome = "welcomelist_subject free money\nwhitelist_subject order ?2* confirmed";
    let block = "blocklist_subject a.b\nblacklist_subject zzz";
    vec![
        // One pattern per line (not per word), contained anywhere, case ignored.
        (
            welcome,
            "check_subject_in_welcomelist()",
            msg("Get FREE money now"),
            true,
        ),
        (
            welcome,
            "check_subject_in_welcomelist()",
            msg("Money talks"),
            false,
        ),
        (
            welcome,
            "check_subject_in_welcomelist()",
            msg("free   money"),
            false,
        ),
        (
            welcome,
            "check_subject_in_welcomelist()",
            msg("=?utf-8?q?Free_money?="),
            true,
        ),
        // `?` one character, `*` any run; the old setting name fills the same list.
        (
            welcome,
            "check_subject_in_whitelist()",
            msg("Order 123 confirmed"),
            true,
        ),
        (
            welcome,
            "check_subject_in_whitelist()",
            msg("Order confirmed"),
            false,
        ),
        // `.` is literal.
        (block, "check_subject_in_blocklist()", msg("see a.b"), true),
        (block, "check_subject_in_blocklist()", msg("see axb"), false),
        (block, "check_subject_in_blacklist()", msg("ZZZ top"), true),
        (
            block,
            "check_subject_in_blacklist()",
            msg("Get FREE money now"),
            false,
        ),
    ]
}

#[test]
fn enable_compat_answers_can_compat_as_spamassassin_does() {
    // init.pre's `enable_compat welcomelist_blocklist` defines SpamAssassin's
    // `Conf::compat_welcomelist_blocklist`, so the deprecated USER_IN_WHITELIST-style metas
    // under `if !can(...)` are not defined (checked with `spamassassin -L -t`: only
    // SUBJECT_IN_WELCOMELIST hits, never SUBJECT_IN_WHITELIST).
    let can = "can(Mail::SpamAssassin::Conf::compat_welcomelist_blocklist)";
    let msg = "Subject: x\n\nhi\n";
    let old = format!("if !{can}\nheader OLD Subject =~ /x/\nendif\n");
    assert_eq!(crate::rules::tests::hits_now(&old, msg), ["OLD"]);
    let new = format!(
        "enable_compat welcomelist_blocklist\nif {can}\nheader NEW Subject =~ /x/\nendif\n"
    );
    assert_eq!(crate::rules::tests::hits_now(&new, msg), ["NEW"]);
}
