//! Filter mode: one message in, the same message with X-Spam-* headers out. Fail-open.
//!
//! Whatever goes wrong — bad configuration, a damaged or locked database, a panic, a
//! classification that takes longer than `--timeout` — the message is still written to stdout:
//! classified by rules alone when only the database failed, otherwise unchanged. The problem is
//! reported on stderr and the exit code says what happened (see `mailsift --help`).

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use clap::Args;
use mailsift::{Engine, MemoryModel, Verdict};

use crate::common::{self, Global};
use crate::{serve, wire};

/// Exit code when the message was passed through because of an internal error.
pub const EXIT_FAIL_OPEN: u8 = 3;
/// Exit code when stdin could not be read or stdout written (sysexits EX_IOERR).
pub const EXIT_IO: u8 = 74;
/// `--timeout` when not given.
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;

/// Options for `mailsift classify`.
#[derive(Debug, Args)]
pub struct ClassifyArgs {
    /// Exit 1 for spam and 0 for ham (for procmail, maildrop and Sieve branching).
    #[arg(long)]
    pub exit_code: bool,
    /// Exit code after an internal error (the message is still written). Use 0 where the
    /// delivery agent treats any other code as a failure.
    #[arg(long, default_value_t = EXIT_FAIL_OPEN, value_name = "N")]
    pub fail_open_exit: u8,
    /// Give up classifying after this many seconds and pass the message through unchanged.
    #[arg(long, default_value_t = DEFAULT_TIMEOUT_SECS, value_name = "SECS")]
    pub timeout: u64,
    /// Classify through the `mailsift serve` server listening on this socket [default: the
    /// database path + ".sock", used when it exists]. Without a server, or when it is down or
    /// configured differently, the message is classified in-process (same result, slower).
    #[arg(long, env = "MAILSIFT_SOCKET", value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Always classify in-process, even when a server is listening.
    #[arg(long, conflicts_with = "socket")]
    pub no_server: bool,
    /// The envelope recipient the MTA delivers this message to (repeatable), e.g. Postfix
    /// pipe's ${recipient} or local(8)'s $ORIGINAL_RECIPIENT: it is recipient evidence beside
    /// Delivered-To, so a site-wide model can learn that a newsletter is ham for one
    /// recipient and spam for another. Values without an '@' are ignored.
    #[arg(long, value_name = "ADDR")]
    pub recipient: Vec<String>,
}

/// What classification produced.
pub(crate) enum Outcome {
    /// Classified: the annotated message and whether it is spam; a warning if degraded.
    Done {
        output: Vec<u8>,
        spam: bool,
        warning: Option<String>,
    },
    /// Could not classify: pass the message through unchanged.
    Failed(String),
}

pub fn run(global: &Global, args: &ClassifyArgs) -> u8 {
    // Quiet panics: the guard below reports them as one line.
    std::panic::set_hook(Box::new(|_| {}));
    // Most mail fits: one or two reads instead of a doubling series from 32 bytes.
    let mut input = Vec::with_capacity(64 << 10);
    if let Err(e) = std::io::stdin().lock().read_to_end(&mut input) {
        eprintln!(
            "mailsift: cannot read the message from standard input: {e}; passing through what was read"
        );
        return finish(&input, EXIT_IO);
    }
    let started = std::time::Instant::now();
    let timeout = Duration::from_secs(args.timeout.max(1));
    // Once: without --db it reads the configuration files for `[store] db`.
    let db = global.db_path();
    if !args.no_server {
        if let Some(done) = via_server(global, db.as_ref().ok(), args, &input, timeout / 2) {
            return done;
        }
    }
    let input = std::sync::Arc::new(input);
    let (tx, rx) = mpsc::channel();
    let worker = {
        let input = std::sync::Arc::clone(&input);
        let user = global.user.clone();
        let config_path = global.config.clone();
        let recipients = args.recipient.clone();
        std::thread::Builder::new()
            .name("classify".into())
            // Headroom over the 2 MB default: the library does not recurse on input-derived
            // depth, and a stack overflow is an abort that no guard here could turn into a
            // pass-through, so margin is cheap insurance.
            .stack_size(WORKER_STACK_BYTES)
            .spawn(move || {
                let result = catch_unwind(AssertUnwindSafe(|| {
                    debug_fault();
                    classify(
                        &input,
                        db,
                        user.as_deref(),
                        config_path.as_deref(),
                        &recipients,
                    )
                }));
                let outcome = result.unwrap_or_else(|p| {
                    let msg = p
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown".into());
                    Outcome::Failed(format!(
                        "internal error (panic: {msg}); please report this with the message"
                    ))
                });
                let _ = tx.send(outcome);
            })
    };
    if let Err(e) = worker {
        eprintln!(
            "mailsift: cannot start the classifier thread: {e}; the message was passed through unchanged"
        );
        return finish(&input, args.fail_open_exit);
    }
    let outcome = rx
        // What is left of --timeout (a server that did not answer used up to half of it).
        .recv_timeout(timeout.saturating_sub(started.elapsed()))
        .unwrap_or_else(|e| {
            Outcome::Failed(match e {
                mpsc::RecvTimeoutError::Timeout => {
                    format!("classification took longer than {} s", args.timeout)
                }
                // Second line of defence: the worker died without reporting (a panic that
                // escaped the guard).
                mpsc::RecvTimeoutError::Disconnected => {
                    "internal error (the classifier stopped without a result); please report this with the message".into()
                }
            })
        });
    deliver(outcome, &input, args)
}

/// Filter mode with a command line that does not parse (an unknown option, a bad value): the
/// message still goes through, unchanged, with the reason on stderr and `code` (the
/// `--fail-open-exit` asked for when it parses, else [`EXIT_FAIL_OPEN`]).
pub fn pass_through_usage_error(e: &clap::Error, code: u8) -> u8 {
    let rendered = e.to_string();
    let first = rendered.lines().next().unwrap_or("invalid command line");
    let why = first.strip_prefix("error: ").unwrap_or(first);
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().lock().read_to_end(&mut input) {
        eprintln!(
            "mailsift: cannot read the message from standard input: {e}; passing through what was read"
        );
        return finish(&input, EXIT_IO);
    }
    eprintln!(
        "mailsift: usage error: {why} (see 'mailsift classify --help'); the message was passed through unchanged"
    );
    finish(&input, code)
}

/// Writes what classification produced and returns the exit code.
fn deliver(outcome: Outcome, input: &[u8], args: &ClassifyArgs) -> u8 {
    match outcome {
        Outcome::Done {
            output,
            spam,
            warning,
        } => {
            let mut code = if args.exit_code && spam { 1 } else { 0 };
            if let Some(w) = warning {
                eprintln!("mailsift: {w}");
                code = args.fail_open_exit;
            }
            finish(&output, code)
        }
        Outcome::Failed(why) => {
            eprintln!("mailsift: {why}; the message was passed through unchanged");
            finish(input, args.fail_open_exit)
        }
    }
}

/// Classifies through a `mailsift serve` server when one is listening: `Some(exit code)` when
/// the message was delivered that way, `None` to classify in-process. A server that is absent
/// is the normal case and silent; one that refuses, fails, is configured differently or does
/// not answer within `budget` (half of `--timeout`) is reported on stderr, and the message is
/// then classified in-process, so nothing depends on the server being up.
fn via_server(
    global: &Global,
    db: Option<&PathBuf>,
    args: &ClassifyArgs,
    input: &[u8],
    budget: Duration,
) -> Option<u8> {
    // An invalid user fails open in-process; a server must not turn it into a verdict (the
    // protocol cannot even carry an empty name).
    if global
        .user
        .as_deref()
        .is_some_and(|u| mailsift::store::validate_user(u).is_err())
    {
        return None;
    }
    let db = db?;
    let (socket, explicit) = match &args.socket {
        Some(s) => (s.clone(), true),
        None => (serve::default_socket(db), false),
    };
    // The socket is checked first: without one (the usual case when no server runs), the
    // configuration files are not read for the fingerprint.
    let answer = trusted_socket(&socket, db).and_then(|()| {
        let request = wire::Request {
            db: db.as_os_str().as_encoded_bytes().to_vec(),
            user: global.user.clone(),
            fingerprint: mailsift::Config::fingerprint(global.config.as_deref()),
            recipients: args.recipient.clone(),
            message: std::borrow::Cow::Borrowed(input),
        };
        ask_server(&socket, &request, std::time::Instant::now() + budget)
    });
    let why = match answer {
        Ok(wire::Response::Done {
            output,
            spam,
            warning,
        }) => {
            let outcome = Outcome::Done {
                output,
                spam,
                warning,
            };
            return Some(deliver(outcome, input, args));
        }
        Ok(wire::Response::Mismatch(why)) | Ok(wire::Response::Failed(why)) => why,
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            format!(
                "no answer within {:.1} s (half of --timeout); the server is overloaded or stuck",
                budget.as_secs_f64()
            )
        }
        Err(e) if e.kind() == ErrorKind::NotFound && !explicit => return None,
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
            format!(
                "no server is listening ({e}): start 'mailsift serve' or remove the socket file"
            )
        }
        Err(e) => e.to_string(),
    };
    eprintln!(
        "mailsift: classify server {}: {why}; classifying in-process",
        socket.display()
    );
    None
}

/// Whether the socket may be used. A server's answer replaces the message, so only a socket
/// owned by root, by this process's user, or by a user who controls the database is trusted:
/// in a shared directory another user could otherwise plant a socket (and an empty file at
/// the database path) and rewrite mail.
fn trusted_socket(socket: &Path, db: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let owner = std::fs::metadata(socket)?.uid();
    // This process's user, without libc: the owner of its /proc entry.
    let me = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
    if owner == 0 || Some(owner) == me || controls_database(owner, db) {
        return Ok(());
    }
    Err(std::io::Error::new(
        ErrorKind::PermissionDenied,
        format!(
            "the socket belongs to uid {owner}, which is neither root, this user, nor the owner \
             of the database in a directory no one else can write; not trusted (remove it, or \
             start 'mailsift serve' as the database's owner)"
        ),
    ))
}

/// Whether `uid` controls what is at the database path: the database file (the directory,
/// while there is none) is `uid`'s, and its directory belongs to `uid` or root and is writable
/// by no one else. Only then can no third user have put that file there: in a shared
/// (sticky, world-writable) directory anyone can create the database path before its user
/// does, so owning it proves nothing.
fn controls_database(uid: u32, db: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let dir = db
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Ok(d) = std::fs::metadata(dir) else {
        return false;
    };
    let dir_private = (d.uid() == uid || d.uid() == 0) && d.mode() & 0o022 == 0;
    // The entry itself (a symbolic link is its owner's choice of target).
    let entry_owner = std::fs::symlink_metadata(db).map_or(d.uid(), |m| m.uid());
    dir_private && entry_owner == uid
}

/// How long `classify` waits before trying again to connect to a server whose accept queue
/// is full.
const CONNECT_RETRY: Duration = Duration::from_millis(10);

/// Connects to the server by `deadline`. `UnixStream::connect` has no timeout and blocks for
/// as long as the server's accept queue is full (a stopped server with thousands of
/// connections queued), so the socket is connected non-blocking: a full queue then answers
/// EAGAIN at once, and the connection is tried again every [`CONNECT_RETRY`] until the
/// deadline. (rustix: safe bindings for `socket(2)` and `connect(2)`, which std does not
/// offer for an unconnected Unix socket; unsafe code is forbidden here.)
fn connect_by(socket: &Path, deadline: std::time::Instant) -> std::io::Result<UnixStream> {
    use rustix::io::Errno;
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    let addr = SocketAddrUnix::new(socket)?;
    loop {
        let fd = rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
            None,
        )?;
        match rustix::net::connect(&fd, &addr) {
            Ok(()) => {
                let stream = UnixStream::from(fd);
                stream.set_nonblocking(false)?;
                return Ok(stream);
            }
            Err(Errno::AGAIN) if std::time::Instant::now() + CONNECT_RETRY < deadline => {
                std::thread::sleep(CONNECT_RETRY);
            }
            Err(Errno::AGAIN) => return Err(ErrorKind::TimedOut.into()),
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// A socket whose every read and write gets only what is left until one deadline (the
/// socket's own timeouts are per call: a peer trickling bytes would renew them forever).
struct Deadlined<'a> {
    stream: &'a UnixStream,
    deadline: std::time::Instant,
}

impl Deadlined<'_> {
    fn left(&self) -> std::io::Result<Duration> {
        let left = self
            .deadline
            .saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(ErrorKind::TimedOut.into());
        }
        Ok(left)
    }
}

impl Read for Deadlined<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.stream.set_read_timeout(Some(self.left()?))?;
        (&mut &*self.stream).read(buf)
    }
}

/// The most one write to the server sends. The kernel applies a socket's send timeout to
/// each chunk of a write it waits for, not to the call: one large write to a server that
/// reads slowly can take many times the timeout. A write of one chunk waits at most once.
const WRITE_CHUNK: usize = 16 << 10;

impl Write for Deadlined<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.stream.set_write_timeout(Some(self.left()?))?;
        (&mut &*self.stream).write(&buf[..buf.len().min(WRITE_CHUNK)])
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// How long `classify` polls for the server's answer before sleeping until it comes.
const SPIN: Duration = Duration::from_millis(1);

/// One request to the server.
fn ask_server(
    socket: &Path,
    request: &wire::Request,
    deadline: std::time::Instant,
) -> std::io::Result<wire::Response> {
    if request.message.len() as u64 > wire::MAX_FIELD {
        return Err(std::io::Error::other(
            "the message is too large for the server",
        ));
    }
    // One deadline for the whole exchange: connecting, sending, receiving.
    let stream = connect_by(socket, deadline)?;
    let mut bounded = Deadlined {
        stream: &stream,
        deadline,
    };
    request.write(&mut bounded)?;
    // Spin-then-block: poll for the first bytes of the answer for up to SPIN, yielding the CPU
    // each time, and only then sleep in `read`. The server usually answers within half a
    // millisecond, and waking a sleeping process costs a good part of that on a virtual
    // machine (measured: 0.19 ms less wall time per message, for at most SPIN of client CPU;
    // see BENCHMARKS.md, "The classify server"). A server whose answers take longer (the
    // stock SpamAssassin rules) sends the answer's first bytes at once, which ends the spin.
    // Small: zeroing it touches its pages (the rest of the answer is read through a buffer).
    let mut first = vec![0u8; 8 << 10];
    let mut got = 0;
    stream.set_nonblocking(true)?;
    let spin_until = std::time::Instant::now() + SPIN;
    loop {
        match (&stream).read(&mut first) {
            Ok(n) => {
                got = n;
                break;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if std::time::Instant::now() >= spin_until {
                    break;
                }
                std::thread::yield_now();
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    stream.set_nonblocking(false)?;
    first.truncate(got);
    wire::Response::read(&mut std::io::BufReader::new(
        first.as_slice().chain(bounded),
    ))
}

fn finish(bytes: &[u8], code: u8) -> u8 {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => code,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => EXIT_IO,
        Err(e) => {
            eprintln!("mailsift: cannot write the message to standard output: {e}");
            EXIT_IO
        }
    }
}

fn classify(
    input: &[u8],
    db: anyhow::Result<std::path::PathBuf>,
    user: Option<&str>,
    config_path: Option<&std::path::Path>,
    recipients: &[String],
) -> Outcome {
    let config = match mailsift::Config::load(config_path) {
        Ok(c) => c,
        Err(e) => return Outcome::Failed(format!("{e}")),
    };
    let engine: Engine = match common::engine_with(&config, false) {
        Ok(e) => e,
        Err(e) => return Outcome::Failed(common::chain(&e)),
    };
    // A database fault degrades to rules alone; the message still gets its headers.
    let store = db
        .map_err(|e| StoreFault {
            message: common::chain(&e),
            untrained: false,
        })
        .and_then(|path| {
            // On Redis, the store's checks ride the first read: one command per classify.
            mailsift::Store::open_for_classify(&path, common::store_options(&config))
                .map_err(|e| StoreFault::opening(&e))
        });
    let outcome = classify_ready(&engine, &config, store.as_ref(), user, recipients, input);
    // Rules beyond the built-in set: keep their prefilter for the next process.
    crate::rules_cache::save(&engine.rules);
    // One message per process: the operating system frees everything at exit, faster than
    // dropping the rule set, the analysis and the connection piece by piece.
    std::mem::forget(engine);
    std::mem::forget(store);
    outcome
}

/// Classifies one message with a loaded engine and an opened store (or the reason there is
/// none): the in-process path and every server front end (classify's socket, spamd) share it,
/// so all give the same bytes.
pub(crate) fn classify_ready(
    engine: &Engine,
    config: &mailsift::Config,
    store: Result<&mailsift::Store, &StoreFault>,
    user: Option<&str>,
    recipients: &[String],
    input: &[u8],
) -> Outcome {
    match scan(engine, store, user, recipients, input) {
        Ok(scanned) => Outcome::Done {
            output: annotated(engine, config, input, &scanned.verdict),
            spam: scanned.verdict.is_spam,
            warning: scanned.warning,
        },
        Err(why) => Outcome::Failed(why),
    }
}

/// A verdict, and the degradation behind it if any.
pub(crate) struct Scanned {
    pub verdict: Verdict,
    /// A database fault: the verdict is by rules alone.
    pub warning: Option<String>,
}

/// The verdict on one message for a user, delivered to `recipients` (the envelope
/// recipients, when the front end knows them); `Err` says why there is none (pass the message
/// through unchanged). Front ends that answer with a verdict only (spamd's CHECK) stop here;
/// the message bytes come from [`annotated`].
pub(crate) fn scan(
    engine: &Engine,
    store: Result<&mailsift::Store, &StoreFault>,
    user: Option<&str>,
    recipients: &[String],
    input: &[u8],
) -> Result<Scanned, String> {
    if let Some(u) = user {
        if let Err(e) = mailsift::store::validate_user(u) {
            return Err(e.to_string());
        }
    }
    // The rules (when they run before Bayes) and the tokenizer at once.
    let (analysis, hits) = engine.analyze_with_hits(input, recipients);
    let hits = hits.as_deref();
    let (verdict, warning): (Verdict, Option<String>) = match store {
        Ok(store) => match store
            .model(user)
            .and_then(|m| engine.verdict_with(&analysis, hits, &m))
        {
            Ok(v) => (v, None),
            // An empty store found by the first read (Redis, opened without checks): the
            // normal state of a new install, as when opening finds it.
            Err(e) => (
                rules_only(engine, &analysis, hits),
                (!e.is_untrained()).then(|| format!("{e}; classified by rules alone")),
            ),
        },
        Err(e) => {
            let v = rules_only(engine, &analysis, hits);
            // A store that was never trained is the normal state of a new install: not a fault.
            (
                v,
                (!e.untrained).then(|| format!("{}; classified by rules alone", e.message)),
            )
        }
    };
    Ok(Scanned { verdict, warning })
}

/// The message as delivered with this verdict: what `classify` writes.
pub(crate) fn annotated(
    engine: &Engine,
    config: &mailsift::Config,
    input: &[u8],
    verdict: &Verdict,
) -> Vec<u8> {
    engine.annotate(input, verdict, config.subject_tag.as_deref())
}

/// Why the store could not be used.
pub(crate) struct StoreFault {
    pub message: String,
    /// Missing or empty: a new install, not a fault.
    pub untrained: bool,
}

impl StoreFault {
    /// The store could not be opened.
    pub fn opening(e: &mailsift::Error) -> StoreFault {
        StoreFault {
            message: e.to_string(),
            untrained: e.is_untrained(),
        }
    }
}

/// Stack size of the classification thread.
const WORKER_STACK_BYTES: usize = 16 << 20;

/// Fault injection for the fail-open tests, compiled into debug builds only: with
/// `MAILSIFT_DEBUG_FAULT=panic` the classifier panics, with `MAILSIFT_DEBUG_FAULT=hang` it never
/// finishes. Release builds (`cargo build --release`, packages) contain no trace of it, and
/// nothing in a message can reach it.
pub(crate) fn debug_fault() {
    #[cfg(debug_assertions)]
    match std::env::var("MAILSIFT_DEBUG_FAULT").as_deref() {
        Ok("panic") => panic!("injected by MAILSIFT_DEBUG_FAULT"),
        Ok("hang") => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
        _ => {}
    }
}

fn rules_only(
    engine: &Engine,
    analysis: &mailsift::Analysis,
    hits: Option<&[mailsift::rules::RuleHit]>,
) -> Verdict {
    let empty = MemoryModel::new();
    // An empty in-memory model cannot fail.
    match engine.verdict_with(analysis, hits, &empty) {
        Ok(v) => v,
        Err(_) => engine.combine(
            mailsift::bayes::BayesResult::neutral(),
            hits.map_or_else(|| engine.rule_hits(analysis, None), <[_]>::to_vec),
        ),
    }
}
