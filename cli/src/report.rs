//! `score`, `explain` and `stats`.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use mailsift::sources;
use mailsift::{MemoryModel, OpenMode, TokenCounts};

use crate::common::{self, Global};

/// Opens the store for reading; a store that does not exist yet reads as empty.
fn with_model<T>(
    global: &Global,
    config: &mailsift::Config,
    f: impl FnOnce(&dyn TokenCounts) -> Result<T>,
) -> Result<T> {
    match common::open_store(global, config, OpenMode::ReadOnly) {
        Ok(store) => f(&store.model(global.user()?)?),
        Err(e)
            if e.downcast_ref::<mailsift::Error>()
                .is_some_and(mailsift::Error::is_untrained) =>
        {
            f(&MemoryModel::new())
        }
        Err(e) => Err(e),
    }
}

pub fn score(global: &Global, paths: &[PathBuf], recipients: &[String]) -> Result<i32> {
    let config = common::load_config(global)?;
    let engine = common::engine_from(&config)?;
    let mut failed = false;
    let mut not_mail = 0usize;
    with_model(global, &config, |model| {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let mut err = None;
        let mut each = |label: &str, bytes: &[u8]| -> Result<()> {
            let v = engine.verdict(&engine.analyze_for(bytes, recipients), model)?;
            writeln!(
                out,
                "{label}\t{}\t{:.3}",
                if v.is_spam { "spam" } else { "ham" },
                v.score
            )?;
            Ok(())
        };
        // In argument order: '-' (stdin) where it was given, each path's messages in turn.
        for p in paths {
            if err.is_some() {
                break;
            }
            if p.as_os_str() == "-" {
                each("-", &common::read_message(p)?)?;
                continue;
            }
            sources::for_each_message(std::slice::from_ref(p), |item| {
                if err.is_some() {
                    return;
                }
                match item.bytes {
                    Ok(b) if !sources::is_message(&b) => not_mail += 1,
                    Ok(b) => {
                        if let Err(e) = each(&item.label, &b) {
                            err = Some(e);
                        }
                    }
                    Err(e) => {
                        eprintln!("mailsift: skipping {}: {e}", item.label);
                        failed = true;
                    }
                }
            });
        }
        if let Some(e) = err {
            return Err(e);
        }
        out.flush()?;
        Ok(())
    })?;
    if not_mail > 0 && !global.quiet {
        eprintln!("mailsift: {not_mail} not mail, skipped (files that are not mail messages)");
    }
    Ok(if failed { 2 } else { 0 })
}

pub fn explain(global: &Global, path: &Path, ntokens: usize, recipients: &[String]) -> Result<i32> {
    let config = common::load_config(global)?;
    let engine = common::engine_from(&config)?;
    let raw = common::read_message(path)?;
    let analysis = engine.analyze_for(&raw, recipients);
    let verdict = with_model(global, &config, |model| {
        Ok(engine.verdict(&analysis, model)?)
    })?;
    let texts: HashMap<u64, String> = engine
        .tokenizer
        .tokens_with_text(&analysis.view, engine.limits.max_tokens)
        .into_iter()
        .collect();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    writeln!(
        out,
        "{}: {} (score {:.2}, required {:.1})",
        path.display(),
        if verdict.is_spam { "SPAM" } else { "ham" },
        verdict.score,
        verdict.required
    )?;
    writeln!(out)?;
    // Each hit's configured score, then the weight the learned combination gives it on this
    // store (the configured score while the store has no evidence on the rule).
    writeln!(
        out,
        "Rules ({} hit; configured score, learned weight):",
        verdict.hits.len()
    )?;
    for (h, w) in verdict.hits.iter().zip(&verdict.weights) {
        writeln!(
            out,
            "  {:>7.2} {:>7.2}  {:<24} {}",
            h.score, w, h.name, h.description
        )?;
    }
    let scale = engine.rule_scale(&verdict.bayes);
    if scale < 1.0 && !verdict.hits.is_empty() {
        writeln!(
            out,
            "  (the rules count at {scale} of their points until Bayes has learned both classes)"
        )?;
    }
    if engine.scoring.rule_overlap != mailsift::overlap::Family::Off && verdict.hits.len() > 1 {
        writeln!(
            out,
            "  (rules that fire together count less: the weights above include rule_overlap's discount)"
        )?;
    }
    let b = &verdict.bayes;
    writeln!(out)?;
    writeln!(
        out,
        "Bayes: {:>+7.2} points  probability {:.4}{}  log-odds {:+.1}  confidence {:.2}  ({} of {} tokens used)",
        verdict.bayes_points,
        b.probability,
        verdict
            .bayes_band
            .map(|n| format!(" ({n})"))
            .unwrap_or_default(),
        b.log_odds,
        b.confidence,
        b.evidence.len(),
        b.tokens_seen
    )?;
    // The Bayes weight: configured, and what the learned combination makes of it on this store
    // for this message's band (points towards ham always count the configured weight).
    let configured = engine.scoring.bayes_weight;
    writeln!(
        out,
        "  weight: configured {configured:.2}, learned {:.2}{}",
        configured * verdict.bayes_factor,
        if verdict.bayes_points > 0.0 || verdict.bayes_factor < 1.0 {
            ""
        } else {
            " (towards ham: always the configured weight)"
        }
    )?;
    // Recipient reputation (`[bayes] pair_pull`, E44): the pair that moved the result.
    if let Some(p) = b.pair.filter(|p| p.share >= 0.005) {
        writeln!(
            out,
            "  recipient reputation: {} (spam {}, ham {}) gave {:.0}% of the result, towards {}",
            texts.get(&p.hash).map_or("?", String::as_str),
            p.counts.spam,
            p.counts.ham,
            100.0 * p.share,
            if p.indicator > 0.0 { "spam" } else { "ham" }
        )?;
    }
    // Copies of this body learned for other recipients (`[bayes] dup_leave_out`, E47).
    let left = b.copies_left_out;
    if left.spam + left.ham > 0 {
        writeln!(
            out,
            "  copies: this body was learned before for other recipients ({} as spam, {} as ham); \
             left out of the counts, since this recipient has a history of its own",
            left.spam, left.ham
        )?;
    }
    let show = |out: &mut dyn Write, title: &str, spammy: bool| -> Result<()> {
        let mut ev: Vec<_> = b
            .evidence
            .iter()
            .filter(|e| (e.prob > 0.5) == spammy)
            .collect();
        ev.sort_by(|x, y| {
            (y.prob - 0.5)
                .abs()
                .total_cmp(&(x.prob - 0.5).abs())
                .then(x.hash.cmp(&y.hash))
        });
        writeln!(out, "  {title}:")?;
        if ev.is_empty() {
            writeln!(out, "    (none)")?;
        }
        for e in ev.into_iter().take(ntokens) {
            let text = texts.get(&e.hash).map_or("?", String::as_str);
            writeln!(
                out,
                "    {:.4}  spam {:>5}  ham {:>5}  {text}",
                e.prob, e.counts.spam, e.counts.ham
            )?;
        }
        Ok(())
    };
    show(&mut out, "towards spam", true)?;
    show(&mut out, "towards ham", false)?;
    // The token learner (`[learner] weight`, E25): its points, when it is on.
    if engine.token_lr.enabled() {
        writeln!(out)?;
        writeln!(
            out,
            "Token learner: {:>+7.2} points (weight {})",
            verdict.lr_points, engine.token_lr.weight
        )?;
    }
    out.flush()?;
    Ok(0)
}

pub fn stats(global: &Global) -> Result<i32> {
    let config = common::load_checked_config(global)?;
    let store = common::open_store(global, &config, OpenMode::ReadOnly)?;
    // A user sees the site-wide model and their own; without --user, everything.
    let user = global.user()?;
    let mut stats = store.stats(None)?;
    if let Some(u) = user {
        stats.users.retain(|s| s.name.is_empty() || s.name == u);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "database          {}", store.path().display())?;
    writeln!(out, "size              {} bytes", stats.db_bytes)?;
    writeln!(out, "schema version    {}", stats.schema_version)?;
    if stats.tokenizer_version < mailsift::tokenize::TOKENIZER_VERSION {
        let missing = match stats.tokenizer_version {
            ..=4 => "the recipient-name pairs and the copy tokens",
            5 => "the copy tokens",
            _ => "copy tokens that tell a body by its words",
        };
        writeln!(
            out,
            "tokenizer version {} (an older stream, still trained as it was; version {} adds {missing}: train a new store to use them)",
            stats.tokenizer_version,
            mailsift::tokenize::TOKENIZER_VERSION
        )?;
    } else {
        writeln!(out, "tokenizer version {}", stats.tokenizer_version)?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "{:<24} {:>10} {:>10} {:>12}",
        "model", "spam", "ham", "tokens"
    )?;
    for s in &stats.users {
        let name = if s.name.is_empty() {
            "(site-wide)"
        } else {
            s.name.as_str()
        };
        writeln!(
            out,
            "{:<24} {:>10} {:>10} {:>12}",
            name, s.spam, s.ham, s.tokens
        )?;
    }
    Ok(0)
}
