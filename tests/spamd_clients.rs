//! `mailsift serve --listen-spamd` with the other clients: Exim's exact requests (spamd and
//! rspamd variants) parsed the way Exim's spam.c parses the replies, Amavis's SpamdClient,
//! SpamAssassin's Perl client, and malformed, oversized and stalled requests.

mod common;
mod spamd_support;

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Scratch, run_with_input, stderr, synthetic};
use spamd_support::{Spamd, classified, have_spamc, read_all, samples, trained, verdict_of};

/// Exim's spam.c reading of a spamd reply: `sscanf` with its two formats, in order. `%7s`
/// reads a word, a space in the format skips any white space (none too), `%lf` reads a
/// number after skipping white space. Returns (score, threshold, report offset).
fn exim_parse(reply: &[u8]) -> Option<(f64, f64, usize)> {
    struct Scan<'a> {
        b: &'a [u8],
        i: usize,
    }
    impl Scan<'_> {
        fn ws(&mut self) {
            while self.i < self.b.len() && self.b[self.i].is_ascii_whitespace() {
                self.i += 1;
            }
        }
        fn lit(&mut self, s: &str) -> Option<()> {
            for &c in s.as_bytes() {
                if c.is_ascii_whitespace() {
                    self.ws();
                } else if self.b.get(self.i) == Some(&c) {
                    self.i += 1;
                } else {
                    return None;
                }
            }
            Some(())
        }
        fn word(&mut self, max: usize) -> Option<()> {
            self.ws();
            let start = self.i;
            while self.i < self.b.len()
                && self.i - start < max
                && !self.b[self.i].is_ascii_whitespace()
            {
                self.i += 1;
            }
            (self.i > start).then_some(())
        }
        fn num(&mut self) -> Option<f64> {
            self.ws();
            let start = self.i;
            while self.i < self.b.len()
                && (self.b[self.i].is_ascii_digit() || b"+-.eE".contains(&self.b[self.i]))
            {
                self.i += 1;
            }
            std::str::from_utf8(&self.b[start..self.i])
                .ok()?
                .parse()
                .ok()
        }
        fn uint(&mut self) -> Option<()> {
            self.ws();
            let start = self.i;
            while self.i < self.b.len() && self.b[self.i].is_ascii_digit() {
                self.i += 1;
            }
            (self.i > start).then_some(())
        }
    }
    // "SPAMD/%7s 0 EX_OK\r\nContent-length: %*u\r\n\r\n%lf/%lf\r\n%n"
    let first = || {
        let mut s = Scan { b: reply, i: 0 };
        s.lit("SPAMD/")?;
        s.word(7)?;
        s.lit(" 0 EX_OK\r\nContent-length: ")?;
        s.uint()?;
        s.lit("\r\n\r\n")?;
        let score = s.num()?;
        s.lit("/")?;
        let threshold = s.num()?;
        s.lit("\r\n")?;
        Some((score, threshold, s.i))
    };
    // "SPAMD/%7s 0 EX_OK\r\nSpam: %*s ; %lf / %lf\r\n\r\n%n"
    let second = || {
        let mut s = Scan { b: reply, i: 0 };
        s.lit("SPAMD/")?;
        s.word(7)?;
        s.lit(" 0 EX_OK\r\nSpam: ")?;
        s.word(usize::MAX)?;
        s.lit(" ; ")?;
        let score = s.num()?;
        s.lit(" / ")?;
        let threshold = s.num()?;
        s.lit("\r\n\r\n")?;
        Some((score, threshold, s.i))
    };
    first().or_else(second)
}

#[test]
fn the_exim_parser_model_accepts_both_forms_exim_accepts() {
    // Old spamd (2.5x): the numbers open the body. Today's: the Spam line.
    let old = b"SPAMD/1.1 0 EX_OK\r\nContent-length: 20\r\n\r\n7.5/5.0\r\nreport";
    assert_eq!(exim_parse(old), Some((7.5, 5.0, old.len() - 6)));
    let new = b"SPAMD/1.1 0 EX_OK\r\nSpam: True ; 7.5 / 5.0\r\n\r\nreport";
    assert_eq!(exim_parse(new), Some((7.5, 5.0, new.len() - 6)));
    // What a 1.3+ reply looks like is not something Exim can read.
    assert_eq!(
        exim_parse(
            b"SPAMD/1.1 0 EX_OK\r\nContent-length: 6\r\nSpam: True ; 7.5 / 5.0\r\n\r\nreport"
        ),
        None
    );
}

#[test]
fn exims_exact_requests_get_replies_exim_can_parse() {
    let s = Scratch::new("spamd-exim");
    let db = trained(&s);
    let server = Spamd::start(&db, &[]);
    for (i, m) in samples().iter().enumerate().take(8) {
        let local = classified(&db, Some("nobody"), m);
        let spam = local.status.code() == Some(1);
        let (score, tests) = verdict_of(&local.stdout);
        // spam.c: "REPORT SPAMC/1.2\r\nUser: %s\r\nContent-length: %ld\r\n\r\n", the spool
        // file, then shutdown(SHUT_WR).
        let mut req = format!(
            "REPORT SPAMC/1.2\r\nUser: nobody\r\nContent-length: {}\r\n\r\n",
            m.len()
        )
        .into_bytes();
        req.extend_from_slice(m);
        let reply = server.raw(&req);
        let (sc, th, off) = exim_parse(&reply).unwrap_or_else(|| {
            panic!(
                "sample {i}: Exim cannot parse {:?}",
                String::from_utf8_lossy(&reply)
            )
        });
        assert_eq!(th, 5.0);
        assert!((sc - score).abs() <= 0.11, "sample {i}: {sc} vs {score}");
        // spam_rc = score >= threshold: the same verdict as classify.
        assert_eq!(sc >= th, spam, "sample {i}");
        let report = String::from_utf8_lossy(&reply[off..]).into_owned();
        for t in &tests {
            assert!(
                report.contains(t.as_str()),
                "sample {i}: {t} missing from $spam_report"
            );
        }
        // variant=rspamd: "CHECK RSPAMC/1.3" and envelope headers, no half-close.
        let mut req = format!(
            "CHECK RSPAMC/1.3\r\nContent-length: {}\r\nQueue-Id: 1tEsTx-000abc-Zz\r\nFrom: <sender@example.org>\r\nRecipient-Number: 1\r\nRcpt: <nobody@example.com>\r\nHelo: mx.example.org\r\nIP: 192.0.2.25\r\n\r\n",
            m.len()
        )
        .into_bytes();
        req.extend_from_slice(m);
        let mut conn = server.connect();
        conn.write_all(&req).expect("send");
        let reply = String::from_utf8_lossy(&read_all(conn)).into_owned();
        // "RSPAMD/%7s 0 EX_OK\r\nMetric: default; %7s %lf / %lf / %lf\r\n%n", then "Action: ".
        let rest = reply
            .strip_prefix("RSPAMD/1.3 0 EX_OK\r\nMetric: default; ")
            .expect(&reply);
        let (word, rest) = rest.split_once(' ').expect("word");
        assert_eq!(word, if spam { "True;" } else { "False;" });
        let (line, rest) = rest.split_once("\r\n").expect("metric line");
        let nums: Vec<f64> = line
            .split(" / ")
            .map(|n| n.parse().expect("number"))
            .collect();
        assert_eq!(nums.len(), 3, "{line}");
        assert_eq!(nums[0] >= nums[1], spam, "sample {i}: {line}");
        let action = rest
            .strip_prefix("Action: ")
            .and_then(|r| r.split("\r\n").next());
        assert_eq!(action, Some(if spam { "reject" } else { "no action" }));
    }
}

#[test]
fn amavis_spamd_client_request_and_reading() {
    // Amavis::SpamControl::SpamdClient (amavisd-new 2.13): "SYMBOLS SPAMC/1.3", a
    // Content-length, a pseudo header section it prepends, the message with CRLF line ends,
    // and no half-close: it reads the reply until the server closes.
    let s = Scratch::new("spamd-amavis");
    let db = trained(&s);
    let server = Spamd::start(&db, &[]);
    for (i, m) in samples().iter().enumerate().take(6) {
        let prefix = "Return-Path: <sender@example.org>\r\nX-Envelope-To: <rcpt@example.com>\r\nX-Amavis-PolicyBank: \r\nX-Amavis-MessageSize: 1234\r\n";
        let text = String::from_utf8_lossy(m)
            .replace("\r\n", "\n")
            .replace('\n', "\r\n");
        let body = format!("{prefix}{text}");
        let local = classified(&db, None, body.as_bytes());
        let spam = local.status.code() == Some(1);
        let (_, tests) = verdict_of(&local.stdout);
        let mut conn = server.connect();
        conn.write_all(
            format!(
                "SYMBOLS SPAMC/1.3\r\nContent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .expect("send");
        let reply = String::from_utf8_lossy(&read_all(conn)).into_owned();
        // Its reading: status line, "name: value" lines up to the empty line, then the body.
        let (head, rest) = reply.split_once("\r\n\r\n").expect("empty line");
        let mut lines = head.split("\r\n");
        let status: Vec<&str> = lines.next().expect("status").splitn(3, ' ').collect();
        assert_eq!(&status[..2], ["SPAMD/1.1", "0"], "sample {i}");
        let attr: std::collections::HashMap<String, String> = lines
            .map(|l| {
                let (k, v) = l.split_once(':').expect("name: value");
                (k.trim().to_lowercase(), v.trim().to_owned())
            })
            .collect();
        assert_eq!(attr["content-length"], rest.len().to_string(), "sample {i}");
        let fields: Vec<&str> = attr["spam"].split(' ').collect();
        assert_eq!(
            (fields[1], fields[3]),
            (";", "/"),
            "sample {i}: {}",
            attr["spam"]
        );
        let level: f64 = fields[2].parse().expect("score");
        assert_eq!(level >= 5.0, spam, "sample {i}");
        assert_eq!(rest, tests.join(","), "sample {i}: tests");
    }
}

#[test]
fn spamassassins_perl_client_works_too() {
    // Mail::SpamAssassin::Client (in the spamassassin package): no half-close, and a CRLF
    // past its Content-length, which the server must not answer with a reset.
    let have = Command::new("perl")
        .args(["-MMail::SpamAssassin::Client", "-e", "1"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        eprintln!(
            "skipping: Mail::SpamAssassin::Client is not installed (run scripts/install-test-deps)"
        );
        return;
    }
    let s = Scratch::new("spamd-perl");
    let db = trained(&s);
    let server = Spamd::start(&db, &["--allow-tell"]);
    let script = r#"
use Mail::SpamAssassin::Client;
my $msg = do { local $/; <STDIN> };
my $c = Mail::SpamAssassin::Client->new({host => '127.0.0.1', port => $ARGV[0], username => 'carol'});
print "ping=", ($c->ping() ? 1 : 0), "\n";
my $r = $c->check($msg);
print "check=$r->{isspam} $r->{score}/$r->{threshold}\n";
$r = $c->process($msg);
print "len=", length($r->{message}), " cl=$r->{content_length}\n";
open(my $f, '>', $ARGV[1]) or die; binmode $f; print $f $r->{message}; close $f;
print "learn=", ($c->learn($msg, 0) ? 1 : 0), "\n";
print "again=", ($c->learn($msg, 0) ? 1 : 0), "\n";
print "forget=", ($c->learn($msg, 2) ? 1 : 0), "\n";
"#;
    for (i, m) in samples().iter().enumerate().take(4) {
        let out_file = s.path(&format!("perl-{i}.out"));
        let mut c = Command::new("perl");
        c.args([
            "-e",
            script,
            &server.port.to_string(),
            out_file.to_str().expect("utf-8"),
        ]);
        let o = run_with_input(c, m);
        assert!(o.status.success(), "sample {i}: {}", stderr(&o));
        let text = common::stdout(&o);
        let local = classified(&db, Some("carol"), m);
        let spam = local.status.code() == Some(1);
        assert!(text.contains("ping=1\n"), "{text}");
        assert!(
            text.contains(&format!("check={} ", if spam { "True" } else { "False" })),
            "sample {i}: {text}"
        );
        assert_eq!(
            std::fs::read(&out_file).expect("message"),
            local.stdout,
            "sample {i}"
        );
        assert!(
            text.contains("learn=1\nagain=0\nforget=1\n"),
            "sample {i}: {text}"
        );
    }
}

#[test]
fn bad_requests_get_error_replies_and_the_server_carries_on() {
    let s = Scratch::new("spamd-bad");
    let cfg = s.path("c.toml");
    std::fs::write(
        &cfg,
        "[spamd]\nmax_size = 2000\ntimeout_secs = 1\nmax_connections = 8\n",
    )
    .expect("config");
    let db = s.path("none.db");
    let server = Spamd::start(&db, &["--config", cfg.to_str().expect("utf-8")]);
    // PING; "busy, try again" (EX_TEMPFAIL) is retried for a while: on a loaded machine the
    // threads of the previous connections may not have ended yet.
    let pong = |server: &Spamd| {
        let started = Instant::now();
        loop {
            let reply = server.raw(b"PING SPAMC/1.5\r\n\r\n");
            if !reply.starts_with(b"SPAMD/1.0 75 ") || started.elapsed() > Duration::from_secs(5) {
                return reply;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    for (req, want) in [
        (
            &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            &b"SPAMD/1.0 76 Bad header line: ("[..],
        ),
        (b"\x00\xff\x16\x03\x01 binary junk\r\n", b"SPAMD/1.0 76 "),
        (
            b"PROCESS SPAMC/1.5\r\nContent-length: nope\r\n\r\n",
            b"SPAMD/1.0 76 ",
        ),
        (
            b"PROCESS SPAMC/1.5\r\nContent-length: 50\r\n\r\nshort",
            b"SPAMD/1.0 76 ",
        ),
        (
            b"PROCESS SPAMC/1.5\r\nContent-length: 5000\r\n\r\n",
            b"SPAMD/1.0 65 Message too big",
        ),
        (
            b"TELL SPAMC/1.5\r\nMessage-class: spam\r\nSet: local\r\nContent-length: 1\r\n\r\nx",
            b"SPAMD/1.0 69 Service Unavailable: TELL",
        ),
        (
            b"CHECK SPAMC/1.5\r\nUser: not a user\r\nContent-length: 1\r\n\r\nx",
            b"SPAMD/1.0 67 ",
        ),
    ] {
        let reply = server.raw(req);
        assert!(
            reply.starts_with(want),
            "{:?} -> {:?}",
            String::from_utf8_lossy(req),
            String::from_utf8_lossy(&reply)
        );
        assert_eq!(pong(&server), b"SPAMD/1.5 0 PONG\r\n", "still serving");
    }
    // SKIP: the client changed its mind; no answer, and the server carries on.
    assert_eq!(server.raw(b"SKIP SPAMC/1.5\r\n\r\n"), b"");
    assert_eq!(pong(&server), b"SPAMD/1.5 0 PONG\r\n");
    // Oversized without Content-length, sent in full: refused once over the limit.
    let mut big = b"CHECK SPAMC/1.2\r\n\r\n".to_vec();
    big.extend(std::iter::repeat_n(b'x', 10_000));
    assert!(server.raw(&big).starts_with(b"SPAMD/1.0 65 "));
    // A client that stalls mid-request gets EX_TIMEOUT; others are served meanwhile.
    let mut stalled = server.connect();
    stalled
        .write_all(b"PROCESS SPAMC/1.5\r\nContent-length: 100\r\n\r\nonly part")
        .expect("send");
    assert_eq!(pong(&server), b"SPAMD/1.5 0 PONG\r\n");
    let reply = read_all(stalled);
    assert!(
        reply.starts_with(b"SPAMD/1.0 79 Timeout"),
        "{:?}",
        String::from_utf8_lossy(&reply)
    );
    // More connections than max_connections: the extra ones are told to retry. (First let the
    // stalled connection's thread end: it still counts until it has closed.)
    std::thread::sleep(Duration::from_millis(500));
    let held: Vec<TcpStream> = (0..8).map(|_| server.connect()).collect();
    std::thread::sleep(Duration::from_millis(200));
    let reply = read_all(server.connect());
    assert!(
        reply.starts_with(b"SPAMD/1.0 75 "),
        "{:?} {}",
        String::from_utf8_lossy(&reply),
        server.log()
    );
    drop(held);
    // Once they time out, service is back.
    let started = Instant::now();
    while pong(&server) != b"SPAMD/1.5 0 PONG\r\n" {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "service did not come back"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // spamc's safe fallback: a message over the server's limit comes out unchanged.
    if have_spamc() {
        let m = synthetic(true, 500).repeat(10);
        let o = server.spamc(&[], &m);
        assert!(o.stdout == m, "safe fallback");
    }
}

#[test]
fn a_panic_while_classifying_is_an_error_reply_and_spamc_delivers_unfiltered() {
    // Debug builds only: MAILSIFT_DEBUG_FAULT=panic makes classification panic.
    if !cfg!(debug_assertions) {
        return;
    }
    let s = Scratch::new("spamd-panic");
    let db = trained(&s);
    let server = Spamd::start_with(&db, &[], &[("MAILSIFT_DEBUG_FAULT", "panic")])
        .unwrap_or_else(|e| panic!("serve did not start: {e}"));
    let m = synthetic(true, 800);
    let mut req = format!("CHECK SPAMC/1.5\r\nContent-length: {}\r\n\r\n", m.len()).into_bytes();
    req.extend_from_slice(&m);
    for _ in 0..3 {
        let reply = server.raw(&req);
        assert!(
            reply.starts_with(b"SPAMD/1.0 70 Internal error: panic"),
            "{:?}",
            String::from_utf8_lossy(&reply)
        );
    }
    assert_eq!(
        server.raw(b"PING SPAMC/1.5\r\n\r\n"),
        b"SPAMD/1.5 0 PONG\r\n"
    );
    if have_spamc() {
        let o = server.spamc(&[], &m);
        assert!(
            o.stdout == m,
            "spamc's safe fallback passes the message through"
        );
    }
}

#[test]
fn a_client_that_sends_past_its_content_length_still_reads_the_whole_reply() {
    // Bytes past the Content-length that arrive while the message is classified, no
    // half-close, and a client slow to read a large reply: closing with those bytes unread
    // would make the kernel send a reset and drop the part of the reply not yet sent.
    let s = Scratch::new("spamd-linger");
    let db = s.path("none.db");
    let server = Spamd::start(&db, &[]);
    let line = "filler text for a large message, more words and more words\n";
    let m = format!("Subject: big\n\n{}", line.repeat(50_000)).into_bytes();
    let mut req = format!("PROCESS SPAMC/1.5\r\nContent-length: {}\r\n\r\n", m.len()).into_bytes();
    req.extend_from_slice(&m);
    let mut conn = server.connect();
    conn.write_all(&req).expect("send");
    // The extra CRLF (as Mail::SpamAssassin::Client sends it), after the request was read.
    std::thread::sleep(Duration::from_millis(50));
    let _ = conn.write_all(b"\r\n");
    std::thread::sleep(Duration::from_millis(2000));
    let mut reply = Vec::new();
    let got = std::io::Read::read_to_end(&mut conn, &mut reply);
    assert!(got.is_ok(), "{got:?} after {} bytes", reply.len());
    let text = String::from_utf8_lossy(&reply[..200.min(reply.len())]).into_owned();
    let declared: usize = text
        .split("Content-length: ")
        .nth(1)
        .and_then(|r| r.split("\r\n").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no Content-length in {text:?}"));
    let body = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("head")
        + 4;
    assert_eq!(reply.len() - body, declared, "the whole message came back");
}
