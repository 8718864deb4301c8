use super::*;

fn relay(v: &str) -> Relay {
    match parse_received(v) {
        Parsed::Relay(r) => r,
        other => panic!("expected a relay from {v:?}, got {other:?}"),
    }
}

#[test]
fn every_pattern_compiles() {
    let c = compiled();
    assert!(!c.shapes.is_empty() && !c.local.is_empty() && !c.auth.is_empty());
}

#[test]
fn postfix() {
    let r = relay(
        "from mail.example.org (mail.example.org [192.0.2.7])\n\tby mx.example.net (Postfix) with ESMTP id 4ABC12\n\tfor <b@example.net>; Wed, 2 Dec 2026 05:14:50 +0000 (UTC)",
    );
    assert_eq!(
        r.as_string(),
        "[ ip=192.0.2.7 rdns=mail.example.org helo=mail.example.org by=mx.example.net ident= envfrom= intl=0 id=4ABC12 auth= msa=0 ]"
    );
    let unknown = relay(
        "from helo.example (unknown [198.51.100.4]) by mx.example.net (Postfix) with SMTP id 1; Wed, 2 Dec 2026 05:14:50 +0000",
    );
    assert_eq!(unknown.rdns, "");
    assert!(unknown.no_reverse_dns);
    let auth = relay(
        "from [10.0.0.5] (unknown [203.0.113.9]) (Authenticated sender: alice) by smtp.example.net (Postfix) with ESMTPA id 9; Wed, 2 Dec 2026 05:14:50 +0000",
    );
    assert_eq!(auth.auth, "ESMTPA");
    assert_eq!(auth.ip, "203.0.113.9");
}

#[test]
fn sendmail() {
    let r = relay(
        "from rev.net (natpool62.rev.net [63.148.93.62] (may be forged)) (authenticated) by mail.rev.net (8.11.4/8.11.4) with ESMTP id h0KKa7d32306 for <x@example.net>; Mon, 20 Jan 2003 14:36:07 -0600",
    );
    assert_eq!(
        (
            r.ip.as_str(),
            r.rdns.as_str(),
            r.helo.as_str(),
            r.by.as_str()
        ),
        (
            "63.148.93.62",
            "natpool62.rev.net",
            "rev.net",
            "mail.rev.net"
        )
    );
    assert_eq!(r.auth, "Sendmail");
    let ident = relay(
        "from localhost.localdomain (IDENT:joe@host.example.com [198.51.100.3]) by mx.example.net (8.12.8/8.12.8) with ESMTP id h1; Tue, 1 Apr 2003 10:00:00 +0100",
    );
    assert_eq!(
        (ident.ident.as_str(), ident.rdns.as_str()),
        ("joe", "host.example.com")
    );
}

#[test]
fn exim() {
    let r = relay(
        "from [203.0.113.8] (helo=client.example) by mx.example.net with esmtp (Exim 4.50) id 1FwHqR-0008Bw-OG; Fri, 30 Jun 2006 08:11:35 -0400",
    );
    assert_eq!(
        (r.ip.as_str(), r.helo.as_str(), r.rdns.as_str()),
        ("203.0.113.8", "client.example", "")
    );
    let r = relay(
        "from host.example.com ([198.51.100.9] helo=hello.example) by mx.example.net with esmtp (Exim 3.35 #1 (Debian)) id 18tqiz-000702-00; Fri, 14 Mar 2003 15:03:57 +0000",
    );
    assert_eq!(
        (r.rdns.as_str(), r.helo.as_str(), r.by.as_str()),
        ("host.example.com", "hello.example", "mx.example.net")
    );
    assert_eq!(
        parse_received(
            "from root (helo=localhost) by box.example with local-bsmtp (Exim 4.30) id 1GN22d; Tue, 12 Sep 2006 08:46:43 +0200"
        ),
        Parsed::Skipped
    );
}

#[test]
fn qmail() {
    let r = relay(
        "from unknown (HELO mail.example.com) (198.51.100.20) by mx.example.net with SMTP; 14 Mar 2003 07:24:34 -0000",
    );
    assert_eq!(
        (r.ip.as_str(), r.helo.as_str(), r.rdns.as_str()),
        ("198.51.100.20", "mail.example.com", "")
    );
    assert!(!r.no_reverse_dns, "qmail's 'unknown' is no lookup at all");
    assert_eq!(
        parse_received("(qmail 27981 invoked by uid 225); 14 Mar 2003 07:24:34 -0000"),
        Parsed::Skipped
    );
}

#[test]
fn exchange_and_microsoft() {
    let r = relay(
        "from AM5PR0402MB2836.eurprd04.prod.outlook.com (2603:10a6:203:d3::12) by AM6PR04CA0001.outlook.office365.com (2603:10a6:20b:92::14) with Microsoft SMTP Server (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.20.1943.26 via Frontend Transport; Wed, 5 Jun 2019 10:17:08 +0000",
    );
    assert_eq!(r.ip, "2603:10a6:203:d3::12");
    assert_eq!(r.helo, "AM5PR0402MB2836.eurprd04.prod.outlook.com");
    // SpamAssassin's Exchange layout wants the version right after the TLS comment; this
    // one has `id` between, so the generic layout reads it (and the id).
    assert_eq!(r.id, "15.20.1943.26");
    let r = relay(
        "from mail.example.com ([198.51.100.30]) by exch.example.net with Microsoft SMTPSVC(5.0.2195.5329); Tue, 25 Mar 2003 11:58:27 -0500",
    );
    assert_eq!(
        (r.ip.as_str(), r.helo.as_str()),
        ("198.51.100.30", "mail.example.com")
    );
}

#[test]
fn ipv6() {
    let r = relay(
        "from mail.example.org (mail.example.org [IPv6:2001:db8::25]) by mx.example.net (Postfix) with ESMTPS id 4X; Wed, 2 Dec 2026 05:14:50 +0000",
    );
    assert_eq!(r.ip, "2001:db8::25");
    assert!(!r.ip_private);
    let r = relay(
        "from host (host [IPv6:::ffff:192.168.1.4]) by mx.example.net (Postfix) with ESMTP id 4Y; Wed, 2 Dec 2026 05:14:50 +0000",
    );
    assert_eq!(r.ip, "192.168.1.4");
    assert!(r.ip_private);
}

#[test]
fn unparseable_and_skipped() {
    assert_eq!(
        parse_received("by mx.example.net with LMTP id 1; Wed, 2 Dec 2026"),
        Parsed::Skipped
    );
    assert_eq!(
        parse_received(
            "from virtual-access.org by bolero.conactive.com ; Thu, 20 Feb 2003 23:32:58 +0100"
        ),
        Parsed::Skipped
    );
    assert_eq!(
        parse_received("from something strange entirely"),
        Parsed::Unparseable
    );
    // Nothing panics on odd input.
    for s in [
        "",
        "from",
        "from (",
        "from [",
        "from x ([1.2.3.4",
        "(from ",
        "from \u{e9}\u{e9} by \u{e9};",
    ] {
        let _ = parse_received(s);
    }
}

#[test]
fn private_ranges() {
    for ip in [
        "10.1.2.3",
        "127.0.0.1",
        "172.20.0.1",
        "192.168.0.1",
        "169.254.1.1",
        "100.64.0.1",
        "::1",
        "fe80::1",
    ] {
        assert!(is_private(ip), "{ip}");
    }
    for ip in [
        "8.8.8.8",
        "172.32.0.1",
        "100.128.0.1",
        "2001:db8::1",
        "nonsense",
    ] {
        assert!(!is_private(ip), "{ip}");
    }
}

#[test]
fn sendmail_smtp_with_id_is_not_read_as_qmail() {
    // qmail's layout says `with SMTP` without an id; sendmail's `with SMTP id X` takes the
    // sendmail reading, in which the MTA looked the name up and found none.
    let r = relay(
        "from lists.example.net.au ([203.0.113.12]) by dogma.example.org (8.11.6/8.11.6) with SMTP id g7UFbiZ31242 for <x@example.org>; Fri, 30 Aug 2002 16:37:45 +0100",
    );
    assert_eq!(
        (r.helo.as_str(), r.rdns.as_str()),
        ("lists.example.net.au", "")
    );
    assert!(r.no_reverse_dns);
}
