//! The TREC spam-track online protocol, in one process, and its metrics.
//!
//! For each message of an index (`spam|ham PATH` per line, in order): classify it against the
//! model trained so far, record `PATH SCORE VERDICT`, then train on its gold label — every
//! message ([`TrainMode::All`]), only misclassified ones ([`TrainMode::Error`]), or those
//! misclassified or within a margin of the threshold ([`TrainMode::Thick`]); the error-driven
//! modes also train the first message of each class, since Bayes has no say until both classes
//! are trained. The model starts empty.
//!
//! Parsing and tokenizing do not depend on the model, so they run ahead in parallel (rayon)
//! in bounded chunks; only the Bayes lookup, the verdict and the training step are sequential.
//! The results are exactly those of classifying and training one message at a time.

use std::io::{self, BufRead};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;

use crate::engine::{Analysis, Engine};
use crate::error::{Error, Result};
use crate::learn::Combination;
use crate::model::{MemoryModel, TokenCounts};
use crate::rules::RuleHit;
use crate::store::{Action, Class, Store};

/// Which messages are trained on after being classified.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TrainMode {
    /// Every message (immediate full feedback).
    All,
    /// Only misclassified messages.
    Error,
    /// Misclassified messages and those scoring within `margin` points of the threshold.
    Thick {
        /// Points either side of the threshold.
        margin: f64,
    },
}

/// One index line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// The gold label.
    pub gold: Class,
    /// The path as written in the index.
    pub name: String,
    /// The path resolved against the index file's directory.
    pub path: PathBuf,
}

/// Reads a TREC index: `spam|ham PATH` per line; relative paths are relative to the index.
pub fn read_index(index: &Path) -> Result<Vec<IndexEntry>> {
    let file = std::fs::File::open(index).map_err(|source| Error::Io {
        context: format!("cannot read index {}", index.display()),
        source,
    })?;
    let base = index.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for (n, line) in io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| Error::Io {
            context: format!("cannot read index {}", index.display()),
            source,
        })?;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (label, name) = line.split_once(char::is_whitespace).ok_or_else(|| {
            Error::Config(format!(
                "{}:{}: expected 'spam|ham PATH', got {line:?}",
                index.display(),
                n + 1
            ))
        })?;
        let gold: Class = label
            .to_ascii_lowercase()
            .parse()
            .map_err(|e| Error::Config(format!("{}:{}: {e}", index.display(), n + 1)))?;
        let name = name.trim().to_owned();
        let path = base.join(&name);
        out.push(IndexEntry { gold, name, path });
    }
    Ok(out)
}

/// One classified message.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The gold label.
    pub gold: Class,
    /// The score (higher is spammier).
    pub score: f64,
    /// The verdict at the default threshold.
    pub spam: bool,
}

/// What a run produced.
#[derive(Debug)]
pub struct Run {
    /// One record per index entry, in order.
    pub records: Vec<Record>,
    /// The final model.
    pub model: MemoryModel,
    /// Messages trained on.
    pub trained: usize,
    /// Wall time of the whole run, reading files included.
    pub seconds: f64,
}

/// Runs the online protocol. `on_result` sees each message's index entry and record as soon as
/// it is classified (for writing the results file).
pub fn run(
    engine: &Engine,
    index: &[IndexEntry],
    mode: TrainMode,
    mut on_result: impl FnMut(&IndexEntry, &Record) -> io::Result<()>,
) -> Result<Run> {
    let start = Instant::now();
    let mut model = MemoryModel::new();
    let mut records = Vec::with_capacity(index.len());
    let mut trained = 0;
    let threshold = engine.scoring.required_score;
    let uses_bayes = engine.rules.uses_bayes();
    // Thousands of messages: the long-lived prefilter pays for itself.
    engine.rules.prepare_now();
    // The learned combination (experiments, `--set learn_rate=...`): it learns from every
    // message once its class is known, whatever the training mode of the token model.
    let learning = engine.learn.enabled();
    let mut combination = Combination::new();
    // Chunks bound memory; 512 messages keep both cores busy between sequential phases.
    for chunk in index.chunks(512) {
        let analysed: Vec<(Analysis, Vec<RuleHit>)> = chunk
            .par_iter()
            .map(|e| {
                let bytes = std::fs::read(&e.path).unwrap_or_default();
                let a = engine.analyze(&bytes);
                let hits = engine.rule_hits(&a, None);
                (a, hits)
            })
            .collect();
        for (entry, (analysis, hits)) in chunk.iter().zip(analysed) {
            // With the token learner on, its margin is read with the counts, as classify
            // reads it (E25); its step is taken by `model.apply`, as a store takes it.
            let (bayes, margin) = engine.bayes_lr(&analysis, &model)?;
            // The rule pseudo-tokens learned with the message: its hits without Bayes, as
            // `train` learns them (the learned combination, E23).
            let mut op = engine.op_with_hits(&analysis, &hits, Action::Learn(entry.gold));
            // With them, the band Bayes gives it before it is learned (E26).
            let band = crate::engine::band_of(&bayes);
            engine.combination.record_bayes(&mut op, band);
            let hits = if uses_bayes {
                engine.rule_hits(&analysis, Some(&bayes))
            } else {
                hits
            };
            let (mut verdict, features) = if learning {
                let (v, f) = engine.combine_learned(bayes, hits, &combination);
                (v, Some(f))
            } else {
                (engine.combine_with(bayes, hits, &model)?, None)
            };
            engine.add_learner(&mut verdict, margin);
            let record = Record {
                gold: entry.gold,
                score: verdict.score,
                spam: verdict.is_spam,
            };
            on_result(entry, &record).map_err(|source| Error::Io {
                context: "cannot write results".into(),
                source,
            })?;
            let wrong = record.spam != (entry.gold == Class::Spam);
            // Bayes has no confidence until both classes are trained, and the verdict leans
            // ham, so error-driven modes would otherwise never learn a ham: a class the model
            // has not seen yet is always trained.
            let totals = model.totals();
            let unseen = match entry.gold {
                Class::Spam => totals.spam == 0,
                Class::Ham => totals.ham == 0,
            };
            let train = match mode {
                TrainMode::All => true,
                TrainMode::Error => wrong || unseen,
                TrainMode::Thick { margin } => {
                    wrong || unseen || (record.score - threshold).abs() < margin
                }
            };
            if train {
                model.apply(&op);
                trained += 1;
            }
            if let Some(f) = &features {
                combination.update(
                    &engine.learn,
                    f,
                    record.score,
                    threshold,
                    entry.gold == Class::Spam,
                );
            }
            records.push(record);
        }
    }
    Ok(Run {
        records,
        model,
        trained,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Writes a model to a fresh store as the site-wide model (eval's `--state`).
pub fn persist(model: &MemoryModel, store: &mut Store) -> Result<()> {
    let mut tokens: Vec<(u64, crate::bayes::Counts)> = model.tokens().collect();
    tokens.sort_unstable_by_key(|t| t.0);
    let mut ledger: Vec<(crate::ledger::Digest, crate::store::LedgerRow)> = model
        .ledger()
        .map(|(d, e)| {
            let row = crate::store::LedgerRow {
                class: e.class,
                ntokens: e.ntokens,
                tokensum: e.tokensum,
                learned_at: 0,
                rules: e.rules.clone(),
            };
            (*d, row)
        })
        .collect();
    ledger.sort_unstable_by_key(|e| e.0);
    let learner = model.learner();
    let mut lr = crate::store::LrDump {
        slots: learner.slots.iter().map(|(h, s)| (*h, *s)).collect(),
        bias: learner.bias,
        grads: learner
            .grads
            .iter()
            .map(|(d, g)| (*d, g.to_bits()))
            .collect(),
    };
    lr.slots.sort_unstable_by_key(|s| s.0);
    lr.grads.sort_unstable_by_key(|g| g.0);
    store.load(&crate::store::ModelDump {
        user: None,
        totals: crate::model::TokenCounts::totals(model),
        tokens,
        ledger,
        pruned: Default::default(),
        lr,
    })
}

/// The TREC figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metrics {
    /// Ham messages.
    pub ham: usize,
    /// Spam messages.
    pub spam: usize,
    /// 100 × (1 − area under the ROC curve); a tied spam/ham pair counts ½.
    pub one_minus_auc_pct: f64,
    /// Logistic average misclassification, in percent.
    pub lam_pct: f64,
    /// Ham classified as spam at the default threshold, percent.
    pub ham_miss_pct: f64,
    /// Spam classified as ham at the default threshold, percent.
    pub spam_miss_pct: f64,
    /// Spam misclassified at the threshold that lets through at most 0.1% of ham as spam.
    pub spam_miss_at_01_ham_pct: f64,
}

/// Computes the TREC figures from records.
pub fn metrics(records: &[Record]) -> Metrics {
    let ham = records.iter().filter(|r| r.gold == Class::Ham).count();
    let spam = records.len() - ham;
    let ham_err = records
        .iter()
        .filter(|r| r.gold == Class::Ham && r.spam)
        .count();
    let spam_err = records
        .iter()
        .filter(|r| r.gold == Class::Spam && !r.spam)
        .count();
    // AUC by ranks, average rank for ties (Mann-Whitney U).
    let mut sorted: Vec<&Record> = records.iter().collect();
    sorted.sort_by(|a, b| a.score.total_cmp(&b.score));
    let mut rank_sum_spam = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j + 1 < sorted.len() && sorted[j + 1].score == sorted[i].score {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum_spam += avg_rank
            * sorted[i..=j]
                .iter()
                .filter(|r| r.gold == Class::Spam)
                .count() as f64;
        i = j + 1;
    }
    let auc = if ham == 0 || spam == 0 {
        1.0
    } else {
        (rank_sum_spam - (spam * (spam + 1)) as f64 / 2.0) / (spam as f64 * ham as f64)
    };
    let logit = |p: f64| (p / (1.0 - p)).ln();
    let hm = (ham_err as f64 + 0.5) / (ham as f64 + 0.5);
    let sm = (spam_err as f64 + 0.5) / (spam as f64 + 0.5);
    let lam = 1.0 / (1.0 + (-(logit(hm) + logit(sm)) / 2.0).exp());
    // Threshold letting through at most floor(0.1% of ham) false positives: spam must score
    // strictly above the (k+1)-th highest ham score.
    let mut ham_scores: Vec<f64> = records
        .iter()
        .filter(|r| r.gold == Class::Ham)
        .map(|r| r.score)
        .collect();
    ham_scores.sort_by(|a, b| b.total_cmp(a));
    let k = ham / 1000;
    let spam_miss_at = match ham_scores.get(k) {
        Some(&t) => records
            .iter()
            .filter(|r| r.gold == Class::Spam && r.score <= t)
            .count(),
        None => 0,
    };
    let pct = |n: usize, d: usize| {
        if d == 0 {
            0.0
        } else {
            100.0 * n as f64 / d as f64
        }
    };
    Metrics {
        ham,
        spam,
        one_minus_auc_pct: 100.0 * (1.0 - auc),
        lam_pct: 100.0 * lam,
        ham_miss_pct: pct(ham_err, ham),
        spam_miss_pct: pct(spam_err, spam),
        spam_miss_at_01_ham_pct: pct(spam_miss_at, spam),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(gold: Class, score: f64, spam: bool) -> Record {
        Record { gold, score, spam }
    }

    #[test]
    fn error_driven_modes_train_the_first_of_each_class() {
        let dir = std::env::temp_dir().join(format!("mailsift-eval-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut index = Vec::new();
        for i in 0..6 {
            let (gold, body) = if i % 2 == 0 {
                (Class::Ham, "lunch meeting agenda notes")
            } else {
                (Class::Spam, "cheap pills viagra casino")
            };
            let path = dir.join(format!("{i}.eml"));
            std::fs::write(&path, format!("Subject: m{i}\n\n{body} {i}\n")).expect("write");
            index.push(IndexEntry {
                gold,
                name: format!("{i}.eml"),
                path,
            });
        }
        let engine = Engine::default();
        let run_error = run(&engine, &index, TrainMode::Error, |_, _| Ok(())).expect("run");
        let totals = run_error.model.totals();
        // Without the first-of-class rule no ham would ever be trained (the untrained model
        // says ham, which is right for ham).
        assert!(totals.ham >= 1 && totals.spam >= 1, "{totals:?}");
        let run_all = run(&engine, &index, TrainMode::All, |_, _| Ok(())).expect("run");
        assert_eq!(run_all.trained, 6);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn perfect_and_tied_rankings() {
        let perfect = [r(Class::Ham, 0.0, false), r(Class::Spam, 1.0, true)];
        let m = metrics(&perfect);
        assert_eq!(m.one_minus_auc_pct, 0.0);
        assert_eq!(m.ham_miss_pct, 0.0);
        let tied = [r(Class::Ham, 1.0, true), r(Class::Spam, 1.0, true)];
        let m = metrics(&tied);
        assert!((m.one_minus_auc_pct - 50.0).abs() < 1e-9);
        assert_eq!(m.ham_miss_pct, 100.0);
    }

    #[test]
    fn lam_of_no_errors_uses_half_counts() {
        let recs: Vec<Record> = (0..100)
            .map(|i| {
                if i % 2 == 0 {
                    r(Class::Ham, 0.0, false)
                } else {
                    r(Class::Spam, 1.0, true)
                }
            })
            .collect();
        let m = metrics(&recs);
        // hm = sm = 0.5/50.5
        let p: f64 = 0.5 / 50.5;
        assert!((m.lam_pct - 100.0 * p).abs() < 1e-9);
    }

    #[test]
    fn spam_miss_at_low_ham_miss() {
        // 2000 ham at score 0 except two at 10; 10 spam at 5. k = 2 ham allowed above.
        let mut recs: Vec<Record> = (0..1998).map(|_| r(Class::Ham, 0.0, false)).collect();
        recs.push(r(Class::Ham, 10.0, true));
        recs.push(r(Class::Ham, 10.0, true));
        recs.extend((0..10).map(|_| r(Class::Spam, 5.0, true)));
        assert_eq!(metrics(&recs).spam_miss_at_01_ham_pct, 0.0);
        recs.push(r(Class::Ham, 10.0, true));
        recs.push(r(Class::Ham, 10.0, true));
        // Now 4 ham at 10 with k = 2: threshold 10, all spam below it.
        assert_eq!(metrics(&recs).spam_miss_at_01_ham_pct, 100.0);
    }
}
