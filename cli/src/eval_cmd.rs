//! `mailsift eval`: the TREC online protocol over an index, in one process.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use mailsift::eval::{self, TrainMode};
use mailsift::{OpenMode, Store};

use crate::common::{self, Global};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Train on every message after classifying it.
    All,
    /// Train only on misclassified messages.
    Error,
    /// Train on mistakes and on messages within --margin points of the threshold.
    Thick,
}

/// Options for `mailsift eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Index file: one `spam|ham PATH` per line; relative paths are relative to it.
    #[arg(long, value_name = "FILE")]
    pub index: PathBuf,
    /// Where to write `PATH SCORE VERDICT` per message.
    #[arg(long, value_name = "FILE")]
    pub results: PathBuf,
    /// Directory for the final model (mailsift.db, replaced if present).
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Which messages to train on.
    #[arg(long, value_enum, default_value_t = Mode::All)]
    pub mode: Mode,
    /// Points either side of the threshold that --mode thick trains on.
    #[arg(long, default_value_t = 5.0)]
    pub margin: f64,
    /// Experiment-only override of one engine setting, KEY=VALUE (repeatable); see
    /// `Engine::set` and corpora/EXPERIMENTS.md.
    #[arg(long = "set", value_name = "KEY=VALUE", hide = true)]
    pub set: Vec<String>,
}

pub fn run(global: &Global, args: &EvalArgs) -> Result<i32> {
    let config = common::load_config(global)?;
    let mut engine = common::engine_from(&config)?;
    for kv in &args.set {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("--set {kv}: expected KEY=VALUE"))?;
        engine.set(k.trim(), v.trim())?;
    }
    let index = eval::read_index(&args.index)?;
    let file = std::fs::File::create(&args.results)
        .with_context(|| format!("cannot create {}", args.results.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let mode = match args.mode {
        Mode::All => TrainMode::All,
        Mode::Error => TrainMode::Error,
        Mode::Thick => TrainMode::Thick {
            margin: args.margin,
        },
    };
    let run = eval::run(&engine, &index, mode, |entry, rec| {
        writeln!(
            out,
            "{} {:.6} {}",
            entry.name,
            rec.score,
            if rec.spam { "spam" } else { "ham" }
        )
    })?;
    out.flush()?;
    let missing = index.iter().filter(|e| !e.path.is_file()).count();
    if missing > 0 {
        eprintln!(
            "mailsift: warning: {missing} indexed files could not be read and were scored as empty messages"
        );
    }
    if let Some(dir) = &args.state {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join("mailsift.db");
        for suffix in ["", "-wal", "-shm"] {
            let p = PathBuf::from(format!("{}{suffix}", path.display()));
            if p.exists() {
                std::fs::remove_file(&p)
                    .with_context(|| format!("cannot replace {}", p.display()))?;
            }
        }
        let mut store = Store::open(&path, OpenMode::ReadWrite, common::store_options(&config))?;
        eval::persist(&run.model, &mut store)?;
    }
    let m = eval::metrics(&run.records);
    crate::outln!(
        "messages      {} ({} ham, {} spam), trained on {}",
        m.ham + m.spam,
        m.ham,
        m.spam,
        run.trained
    );
    crate::outln!("(1-AUC)%      {:.4}", m.one_minus_auc_pct);
    crate::outln!("lam%          {:.3}", m.lam_pct);
    crate::outln!("ham-miss%     {:.3}", m.ham_miss_pct);
    crate::outln!("spam-miss%    {:.3}", m.spam_miss_pct);
    crate::outln!(
        "spam-miss% at 0.1% ham-miss  {:.3}",
        m.spam_miss_at_01_ham_pct
    );
    crate::outln!(
        "speed         {:.0} messages/s ({:.2} s)",
        (m.ham + m.spam) as f64 / run.seconds.max(1e-9),
        run.seconds
    );
    Ok(0)
}
