//! `mailsift serve --listen-spamd`: SpamAssassin's spamd protocol, checked against the real
//! `spamc` (Debian package, installed by scripts/install-test-deps) and against the exact bytes
//! Exim sends, with the replies parsed the way Exim's spam.c parses them. PROCESS must give the
//! bytes `mailsift classify` writes for the same message and user.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Scratch, classify, cmd, run, run_with_input, stderr, synthetic, write_messages};

/// A running `mailsift serve` with a spamd TCP listener on a free loopback port.
struct Spamd {
    child: Child,
    port: u16,
    log: mpsc::Receiver<String>,
}

impl Spamd {
    fn start(db: &Path, extra: &[&str]) -> Spamd {
        Self::try_start(db, extra).unwrap_or_else(|e| panic!("serve did not start: {e}"))
    }

    /// Starts the server; `Err` with its stderr when it exits or never listens.
    fn try_start(db: &Path, extra: &[&str]) -> Result<Spamd, String> {
        let mut c = cmd(db);
        c.arg("serve")
            .arg("--socket")
            .arg(format!("{}.sock", db.display()))
            .arg("--threads")
            .arg("2")
            .args(["--listen-spamd", "127.0.0.1:0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn mailsift serve");
        let err = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        // Drains stderr for the server's whole life (a full pipe would block it).
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let started = Instant::now();
        let mut seen = String::new();
        while started.elapsed() < Duration::from_secs(30) {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    if let Some(rest) = line.split("spamd protocol on 127.0.0.1:").nth(1) {
                        let port = rest
                            .split(|c: char| !c.is_ascii_digit())
                            .next()
                            .and_then(|p| p.parse().ok())
                            .expect("port");
                        return Ok(Spamd {
                            child,
                            port,
                            log: rx,
                        });
                    }
                    seen.push_str(&line);
                    seen.push('\n');
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        Err(seen)
    }

    /// The server's stderr so far.
    fn log(&self) -> String {
        self.log.try_iter().collect::<Vec<_>>().join("\n")
    }

    /// Sends raw request bytes, half-closes (as spamc and Exim do), returns the whole reply.
    fn raw(&self, request: &[u8]) -> Vec<u8> {
        let mut s = self.connect();
        // The server may answer and close before reading everything (a refused client, a
        // request over the limit): the reply is what counts.
        let _ = s.write_all(request);
        let _ = s.shutdown(Shutdown::Write);
        read_all(s)
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        s
    }

    /// Runs the real spamc against this server.
    fn spamc(&self, args: &[&str], input: &[u8]) -> Output {
        let mut c = Command::new("spamc");
        c.args(["-d", "127.0.0.1", "-p", &self.port.to_string(), "-t", "20"])
            .args(args);
        run_with_input(c, input)
    }
}

impl Drop for Spamd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_all(mut s: TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// Whether the real spamc is here; says how to get it when not.
fn have_spamc() -> bool {
    let ok = Command::new("spamc")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipping: spamc is not installed (run scripts/install-test-deps)");
    }
    ok
}

/// A store trained on synthetic messages of each class.
fn trained(s: &Scratch) -> PathBuf {
    let db = s.path("m.db");
    let ham = write_messages(&s.path("ham"), false, 0..20);
    let spam = write_messages(&s.path("spam"), true, 0..20);
    for (class, files) in [("ham", &ham), ("spam", &spam)] {
        let mut args = vec!["train", class];
        args.extend(files.iter().map(|p| p.to_str().expect("utf-8 path")));
        let o = run(&db, &args);
        assert!(o.status.success(), "train: {}", stderr(&o));
    }
    db
}

/// Messages of both classes, LF and CRLF, plus the SpamAssassin corpus's first few when present.
fn samples() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = (100..104)
        .flat_map(|i| [synthetic(true, i), synthetic(false, i)])
        .collect();
    v.push(
        String::from_utf8_lossy(&synthetic(true, 105))
            .replace('\n', "\r\n")
            .into_bytes(),
    );
    v.push(
        b"Subject: hi\nX-Spam-Status: Yes, forged\nX-Spam-Flag: YES\n\nstripped headers\n".to_vec(),
    );
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpora/spamassassin");
    for dir in ["spam-2", "easy-ham-1"] {
        if let Ok(rd) = std::fs::read_dir(corpus.join(dir)) {
            let mut files: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
            files.sort();
            v.extend(files.iter().take(3).filter_map(|p| std::fs::read(p).ok()));
        }
    }
    v
}

/// `mailsift classify` (in-process) with an optional user.
fn classified(db: &Path, user: Option<&str>, m: &[u8]) -> Output {
    let mut args = vec!["--no-server", "--exit-code"];
    if let Some(u) = user {
        args.extend(["--user", u]);
    }
    classify(db, &args, m)
}

/// `X-Spam-Score` and `tests=` of classify's output.
fn verdict_of(out: &[u8]) -> (f64, Vec<String>) {
    let text = String::from_utf8_lossy(out)
        .replace("\r\n", "\n")
        .replace("\n\t", "\t");
    let score = text
        .lines()
        .find_map(|l| l.strip_prefix("X-Spam-Score: "))
        .and_then(|s| s.trim().parse().ok())
        .expect("X-Spam-Score");
    let tests = text
        .lines()
        .find_map(|l| l.strip_prefix("X-Spam-Status: "))
        .and_then(|s| s.split("tests=").nth(1))
        .and_then(|s| s.split("version=").next())
        .map(|s| s.replace(['\t', ' '], ""))
        .expect("tests=");
    let tests = if tests == "none" {
        Vec::new()
    } else {
        tests.split(',').map(str::to_owned).collect()
    };
    (score, tests)
}

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

fn stats_for(db: &Path, user: &str) -> (u64, u64) {
    let o = run(db, &["--user", user, "stats"]);
    assert!(o.status.success(), "{}", stderr(&o));
    common::stats_rows(&common::stdout(&o))
        .into_iter()
        .find(|r| r.0 == user)
        .map_or((0, 0), |r| (r.1, r.2))
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
        "[spamd]\nmax_size = 2000\ntimeout_secs = 1\nmax_connections = 4\n",
    )
    .expect("config");
    let db = s.path("none.db");
    let server = Spamd::start(&db, &["--config", cfg.to_str().expect("utf-8")]);
    let pong = |server: &Spamd| server.raw(b"PING SPAMC/1.5\r\n\r\n");
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
    let held: Vec<TcpStream> = (0..4).map(|_| server.connect()).collect();
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
