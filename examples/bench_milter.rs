//! bench_milter: what `mailsift milter` adds to an SMTP transaction, measured through a real
//! Postfix (a private instance, as in tests/milter.rs; needs root and the Postfix package).
//!
//! usage (from the workspace root; `corpora/bench-milter` builds and runs it):
//!   bench_milter [--bin target/release/mailsift] [--corpus corpora/spamassassin]
//!                [--messages 400] [--sessions 8] [--threads 2] [--unix]
//!
//! `--unix`: the milter on a Unix socket instead of 127.0.0.1 TCP.
//!
//! 1. A database trained on the corpus's easy-ham-1 and spam-1 folders (the resident engine's
//!    Bayes lookups are part of the cost).
//! 2. Two Postfix instances, the same but for `smtpd_milters` (none / `mailsift milter`), both
//!    discarding the mail after queueing it (delivery is not what is measured), their queues on
//!    /dev/shm when it exists (so that fsync does not drown the difference).
//! 3. Latency: the first N messages of the index, one SMTP session each, one at a time; the
//!    time from the final "." of DATA to Postfix's reply, p50 and p99, without and with the
//!    milter; the milter's own classification time per message (its log line), so that
//!    "added - classify" is the protocol's and Postfix's cost around the engine.
//! 4. Throughput: the same messages over `--sessions` concurrent SMTP sessions: messages/s
//!    without and with the milter.

#[path = "../tests/postfix/mod.rs"]
mod postfix;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use postfix::{Postfix, Smtp, free_port, wait_port};

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_owned())
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// One message per SMTP session, one at a time: end-of-DATA latencies in ms.
fn latency(port: u16, messages: &[Vec<u8>]) -> Vec<f64> {
    let mut out = Vec::with_capacity(messages.len());
    for m in messages {
        let mut c = Smtp::connect(port).expect("connect");
        c.cmd("EHLO client.example.org").expect("ehlo");
        c.cmd("MAIL FROM:<a@example.org>").expect("mail");
        c.cmd("RCPT TO:<bob@example.test>").expect("rcpt");
        let (r, t) = c.data_timed(m).expect("data");
        assert!(r.starts_with("250"), "not accepted: {r}");
        let _ = c.cmd("QUIT");
        out.push(t.as_secs_f64() * 1000.0);
    }
    out
}

/// All messages over `sessions` concurrent sessions: messages per second.
fn throughput(port: u16, messages: &Arc<Vec<Vec<u8>>>, sessions: usize) -> f64 {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let handles: Vec<_> = (0..sessions)
        .map(|_| {
            let next = Arc::clone(&next);
            let messages = Arc::clone(messages);
            std::thread::spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(m) = messages.get(i) else { return };
                    let r =
                        Smtp::send(port, "a@example.org", &["bob@example.test"], m).expect("smtp");
                    assert!(r.starts_with("250"), "not accepted: {r}");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("session thread");
    }
    messages.len() as f64 / started.elapsed().as_secs_f64()
}

/// The milter's classification times (ms) logged since `from` bytes of its log.
fn classify_times(log: &Path, from: usize) -> Vec<f64> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.get(from..)
        .unwrap_or("")
        .lines()
        .filter_map(|l| l.split("classify=").nth(1))
        .filter_map(|v| v.split("ms").next()?.parse().ok())
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(why) = postfix::unavailable() {
        eprintln!("bench_milter: {why}");
        std::process::exit(2);
    }
    let bin = PathBuf::from(arg(&args, "--bin", "target/release/mailsift"));
    let corpus = PathBuf::from(arg(&args, "--corpus", "corpora/spamassassin"));
    let n: usize = arg(&args, "--messages", "400")
        .parse()
        .expect("--messages N");
    let sessions: usize = arg(&args, "--sessions", "8").parse().expect("--sessions N");
    let threads = arg(&args, "--threads", "2");
    let index = std::fs::read_to_string(corpus.join("index")).unwrap_or_else(|e| {
        panic!(
            "{}/index: {e} (run corpora/fetch-spamassassin)",
            corpus.display()
        )
    });
    let messages: Vec<Vec<u8>> = index
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .take(n)
        .map(|p| std::fs::read(corpus.join(p)).expect("message"))
        .collect();
    let messages = Arc::new(messages);
    // The queue on tmpfs when there is one: Postfix fsyncs every queue file, and a disk's
    // fsync time (tens of ms on a virtual machine) would drown what the milter adds.
    let base = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("mailsift-bench-milter-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch");
    let db = dir.join("mailsift.db");
    for (class, folder) in [("ham", "easy-ham-1"), ("spam", "spam-1")] {
        let ok = Command::new(&bin)
            .arg("--db")
            .arg(&db)
            .args(["-q", "train", class])
            .arg(corpus.join(folder))
            .env("XDG_CONFIG_HOME", "/nonexistent-mailsift-bench")
            .status()
            .expect("train");
        assert!(ok.success(), "training failed");
    }
    let port = free_port();
    let unix = args.iter().any(|a| a == "--unix");
    let socket = dir.join("milter.sock");
    let (listen, spec) = if unix {
        (
            socket.display().to_string(),
            format!("unix:{}", socket.display()),
        )
    } else {
        (
            format!("127.0.0.1:{port}"),
            format!("inet:127.0.0.1:{port}"),
        )
    };
    let log = dir.join("milter.log");
    let mut milter = Command::new(&bin)
        .arg("--db")
        .arg(&db)
        // 666: Postfix's smtpd runs as the postfix user.
        .args(["milter", "--listen", &listen, "--socket-mode", "666"])
        .args(["--threads", &threads])
        .env("XDG_CONFIG_HOME", "/nonexistent-mailsift-bench")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("start the milter");
    if unix {
        let started = Instant::now();
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the milter did not listen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    } else {
        wait_port(port, "mailsift milter");
    }
    let discard = "transport_maps = inline:{ example.test=discard: }\n\
                   local_header_rewrite_clients =\n";
    let mut rows = Vec::new();
    let mut classify = Vec::new();
    for with in [false, true] {
        let milter_spec = if with { spec.clone() } else { String::new() };
        let pf = Postfix::start(
            &dir.join(if with { "pf-milter" } else { "pf-plain" }),
            free_port(),
            &milter_spec,
            discard,
        );
        latency(pf.smtp_port, &messages[..messages.len().min(20)]); // warm-up
        let from = std::fs::metadata(&log).map_or(0, |m| m.len() as usize);
        let lat = sorted(latency(pf.smtp_port, &messages));
        if with {
            classify = sorted(classify_times(&log, from));
        }
        let rate = throughput(pf.smtp_port, &messages, sessions);
        rows.push((with, pct(&lat, 0.5), pct(&lat, 0.99), rate));
    }
    let _ = milter.kill();
    let _ = milter.wait();
    if classify.is_empty() {
        eprintln!(
            "bench_milter: no classification times in the milter's log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    let (_, plain50, plain99, plain_rate) = rows[0];
    let (_, with50, with99, with_rate) = rows[1];
    let c50 = pct(&classify, 0.5);
    let c99 = pct(&classify, 0.99);
    println!(
        "## bench_milter: {} messages, {sessions} concurrent sessions, {threads} milter workers, {}\n",
        messages.len(),
        if unix { "Unix socket" } else { "TCP" }
    );
    println!("| | p50 ms | p99 ms | msgs/s ({sessions} sessions) |");
    println!("|---|---:|---:|---:|");
    println!(
        "| Postfix, no milter: end of DATA → reply | {plain50:.2} | {plain99:.2} | {plain_rate:.1} |"
    );
    println!("| Postfix + mailsift milter | {with50:.2} | {with99:.2} | {with_rate:.1} |");
    println!(
        "| added by the milter (difference of the percentiles) | {:.2} | {:.2} | |",
        with50 - plain50,
        with99 - plain99
    );
    println!(
        "| of which classification (engine, milter log; {} msgs) | {c50:.2} | {c99:.2} | |",
        classify.len()
    );
    println!(
        "\nadded at p50 over classify's own work: {:.2} ms (target <= 2 ms: {})",
        with50 - plain50 - c50,
        if with50 - plain50 - c50 <= 2.0 {
            "met"
        } else {
            "NOT met"
        }
    );
}
