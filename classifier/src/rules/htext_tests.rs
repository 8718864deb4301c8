//! Unit tests of [`super`] (header text as SpamAssassin's rules read it).

use super::*;

#[test]
fn encoded_words_decode_and_join() {
    assert_eq!(decode_words("=?utf-8?q?caf=C3=A9?= ok"), "café ok");
    assert_eq!(decode_words("=?iso-8859-1?q?a?= =?iso-8859-1?q?b?="), "ab");
    assert_eq!(decode_words("x =?bogus"), "x =?bogus");
    assert_eq!(decode_words("=?utf-8?b?w6k=?="), "é");
    // East Asian charsets: decoded for SpamAssassin's rules, read as UTF-8 (each invalid
    // byte a U+FFFD) as the built-in rules were scored.
    let big5 = "=?big5?Q?=A6n=C5=A5?= x";
    assert_eq!(decode_words(big5), "好聽 x");
    assert_eq!(decode_words_as(big5, true), "\u{fffd}n\u{165} x");
}

#[test]
fn envelope_sender_only_from_before_the_received_lines() {
    let v = |s: &str| MessageView::parse(s.as_bytes(), &crate::Limits::default());
    let m = v("Return-Path: <a@x.org>\nReceived: from b by c\nFrom: a@x.org\n\nx\n");
    assert_eq!(envelope_from(&m).as_deref(), Some("a@x.org"));
    let m = v("Received: from b by c\nReturn-Path: <a@x.org>\nFrom: a@x.org\n\nx\n");
    assert_eq!(envelope_from(&m), None);
    // A second Return-Path below a Received line makes the first untrusted too.
    let m = v("Return-Path: <a@x.org>\nReceived: from b by c\nReturn-Path: b@y.org\n\nx\n");
    assert_eq!(envelope_from(&m), None);
}

#[test]
fn envelope_sender_needs_an_address() {
    // SpamAssassin 4.0.1 leaves EnvelopeFrom unset for `Return-Path: yyyy` (a name, not an
    // address: easy-ham-2/00277), `<>` and `<yyyy>`, and reads the next field instead.
    let v = |s: &str| MessageView::parse(s.as_bytes(), &crate::Limits::default());
    for rp in ["yyyy", "<>", "<yyyy>"] {
        let m = v(&format!("Return-Path: {rp}\nReceived: from b by c\n\nx\n"));
        assert_eq!(envelope_from(&m), None, "{rp}");
    }
    let m = v("Envelope-Sender: yyyy\nReturn-Path: Joe <j@x.org>\nReceived: from b\n\nx\n");
    assert_eq!(envelope_from(&m).as_deref(), Some("j@x.org"));
    // An X-Envelope-From without an address does not make the others untrusted.
    let m = v("Received: from b\nX-Envelope-From: x\nReturn-Path: <j@x.org>\n\nx\n");
    assert_eq!(envelope_from(&m), None, "Return-Path below a Received line");
    let m = v("Return-Path: <j@x.org>\nReceived: from b\nX-Envelope-From: nobody\n\nx\n");
    assert_eq!(envelope_from(&m).as_deref(), Some("j@x.org"));
}

#[test]
fn raw_keeps_the_white_space_after_the_colon() {
    // As SpamAssassin 4.0.1 gives them (checked with `spamassassin -L -t --cf`).
    let v = MessageView::parse(
        b"Date:\tFri, 7 May 2010 16:39:54 +0300\nSubject:x\nTo:  two\n\nbody\n",
        &crate::Limits::default(),
    );
    let text = |target: &str| header_text(&v, &HeaderTarget::parse(target).expect("target"));
    assert_eq!(
        text("Date:raw").as_deref(),
        Some("\tFri, 7 May 2010 16:39:54 +0300")
    );
    assert_eq!(
        text("Date").as_deref(),
        Some("Fri, 7 May 2010 16:39:54 +0300")
    );
    assert_eq!(text("To:raw").as_deref(), Some("  two"));
    let all_raw = text("ALL:raw").expect("all");
    assert!(all_raw.contains("\nSubject:x\nTo:  two\n"), "{all_raw:?}");
    let all = text("ALL").expect("all");
    assert!(all.contains("\nSubject: x\nTo: two\n"), "{all:?}");
}

#[test]
fn rules_read_every_address_evals_the_first() {
    let v = MessageView::parse(
        b"From: Ann <ann@a.example>, bob@b.example (Bob)\nFrom: <Carl Dee@c.example>\n\nx\n",
        &crate::Limits::default(),
    );
    let mut t = HeaderTarget::parse("From:addr").expect("target");
    assert_eq!(header_text(&v, &t).as_deref(), Some("ann@a.example"));
    t.every = true;
    // An address with a space in `<>` is no address to SpamAssassin's parser.
    assert_eq!(
        header_text(&v, &t).as_deref(),
        Some("ann@a.example\nbob@b.example")
    );
    let mut n = HeaderTarget::parse("From:name").expect("target");
    n.every = true;
    assert_eq!(header_text(&v, &n).as_deref(), Some("Ann\nBob"));
    assert_eq!(
        every_mailbox("undisclosed-recipients:;"),
        Vec::<(Option<String>, Option<String>)>::new()
    );
    assert_eq!(
        every_mailbox("\"x@y.example\" <>"),
        [(None, Some("x@y.example".to_owned()))]
    );
    // A name the same as the address is dropped only as SpamAssassin's parser compares them,
    // with the white space before `<` (checked with its `get('From:name')`).
    let a = || Some("m@spcu.example".to_owned());
    assert_eq!(
        every_mailbox("\"m@spcu.example\" <m@spcu.example>"),
        [(Some("m@spcu.example ".to_owned()), a())]
    );
    assert_eq!(
        every_mailbox("\"m@spcu.example\"<m@spcu.example>"),
        [(None, a())]
    );
    // Names are split at Perl's white space: an ideographic space (U+3000) stays.
    let v = MessageView::parse(
        "From: \"=?iso-2022-jp?B?GyRCMEtFbCEhP04bKEI=?=\" <h@o.example>\n\nx\n".as_bytes(),
        &crate::Limits::default(),
    );
    assert_eq!(header_text(&v, &n).as_deref(), Some("伊東\u{3000}仁"));
}

/// Where SpamAssassin's own parser finds no address, Email::Address::XS's reading (each
/// case from SpamAssassin 4.0.1's `Util::parse_header_addresses`, with XS 1.05).
#[test]
fn addresses_only_email_address_xs_finds() {
    let addrs =
        |s: &str| -> Vec<Option<String>> { every_mailbox(s).into_iter().map(|(_, a)| a).collect() };
    let some = |a: &str| vec![Some(a.to_owned())];
    // spam-2/00136's Return-Path.
    assert_eq!(
        addrs("<ngdgpfwxsw@[1086695621] [pi]>"),
        some("ngdgpfwxsw@[1086695621]")
    );
    assert_eq!(addrs("<a@b.c junk>"), some("a@b.c"));
    assert_eq!(addrs("x <a@b c@d>"), some("a@b"));
    assert_eq!(addrs("<a @ b.c>"), some("a@b.c"));
    // Neither parser finds one.
    assert_eq!(addrs("<foo bar@baz.com>"), [None]);
    assert_eq!(addrs("<@a.b:c@d.e>"), [None]);
    assert_eq!(addrs("<@a.com,@b.com:x@b.com>"), [None]);
    // A source route XS skips (the edge set's rs/dffe24bb-phish_sender6.eml).
    assert_eq!(
        addrs("<@test.com, @test.ru:test@attack.com>"),
        some("test@attack.com")
    );
    assert_eq!(addrs("<@a.com x@b.com>"), some("x@b.com"));
    assert_eq!(addrs("Name <@a.com, @c.org : x@b.com>"), some("x@b.com"));
    assert_eq!(addrs("< @a.com : x@b.com >"), some("x@b.com"));
}

/// An entry SpamAssassin's internal parser does not read ends its reading; every
/// `<address>` from there on is an address without a name (each case from SpamAssassin
/// 4.0.1's `Util::parse_header_addresses`; enmime's `malformed-multiple-address-header-
/// values`, FROM_ADDR_WS).
#[test]
fn the_internal_parsers_last_ditch_effort() {
    let both = |a: &str| (None, Some(a.to_owned()));
    assert_eq!(
        every_mailbox("Bob Dunite <bob@extern> Bobby Dunite <bobby@extern>"),
        [both("bob@extern"), both("bobby@extern")]
    );
    assert_eq!(
        every_mailbox("Bob <bob@x.example> junk"),
        [both("bob@x.example")]
    );
    assert_eq!(
        every_mailbox("a@b.example, Bob <bob@x.example> junk, Carl <c@d.example>"),
        [
            both("a@b.example"),
            both("bob@x.example"),
            both("c@d.example")
        ]
    );
}

#[test]
fn first_mailboxes() {
    let f = |s: &str| first_mailbox(s);
    assert_eq!(
        f("\"Doe, John\" <j@x.org>, b@y.org"),
        Some(("Doe, John".into(), "j@x.org".into()))
    );
    assert_eq!(
        f("a@x.org (Alice), b@y"),
        Some(("Alice".into(), "a@x.org".into()))
    );
    assert_eq!(f("undisclosed-recipients:;"), None);
    assert_eq!(f(", <b@y>"), Some((String::new(), "b@y".into())));
}

/// Neither `ALL` nor a `full` rule sees an mbox `From ` line (SpamAssassin 4.0.1: `ALL =~
/// /\AFrom/` and `full /\AFrom /` do not hit such a message; `From :` is a field).
#[test]
fn rules_never_see_an_mbox_from_line() {
    let rules = "header ALL_FROM ALL =~ /\\AFrom/\nfull FULL_FROM /\\AFrom /\n\
                 header ALL_SUBJ ALL =~ /\\ASubject: hi$/m\n";
    let h = crate::rules::tests::hits_now(
        rules,
        "From MAILER-DAEMON Fri Apr 06 16:46:09 2001\nSubject: hi\n\nbody\n",
    );
    assert_eq!(h, ["ALL_SUBJ"]);
}

#[test]
fn an_entry_with_a_two_byte_blank_inside_its_angle_brackets_is_read_without_a_panic() {
    // Found by `examples/fuzz.rs` (seed 42): U+0085 is white space of two bytes, and the end
    // of the last run of blanks was taken one byte after its start.
    // The `@` must sit in the last run of non-blank characters.
    assert!(entry_parses("Kre <x\u{85}kre@munnari.OZ.AU>"));
    assert!(!entry_parses("Kre <kre@munnari.OZ.\u{85}x>"));
    let boxes = every_mailbox("Kre <kre@munnari.OZ.\u{85}ph\u{85}AU>");
    assert_eq!(boxes.len(), 1);
}
