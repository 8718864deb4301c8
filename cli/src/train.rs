//! `train`, `correct` and `forget`: batches of messages are read and analysed in parallel,
//! then applied in one write transaction per batch.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::mpsc;

use anyhow::{Result, anyhow, bail};
use clap::Args;
use mailsift::sources::{self, Item};
use mailsift::store::Class;
use mailsift::{Action, Engine, LearnOp, OpenMode, Outcome, Store};
use rayon::prelude::*;

use crate::common::{self, Global};

/// Messages per write transaction. Bounds memory (analyses are dropped after each batch) while
/// keeping transactions few; 1000 was the knee in BENCHMARKS.md's bulk-training runs.
const BATCH: usize = 1000;

/// Options for `train` and `correct`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// spam or ham.
    #[arg(value_parser = parse_class)]
    pub class: Class,
    /// Files, directories, Maildirs or mbox files; '-' reads one message from stdin.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

fn parse_class(s: &str) -> Result<Class, String> {
    s.parse()
}

#[derive(Default)]
struct Summary {
    outcomes: BTreeMap<Outcome, usize>,
    unreadable: usize,
    /// Files that are not mail messages (index files, lists, binaries), skipped.
    not_mail: usize,
}

impl Summary {
    fn print(&self) {
        let n = |o: Outcome| self.outcomes.get(&o).copied().unwrap_or(0);
        let mut parts = Vec::new();
        for (label, count) in [
            ("learned", n(Outcome::Learned)),
            ("already known", n(Outcome::AlreadyKnown)),
            ("flipped", n(Outcome::Flipped)),
            ("forgotten", n(Outcome::Forgotten)),
            ("not learned before", n(Outcome::NotLearned)),
            ("unreadable", self.unreadable),
            ("not mail", self.not_mail),
        ] {
            if count > 0 || label == "learned" || label == "unreadable" {
                parts.push(format!("{count} {label}"));
            }
        }
        eprintln!("mailsift: {}", parts.join(", "));
    }
}

struct Progress {
    enabled: bool,
    done: usize,
}

impl Progress {
    fn new(quiet: bool) -> Self {
        Progress {
            enabled: !quiet && std::io::stderr().is_terminal(),
            done: 0,
        }
    }
    fn tick(&mut self, n: usize) {
        self.done += n;
        if self.enabled {
            eprint!("\rmailsift: {} messages...", self.done);
        }
    }
    fn end(&self) {
        if self.enabled {
            eprint!("\r\x1b[K");
        }
    }
}

/// Reads messages from paths (or stdin for '-'), in batches.
fn for_each_batch(paths: &[PathBuf], mut f: impl FnMut(Vec<Item>) -> Result<()>) -> Result<()> {
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
    let mut batch = Vec::with_capacity(BATCH);
    let mut err = None;
    sources::for_each_message(&files, |item| {
        if err.is_some() {
            return;
        }
        batch.push(item);
        if batch.len() >= BATCH {
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

/// One analysed batch: the operations, how many items could not be read and how many were
/// not mail.
struct Analysed {
    ops: Vec<LearnOp>,
    unreadable: usize,
    not_mail: usize,
}

fn analyse(engine: &Engine, items: Vec<Item>, action: &Action) -> Analysed {
    let ops: Vec<Result<LearnOp, bool>> = items
        .into_par_iter()
        .map(|item| match item.bytes {
            Ok(bytes) if sources::is_message(&bytes) => Ok(engine
                .analyze(&sources::learning_form(bytes))
                .op(action.clone())),
            Ok(_) => Err(false),
            Err(e) => {
                eprintln!("mailsift: skipping {}: {e}", item.label);
                Err(true)
            }
        })
        .collect();
    let unreadable = ops.iter().filter(|o| matches!(o, Err(true))).count();
    let not_mail = ops.iter().filter(|o| matches!(o, Err(false))).count();
    Analysed {
        ops: ops.into_iter().flatten().collect(),
        unreadable,
        not_mail,
    }
}

/// Reads and analyses batches on a second thread (in parallel, with rayon) while this thread
/// applies the previous batch to the store: the single writer and the analysis overlap, so
/// bulk training keeps both cores busy. At most three batches are alive at once (one being
/// analysed, one queued, one being written), so memory does not grow with the input.
fn learn_all(
    engine: &Engine,
    store: &mut Store,
    user: Option<&str>,
    paths: &[PathBuf],
    action: &Action,
    summary: &mut Summary,
    mut progress: impl FnMut(usize),
) -> Result<()> {
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::sync_channel::<Analysed>(1);
        let reader = s.spawn(move || {
            for_each_batch(paths, |items| {
                tx.send(analyse(engine, items, action))
                    .map_err(|_| anyhow!("the database writer stopped"))
            })
        });
        let mut written = Ok(());
        for batch in rx.iter() {
            summary.unreadable += batch.unreadable;
            summary.not_mail += batch.not_mail;
            match store.apply(user, &batch.ops) {
                Ok(outcomes) => {
                    for outcome in outcomes {
                        *summary.outcomes.entry(outcome).or_default() += 1;
                    }
                    progress(batch.ops.len() + batch.unreadable + batch.not_mail);
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

/// `train` and `correct`: learn as the given class; a message learned as the other class is
/// flipped, one never learned is simply learned. `correct` is the same operation under the name
/// a Junk-folder move uses, normally with `--user`.
pub fn train(global: &Global, args: &TrainArgs) -> Result<i32> {
    let config = common::load_config(global)?;
    let engine = common::engine_from(&config)?;
    let user = global.user()?;
    let mut store = common::open_store(global, &config, OpenMode::ReadWrite)?;
    let mut summary = Summary::default();
    let mut progress = Progress::new(global.quiet);
    let action = Action::Learn(args.class);
    learn_all(
        &engine,
        &mut store,
        user,
        &args.paths,
        &action,
        &mut summary,
        |n| progress.tick(n),
    )?;
    progress.end();
    if !global.quiet {
        summary.print();
    }
    Ok(if summary.unreadable > 0 { 2 } else { 0 })
}

pub fn forget(global: &Global, paths: &[PathBuf]) -> Result<i32> {
    let config = common::load_config(global)?;
    let engine = common::engine_from(&config)?;
    let user = global.user()?;
    let mut store = common::open_store(global, &config, OpenMode::ReadWrite)?;
    let mut summary = Summary::default();
    learn_all(
        &engine,
        &mut store,
        user,
        paths,
        &Action::Forget,
        &mut summary,
        |_| {},
    )?;
    if !global.quiet {
        summary.print();
    }
    Ok(if summary.unreadable > 0 { 2 } else { 0 })
}
