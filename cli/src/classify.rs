//! Filter mode: one message in, the same message with X-Spam-* headers out. Fail-open.
//!
//! Whatever goes wrong — bad configuration, a damaged or locked database, a panic, a
//! classification that takes longer than `--timeout` — the message is still written to stdout:
//! classified by rules alone when only the database failed, otherwise unchanged. The problem is
//! reported on stderr and the exit code says what happened (see `mailsift --help`).

use std::io::{Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use clap::Args;
use mailsift::{Engine, MemoryModel, OpenMode, Verdict};

use crate::common::{self, Global};

/// Exit code when the message was passed through because of an internal error.
pub const EXIT_FAIL_OPEN: u8 = 3;
/// Exit code when stdin could not be read or stdout written (sysexits EX_IOERR).
pub const EXIT_IO: u8 = 74;

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
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub timeout: u64,
}

/// What classification produced.
enum Outcome {
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
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().lock().read_to_end(&mut input) {
        eprintln!(
            "mailsift: cannot read the message from standard input: {e}; passing through what was read"
        );
        return finish(&input, EXIT_IO);
    }
    let input = Arc::new(input);
    // Whoever sets this first writes standard output: the classifier when it finishes in time,
    // else the watchdog. Classifying runs on this thread and the watchdog only sleeps: a worker
    // thread would cost a second malloc arena whose pages fault in one by one (BENCHMARKS.md).
    let claimed = Arc::new(AtomicBool::new(false));
    let (done, finished) = mpsc::channel::<()>();
    let timeout = Duration::from_secs(args.timeout.max(1));
    let watchdog = {
        let input = Arc::clone(&input);
        let claimed = Arc::clone(&claimed);
        let (seconds, code) = (args.timeout, args.fail_open_exit);
        std::thread::Builder::new()
            .name("deadline".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                if finished.recv_timeout(timeout) == Err(RecvTimeoutError::Timeout)
                    && !claimed.swap(true, Ordering::SeqCst)
                {
                    eprintln!(
                        "mailsift: classification took longer than {seconds} s; the message was passed through unchanged"
                    );
                    std::process::exit(i32::from(finish(&input, code)));
                }
            })
    };
    if let Err(e) = watchdog {
        eprintln!(
            "mailsift: warning: cannot start the --timeout watchdog ({e}); classifying without a deadline"
        );
    }
    let db = global.db_path();
    let result = catch_unwind(AssertUnwindSafe(|| {
        classify(&input, db, global.user.as_deref(), global.config.as_deref())
    }));
    if claimed.swap(true, Ordering::SeqCst) {
        // Too late: the watchdog has written the message and is ending the process.
        loop {
            std::thread::park();
        }
    }
    drop(done);
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
            finish(&input, args.fail_open_exit)
        }
    }
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
) -> Outcome {
    let config = match mailsift::Config::load(config_path) {
        Ok(c) => c,
        Err(e) => return Outcome::Failed(format!("{e}")),
    };
    let engine: Engine = match common::engine_from(&config) {
        Ok(e) => e,
        Err(e) => return Outcome::Failed(format!("{e:#}")),
    };
    if let Some(u) = user {
        if let Err(e) = mailsift::store::validate_user(u) {
            return Outcome::Failed(e.to_string());
        }
    }
    let analysis = engine.analyze(input);
    // A database fault degrades to rules alone; the message still gets its headers.
    let store = db.map_err(|e| format!("{e:#}")).and_then(|path| {
        mailsift::Store::open(&path, OpenMode::ReadOnly, common::store_options(&config))
            .map_err(|e| e.to_string())
    });
    let (verdict, warning): (Verdict, Option<String>) = match store {
        Ok(store) => match store
            .model(user)
            .and_then(|m| engine.verdict(&analysis, &m))
        {
            Ok(v) => (v, None),
            Err(e) => (
                rules_only(&engine, &analysis),
                Some(format!("{e}; classified by rules alone")),
            ),
        },
        Err(e) => {
            let missing = matches!(&e, s if s.contains("does not exist"));
            let v = rules_only(&engine, &analysis);
            // A store that was never trained is the normal state of a new install: not a fault.
            (
                v,
                (!missing).then(|| format!("{e}; classified by rules alone")),
            )
        }
    };
    let output = engine.annotate(input, &verdict, config.subject_tag.as_deref());
    Outcome::Done {
        output,
        spam: verdict.is_spam,
        warning,
    }
}

fn rules_only(engine: &Engine, analysis: &mailsift::Analysis) -> Verdict {
    let empty = MemoryModel::new();
    // An empty in-memory model cannot fail.
    match engine.verdict(analysis, &empty) {
        Ok(v) => v,
        Err(_) => engine.combine(
            mailsift::bayes::BayesResult::neutral(),
            engine.rule_hits(analysis, None),
        ),
    }
}
