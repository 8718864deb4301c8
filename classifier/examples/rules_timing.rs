//! Timing harness for the rules engine (not a test): start-up and per-message cost.
//!
//! `cargo run --release -p mailsift-classifier --example rules_timing -- [RULE_FILES...] [--msgs DIR_OR_INDEX] [--repeat N] [--cache FILE]`
//!
//! Prints: load time, first-evaluation time (prefilter build + lazy regex compiles), and the mean
//! per-message cost over the given messages (`--repeat N` times, for a profiler). `--cache FILE`: read the prefilter cache from FILE, or write it there (an `index` file of `spam|ham relpath` lines, or a
//! directory of message files).

use std::path::{Path, PathBuf};
use std::time::Instant;

use mailsift::rules::{EvalContext, RuleSet, Severity};
use mailsift::{Limits, MessageView};

fn messages(arg: &str) -> Vec<Vec<u8>> {
    let p = Path::new(arg);
    let mut files: Vec<PathBuf> = Vec::new();
    if p.is_dir() {
        for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
            files.push(e.path());
        }
        files.sort();
    } else if let Ok(text) = std::fs::read_to_string(p) {
        let base = p.parent().unwrap_or(Path::new("."));
        for line in text.lines() {
            if let Some((_, rel)) = line.split_once(' ') {
                files.push(base.join(rel.trim()));
            }
        }
    }
    files.iter().filter_map(|f| std::fs::read(f).ok()).collect()
}

/// CPU time of this thread so far in ms (Linux `schedstat`; 0 elsewhere): on a loaded machine
/// wall time measures the queue, CPU time the work.
fn cpu_ms() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split(' ').next()?.parse::<f64>().ok())
        .map_or(0.0, |ns| ns / 1e6)
}

/// CPU time of the whole process so far in ms (every thread's `schedstat`; 0 elsewhere): a
/// long-lived rule set evaluates on two threads.
fn process_cpu_ms() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split(' ').next()?.parse::<f64>().ok())
        .sum::<f64>()
        / 1e6
}

fn main() {
    let mut files = Vec::new();
    let mut msgs = Vec::new();
    let mut args = std::env::args().skip(1);
    let mut no_default = false;
    let mut repeat = 1usize;
    let mut cache: Option<PathBuf> = None;
    while let Some(a) = args.next() {
        if a == "--msgs" {
            msgs = messages(&args.next().unwrap_or_default());
        } else if a == "--cache" {
            cache = args.next().map(PathBuf::from);
        } else if a == "--repeat" {
            repeat = args.next().and_then(|n| n.parse().ok()).unwrap_or(1).max(1);
        } else if a == "--no-default" {
            no_default = true;
        } else {
            files.push(PathBuf::from(a));
        }
    }
    let (t, c) = (Instant::now(), cpu_ms());
    let (rules, issues) = if no_default {
        RuleSet::from_files(&files).expect("rule files readable")
    } else if files.is_empty() {
        (RuleSet::default_rules(), Vec::new())
    } else {
        RuleSet::default_rules()
            .with_files(&files)
            .expect("rule files readable")
    };
    let mut rules = rules;
    if let Some(text) = cache.as_ref().and_then(|c| std::fs::read_to_string(c).ok()) {
        println!("prefilter cache used: {}", rules.use_prefilter_cache(&text));
    }
    let load = t.elapsed();
    let load_cpu = cpu_ms() - c;
    let errors = issues
        .iter()
        .filter(|i| i.severity == Severity::Error)
        .count();
    println!(
        "rules: {} loaded, {} load errors, load {:.3} ms (cpu {load_cpu:.3} ms)",
        rules.len(),
        errors,
        load.as_secs_f64() * 1e3
    );
    let ctx = EvalContext::default();
    let limits = Limits::default();
    let first = msgs
        .first()
        .cloned()
        .unwrap_or_else(|| b"Subject: hi\n\nhello world\n".to_vec());
    let (t, c) = (Instant::now(), cpu_ms());
    rules.prepare_now();
    println!(
        "prefilter build {:.3} ms (cold; cpu {:.3} ms; {:?} literal sets computed)",
        t.elapsed().as_secs_f64() * 1e3,
        cpu_ms() - c,
        rules.prefilter_computed()
    );
    if let (Some(path), Some(text)) = (&cache, rules.prefilter_cache()) {
        std::fs::write(path, text).expect("write the prefilter cache");
    }
    if files.is_empty() {
        // Steady state, without first-touch effects: fresh default sets, load + prefilter.
        let t = Instant::now();
        for _ in 0..50 {
            let r = RuleSet::default_rules();
            r.prepare_now();
        }
        println!(
            "default set load + prefilter build, warm: {:.3} ms",
            t.elapsed().as_secs_f64() * 1e3 / 50.0
        );
    }
    let t = Instant::now();
    let v = MessageView::parse(&first, &limits);
    let parse1 = t.elapsed();
    let (t, c) = (Instant::now(), cpu_ms());
    let hits = rules.evaluate(&v, &ctx);
    let first_eval = t.elapsed();
    println!(
        "first message: parse {:.3} ms, evaluate {:.3} ms (cpu {:.3} ms; compiles), {} hits; {:?}",
        parse1.as_secs_f64() * 1e3,
        first_eval.as_secs_f64() * 1e3,
        cpu_ms() - c,
        hits.len(),
        rules.engine_stats()
    );
    if msgs.len() > 1 {
        let views: Vec<MessageView> = msgs
            .iter()
            .map(|m| MessageView::parse(m, &limits))
            .collect();
        // Warm: compile what these messages need.
        for v in &views {
            let _ = rules.evaluate(v, &ctx);
        }
        let (t, c, pc) = (Instant::now(), cpu_ms(), process_cpu_ms());
        let mut total = 0usize;
        for _ in 0..repeat {
            for v in &views {
                total += rules.evaluate(v, &ctx).len();
            }
        }
        let el = t.elapsed();
        let n = (views.len() * repeat) as f64;
        println!(
            "{} messages x {repeat}: {:.1} us/message warm (cpu {:.1} us, process {:.1} us; {} hits); {:?}",
            views.len(),
            el.as_secs_f64() * 1e6 / n,
            (cpu_ms() - c) * 1e3 / n,
            (process_cpu_ms() - pc) * 1e3 / n,
            total,
            rules.engine_stats()
        );
    }
}
