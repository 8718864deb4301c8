//! Shared by the spamd integration tests (tests/spamd.rs, tests/spamd_clients.rs): a
//! `mailsift serve --listen-spamd` on a free loopback port, sample messages, and classify's
//! output for comparison.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::{self, Scratch, classify, cmd, run, run_with_input, stderr, synthetic};

/// A running `mailsift serve` with a spamd TCP listener on a free loopback port.
pub struct Spamd {
    child: Child,
    pub port: u16,
    log: mpsc::Receiver<String>,
}

impl Spamd {
    pub fn start(db: &Path, extra: &[&str]) -> Spamd {
        Self::try_start(db, extra).unwrap_or_else(|e| panic!("serve did not start: {e}"))
    }

    /// Starts the server; `Err` with its stderr when it exits or never listens.
    pub fn try_start(db: &Path, extra: &[&str]) -> Result<Spamd, String> {
        Self::start_with(db, extra, &[])
    }

    /// Starts the server with extra environment variables.
    pub fn start_with(db: &Path, extra: &[&str], env: &[(&str, &str)]) -> Result<Spamd, String> {
        let mut c = cmd(db);
        c.envs(env.iter().copied());
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
    pub fn log(&self) -> String {
        self.log.try_iter().collect::<Vec<_>>().join("\n")
    }

    /// Sends raw request bytes, half-closes (as spamc and Exim do), returns the whole reply.
    pub fn raw(&self, request: &[u8]) -> Vec<u8> {
        let mut s = self.connect();
        // The server may answer and close before reading everything (a refused client, a
        // request over the limit): the reply is what counts.
        let _ = s.write_all(request);
        let _ = s.shutdown(Shutdown::Write);
        read_all(s)
    }

    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        s
    }

    /// Runs the real spamc against this server.
    pub fn spamc(&self, args: &[&str], input: &[u8]) -> Output {
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

pub fn read_all(mut s: TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// Whether the real spamc is here; says how to get it when not.
pub fn have_spamc() -> bool {
    let ok = Command::new("spamc")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipping: spamc is not installed (run scripts/install-test-deps)");
    }
    ok
}

/// A store trained on 20 synthetic messages of each class.
pub fn trained(s: &Scratch) -> PathBuf {
    crate::common::trained_db(s, 20)
}

/// Messages of both classes, LF and CRLF, plus the SpamAssassin corpus's first few when present.
pub fn samples() -> Vec<Vec<u8>> {
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
pub fn classified(db: &Path, user: Option<&str>, m: &[u8]) -> Output {
    let mut args = vec!["--no-server", "--exit-code"];
    if let Some(u) = user {
        args.extend(["--user", u]);
    }
    classify(db, &args, m)
}

/// `X-Spam-Score` and `tests=` of classify's output.
pub fn verdict_of(out: &[u8]) -> (f64, Vec<String>) {
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

pub fn stats_for(db: &Path, user: &str) -> (u64, u64) {
    let o = run(db, &["--user", user, "stats"]);
    assert!(o.status.success(), "{}", stderr(&o));
    common::stats_rows(&common::stdout(&o))
        .into_iter()
        .find(|r| r.0 == user)
        .map_or((0, 0), |r| (r.1, r.2))
}
