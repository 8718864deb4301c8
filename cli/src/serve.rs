//! `mailsift serve`: a resident classifier for `mailsift classify` (the spamd/spamc
//! arrangement).
//!
//! A `classify` process that opens the database, loads the rules and compiles the regexes it
//! needs spends most of its time on that set-up, once per message. The server does it once:
//! it keeps the engine (rules parsed, regexes compiled as they are first needed) and one
//! read-only, memory-mapped store connection per worker thread, and answers requests on a Unix
//! socket. `classify` finds it by default at the database path + ".sock" and falls back to
//! classifying in-process whenever the server is absent, down, failing, or configured
//! differently from the client, so mail never depends on it.
//!
//! The server re-reads its configuration (and rebuilds the engine) when a configuration layer
//! or a rule file changes, checked at most once a second, and reopens the database when the
//! file is replaced. Training goes on as before (`train`, `correct` write the database; the
//! server's readers see each committed transaction).

use std::os::unix::fs::MetadataExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use clap::Args;
use mailsift::store::SharedTokenCache;
use mailsift::{Config, Engine, OpenMode, Store};

use crate::classify::{self, Outcome, StoreFault};
use crate::common::{self, Global};
use crate::unix_socket;
use crate::wire::{Request, Response};

/// Options for `mailsift serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Socket to listen on [default: the database path + ".sock", where classify looks].
    #[arg(long, env = "MAILSIFT_SOCKET", value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Worker threads: how many messages are classified at once [default: the number of CPUs].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Permissions of the socket file, in octal. Whoever may connect can classify with any
    /// user's model (not train): 0600 keeps it to the server's own user; 0660 adds its group.
    #[arg(long, default_value = "600", value_parser = parse_mode, value_name = "MODE")]
    pub socket_mode: u32,
    #[command(flatten)]
    pub spamd: crate::spamd::SpamdArgs,
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

pub(crate) fn parse_mode(s: &str) -> std::result::Result<u32, String> {
    u32::from_str_radix(s.trim_start_matches("0o"), 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| format!("'{s}' is not an octal file mode such as 600 or 660"))
}

/// Where `classify` and `serve` look for the socket by default: beside the database.
pub fn default_socket(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(".sock");
    PathBuf::from(s)
}

/// How long a worker waits for a client to send its request or take the response.
const CLIENT_IO_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the configuration and rule files are checked for changes, at most.
const RELOAD_CHECK: Duration = Duration::from_secs(1);
/// Stack of each worker (as for classify's worker: headroom, no recursion on input depth).
const WORKER_STACK_BYTES: usize = 16 << 20;

/// The loaded configuration and engine, replaced as a whole on reload.
pub(crate) struct Loaded {
    pub(crate) config: Config,
    pub(crate) engine: Engine,
    fingerprint: u64,
    /// Modification times of the rule files the configuration names.
    rule_stamps: Vec<Option<SystemTime>>,
}

pub(crate) struct Shared {
    pub(crate) db: PathBuf,
    /// The database path as the OS resolves it (when the file exists).
    db_canonical: Option<PathBuf>,
    config_path: Option<PathBuf>,
    loaded: RwLock<Arc<Loaded>>,
    last_check: Mutex<Instant>,
    /// The one token cache every worker of every front end in this process reads through
    /// (SQLite), with the identity of the file it caches: a replaced file gets a new one.
    token_cache: Mutex<Option<(FileId, Arc<SharedTokenCache>)>>,
    /// When the token cache was last filled with the whole site-wide table.
    filled: Mutex<Option<Instant>>,
    /// Whether the last classification took longer than a client polls for the answer
    /// ([`SLOW_ANSWER`]).
    slow: AtomicBool,
}

/// A classification that takes longer than this is slow: the client's poll for the answer
/// (`classify::SPIN`, 1 ms) would only burn CPU, which a server evaluating on both cores
/// needs (SpamAssassin's stock rules take 2-10 ms; the built-in rules about 0.3 ms). The next
/// request is then told at once that the answer is coming (`Response::write_start`), and
/// the client sleeps until it does.
const SLOW_ANSWER: Duration = Duration::from_millis(1);

fn stamps(paths: &[PathBuf]) -> Vec<Option<SystemTime>> {
    paths
        .iter()
        .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .collect()
}

fn load(config_path: Option<&Path>) -> Result<Loaded> {
    // Fingerprint first: a file changed between the two reads is then picked up next check.
    let fingerprint = Config::fingerprint(config_path);
    let config = Config::load(config_path)?;
    let engine = common::engine_from(&config)?;
    // Build the prefilter now, so the first message is as fast as the rest.
    engine.rules.prepare_now();
    crate::rules_cache::save(&engine.rules);
    // Compile every regex in the background (about a second of CPU with SpamAssassin's stock
    // rules), so the first messages do not pay for it; a message that needs a regex first
    // compiles it itself, as before.
    let rules = engine.rules.clone();
    let _ = std::thread::Builder::new()
        .name("rules-compile".into())
        .spawn(move || rules.compile_all());
    let rule_stamps = stamps(&config.rule_files);
    Ok(Loaded {
        config,
        engine,
        fingerprint,
        rule_stamps,
    })
}

impl Shared {
    /// Loads the configuration and engine once, for a resident front end (`serve` with its
    /// spamd listeners, `milter`), after checking that it will see every commit to the database
    /// (see [`check_sees_commits`]).
    pub(crate) fn new(db: PathBuf, config_path: Option<PathBuf>) -> Result<Shared> {
        if !mailsift::store::is_redis_url(&db) {
            check_sees_commits(&db)?;
        }
        let loaded = load(config_path.as_deref())?;
        Ok(Shared {
            db_canonical: std::fs::canonicalize(&db).ok(),
            db,
            config_path,
            loaded: RwLock::new(Arc::new(loaded)),
            last_check: Mutex::new(Instant::now()),
            token_cache: Mutex::new(None),
            filled: Mutex::new(None),
            slow: AtomicBool::new(false),
        })
    }

    /// The current configuration and engine, reloaded when a file changed.
    pub(crate) fn current(&self) -> Arc<Loaded> {
        let mut last = self.last_check.lock().unwrap_or_else(|p| p.into_inner());
        if last.elapsed() >= RELOAD_CHECK {
            *last = Instant::now();
            drop(last);
            let now = self
                .loaded
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            let changed = Config::fingerprint(self.config_path.as_deref()) != now.fingerprint
                || stamps(&now.config.rule_files) != now.rule_stamps;
            if changed {
                match load(self.config_path.as_deref()) {
                    Ok(l) => {
                        eprintln!("mailsift serve: configuration changed; reloaded");
                        *self.loaded.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(l);
                    }
                    Err(e) => eprintln!(
                        "mailsift serve: configuration changed but cannot be loaded ({e:#}); \
                         still serving the previous one: fix it, clients whose configuration \
                         differs classify in-process meanwhile"
                    ),
                }
            }
        }
        self.loaded
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether `client_db` names the database this server serves.
    fn same_db(&self, client_db: &[u8]) -> bool {
        let Ok(text) = std::str::from_utf8(client_db) else {
            return false;
        };
        let path = Path::new(text);
        if path == self.db {
            return true;
        }
        match (&self.db_canonical, std::fs::canonicalize(path)) {
            (Some(mine), Ok(theirs)) => *mine == theirs,
            _ => false,
        }
    }
}

/// A file's identity: (device, inode).
type FileId = (u64, u64);

/// A worker's store connection, with the identity of the file it was opened on.
pub(crate) struct Conn {
    store: Store,
    file: (u64, u64),
}

/// How long after a fill the token cache may be filled again, once training has emptied it.
/// A fill reads the whole token table (about 0.2 s for 666k tokens, measured in
/// BENCHMARKS.md) and happens after a response is sent, while the other workers serve.
const REFILL_AFTER: Duration = Duration::from_secs(30);

fn file_id(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// The worker's connection, (re)opened when missing or when the file was replaced.
pub(crate) fn connection<'a>(
    conn: &'a mut Option<Conn>,
    shared: &Shared,
    config: &Config,
) -> std::result::Result<&'a Store, StoreFault> {
    let db = &shared.db;
    let id = file_id(db);
    // A Redis store has no file: its connection is kept (it reconnects by itself).
    let kept = conn
        .take()
        .filter(|c| Some(c.file) == id || (id.is_none() && c.store.is_remote()));
    let c = match kept {
        Some(c) => c,
        None => {
            let mut store = Store::open(db, OpenMode::ReadOnly, common::store_options(config))
                .map_err(|e| StoreFault::opening(&e))?;
            let file = id.or_else(|| file_id(db)).unwrap_or_default();
            // Not fatal: an untuned connection is only slower.
            if let Some(cache) = shared.token_cache_for(file, &store) {
                if store.share_token_cache(&cache).is_ok() && !store.token_cache_complete() {
                    shared.fill_token_cache(&store);
                }
            }
            Conn { store, file }
        }
    };
    Ok(&conn.insert(c).store)
}

impl Shared {
    /// The process's token cache for the database file `file`, made when there is none for
    /// it yet (at start, or after the file was replaced); `None` on Redis or when the cache
    /// cannot be opened (workers then read without one).
    fn token_cache_for(&self, file: FileId, store: &Store) -> Option<Arc<SharedTokenCache>> {
        if store.is_remote() {
            return None;
        }
        let mut slot = self.token_cache.lock().unwrap_or_else(|p| p.into_inner());
        match &*slot {
            Some((f, cache)) if *f == file => Some(Arc::clone(cache)),
            _ => {
                let cache = SharedTokenCache::open(&self.db).ok()?;
                *slot = Some((file, Arc::clone(&cache)));
                Some(cache)
            }
        }
    }

    fn fill_token_cache(&self, store: &Store) {
        *self.filled.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        let _ = store.preload_token_cache();
    }
}

fn serve_one(shared: &Shared, conn: &mut Option<Conn>, stream: UnixStream) -> Result<()> {
    let loaded = shared.current();
    // The rules' second thread wakes while the request is read.
    loaded.engine.expect_message();
    stream.set_read_timeout(Some(CLIENT_IO_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_IO_TIMEOUT))?;
    let Some(request) =
        Request::read(&mut std::io::BufReader::new(&stream)).context("cannot read the request")?
    else {
        return Ok(()); // connected and closed: a probe
    };
    let mut started = false;
    let response = if !shared.same_db(&request.db) {
        Response::Mismatch(format!(
            "it serves the database {}, not {}",
            shared.db.display(),
            String::from_utf8_lossy(&request.db)
        ))
    } else if request.fingerprint != loaded.fingerprint {
        Response::Mismatch(
            "its configuration differs from this process's (other files, or changed less \
             than a second ago)"
                .into(),
        )
    } else {
        if shared.slow.load(Ordering::Relaxed) {
            // Not fatal here: a client gone is found when the answer is written.
            started = Response::write_start(&mut &stream).is_ok();
        }
        let begun = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| {
            let store = connection(conn, shared, &loaded.config);
            classify::classify_ready(
                &loaded.engine,
                &loaded.config,
                store.as_ref().copied(),
                request.user.as_deref(),
                &request.recipients,
                &request.message,
            )
        }));
        shared
            .slow
            .store(begun.elapsed() > SLOW_ANSWER, Ordering::Relaxed);
        match result {
            Ok(Outcome::Done {
                output,
                spam,
                warning,
            }) => {
                if warning.is_some() {
                    // A database fault: start from a fresh connection next time.
                    *conn = None;
                }
                Response::Done {
                    spam,
                    warning,
                    output,
                }
            }
            Ok(Outcome::Failed(why)) => Response::Failed(why),
            Err(_) => {
                *conn = None;
                Response::Failed("internal error (panic in the server)".into())
            }
        }
    };
    let sent = if started {
        response.write_rest(&mut &stream)
    } else {
        response.write(&mut &stream)
    }
    .context("cannot send the response");
    drop(stream);
    refill_if_due(shared, conn);
    sent
}

/// Training emptied the token cache: fill it again, at most every REFILL_AFTER for the whole
/// process (after the answer is sent).
pub(crate) fn refill_if_due(shared: &Shared, conn: &Option<Conn>) {
    if let Some(c) = conn {
        if c.store.token_cache_complete() {
            return;
        }
        let due = shared
            .filled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none_or(|t| t.elapsed() >= REFILL_AFTER);
        if due {
            shared.fill_token_cache(&c.store);
        }
    }
}

fn worker(shared: &Shared, listener: &UnixListener, mut conn: Option<Conn>) {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Err(e) = serve_one(shared, &mut conn, stream) {
                    eprintln!("mailsift serve: {}", common::chain(&e));
                }
            }
            Err(e) => {
                eprintln!("mailsift serve: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Refuses to serve a database whose commits this process might not see. A reader of a WAL
/// database needs to write its shared-memory index (`-shm`, created in the database's
/// directory): without that, SQLite falls back to reading a snapshot (see
/// `Store::read_only_snapshot`), and a long-lived server would go on answering from a model
/// that training by others has since changed. A one-message `classify` can live with that; a
/// server cannot.
fn check_sees_commits(db: &Path) -> Result<()> {
    let dir = db
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let beside = |suffix: &str| {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        PathBuf::from(p)
    };
    let writable = |p: &Path| std::fs::OpenOptions::new().write(true).open(p);
    // An existing -shm this user cannot write: SQLite reads without it, from a snapshot.
    let shm = beside("-shm");
    if shm.exists() {
        if let Err(e) = writable(&shm) {
            bail!(
                "this user cannot write {} ({e}), so the server would not see what training \
                 commits and would answer from a stale model: run 'mailsift serve' as the \
                 database's owner (clients classify in-process meanwhile)",
                shm.display()
            );
        }
    }
    let name = db
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let probe = dir.join(format!(".{name}.serve-check-{}", std::process::id()));
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe);
    let why = match created {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            return Ok(());
        }
        Err(e) => e,
    };
    // The directory is read-only to us: enough only while both files exist and we can
    // write them (the -shm was checked above).
    if db.exists() && shm.exists() && writable(&beside("-wal")).is_ok() {
        return Ok(());
    }
    bail!(
        "this user cannot write the database's directory {} ({why}), nor its -wal and -shm \
         files, so the server would not see what training commits and would answer from a \
         stale model: run 'mailsift serve' as the database's owner (clients classify \
         in-process meanwhile)",
        dir.display()
    )
}

/// Runs the server until it is killed.
pub fn run(global: &Global, args: &ServeArgs) -> Result<i32> {
    let db = global.db_path()?;
    if args.socket.is_none() && mailsift::store::is_redis_url(&db) {
        anyhow::bail!(
            "the store is a Redis server ({}): give the socket to listen on with --socket PATH, and the same --socket to classify",
            db.display()
        );
    }
    let socket = args.socket.clone().unwrap_or_else(|| default_socket(&db));
    let shared = Arc::new(Shared::new(db.clone(), global.config.clone())?);
    // The spamd front end's settings (--listen-spamd, [spamd]), checked before any slow set-up.
    let spamd = crate::spamd::Settings::new(&args.spamd, &shared.current().config.spamd)?;
    unix_socket::check(&socket, "--socket")?;
    // Resolved here, not as a clap default: a default is computed by every command's parse,
    // and asking for the CPU count reads cgroup files (a cost in each classify process).
    let threads = args.threads.unwrap_or_else(default_threads).max(1);
    // Each worker's connection is opened (and its token cache filled) before the socket
    // exists, so no client waits for that: until then, clients classify in-process.
    let conns: Vec<Option<Conn>> = (0..threads)
        .map(|_| {
            let mut conn = None;
            let _ = connection(&mut conn, &shared, &shared.current().config);
            conn
        })
        .collect();
    // Registered before any socket exists: a SIGTERM from then on removes them all.
    unix_socket::remove_on_signal()?;
    // The spamd front end, when asked for: bound before the private socket, so that a bad
    // address fails the start.
    crate::spamd::start(&shared, spamd, threads, global.quiet)?;
    let listener = Arc::new(unix_socket::bind(
        &socket,
        args.socket_mode,
        "classify clients",
    )?);
    if !global.quiet {
        eprintln!(
            "mailsift serve: listening on {} for {} ({threads} worker thread(s))",
            socket.display(),
            db.display()
        );
    }
    let mut handles = Vec::new();
    for (i, conn) in conns.into_iter().enumerate() {
        let shared = Arc::clone(&shared);
        let listener = Arc::clone(&listener);
        handles.push(
            std::thread::Builder::new()
                .name(format!("serve-{i}"))
                .stack_size(WORKER_STACK_BYTES)
                .spawn(move || worker(&shared, &listener, conn))
                .context("cannot start a worker thread")?,
        );
    }
    for h in handles {
        let _ = h.join();
    }
    bail!("all worker threads stopped")
}
