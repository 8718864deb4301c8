//! FreeMail's evals against messages whose expected hits SpamAssassin 4.0.1 gives (checked
//! with `spamassassin -L -t -D` on the corpus messages named).

const RULES: &str = "freemail_domains gmail.com yahoo.* hotmail.co.?? mail.com\n\
    util_rb_tld com fr net org uk example\n\
    freemail_welcomelist friend@gmail.com\n\
    header FM_FROM eval:check_freemail_from()\n\
    header FM_FROM_DIGIT eval:check_freemail_from('\\d@')\n\
    header FM_REPLYTO eval:check_freemail_replyto('replyto')\n\
    header FM_REPLY eval:check_freemail_replyto('reply')\n\
    header FM_HDR_RT eval:check_freemail_header('Reply-To')\n\
    header FROM_DIFF eval:check_equal_from_domains()\n";

fn hits(raw: &str) -> Vec<String> {
    crate::rules::tests::hits_now(RULES, raw)
}

fn has(h: &[String], r: &str) -> bool {
    h.iter().any(|x| x == r)
}

#[test]
fn from_and_reply_to() {
    let h = hits("From: Joe <joe77@yahoo.fr>\nReply-To: other@gmail.com\nSubject: s\n\nhi\n");
    assert!(has(&h, "FM_FROM") && has(&h, "FM_FROM_DIGIT") && has(&h, "FM_HDR_RT"));
    assert!(has(&h, "FM_REPLYTO") && has(&h, "FM_REPLY"), "{h:?}");
    // A welcomelisted address is not free mail; a company address never is.
    let h = hits("From: friend@gmail.com\nSubject: s\n\nhi\n");
    assert!(!has(&h, "FM_FROM"), "{h:?}");
    let h = hits("From: a@corp.example\nReply-To: a@corp.example\nSubject: s\n\nhi\n");
    assert!(h.is_empty(), "{h:?}");
}

#[test]
fn reply_compares_from_with_body_without_reply_to() {
    let raw = "From: joe@gmail.com\nSubject: s\n\nwrite to me at joe.private@yahoo.com\n";
    let h = hits(raw);
    assert!(has(&h, "FM_REPLY") && !has(&h, "FM_REPLYTO"), "{h:?}");
    // Too many addresses: a newsletter, the body is not used.
    let many = "From: joe@gmail.com\nSubject: s\n\na@yahoo.com b@x.example c@x.example \
                d@x.example e@x.example f@x.example\n";
    assert!(!has(&hits(many), "FM_REPLY"));
    // A mailto: link counts as a body address even when its text does not show it.
    let html = "From: joe@gmail.com\nReply-To: joe@gmail.com\nSubject: s\n\
                Content-Type: text/html\n\n<a href=\"mailto:complaints@yahoo.com?s=x\">here</a>\n";
    assert!(has(&hits(html), "FM_REPLYTO"), "{:?}", hits(html));
}

#[test]
fn from_and_envelope_domains() {
    let h = hits("Return-Path: <b@bounce.mailer.example>\nFrom: a@shop.example\n\nx\n");
    assert!(has(&h, "FROM_DIFF"), "{h:?}");
    let h = hits("Return-Path: <b@news.shop.example>\nFrom: a@shop.example\n\nx\n");
    assert!(!has(&h, "FROM_DIFF"), "same registrable domain: {h:?}");
    // A From without a real domain has no domain to differ.
    let h = hits("Return-Path: <b@yahoo.com>\nFrom: \"A\" <\"\"@NODOMAIN>\n\nx\n");
    assert!(!has(&h, "FROM_DIFF"), "{h:?}");
}

fn tlds() -> std::collections::HashSet<String> {
    ["com", "net", "org", "museum"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}

/// Every address FreeMail's email regex finds in `line`, as `body_addrs` walks a line.
fn emails(line: &str) -> Vec<String> {
    let (b, t) = (line.as_bytes(), tlds());
    let (mut p, mut out) = (0, Vec::new());
    while p < b.len() {
        match super::email_at(b, p, &t) {
            Some(end) => {
                out.push(line[p..end].to_owned());
                p = end;
            }
            None => p += 1,
        }
    }
    out
}

#[test]
fn an_address_ends_at_its_top_level_domain() {
    // spam-2/00050, 00107, 00356, 00727: `mailto:x@uole.com?subject=delete` in plain text.
    assert_eq!(
        emails("mailto:geoposti@uole.com?subject=delete-mort"),
        ["geoposti@uole.com"]
    );
    assert_eq!(
        emails("(joe.b@mail.example.com), x"),
        ["joe.b@mail.example.com"]
    );
    // The top-level domain must be on `util_rb_tld` and end at a boundary.
    assert_eq!(
        emails("a@b.zz a@b.com.zz a@b.comx a@b.com-x"),
        Vec::<String>::new()
    );
    assert_eq!(
        emails("a@b.com.\u{e9} a@b.museum."),
        ["a@b.com", "a@b.museum"]
    );
    // One to four labels before it; labels of at most 61 characters, not ending in `-`.
    assert_eq!(emails("a@b.c.d.e.com a@b.c.d.e.f.com"), ["a@b.c.d.e.com"]);
    assert_eq!(emails("a@b-.com a@-b.com a@b--c.com"), ["a@b--c.com"]);
    let long = format!("a@{}.com b@{}.com", "x".repeat(61), "y".repeat(62));
    assert_eq!(emails(&long), [format!("a@{}.com", "x".repeat(61))]);
    // A local part of dot-separated runs, at most 64 characters, starting at a boundary.
    assert_eq!(
        emails("jo..e@x.com .joe@x.com joe.@x.com"),
        ["e@x.com", "joe@x.com"]
    );
    let l64 = format!("{}@x.com {}@y.com", "a".repeat(64), "b".repeat(65));
    assert_eq!(emails(&l64), [format!("{}@x.com", "a".repeat(64))]);
    assert_eq!(emails("it's&x+y=z@x.net"), ["it's&x+y=z@x.net"]);
    // No top-level domains configured: SpamAssassin's `no_tlds_defined` matches nothing.
    let none = std::collections::HashSet::new();
    assert_eq!(super::email_at(b"a@b.com", 0, &none), None);
}

#[test]
fn urls_holding_an_address_are_removed() {
    // spam-2/01133: an unsubscribe link `...asp?userid=tombrandon@yahoo.com`.
    let s = |l: &str| super::strip_urls_with_at(l);
    assert_eq!(
        s("go http://x.example/u.asp?id=tom@yahoo.com now"),
        "go   now"
    );
    assert_eq!(s("<HTTPS://x.example/?e=a%40b.com> a@c.com"), "  a@c.com");
    assert_eq!(
        s("http://x.example/page a@b.com"),
        "http://x.example/page a@b.com"
    );
    // The `@` must start within 255 characters of the scheme; 255 more at most follow it.
    let far = format!("http://{}@b.com", "x".repeat(256));
    assert_eq!(s(&far), far);
    let tail = format!("http://a@{}", "y".repeat(300));
    assert_eq!(s(&tail), format!(" {}", "y".repeat(300 - 255)));
    assert_eq!(s("http://\u{e9}@\u{e9} ok"), "  ok");
}

#[test]
fn quoted_addresses_are_removed() {
    // spam-2/00261: `Emailcentre@163.com` followed by `Http://...` reads as `addr wrote:`.
    let t = tlds();
    let q = |l: &str| super::strip_quoted_addrs(l, &t);
    assert_eq!(q("by <joe@x.com> today"), "by   today");
    assert_eq!(q("joe@x.com wrote: hi"), "  hi");
    assert_eq!(q("joe@x.com Http://x.com"), " //x.com");
    // Phone, fax and mail labels are not quotes; nor a word too long or too far.
    for kept in [
        "joe@x.com Tel: 1",
        "joe@x.com Fax: 1",
        "joe@x.com facsimile: 1",
        "joe@x.com phone: 1",
        "joe@x.com email: 1",
        "joe@x.com mailbox: 1",
        "joe@x.com abcdefghijkl: 1",
        "joe@x.com           wrote: 1",
        "joe@x.com wrote 1",
    ] {
        assert_eq!(q(kept), kept);
    }
    // An address right after `mailto:` stays.
    assert_eq!(q("<mailto:joe@x.com>"), "<mailto:joe@x.com>");
}

#[test]
fn the_body_is_dropped_at_five_addresses_or_three_free_mails() {
    // spam-2/00417, 00806: three free-mail addresses already skip the body.
    let msg = |body: &str| format!("From: joe@gmail.com\nSubject: s\n\n{body}\n");
    let four = msg("a@yahoo.com b@x.example c@x.example d@x.example");
    assert!(has(&hits(&four), "FM_REPLY"), "{:?}", hits(&four));
    let five = msg("a@yahoo.com b@x.example c@x.example d@x.example e@x.example");
    assert!(!has(&hits(&five), "FM_REPLY"));
    let two = msg("a@yahoo.com b@yahoo.fr");
    assert!(has(&hits(&two), "FM_REPLY"));
    let three = msg("a@yahoo.com b@yahoo.fr c@mail.com");
    assert!(!has(&hits(&three), "FM_REPLY"));
    // The Subject is the body's first line; an address repeated counts once.
    let subj = "From: joe@gmail.com\nSubject: write a@yahoo.com\n\nhi\n";
    assert!(has(&hits(subj), "FM_REPLY"));
    let dupes = msg("A@yahoo.com a@yahoo.com, a@Yahoo.com b@x.example c@x.example d@x.example");
    assert!(has(&hits(&dupes), "FM_REPLY"));
}

#[test]
fn mailto_links_count_unless_the_text_shows_them() {
    let html = |body: &str| {
        format!(
            "From: joe@gmail.com\nReply-To: joe@gmail.com\nSubject: s\n\
             Content-Type: text/html\n\n<html><body>{body}</body></html>\n"
        )
    };
    let hidden = html("<a href=\"mailto:other@yahoo.com\">write</a>");
    assert!(has(&hits(&hidden), "FM_REPLYTO"));
    // Shown in the text, it is the text's address, and there `addr Http:` removes it.
    let shown = html("<a href=\"mailto:other@yahoo.com\">other@yahoo.com</a><br>Http://x.com");
    assert!(!has(&hits(&shown), "FM_REPLYTO"), "{:?}", hits(&shown));
    // Only `<a>` links: an image's mailto: source is not an address of the body.
    let img = html("<img src=\"mailto:other@yahoo.com\">");
    assert!(!has(&hits(&img), "FM_REPLYTO"));
}

#[test]
fn reply_to_rules_as_the_plugin_reads_them() {
    // 'reply' needs a free-mail From, even when the Reply-To is free mail.
    let raw = "From: joe@corp.example\nReply-To: joe@gmail.com\nSubject: s\n\nx@yahoo.com\n";
    let h = hits(raw);
    assert!(has(&h, "FM_REPLYTO") && !has(&h, "FM_REPLY"), "{h:?}");
    // Every From and Reply-To address counts: a From among the Reply-To addresses is no hit.
    let raw = "From: joe@gmail.com\nReply-To: joe@gmail.com, x@yahoo.com\nSubject: s\n\nhi\n";
    assert!(!has(&hits(raw), "FM_REPLYTO"));
    let raw = "From: joe@gmail.com\nReply-To: x@yahoo.com, y@corp.example\nSubject: s\n\nhi\n";
    assert!(has(&hits(raw), "FM_REPLYTO"));
    // A list's or a no-reply envelope sender skips the test.
    let with_env = |env: &str| {
        format!("Return-Path: <{env}>\nFrom: joe@gmail.com\nReply-To: x@yahoo.com\n\nhi\n")
    };
    for bulk in [
        "owner-list@lists.example",
        "list-request@lists.example",
        "donotreply@x.example",
        "no_reply@x.example",
        "a=b@x.example",
        "postmaster@x.example",
    ] {
        assert!(!has(&hits(&with_env(bulk)), "FM_REPLYTO"), "{bulk}");
    }
    for person in ["joe@x.example", "no-reply@x.example", "owner@x.example"] {
        assert!(has(&hits(&with_env(person)), "FM_REPLYTO"), "{person}");
    }
}

#[test]
fn role_addresses_are_not_free_mail() {
    for role in [
        "info@gmail.com",
        "Support@yahoo.com",
        "undisclosed-recipients@gmail.com",
        "request-0123456789abcdef@gmail.com",
        "bounce-@gmail.com",
        "0123abcd.89abcdef@gmail.com",
        "a=b=c@gmail.com",
    ] {
        let h = hits(&format!("From: {role}\nSubject: s\n\nhi\n"));
        assert!(!has(&h, "FM_FROM"), "{role}: {h:?}");
    }
    for person in [
        "information@gmail.com",
        "bounce-x@gmail.com",
        "a=b@gmail.com",
    ] {
        let h = hits(&format!("From: {person}\nSubject: s\n\nhi\n"));
        assert!(has(&h, "FM_FROM"), "{person}: {h:?}");
    }
}

#[test]
fn header_addresses_as_addr_reads_them() {
    // spam-2/00727: `leads&sales3642@Flashmail.com` is an address to SpamAssassin's `:addr`.
    let h = hits("From: leads&sales3642@Flashmail.example\nSubject: s\n\nhi\n");
    assert!(h.is_empty(), "not a free-mail domain: {h:?}");
    let h = hits("From: leads&sales3642@yahoo.com\nReply-To: odd%CUSTOM1@yahoo.com\n\nhi\n");
    assert!(
        has(&h, "FM_FROM") && has(&h, "FM_FROM_DIGIT") && has(&h, "FM_HDR_RT"),
        "{h:?}"
    );
    // The sender addresses have runs of dots squeezed; a header test's do not.
    let h = hits("From: a@yahoo..com\nReply-To: a@yahoo..com\nSubject: s\n\nhi\n");
    assert!(has(&h, "FM_FROM") && !has(&h, "FM_HDR_RT"), "{h:?}");
    // Every address counts: a second From address, a second From, a second Reply-To.
    for raw in [
        "From: joe@corp.example, x@yahoo.com\nSubject: s\n\nhi\n",
        "From: joe@corp.example\nFrom: x@yahoo.com\nSubject: s\n\nhi\n",
    ] {
        assert!(has(&hits(raw), "FM_FROM"), "{raw}");
    }
    let raw = "From: joe@gmail.com\nReply-To: y@corp.example, x7@yahoo.com\nSubject: s\n\nhi\n";
    let h = hits(raw);
    assert!(
        has(&h, "FM_HDR_RT") && has(&h, "FM_REPLYTO") && has(&h, "FM_REPLY"),
        "{h:?}"
    );
    // A Resent-From stands for the senders.
    let h = hits("Resent-From: joe@corp.example\nFrom: x@yahoo.com\nSubject: s\n\nhi\n");
    assert!(!has(&h, "FM_FROM"), "{h:?}");
}

#[test]
fn freemail_blanks_the_body_text_later_body_rules_read() {
    // As SpamAssassin 4.0.1 gives them (`spamassassin -L -t` with the stock rules and these two
    // body rules): from a free-mail sender with no Reply-To, FreeMail's 'reply' reading parses
    // the body among the header evals and blanks, in the body text itself, the URL holding
    // `%40` and the address written `<addr>`; from another sender it does not.
    let rules =
        format!("{RULES}body URL_AT /mailman\\/options/\nbody QUOTED_ADDR /x\\.y\\@corp\\.com/\n");
    let body =
        "\n\nsee http://lists.example.org/mailman/options/me%40corp.com and <x.y@corp.com>\n";
    let h =
        crate::rules::tests::hits_now(&rules, &format!("From: joe@gmail.com\nSubject: s{body}"));
    assert!(!has(&h, "URL_AT") && !has(&h, "QUOTED_ADDR"), "{h:?}");
    let h = crate::rules::tests::hits_now(&rules, &format!("From: joe@corp.com\nSubject: s{body}"));
    assert!(has(&h, "URL_AT") && has(&h, "QUOTED_ADDR"), "{h:?}");
}

/// With sa-compile's Rule2XSBody loaded, the body rules it compiled run at the start of their
/// priority, before the header evals, so they read the body before FreeMail blanks it; the
/// others after (SpamAssassin 4.0.1 with Debian's sa-compile: `__SUBSCRIPTION_INFO` hits the
/// `optout` in spam-2/00623's `http://...@agileconcepts.com/optout.htm`).
#[test]
fn compiled_body_rules_read_the_body_before_freemail_blanks_it() {
    let base = std::env::temp_dir().join(format!("mailsift-compiled-{}", std::process::id()));
    let dir = base.join("5.036").join("4.000001");
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(
        dir.join("bases_body_0.pl"),
        "$bases = {\n  'name' => 'body_0',\n  'base_orig' => {\n    \
         'EARLY,[l=1]' => '(?aa)mailman\\/options',\n  }\n};\n",
    )
    .expect("bases file");
    crate::rules::installed::COMPILED_DIR.with(|c| *c.borrow_mut() = Some(base.clone()));
    let rules = format!("{RULES}body LATE /mailman\\/options/\nbody EARLY /mailman\\/options/\n");
    let raw = "From: joe@gmail.com\nSubject: s\n\nsee http://lists.example.org/mailman/options/me%40corp.com\n";
    let h = crate::rules::tests::hits_now(
        &format!("loadplugin Mail::SpamAssassin::Plugin::Rule2XSBody\n{rules}"),
        raw,
    );
    assert!(has(&h, "EARLY") && !has(&h, "LATE"), "{h:?}");
    // Without the plugin, every body rule reads the blanked body.
    let h = crate::rules::tests::hits_now(&rules, raw);
    assert!(!has(&h, "EARLY") && !has(&h, "LATE"), "{h:?}");
    crate::rules::installed::COMPILED_DIR.with(|c| *c.borrow_mut() = None);
    let _ = std::fs::remove_dir_all(&base);
}

/// HEADER_FROM_DIFFERENT_DOMAINS as HeaderEval's `check_equal_from_domains` compares: the
/// From and envelope addresses as SpamAssassin's parser reads them (`user@host@domain` is
/// `user@host`, `""@x` is none), each domain cut to its last two labels, not to its
/// registrable domain (spam-2/00080, 00977 of the SpamAssassin corpus, CSDMC2010 TRAIN_02496).
#[test]
fn equal_from_domains_reads_the_last_two_labels() {
    let cases = [
        // giga.net.tw and mars.seed.net.tw: both net.tw.
        ("coolman@giga.net.tw", "r6N55u0Wu@mars.seed.net.tw", false),
        ("a@x.example", "b@y.example", true),
        ("a@mail.x.example", "b@x.example", false),
        // A host without a dot is a domain too.
        ("ndtuft@uksyz@21cn.com", "Otto191@earthlink.net", true),
        // No address: SpamAssassin's parser does not ask Email::Address::XS for an entry it
        // read, whatever its address.
        ("\"Alonzo\" <\"\"@MYFROMADDY>", "a05bd5c1@yahoo.com", false),
    ];
    for (from, env, want) in cases {
        let raw = format!("Return-Path: <{env}>\nFrom: {from}\nSubject: s\n\nhi\n");
        assert_eq!(has(&hits(&raw), "FROM_DIFF"), want, "{from} / {env}");
    }
}

/// FreeMail's edits change only texts holding an `@` or a `%40`, so the others are left
/// unscanned; a `%40` split between two lines by the 2,048-byte cut still counts.
#[test]
fn only_texts_with_an_address_are_edited() {
    use super::{lines_may_edit, may_edit};
    assert!(!may_edit("nothing to see here, 40% off"));
    assert!(may_edit("write to joe@example.com wrote:"));
    assert!(may_edit("http://example.com/x%40y"));
    let lines = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert!(!lines_may_edit(&lines(&["a line\n", "40% off\n"])));
    assert!(lines_may_edit(&lines(&["http://example.com/x%", "40y\n"])));
    assert!(lines_may_edit(&lines(&["http://example.com/x%4", "0y\n"])));
    assert!(lines_may_edit(&lines(&["plain\n", "x@y.example\n"])));
}
