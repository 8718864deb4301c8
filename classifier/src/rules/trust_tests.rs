use super::*;
use crate::Limits;

fn view(headers: &str) -> MessageView {
    MessageView::parse(
        format!("{headers}Subject: x\n\nbody\n").as_bytes(),
        &Limits::default(),
    )
}

const CHAIN: &str = "Received: from mx.example.net (mx.example.net [10.0.0.2]) by inbox.example.net (Postfix) with ESMTP id A1X; Wed, 2 Dec 2026 05:14:52 +0000\n\
Received: from out.sender.example (out.sender.example [198.51.100.7]) by mx.example.net (Postfix) with ESMTP id B2X; Wed, 2 Dec 2026 05:14:51 +0000\n\
Received: from pc (unknown [203.0.113.50]) by out.sender.example (Postfix) with SMTP id C3X; Wed, 2 Dec 2026 05:14:50 +0000\n";

#[test]
fn inferred_boundary_is_the_first_public_relay() {
    let v = view(CHAIN);
    let t = Trust::of(&v, &Networks::default());
    assert_eq!(t.trusted.len(), 1);
    assert_eq!(t.untrusted.len(), 2);
    assert_eq!(t.internal.len(), 1);
    assert!(t.trusted[0].internal && !t.untrusted[0].internal);
    assert_eq!(t.last_trusted, 0);
    let untrusted = t
        .pseudo_header(&v, "X-Spam-Relays-Untrusted")
        .expect("valid");
    assert!(
        untrusted.starts_with("[ ip=198.51.100.7 rdns=out.sender.example helo=out.sender.example by=mx.example.net ident= envfrom= intl=0 id=B2X auth= msa=0 ] [ ip=203.0.113.50 rdns= helo=pc "),
        "{untrusted}"
    );
    // ALL-EXTERNAL starts at the boundary's Received line.
    let ext = t.pseudo_header(&v, "ALL-EXTERNAL").expect("valid");
    assert!(
        ext.starts_with("Received: from out.sender.example"),
        "{ext}"
    );
    assert!(ext.contains("Subject: x"));
    let tr = t.pseudo_header(&v, "ALL-TRUSTED").expect("valid");
    assert!(
        tr.contains("[10.0.0.2]") && tr.contains("[198.51.100.7]") && !tr.contains("Subject"),
        "{tr}"
    );
}

#[test]
fn configured_networks_move_the_boundary() {
    let v = view(CHAIN);
    let mut n = Networks::default();
    n.apply("trusted_networks", "10.0.0.0/8 198.51.100.0/24")
        .expect("valid");
    let t = Trust::of(&v, &n);
    assert_eq!((t.trusted.len(), t.untrusted.len()), (2, 1));
    // internal_networks unset: trusted serves for both.
    assert_eq!(t.internal.len(), 2);
    n.apply("internal_networks", "10.").expect("valid");
    let t = Trust::of(&v, &n);
    assert_eq!((t.internal.len(), t.external.len()), (1, 2));
    // clear_* forgets them.
    n.apply("clear_trusted_networks", "").expect("valid");
    n.apply("clear_internal_networks", "").expect("valid");
    assert!(n.inferred());
}

#[test]
fn msa_extends_trust_to_older_relays() {
    let v = view(CHAIN);
    let mut n = Networks::default();
    n.apply("trusted_networks", "10.0.0.0/8 198.51.100.7")
        .expect("valid");
    n.apply("msa_networks", "198.51.100.7").expect("valid");
    let t = Trust::of(&v, &n);
    assert_eq!((t.trusted.len(), t.untrusted.len()), (3, 0));
    assert!(t.trusted[1].msa);
}

#[test]
fn authenticated_relays_are_trusted_when_inferring() {
    let v = view(
        "Received: from pc (unknown [203.0.113.50]) by smtp.example.net (Postfix) with ESMTPSA id C3X; Wed, 2 Dec 2026 05:14:50 +0000\n",
    );
    let t = Trust::of(&v, &Networks::default());
    assert_eq!((t.trusted.len(), t.untrusted.len()), (1, 0));
}

#[test]
fn originating_ip_headers_are_the_oldest_hop() {
    let v = view(&format!("{CHAIN}X-Originating-IP: [203.0.113.77]\n"));
    let mut n = Networks::default();
    n.apply("originating_ip_headers", "X-Yahoo-Post-IP X-Originating-IP")
        .expect("valid");
    let t = Trust::of(&v, &n);
    let last = t.untrusted.last().expect("relays");
    assert_eq!((last.ip.as_str(), last.by.as_str()), ("203.0.113.77", ""));
    n.apply("clear_originating_ip_headers", "").expect("valid");
    assert_eq!(Trust::of(&v, &n).untrusted.len(), 2);
}

#[test]
fn netsets() {
    let mut s = NetSet::default();
    for e in ["!10.0.1.5", "10.0.1/24", "2001:db8::/32", "192.168."] {
        s.add(e).expect("valid");
    }
    assert!(s.contains("10.0.1.4") && !s.contains("10.0.1.5") && !s.contains("10.0.2.1"));
    assert!(s.contains("2001:db8:1::9") && s.contains("[IPv6:2001:db8::1]"));
    assert!(s.contains("192.168.77.1") && !s.contains("192.169.0.1"));
    assert!(s.add("nonsense").is_err() && s.add("10.0.0.0/33").is_err());
    assert!(NetSet::loopback().contains("127.0.0.2") && NetSet::loopback().contains("::1"));
    // A character across the prefix's fifth byte: no address, and no panic.
    assert!(!s.contains("ipv6ä:2001:db8::1") && s.add("ipv6ä:2001:db8::/32").is_err());
    assert_eq!(parse_ip("IPv6:::1"), Some("::1".parse().expect("literal")));
}

#[test]
fn a_fetchers_marker_restarts_the_path() {
    let v = view(
        "Received: from localhost (localhost [127.0.0.1]) by box.example (Postfix) with ESMTP id 5B22044155; Mon, 2 Sep 2002 07:29:06 -0400\n\
Received: from pop.example [192.0.2.1] by localhost with IMAP (fetchmail-5.9.0) for me@localhost (single-drop); Mon, 02 Sep 2002 12:29:06 +0100\n\
Received: (from user@localhost) by mx.example.org (8.11.6/8.11.6) id g7DN0Gi21994 for me; Wed, 14 Aug 2002 00:00:16 +0100\n",
    );
    let t = Trust::of(&v, &Networks::default());
    assert!(t.trusted.is_empty() && t.untrusted.is_empty() && t.unparseable == 0);
}

/// mailsift's relays for each message, in `corpora/sa-relays.pl`'s format.
fn dump(paths: &[std::path::PathBuf], nets: &Networks) -> String {
    let mut out = String::new();
    for path in paths {
        let raw = std::fs::read(path).expect("corpus message");
        let v = MessageView::parse(&raw, &Limits::default());
        let t = Trust::of(&v, nets);
        out.push_str(&format!("== {}\n", path.display()));
        for h in ["Trusted", "Untrusted", "Internal", "External"] {
            let name = format!("X-Spam-Relays-{h}");
            let text = t.pseudo_header(&v, &name).unwrap_or_default();
            out.push_str(&format!("{h}: {text}\n"));
        }
        out.push_str(&format!("unparseable: {}\n", t.unparseable));
    }
    out
}

/// The relays equal SpamAssassin's own on the first 300 messages of each corpus present (the
/// whole of both was checked when this was written: SA-FIDELITY.md). Skips without
/// SpamAssassin's Perl modules or the corpora.
#[test]
fn relays_equal_spamassassins_on_the_corpora() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let installed = std::process::Command::new("perl")
        .args(["-MMail::SpamAssassin", "-e", "1"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        println!("skipped: SpamAssassin is not installed (scripts/install-test-deps)");
        return;
    }
    let corpora = [
        root.join("corpora/spamassassin/index"),
        root.join("../shared/corpora/csdmc2010/index"),
        std::path::PathBuf::from("/work/shared/corpora/csdmc2010/index"),
    ];
    // The stock default preferences, as SpamAssassin reads them (originating_ip_headers).
    let prefs = std::path::PathBuf::from("/usr/share/spamassassin/10_default_prefs.cf");
    let nets = match crate::rules::RuleSet::from_files(&[prefs]) {
        Ok((set, _)) => set.networks().clone(),
        Err(_) => Networks::default(),
    };
    let mut found: Vec<std::path::PathBuf> = corpora
        .iter()
        .filter_map(|p| p.canonicalize().ok())
        .collect();
    found.dedup();
    let mut checked = 0;
    for index in &found {
        let base = index.parent().expect("index dir");
        let paths: Vec<std::path::PathBuf> = std::fs::read_to_string(index)
            .expect("index")
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .take(300)
            .map(|rel| base.join(rel))
            .collect();
        let mut child = std::process::Command::new("perl")
            .arg(root.join("corpora/sa-relays.pl"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("perl");
        let list: String = paths.iter().map(|p| format!("{}\n", p.display())).collect();
        std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), list.as_bytes())
            .expect("write");
        let sa = child.wait_with_output().expect("perl output");
        let sa = String::from_utf8_lossy(&sa.stdout);
        let ours = dump(&paths, &nets);
        let differ: Vec<(&str, &str)> = sa
            .lines()
            .zip(ours.lines())
            .filter(|(a, b)| a != b)
            .take(3)
            .collect();
        assert!(
            differ.is_empty(),
            "{}: SpamAssassin vs mailsift: {differ:#?}",
            index.display()
        );
        assert_eq!(
            sa.lines().count(),
            ours.lines().count(),
            "{}",
            index.display()
        );
        checked += 1;
        println!(
            "{}: {} messages' relays equal SpamAssassin's",
            index.display(),
            paths.len()
        );
    }
    if checked == 0 {
        println!("skipped: no corpus (scripts/setup fetches the SpamAssassin corpus)");
    }
}

#[test]
fn envelope_sender_from_the_last_untrusted_relay() {
    // The boundary's Received line recorded the envelope sender: SpamAssassin takes it before
    // any header, even a Return-Path above the Received lines.
    let chain = "Return-Path: <list-bounces@lists.example.org>\n\
Received: from mx.example.net (mx.example.net [10.0.0.2]) by inbox.example.net (Postfix) with ESMTP id A1X; Wed, 2 Dec 2026 05:14:52 +0000\n\
Received: from out.sender.example (out.sender.example [198.51.100.7]) (envelope-from <Owner@Sender.example>) by mx.example.net (Postfix) with ESMTP id B2X; Wed, 2 Dec 2026 05:14:51 +0000\n";
    let v = view(chain);
    let nets = Networks::default();
    let lazy = LazyTrust::new(&v, &nets);
    assert_eq!(
        lazy.envelope_from().as_deref(),
        Some("Owner@Sender.example")
    );
    let t = super::super::HeaderTarget::parse("EnvelopeFrom:domain").expect("valid");
    assert_eq!(lazy.header_text(&t).as_deref(), Some("Sender.example"));
    // Without it, the Return-Path above the Received lines, as before.
    let v = view(&chain.replace(" (envelope-from <Owner@Sender.example>)", ""));
    let lazy = LazyTrust::new(&v, &nets);
    assert_eq!(
        lazy.envelope_from().as_deref(),
        Some("list-bounces@lists.example.org")
    );
    // A trusted relay's envelope sender is not the one: only the last untrusted relay counts.
    let v = view(&format!(
        "Return-Path: <a@b.example>\n{}",
        CHAIN.replace(
            "(Postfix) with ESMTP id A1X",
            "(Postfix) (envelope-from <x@inner.example>) with ESMTP id A1X"
        )
    ));
    let lazy = LazyTrust::new(&v, &nets);
    assert_eq!(lazy.envelope_from().as_deref(), Some("a@b.example"));
}
