//! The milter's sockets and threads: an accept loop, one thread per MTA connection running a
//! [`Session`], and a fixed pool of classification workers, each holding one read-only store
//! connection (the engine is the resident one `serve` uses, reloaded when files change).
//!
//! Fail-safe: a classification that fails, panics or takes longer than `timeout_secs` is
//! answered with "continue" (the message goes on unclassified) and logged; a connection whose
//! packets cannot be decoded is closed, and the MTA applies its `milter_default_action`.

use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixListener;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use mailsift::SmtpFacts;
use mailsift::config::MilterConfig;

use super::codec::{self, Command};
use super::session::{Judge, Judgement, Session};
use crate::classify;
use crate::serve::{self, Conn, Shared};

/// How long a connection may sit idle between commands (an SMTP session waiting on its
/// client; Postfix's own smtpd_timeout is 300 s).
const IDLE_TIMEOUT: Duration = Duration::from_secs(900);
/// How long writing a reply may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once; more are closed at once (the MTA's default action applies).
const MAX_CONNECTIONS: usize = 1024;
/// Stack of a classification worker (as for classify's worker).
const WORKER_STACK_BYTES: usize = 16 << 20;
/// Stack of a connection thread: it only parses packets.
const CONNECTION_STACK_BYTES: usize = 256 << 10;

/// Where to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// `HOST:PORT`.
    Tcp(String),
    /// A Unix socket path.
    Unix(PathBuf),
}

/// Parses `HOST:PORT`, `[IPv6]:PORT`, `inet:PORT@HOST`, `inet6:PORT@HOST`, `unix:PATH`,
/// `local:PATH` or an absolute path.
pub fn parse_listen(s: &str) -> Result<Listen> {
    let s = s.trim();
    if let Some(p) = s.strip_prefix("unix:").or_else(|| s.strip_prefix("local:")) {
        return Ok(Listen::Unix(PathBuf::from(p)));
    }
    if s.starts_with('/') || s.starts_with("./") {
        return Ok(Listen::Unix(PathBuf::from(s)));
    }
    if let Some(rest) = s.strip_prefix("inet:").or_else(|| s.strip_prefix("inet6:")) {
        let (port, host) = rest.split_once('@').unwrap_or((rest, "127.0.0.1"));
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        return Ok(Listen::Tcp(format!("{host}:{port}")));
    }
    if s.rsplit_once(':')
        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
    {
        return Ok(Listen::Tcp(s.to_owned()));
    }
    bail!(
        "cannot read the listen address '{s}': use HOST:PORT (127.0.0.1:11332), inet:PORT@HOST, \
         unix:PATH or an absolute socket path"
    )
}

/// One classification asked of the workers.
struct Job {
    message: Vec<u8>,
    facts: SmtpFacts,
    user: Option<String>,
    answer: SyncSender<Result<Judgement, String>>,
    /// After this nobody waits for the answer: a worker that falls behind skips the job.
    deadline: Instant,
}

/// The [`Judge`] the sessions use: hands the message to a worker and waits, at most `timeout`.
pub struct Pool {
    jobs: Mutex<Sender<Job>>,
    timeout: Duration,
}

impl Judge for Pool {
    fn judge(
        &self,
        message: &[u8],
        facts: &SmtpFacts,
        user: Option<&str>,
    ) -> Result<Judgement, String> {
        let (tx, rx) = mpsc::sync_channel(1);
        let job = Job {
            message: message.to_vec(),
            facts: facts.clone(),
            user: user.map(str::to_owned),
            answer: tx,
            deadline: Instant::now() + self.timeout,
        };
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(job)
            .map_err(|_| "the classification workers stopped".to_owned())?;
        rx.recv_timeout(self.timeout).unwrap_or_else(|e| {
            Err(match e {
                mpsc::RecvTimeoutError::Timeout => format!(
                    "classification took longer than {} s (timeout_secs)",
                    self.timeout.as_secs()
                ),
                mpsc::RecvTimeoutError::Disconnected => {
                    "internal error (the worker stopped without a result)".to_owned()
                }
            })
        })
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Classifies one job with the resident engine: the rules see the message with this hop's
/// facts (see [`SmtpFacts::rules_view`]); the headers come from the same verdict `classify`
/// annotates with.
fn classify_job(shared: &Shared, conn: &mut Option<Conn>, job: &Job) -> Result<Judgement, String> {
    let started = Instant::now();
    classify::debug_fault(); // debug builds: MAILSIFT_DEBUG_FAULT=panic|hang, for the tests
    let loaded = shared.current();
    // The rules' second thread wakes while the message is parsed.
    loaded.engine.expect_message();
    let store = serve::connection(conn, shared, &loaded.config);
    let date = mailsift::facts::rfc5322_date(now());
    let view = job.facts.rules_view(&job.message, &date);
    let classify::Scanned { verdict, warning } = classify::scan(
        &loaded.engine,
        store.as_ref().copied(),
        job.user.as_deref(),
        &job.facts.rcpt_to,
        &view,
    )?;
    if warning.is_some() {
        *conn = None; // a database fault: a fresh connection next time
    }
    Ok(Judgement {
        score: verdict.score,
        is_spam: verdict.is_spam,
        fields: verdict.header_fields(),
        subject_tag: loaded.config.subject_tag.clone(),
        warning,
        micros: started.elapsed().as_micros() as u64,
    })
}

fn worker(shared: &Shared, jobs: &Mutex<Receiver<Job>>, mut conn: Option<Conn>) {
    loop {
        let job = match jobs.lock().unwrap_or_else(|p| p.into_inner()).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        if Instant::now() >= job.deadline {
            continue; // the session already passed the message on
        }
        let result = catch_unwind(AssertUnwindSafe(|| classify_job(shared, &mut conn, &job)))
            .unwrap_or_else(|_| {
                conn = None;
                Err("internal error (panic while classifying); please report it".to_owned())
            });
        // The session may have given up waiting: then nobody reads this.
        let _ = job.answer.send(result);
        serve::refill_if_due(shared, &conn);
    }
}

/// Starts `threads` workers, each with a store connection opened (and its token cache filled)
/// before the first message.
pub fn start_pool(shared: &Arc<Shared>, threads: usize, timeout: Duration) -> Result<Pool> {
    let (tx, rx) = mpsc::channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..threads.max(1) {
        let mut conn = None;
        let _ = serve::connection(&mut conn, shared, &shared.current().config);
        let shared = Arc::clone(shared);
        let rx = Arc::clone(&rx);
        std::thread::Builder::new()
            .name(format!("milter-worker-{i}"))
            .stack_size(WORKER_STACK_BYTES)
            .spawn(move || worker(&shared, &rx, conn))
            .context("cannot start a worker thread")?;
    }
    Ok(Pool {
        jobs: Mutex::new(tx),
        timeout,
    })
}

/// Serves one MTA connection until it quits, fails or goes idle.
fn serve_connection<S: Read + Write>(
    stream: S,
    after_read: &dyn Fn(&S),
    policy: &MilterConfig,
    judge: &dyn Judge,
    peer: &str,
) {
    let mut reader = BufReader::with_capacity(64 << 10, stream);
    let mut session = Session::new(policy);
    loop {
        let packet = codec::read_packet(&mut reader);
        after_read(reader.get_ref());
        let (code, data) = match packet {
            Ok(Some(p)) => p,
            Ok(None) => return,
            Err(e) => {
                if !matches!(
                    e.kind(),
                    std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
                ) {
                    eprintln!("mailsift milter: {peer}: {e}; connection closed");
                }
                return;
            }
        };
        let cmd = match Command::decode(code, &data) {
            Ok(c) => c,
            Err(e) => {
                eprintln!(
                    "mailsift milter: {peer}: {e}; connection closed (the MTA applies its milter_default_action)"
                );
                return;
            }
        };
        let step = match catch_unwind(AssertUnwindSafe(|| session.handle(cmd, judge))) {
            Ok(step) => step,
            Err(_) => {
                eprintln!(
                    "mailsift milter: {peer}: internal error (panic); connection closed (the MTA applies its milter_default_action)"
                );
                return;
            }
        };
        if let Some(line) = &step.log {
            eprintln!("mailsift milter: {line}");
        }
        if !step.replies.is_empty() {
            let mut out = Vec::new();
            for r in &step.replies {
                out.extend_from_slice(&r.encode());
            }
            let w = reader.get_mut();
            if let Err(e) = w.write_all(&out).and_then(|()| w.flush()) {
                eprintln!("mailsift milter: {peer}: cannot send the reply: {e}");
                return;
            }
        }
        if step.close {
            return;
        }
    }
}

/// Acknowledges what was read at once. The MTA sends most commands without waiting for a reply
/// (negotiated: only the end of the body is answered), in one small packet each. Postfix does
/// not disable Nagle's algorithm on its milter socket, so each packet after the first waits
/// until the previous one is acknowledged, and Linux delays that acknowledgement up to 40 ms
/// when the receiver has nothing to send: measured, 46 ms at the end of DATA per message
/// (BENCHMARKS.md, "The milter"). `TCP_QUICKACK` is not sticky, so it is set after every read.
/// Unix sockets have no such delay.
fn quick_ack(s: &TcpStream) {
    let _ = socket2::SockRef::from(s).set_tcp_quickack(true);
}

/// A connection counted against [`MAX_CONNECTIONS`] while it lives.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn spawn_connection<S: Read + Write + Send + 'static>(
    stream: S,
    after_read: fn(&S),
    peer: String,
    active: &Arc<AtomicUsize>,
    policy: &Arc<MilterConfig>,
    pool: &Arc<Pool>,
) {
    if active.fetch_add(1, Ordering::Relaxed) >= MAX_CONNECTIONS {
        active.fetch_sub(1, Ordering::Relaxed);
        eprintln!(
            "mailsift milter: {MAX_CONNECTIONS} connections already open; {peer} refused (the MTA applies its milter_default_action)"
        );
        return;
    }
    let slot = Slot(Arc::clone(active));
    let policy = Arc::clone(policy);
    let pool = Arc::clone(pool);
    let spawned = std::thread::Builder::new()
        .name("milter-conn".into())
        .stack_size(CONNECTION_STACK_BYTES)
        .spawn(move || {
            let _slot = slot;
            serve_connection(stream, &after_read, &policy, &*pool, &peer);
        });
    if let Err(e) = spawned {
        eprintln!("mailsift milter: cannot start a connection thread: {e}");
    }
}

/// Accepts connections forever.
pub fn serve(
    listen: &Listen,
    socket_mode: u32,
    policy: MilterConfig,
    pool: Pool,
    quiet: bool,
) -> Result<()> {
    let policy = Arc::new(policy);
    let pool = Arc::new(pool);
    let active = Arc::new(AtomicUsize::new(0));
    match listen {
        Listen::Tcp(addr) => {
            let listener = TcpListener::bind(addr).with_context(|| {
                format!("cannot listen on {addr} (in use, or not an address of this host?)")
            })?;
            if !quiet {
                eprintln!("mailsift milter: listening on {}", listener.local_addr()?);
            }
            for stream in listener.incoming() {
                match stream {
                    Ok(s) => {
                        let _ = s.set_nodelay(true);
                        let _ = s.set_read_timeout(Some(IDLE_TIMEOUT));
                        let _ = s.set_write_timeout(Some(WRITE_TIMEOUT));
                        let peer = s.peer_addr().map_or_else(|_| "?".into(), |a| a.to_string());
                        spawn_connection(s, quick_ack, peer, &active, &policy, &pool);
                    }
                    Err(e) => {
                        eprintln!("mailsift milter: accept failed: {e}");
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        }
        Listen::Unix(path) => {
            crate::unix_socket::check(path, "--listen")?;
            let listener: UnixListener = crate::unix_socket::bind(path, socket_mode, "the MTA")?;
            if !quiet {
                eprintln!("mailsift milter: listening on {}", path.display());
            }
            for stream in listener.incoming() {
                match stream {
                    Ok(s) => {
                        let _ = s.set_read_timeout(Some(IDLE_TIMEOUT));
                        let _ = s.set_write_timeout(Some(WRITE_TIMEOUT));
                        spawn_connection(s, |_| {}, "unix".into(), &active, &policy, &pool);
                    }
                    Err(e) => {
                        eprintln!("mailsift milter: accept failed: {e}");
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        }
    }
    bail!("the listener stopped")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        let tcp = |s: &str| Listen::Tcp(s.into());
        assert_eq!(
            parse_listen("127.0.0.1:11332").expect("ok"),
            tcp("127.0.0.1:11332")
        );
        assert_eq!(parse_listen("[::1]:11332").expect("ok"), tcp("[::1]:11332"));
        assert_eq!(
            parse_listen("inet:11332@127.0.0.1").expect("ok"),
            tcp("127.0.0.1:11332")
        );
        assert_eq!(
            parse_listen("inet6:11332@::1").expect("ok"),
            tcp("[::1]:11332")
        );
        assert_eq!(
            parse_listen("inet:11332").expect("ok"),
            tcp("127.0.0.1:11332")
        );
        assert_eq!(
            parse_listen("unix:/run/mailsift/milter.sock").expect("ok"),
            Listen::Unix("/run/mailsift/milter.sock".into())
        );
        assert_eq!(
            parse_listen("/run/m.sock").expect("ok"),
            Listen::Unix("/run/m.sock".into())
        );
        let err = parse_listen("localhost").expect_err("no port").to_string();
        assert!(err.contains("HOST:PORT"), "{err}");
    }
}
