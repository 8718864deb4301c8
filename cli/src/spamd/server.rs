//! The spamd listeners: accept, read a request within a deadline and a size limit, answer it
//! with the resident engine, close.
//!
//! One acceptor thread per listen address. Each connection gets its own thread (at most
//! `max_connections` at once; more are told to retry later), so a client that stalls delays
//! only itself; classification itself runs on one of `threads` store connections, each with its
//! token cache filled at start (like `serve`'s own workers), checked out for the length of one
//! scan. Whatever goes wrong with a request (malformed, too big, too slow, a panic, a database
//! fault) ends in spamd's error reply for it, never in the server stopping: spamc's safe
//! fallback then delivers the message unfiltered.

use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use mailsift::{Action, OpenMode, Outcome, Store};

use super::codec::{self, Dialect, ExCode, ReadError, Request, Scores, Verb, WireError};
use super::{ListenAddr, Settings, render};
use crate::classify;
use crate::common;
use crate::serve::{self, Conn, Loaded, Shared};

/// Stack of a connection thread: it classifies, so the same headroom as serve's workers
/// (reserved address space; only what is touched becomes resident).
const STACK_BYTES: usize = 16 << 20;
/// How long the server waits, after its reply, for the client to close first, so that the
/// client reads the reply instead of a connection reset.
const DRAIN: Duration = Duration::from_secs(1);

/// Store connections shared by the connection threads: one per classification at a time.
struct Pool {
    free: Mutex<Vec<Option<Conn>>>,
    ready: Condvar,
}

impl Pool {
    /// Runs `f` with a free connection, waiting up to `wait` for one.
    fn with<R>(&self, wait: Duration, f: impl FnOnce(&mut Option<Conn>) -> R) -> Option<R> {
        let deadline = Instant::now() + wait;
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        let mut conn = loop {
            if let Some(c) = free.pop() {
                break c;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            free = self
                .ready
                .wait_timeout(free, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        };
        drop(free);
        let r = f(&mut conn);
        self.free
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(conn);
        self.ready.notify_one();
        Some(r)
    }
}

struct Ctx {
    shared: Arc<Shared>,
    settings: Settings,
    pool: Pool,
    active: AtomicUsize,
}

/// A client connection, TCP or Unix.
enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn set_read_timeout(&self, t: Duration) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(Some(t)),
            Stream::Unix(s) => s.set_read_timeout(Some(t)),
        }
    }
    fn set_write_timeout(&self, t: Duration) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_write_timeout(Some(t)),
            Stream::Unix(s) => s.set_write_timeout(Some(t)),
        }
    }
    fn shutdown_write(&self) {
        let _ = match self {
            Stream::Tcp(s) => s.shutdown(Shutdown::Write),
            Stream::Unix(s) => s.shutdown(Shutdown::Write),
        };
    }
    fn write_all(&self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => (&*s).write_all(bytes),
            Stream::Unix(s) => (&*s).write_all(bytes),
        }
    }
}

/// Reads from a stream until a deadline: each read waits at most for the time left.
struct Timed<'a> {
    stream: &'a Stream,
    deadline: Instant,
}

impl Read for Timed<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        self.stream
            .set_read_timeout(left.max(Duration::from_millis(1)))?;
        match self.stream {
            Stream::Tcp(s) => (&*s).read(buf),
            Stream::Unix(s) => (&*s).read(buf),
        }
    }
}

/// Binds every listen address and starts serving them; nothing when there are none.
pub(crate) fn start(
    shared: &Arc<Shared>,
    settings: Settings,
    threads: usize,
    quiet: bool,
) -> Result<()> {
    if settings.listen.is_empty() {
        return Ok(());
    }
    let mut listeners = Vec::new();
    for addr in &settings.listen {
        listeners.push((addr.clone(), bind(addr, settings.socket_mode)?));
    }
    // Connections opened and token caches filled now, so the first client does not wait.
    let conns = (0..threads)
        .map(|_| {
            let mut conn = None;
            let _ = serve::connection(&mut conn, shared, &shared.current().config);
            conn
        })
        .collect();
    let ctx = Arc::new(Ctx {
        shared: Arc::clone(shared),
        settings,
        pool: Pool {
            free: Mutex::new(conns),
            ready: Condvar::new(),
        },
        active: AtomicUsize::new(0),
    });
    for (addr, listener) in listeners {
        // The bound port, when the address asked for any (port 0, as tests do).
        let addr = match &listener {
            Listener::Tcp(l) => l.local_addr().map_or(addr, ListenAddr::Tcp),
            Listener::Unix(_) => addr,
        };
        if !quiet {
            eprintln!(
                "mailsift serve: spamd protocol on {addr}{}",
                if ctx.settings.allow_tell {
                    " (TELL allowed)"
                } else {
                    ""
                }
            );
        }
        let ctx = Arc::clone(&ctx);
        std::thread::Builder::new()
            .name(format!("spamd-accept {addr}"))
            .spawn(move || accept_loop(&ctx, &listener))
            .context("cannot start a spamd listener thread")?;
    }
    Ok(())
}

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

fn bind(addr: &ListenAddr, mode: u32) -> Result<Listener> {
    match addr {
        ListenAddr::Tcp(a) => Ok(Listener::Tcp(TcpListener::bind(a).with_context(|| {
            format!("cannot listen for spamd clients on {a} (in use, or a privileged port?)")
        })?)),
        ListenAddr::Unix(path) => {
            crate::unix_socket::check(path, "--listen-spamd path")?;
            let l = crate::unix_socket::bind(path, mode, "spamd clients")?;
            Ok(Listener::Unix(l))
        }
    }
}

fn accept_loop(ctx: &Arc<Ctx>, listener: &Listener) {
    loop {
        let accepted = match listener {
            Listener::Tcp(l) => l.accept().map(|(s, peer)| {
                let allowed = ctx.settings.allowed(peer.ip());
                (Stream::Tcp(s), (!allowed).then_some(peer))
            }),
            Listener::Unix(l) => l.accept().map(|(s, _)| (Stream::Unix(s), None)),
        };
        let (stream, refused) = match accepted {
            Ok(a) => a,
            Err(e) => {
                eprintln!("mailsift serve: spamd: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if let Some(peer) = refused {
            eprintln!(
                "mailsift serve: spamd: refused a connection from {} (not in --spamd-allow-from)",
                peer.ip()
            );
            refuse(
                &stream,
                ExCode::NoPerm,
                "Permission denied: client address not allowed",
            );
            continue;
        }
        if ctx.active.fetch_add(1, Ordering::AcqRel) >= ctx.settings.max_connections {
            ctx.active.fetch_sub(1, Ordering::AcqRel);
            refuse(
                &stream,
                ExCode::TempFail,
                "Service busy: too many connections, try again later",
            );
            continue;
        }
        let slot = Slot(Arc::clone(ctx));
        let spawned = std::thread::Builder::new()
            .name("spamd-conn".into())
            .stack_size(STACK_BYTES)
            .spawn(move || handle(&slot.0, stream));
        if let Err(e) = spawned {
            eprintln!("mailsift serve: spamd: cannot start a connection thread: {e}");
        }
    }
}

/// One of the `max_connections`: given back when dropped, however the connection ends.
struct Slot(Arc<Ctx>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

fn refuse(stream: &Stream, code: ExCode, text: &str) {
    let _ = stream.set_write_timeout(Duration::from_secs(1));
    let _ = stream.write_all(&WireError::new(code, text).reply());
    stream.shutdown_write();
}

/// Serves one connection: one request, one reply.
fn handle(ctx: &Ctx, stream: Stream) {
    let loaded = ctx.shared.current();
    // The rules' second thread wakes while the request is read.
    loaded.engine.expect_message();
    let timeout = ctx.settings.timeout;
    let _ = stream.set_write_timeout(timeout);
    let mut reader = BufReader::with_capacity(
        64 << 10,
        Timed {
            stream: &stream,
            deadline: Instant::now() + timeout,
        },
    );
    let reply = match codec::read_request(&mut reader, ctx.settings.max_size) {
        Ok(None) => return, // connected and closed: a probe
        Ok(Some(request)) => answer(ctx, &loaded, &request),
        Err(ReadError::Wire(e)) => {
            eprintln!("mailsift serve: spamd: {}", e.text);
            e.reply()
        }
        Err(ReadError::Io(e))
            if matches!(
                e.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) =>
        {
            let e = WireError::new(
                ExCode::Timeout,
                format!(
                    "Timeout: ({} second timeout reading input from client)",
                    timeout.as_secs()
                ),
            );
            eprintln!("mailsift serve: spamd: {}", e.text);
            e.reply()
        }
        Err(ReadError::Io(_)) => return, // the client went away
    };
    if stream.write_all(&reply).is_err() {
        return;
    }
    stream.shutdown_write();
    // A lingering close: read until the client closes (it does once it has the reply; spamc,
    // Exim and Amavis all do) or DRAIN passes. Closing with unread input (a request cut short
    // by an error; the CRLF Mail::SpamAssassin::Client sends past its Content-length) would
    // send a reset, and the client could lose the reply.
    reader.get_mut().deadline = Instant::now() + DRAIN;
    let _ = std::io::copy(
        &mut reader.take(ctx.settings.max_size as u64),
        &mut std::io::sink(),
    );
    // Training emptied a token cache: refill one idle connection now that the reply is out.
    ctx.pool
        .with(Duration::ZERO, |c| serve::refill_if_due(&ctx.shared, c));
}

/// The reply to a well-formed request.
fn answer(ctx: &Ctx, loaded: &Loaded, request: &Request) -> Vec<u8> {
    let head = &request.head;
    let result = catch_unwind(AssertUnwindSafe(|| match head.verb {
        Verb::Ping => Ok(codec::pong(head.dialect)),
        Verb::Skip => Ok(Vec::new()),
        Verb::Tell => tell(ctx, loaded, request),
        _ => scan(ctx, loaded, request),
    }))
    .unwrap_or_else(|_| Err(internal("panic while answering")));
    result.unwrap_or_else(|e| {
        eprintln!("mailsift serve: spamd: {}", e.text);
        e.reply()
    })
}

/// The user whose model a request selects (rspamd's `User` is the SMTP-authenticated sender,
/// not a mailbox: such requests use the site-wide model).
fn user(head: &codec::Head) -> Result<Option<&str>, WireError> {
    let user = match head.dialect {
        Dialect::Spamc => head.user.as_deref(),
        Dialect::Rspamc => None,
    };
    if let Some(u) = user {
        mailsift::store::validate_user(u)
            .map_err(|e| WireError::new(ExCode::NoUser, format!("User unknown: {e}")))?;
    }
    Ok(user)
}

fn internal(why: impl std::fmt::Display) -> WireError {
    WireError::new(ExCode::Software, format!("Internal error: {why}"))
}

/// CHECK, SYMBOLS, REPORT, REPORT_IFSPAM, PROCESS, HEADERS: the verdict from the same
/// functions `classify` uses, laid out by the codec.
fn scan(ctx: &Ctx, loaded: &Loaded, request: &Request) -> Result<Vec<u8>, WireError> {
    let head = &request.head;
    let user = user(head)?;
    let (engine, config) = (&loaded.engine, &loaded.config);
    let run = |conn: &mut Option<Conn>| {
        let result = catch_unwind(AssertUnwindSafe(|| {
            classify::debug_fault();
            let store = serve::connection(conn, &ctx.shared, config);
            // The spamd protocol carries no envelope recipient (spamc has no option for it):
            // the message's own Delivered-To/X-Original-To are the recipient evidence.
            classify::scan(engine, store.as_ref().copied(), user, &[], &request.message)
        }));
        match &result {
            // A database fault: start from a fresh connection next time.
            Ok(Ok(s)) if s.warning.is_some() => *conn = None,
            Err(_) => *conn = None,
            _ => {}
        }
        result
    };
    let scanned = ctx
        .pool
        .with(ctx.settings.timeout, run)
        .ok_or_else(|| {
            WireError::new(
                ExCode::TempFail,
                "Service busy: no classifier free in time, try again later",
            )
        })?
        .map_err(|_| internal("panic while classifying"))?
        .map_err(internal)?;
    if let Some(w) = &scanned.warning {
        eprintln!("mailsift serve: spamd: {w}");
    }
    let v = &scanned.verdict;
    let scores = Scores {
        spam: v.is_spam,
        score: v.score,
        required: v.required,
    };
    if head.dialect == Dialect::Rspamc {
        let tests: Vec<(&str, f64)> = render::tests(v).iter().map(|t| (t.0, t.1)).collect();
        return Ok(codec::rspamc_reply(head, scores, &tests));
    }
    let body = match head.verb {
        Verb::Process => classify::annotated(engine, config, &request.message, v),
        Verb::Headers => {
            let mut m = classify::annotated(engine, config, &request.message, v);
            m.truncate(codec::header_part(&m).len());
            m
        }
        Verb::Symbols => render::symbols(v).into_bytes(),
        Verb::Report | Verb::ReportIfSpam => render::report(v).into_bytes(),
        _ => Vec::new(),
    };
    Ok(codec::scan_reply(head, scores, &body))
}

/// TELL: `Set: local` learns the message as its `Message-class` (a flip when it was learned
/// as the other class: `correct`), `Remove: local` forgets it, for the request's user. `DidSet`
/// and `DidRemove` report what changed (nothing when the message was already learned so, or
/// never learned). Remote reporting is not something mailsift does: never reported as done.
fn tell(ctx: &Ctx, loaded: &Loaded, request: &Request) -> Result<Vec<u8>, WireError> {
    if !ctx.settings.allow_tell {
        return Err(WireError::unavailable(
            "TELL commands are not enabled: start 'mailsift serve' with --allow-tell \
             (or [spamd] allow_tell = true)",
        ));
    }
    let head = &request.head;
    if head.set_local && head.remove_local {
        return Err(WireError::protocol(
            "Unable to set local and remove local in the same operation.",
        ));
    }
    let learn = match (head.set_local, head.message_class) {
        (true, Some(class)) => Some(Action::Learn(class)),
        (true, None) => {
            return Err(WireError::protocol(
                "Set: local needs a Message-class: spam or ham",
            ));
        }
        (false, _) => None,
    };
    let action = match (learn, head.remove_local) {
        (Some(a), _) => a,
        (None, true) => Action::Forget,
        (None, false) => return Ok(codec::tell_reply(false, false)),
    };
    let user = user(head)?;
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let mut store = Store::open(
            &ctx.shared.db,
            OpenMode::ReadWrite,
            common::store_options(&loaded.config),
        )?;
        let analysis = loaded.engine.analyze(&request.message);
        let mut op = loaded.engine.op(&analysis, action);
        loaded.engine.record_bayes(&mut op, &store.model(user)?)?;
        store.apply(user, &[op])
    }))
    .map_err(|_| internal("panic while learning"))?
    .map_err(|e| WireError::unavailable(format!("cannot learn: {e}")))?;
    let changed = outcome.first().copied();
    Ok(codec::tell_reply(
        matches!(changed, Some(Outcome::Learned | Outcome::Flipped)),
        changed == Some(Outcome::Forgotten),
    ))
}
