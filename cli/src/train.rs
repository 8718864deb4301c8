//! `train`, `correct` and `forget`: batches of messages are read and analysed in parallel,
//! then applied in one write transaction per batch.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc;

use anyhow::{Result, anyhow, bail};
use clap::Args;
use mailsift::sources::{self, Item};
use mailsift::store::Class;
use mailsift::{Action, Engine, LearnOp, OpenMode, Outcome, Store};
use rayon::prelude::*;

use crate::common::{self, Global};
use crate::progress::Progress;

/// Messages per write transaction. Bounds memory (analyses are dropped after each batch) while
/// keeping transactions few; 1000 was the knee in BENCHMARKS.md's bulk-training runs.
const BATCH: usize = 1000;

/// Messages per batch on a Redis store. Each batch is applied by one or a few script calls of
/// about 50,000 token occurrences (`CHUNK_TOKENS` in the store) whatever the batch size, so
/// nothing is gained by waiting for 1,000 messages; small batches let the analysis of the next
/// one overlap the server's work on this one from the start, instead of the first and last
/// thousand messages each running alone (BENCHMARKS.md, "Redis store").
const REMOTE_BATCH: usize = 100;

/// Options for `train` and `correct`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// spam or ham.
    #[arg(value_parser = class_parser())]
    pub class: Class,
    /// Files, directories, Maildirs or mbox files; '-' reads one message from stdin.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// `spam` or `ham`, listed as the possible values, so `--help`, the man page and the shell
/// completions offer them.
fn class_parser() -> impl clap::builder::TypedValueParser<Value = Class> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(["spam", "ham"]).try_map(|s| s.parse::<Class>())
}

/// What a `train`, `correct` or `forget` run did, printed as one line on stderr at the end.
/// Every category of the command is shown, zeros included, always in the same order, so the
/// line reads the same from run to run and scripts can parse it.
#[derive(Default)]
struct Summary {
    outcomes: BTreeMap<Outcome, usize>,
    /// Files that are not a message (no header block): skipped, not learned.
    not_mail: usize,
    unreadable: usize,
}

impl Summary {
    fn line(&self, action: &Action) -> String {
        format!("mailsift: {}", self.counts(action))
    }

    /// Every category of the command with its count, zeros included.
    fn counts(&self, action: &Action) -> String {
        let n = |o: Outcome| self.outcomes.get(&o).copied().unwrap_or(0);
        let counts: &[(&str, usize)] = match action {
            Action::Forget => &[
                ("forgotten", n(Outcome::Forgotten)),
                ("not learned before", n(Outcome::NotLearned)),
            ],
            _ => &[
                ("learned", n(Outcome::Learned)),
                ("already known", n(Outcome::AlreadyKnown)),
                ("flipped", n(Outcome::Flipped)),
            ],
        };
        let parts: Vec<String> = counts
            .iter()
            .chain(&[("not mail", self.not_mail), ("unreadable", self.unreadable)])
            .map(|(label, count)| format!("{label} {count}"))
            .collect();
        parts.join(", ")
    }

    /// The line for a run that an error stopped (the error follows it): what was done, and
    /// what to do. Printed even with `--quiet`, as the error is.
    fn stopped(&self, action: &Action) -> String {
        let done = self.counts(action);
        format!(
            "mailsift: stopped by the error below after {done}; once it is dealt with, run the \
             same command again: it does the rest and skips what is already done"
        )
    }

    /// Exit status: 2 when some input could not be read, else 0.
    fn code(&self) -> i32 {
        if self.unreadable > 0 { 2 } else { 0 }
    }
}

/// Reads messages from paths (or stdin for '-'), in batches.
fn for_each_batch(
    paths: &[PathBuf],
    size: usize,
    mut f: impl FnMut(Vec<Item>) -> Result<()>,
) -> Result<()> {
    let (stdin, files): (Vec<&PathBuf>, Vec<&PathBuf>) =
        paths.iter().partition(|p| p.as_os_str() == "-");
    if stdin.len() > 1 {
        bail!("'-' (standard input) can be given only once");
    }
    if !stdin.is_empty() {
        let bytes = common::read_message(std::path::Path::new("-"));
        f(vec![Item {
            label: "-".into(),
            bytes: bytes.map_err(|e| std::io::Error::other(format!("{e:#}"))),
        }])?;
    }
    let files: Vec<PathBuf> = files.into_iter().cloned().collect();
    let mut batch = Vec::with_capacity(size);
    let mut err = None;
    sources::for_each_message(&files, |item| {
        if err.is_some() {
            return;
        }
        batch.push(item);
        if batch.len() >= size {
            if let Err(e) = f(std::mem::take(&mut batch)) {
                err = Some(e);
            }
        }
    });
    if let Some(e) = err {
        return Err(e);
    }
    if !batch.is_empty() {
        f(batch)?;
    }
    Ok(())
}

/// One analysed batch: the operations, and how many items were skipped.
struct Analysed {
    ops: Vec<LearnOp>,
    not_mail: usize,
    unreadable: usize,
}

/// What became of one item.
enum Read {
    Op(Box<LearnOp>),
    NotMail,
    Unreadable,
}

fn analyse(engine: &Engine, items: Vec<Item>, action: &Action, progress: &Progress) -> Analysed {
    let read: Vec<Read> = items
        .into_par_iter()
        .map(|item| match item.bytes {
            // A file that is not a message (no header block naming a field every message
            // carries: a stray file in a Maildir, an index, a binary) is skipped and counted.
            Ok(bytes) if !sources::is_message(&bytes) => {
                progress.message(bytes.len());
                Read::NotMail
            }
            Ok(bytes) => {
                progress.message(bytes.len());
                let analysis = engine.analyze(&sources::learning_form(bytes));
                Read::Op(Box::new(engine.op(&analysis, action.clone())))
            }
            Err(e) => {
                eprintln!("mailsift: skipping {}: {e}", item.label);
                Read::Unreadable
            }
        })
        .collect();
    let mut out = Analysed {
        ops: Vec::with_capacity(read.len()),
        not_mail: 0,
        unreadable: 0,
    };
    for r in read {
        match r {
            Read::Op(op) => out.ops.push(*op),
            Read::NotMail => out.not_mail += 1,
            Read::Unreadable => out.unreadable += 1,
        }
    }
    out
}

/// Reads and analyses batches on a second thread (in parallel, with rayon) while this thread
/// applies the previous batch to the store: the single writer and the analysis overlap, so
/// bulk training keeps both cores busy. At most three batches are alive at once (one being
/// analysed, one queued, one being written), so memory does not grow with the input; on a
/// Redis store up to ten small batches queue (1,000 messages), and those waiting are written
/// together.
fn learn_all(
    engine: &Engine,
    store: &mut Store,
    user: Option<&str>,
    paths: &[PathBuf],
    action: &Action,
    summary: &mut Summary,
    progress: &Progress,
) -> Result<()> {
    // On Redis the batches analysed while the server works on one are applied together, so
    // that the store pipelines their script calls (`redis_apply.rs` in the store); up to BATCH
    // messages at once.
    let (size, merge) = if store.is_remote() {
        (REMOTE_BATCH, BATCH)
    } else {
        (BATCH, 0)
    };
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::sync_channel::<Analysed>((merge / size).max(1));
        let reader = s.spawn(move || {
            for_each_batch(paths, size, |items| {
                tx.send(analyse(engine, items, action, progress))
                    .map_err(|_| anyhow!("the database writer stopped"))
            })
        });
        let mut written = Ok(());
        for mut batch in rx.iter() {
            while batch.ops.len() < merge {
                let Ok(more) = rx.try_recv() else { break };
                batch.ops.extend(more.ops);
                batch.unreadable += more.unreadable;
                batch.not_mail += more.not_mail;
            }
            summary.unreadable += batch.unreadable;
            summary.not_mail += batch.not_mail;
            // The learned Bayes weight (E26): each message learns the band Bayes gives it
            // against the model before this batch.
            if let Err(e) = record_bayes(engine, store, user, &mut batch.ops) {
                written = Err(e);
                break;
            }
            match store.apply(user, &batch.ops) {
                Ok(outcomes) => {
                    for outcome in outcomes {
                        *summary.outcomes.entry(outcome).or_default() += 1;
                    }
                }
                Err(e) => {
                    written = Err(e.into());
                    break;
                }
            }
        }
        // Stops the reader at its next batch if the writer failed.
        drop(rx);
        let read = reader
            .join()
            .unwrap_or_else(|_| Err(anyhow!("internal error: the message reader panicked")));
        // The writer's error first: the reader's is then only "the writer stopped".
        written.and(read)
    })
}

fn record_bayes(
    engine: &Engine,
    store: &Store,
    user: Option<&str>,
    ops: &mut [LearnOp],
) -> Result<()> {
    if engine.combination.learns_bayes() {
        engine.record_bayes_batch(ops, &store.model(user)?)?;
    }
    Ok(())
}

/// `train` and `correct`: learn as the given class; a message learned as the other class is
/// flipped, one never learned is simply learned. `correct` is the same operation under the name
/// a Junk-folder move uses, normally with `--user`.
pub fn train(global: &Global, args: &TrainArgs) -> Result<i32> {
    run(global, &args.paths, &Action::Learn(args.class))
}

/// `forget`: unlearn messages (exactly what learning them added).
pub fn forget(global: &Global, paths: &[PathBuf]) -> Result<i32> {
    run(global, paths, &Action::Forget)
}

fn run(global: &Global, paths: &[PathBuf], action: &Action) -> Result<i32> {
    let config = common::load_config(global)?;
    let engine = common::engine_from(&config)?;
    // The learned combination runs the rules on every learned message: for many messages
    // the long-lived prefilter pays for itself (see `RuleSet::prepare_now`).
    if engine.combination.enabled && (paths.len() > 1 || paths.iter().any(|p| p.is_dir())) {
        engine.rules.prepare_now();
    }
    let user = global.user()?;
    let mut store = common::open_store(global, &config, OpenMode::ReadWrite)?;
    let mut summary = Summary::default();
    let progress = Progress::new(global.quiet, paths);
    let result = learn_all(
        &engine,
        &mut store,
        user,
        paths,
        action,
        &mut summary,
        &progress,
    );
    progress.finish();
    if let Err(e) = result {
        // Each batch is written whole or not at all, and the ledger makes a second run skip
        // what the first wrote: say how far it got, and that running it again is the remedy.
        eprintln!("{}", summary.stopped(action));
        return Err(e);
    }
    if !global.quiet {
        eprintln!("{}", summary.line(action));
    }
    Ok(summary.code())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_run_says_how_far_it_got_and_that_running_it_again_finishes_it() {
        let mut s = Summary::default();
        s.outcomes.insert(Outcome::Learned, 400);
        s.not_mail = 2;
        assert_eq!(
            s.stopped(&Action::Learn(Class::Ham)),
            "mailsift: stopped by the error below after learned 400, already known 0, \
             flipped 0, not mail 2, unreadable 0; once it is dealt with, run the same command \
             again: it does the rest and skips what is already done"
        );
    }

    #[test]
    fn summary_shows_every_category_of_the_command_zeros_included() {
        let mut s = Summary::default();
        assert_eq!(
            s.line(&Action::Learn(Class::Spam)),
            "mailsift: learned 0, already known 0, flipped 0, not mail 0, unreadable 0"
        );
        s.outcomes.insert(Outcome::Forgotten, 2);
        s.not_mail = 1;
        assert_eq!(
            s.line(&Action::Forget),
            "mailsift: forgotten 2, not learned before 0, not mail 1, unreadable 0"
        );
        assert_eq!(s.code(), 0);
        s.unreadable = 1;
        assert_eq!(s.code(), 2);
    }
}
