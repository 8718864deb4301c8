//! `mailsift serve --listen-spamd` with the real `spamc` (Debian package, installed by
//! scripts/install-test-deps): every verb and option a recipe uses, TELL, the listen addresses
//! and allow-list, 8 concurrent clients. PROCESS must give the bytes `mailsift classify` writes
//! for the same message and user. Other clients: tests/spamd_clients.rs.

mod common;
mod spamd_support;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Scratch, cmd, run, run_with_input, stderr, synthetic};
use spamd_support::{Spamd, classified, have_spamc, samples, stats_for, trained, verdict_of};

#[test]
fn spamc_process_gives_the_bytes_classify_writes() {
    if !have_spamc() {
        return;
    }
    let s = Scratch::new("spamd-process");
    let db = trained(&s);
    let server = Spamd::start(&db, &[]);
    let mut spam_seen = 0;
    for (i, m) in samples().iter().enumerate() {
        let local = classified(&db, Some("alice"), m);
        // Plain PROCESS (spamc -u: the user's model, as classify --user).
        let remote = server.spamc(&["-u", "alice"], m);
        assert_eq!(
            remote.status.code(),
            Some(0),
            "sample {i}: {}",
            stderr(&remote)
        );
        assert!(
            remote.stdout == local.stdout,
            "sample {i}: PROCESS bytes differ"
        );
        // -E: the same bytes, exit 1 for spam (classify --exit-code's codes).
        let e = server.spamc(&["-E", "-u", "alice"], m);
        assert!(e.stdout == local.stdout, "sample {i}: -E bytes differ");
        assert_eq!(e.status.code(), local.status.code(), "sample {i}: -E exit");
        spam_seen += usize::from(local.status.code() == Some(1));
        // HEADERS: spamc puts the original body back; the result is classify's again.
        let h = server.spamc(&["--headers", "-u", "alice"], m);
        assert!(h.stdout == local.stdout, "sample {i}: HEADERS bytes differ");
    }
    assert!(spam_seen >= 3, "the samples include spam");
    // Empty and header-less input, through the raw protocol (spamc refuses an empty message).
    for m in [&b""[..], b"no header block here"] {
        let local = classified(&db, None, m);
        let mut req =
            format!("PROCESS SPAMC/1.5\r\nContent-length: {}\r\n\r\n", m.len()).into_bytes();
        req.extend_from_slice(m);
        let reply = server.raw(&req);
        let body = &reply[reply
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("head end")
            + 4..];
        assert_eq!(body, &local.stdout[..], "{m:?}");
    }
}

#[test]
fn spamc_check_symbols_report_ping() {
    if !have_spamc() {
        return;
    }
    let s = Scratch::new("spamd-verbs");
    let db = trained(&s);
    let server = Spamd::start(&db, &[]);
    for (i, m) in samples().iter().enumerate().take(8) {
        let local = classified(&db, None, m);
        let spam = local.status.code() == Some(1);
        let (score, tests) = verdict_of(&local.stdout);
        // -c: "score/threshold", exit 1 for spam.
        let c = server.spamc(&["-c"], m);
        let line = String::from_utf8_lossy(&c.stdout).into_owned();
        let (sc, th) = line.trim().split_once('/').expect("S/T");
        let sc: f64 = sc.parse().expect("score");
        assert_eq!(th, "5.0", "sample {i}");
        assert!((sc - score).abs() <= 0.11, "sample {i}: {sc} vs {score}");
        assert_eq!(
            sc >= 5.0,
            spam,
            "sample {i}: the numbers agree with the verdict"
        );
        assert_eq!(
            c.status.code(),
            Some(i32::from(spam)),
            "sample {i}: -c exit"
        );
        // -y: the names of the tests hit, as in X-Spam-Status.
        let y = server.spamc(&["-y"], m);
        let names = String::from_utf8_lossy(&y.stdout).trim().to_owned();
        assert_eq!(names, tests.join(","), "sample {i}: -y");
        // -R: the score line, then the report.
        let r = server.spamc(&["-R"], m);
        let text = String::from_utf8_lossy(&r.stdout).into_owned();
        assert!(text.starts_with(&line), "sample {i}: {text}");
        assert!(text.contains("Content analysis details:"), "{text}");
        for t in &tests {
            assert!(
                text.contains(t.as_str()),
                "sample {i}: {t} missing from the report"
            );
        }
        // -r: the report for spam only.
        let r = server.spamc(&["-r"], m);
        assert_eq!(r.stdout.is_empty(), !spam, "sample {i}: -r");
    }
    let k = server.spamc(&["-K"], b"");
    assert_eq!(String::from_utf8_lossy(&k.stdout), "SPAMD/1.5 0\n");
    assert_eq!(k.status.code(), Some(0));
}

#[test]
fn spamc_tell_learns_corrects_and_forgets() {
    if !have_spamc() {
        return;
    }
    let s = Scratch::new("spamd-tell");
    let db = trained(&s);
    let m = synthetic(true, 300);
    {
        // Without --allow-tell: refused, nothing learned.
        let server = Spamd::start(&db, &[]);
        let o = server.spamc(&["-L", "spam", "-u", "bob"], &m);
        assert_ne!(
            String::from_utf8_lossy(&o.stdout).trim(),
            "Message successfully un/learned"
        );
        assert_eq!(stats_for(&db, "bob"), (0, 0));
        assert!(server.log().contains("--allow-tell"));
    }
    let server = Spamd::start(&db, &["--allow-tell"]);
    let tell = |class: &str| {
        let o = server.spamc(&["-L", class, "-u", "bob"], &m);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        String::from_utf8_lossy(&o.stdout).trim().to_owned()
    };
    assert_eq!(tell("spam"), "Message successfully un/learned");
    assert_eq!(stats_for(&db, "bob"), (1, 0));
    assert_eq!(tell("spam"), "Message was already un/learned");
    // Correct: learned as the other class is a flip, not a double count.
    assert_eq!(tell("ham"), "Message successfully un/learned");
    assert_eq!(stats_for(&db, "bob"), (0, 1));
    assert_eq!(tell("forget"), "Message successfully un/learned");
    assert_eq!(stats_for(&db, "bob"), (0, 0));
    assert_eq!(tell("forget"), "Message was already un/learned");
    // The site-wide counts never moved.
    let site = run(&db, &["stats"]);
    assert!(
        common::stdout(&site).contains("20"),
        "{}",
        common::stdout(&site)
    );
}

#[test]
fn spamc_zlib_or_the_same_request_by_hand() {
    let s = Scratch::new("spamd-zlib");
    let db = trained(&s);
    let server = Spamd::start(&db, &[]);
    let m = synthetic(true, 400);
    let local = classified(&db, None, &m);
    if have_spamc() {
        let z = server.spamc(&["-z"], &m);
        if z.status.code() == Some(64) {
            eprintln!(
                "note: this spamc is built without zlib (-z exits 64); checking Compress: zlib by hand"
            );
        } else {
            assert!(z.stdout == local.stdout, "spamc -z bytes differ");
        }
    }
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(3));
    enc.write_all(&m).expect("compress");
    let z = enc.finish().expect("finish");
    let mut req = format!(
        "PROCESS SPAMC/1.5\r\nUser: root\r\nCompress: zlib\r\nContent-length: {}\r\n\r\n",
        z.len()
    )
    .into_bytes();
    req.extend_from_slice(&z);
    let reply = server.raw(&req);
    let head_end = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("head")
        + 4;
    let head = String::from_utf8_lossy(&reply[..head_end]).into_owned();
    assert!(
        head.starts_with("SPAMD/1.1 0 EX_OK\r\nContent-length: "),
        "{head}"
    );
    assert!(
        reply[head_end..] == local.stdout[..],
        "inflated PROCESS bytes differ"
    );
}

#[test]
fn eight_concurrent_spamc_clients_each_get_their_own_message() {
    if !have_spamc() {
        return;
    }
    let s = Scratch::new("spamd-conc");
    let db = trained(&s);
    let server = Spamd::start(&db, &[]);
    let port = server.port.to_string();
    let messages: Vec<Vec<u8>> = (0..8).map(|i| synthetic(i % 2 == 0, 600 + i)).collect();
    let expected: Vec<Vec<u8>> = messages
        .iter()
        .map(|m| classified(&db, None, m).stdout)
        .collect();
    let handles: Vec<_> = messages
        .into_iter()
        .map(|m| {
            let port = port.clone();
            std::thread::spawn(move || {
                (0..5)
                    .map(|_| {
                        let mut c = Command::new("spamc");
                        c.args(["-d", "127.0.0.1", "-p", &port, "-t", "20"]);
                        run_with_input(c, &m).stdout
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        for out in h.join().expect("client thread") {
            assert!(out == expected[i], "client {i} got another message's bytes");
        }
    }
}

#[test]
fn listen_addresses_allow_list_and_configuration() {
    let s = Scratch::new("spamd-listen");
    let db = s.path("none.db");
    // Not loopback, no allow-list: refused at start.
    let mut c = cmd(&db);
    c.args(["serve", "--socket"])
        .arg(s.path("a.sock"))
        .args(["--listen-spamd", "0.0.0.0:0"]);
    let o = run_with_input(c, b"");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--spamd-allow-from"), "{}", stderr(&o));
    // An unknown [spamd] key is an error naming it.
    let cfg = s.path("bad.toml");
    std::fs::write(&cfg, "[spamd]\nlisten_on = []\n").expect("config");
    let mut c = cmd(&db);
    c.args([
        "--config",
        cfg.to_str().expect("utf-8"),
        "serve",
        "--socket",
    ])
    .arg(s.path("b.sock"));
    let o = run_with_input(c, b"");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("listen_on"), "{}", stderr(&o));
    // A client outside the allow-list is refused with EX_NOPERM.
    let server = Spamd::start(&db, &["--spamd-allow-from", "192.0.2.0/24"]);
    let reply = server.raw(b"PING SPAMC/1.5\r\n\r\n");
    assert!(
        reply.starts_with(b"SPAMD/1.0 77 "),
        "{:?}",
        String::from_utf8_lossy(&reply)
    );
    drop(server);
    // A Unix socket from the configuration, with its permissions; spamc -U uses it.
    let sock = s.path("spamd.sock");
    let cfg = s.path("unix.toml");
    std::fs::write(
        &cfg,
        format!(
            "[spamd]\nlisten = [\"{}\"]\nsocket_mode = \"660\"\n",
            sock.display()
        ),
    )
    .expect("config");
    let mut c = cmd(&db);
    c.args([
        "--config",
        cfg.to_str().expect("utf-8"),
        "serve",
        "--socket",
    ])
    .arg(s.path("c.sock"))
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    let mut child = c.spawn().expect("spawn");
    let started = Instant::now();
    while std::os::unix::net::UnixStream::connect(s.path("c.sock")).is_err() {
        assert!(started.elapsed() < Duration::from_secs(20), "no socket");
        std::thread::sleep(Duration::from_millis(20));
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&sock)
        .expect("spamd socket")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o660);
    let mut u = std::os::unix::net::UnixStream::connect(&sock).expect("connect");
    u.write_all(b"PING SPAMC/1.5\r\n\r\n").expect("send");
    u.shutdown(Shutdown::Write).expect("half-close");
    let mut reply = Vec::new();
    u.read_to_end(&mut reply).expect("read");
    assert_eq!(reply, b"SPAMD/1.5 0 PONG\r\n");
    if have_spamc() {
        let m = synthetic(false, 700);
        let mut c = Command::new("spamc");
        c.arg("-U").arg(&sock);
        let o = run_with_input(c, &m);
        assert!(
            o.stdout == classified(&db, None, &m).stdout,
            "spamc -U bytes differ"
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}
