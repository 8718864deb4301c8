//! Criterion benches of every pipeline stage over a fixed sample of the SpamAssassin corpus:
//! the first 200 messages of `corpora/spamassassin/index` (the official seed-42 order).
//!
//! Stages: `parse` (bytes → MessageView), `tokenize` (view → token hashes), `rules` (rule hits
//! of an analysed message), `bayes_lookup` (token counts from a trained on-disk store),
//! `classify` (bytes → annotated message against the trained store, end to end) and `train`
//! (analyse and learn the sample into a fresh on-disk store). Each reports messages/s and
//! bytes/s for the whole sample per iteration, and checks its result inside the loop against
//! the figure computed once before measuring.
//!
//! The trained store holds the rest of the corpus (messages 201-6046), so the sample is
//! classified by a model that has not seen it, as at delivery time.
//!
//! Needs the corpus: run `corpora/fetch-spamassassin`, or point `MAILSIFT_CORPUS` at a
//! directory holding its `index`. Run: `cargo bench -p mailsift-classifier --bench pipeline`.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use mailsift::eval::read_index;
use mailsift::{
    Action, Analysis, Engine, LearnOp, MessageView, OpenMode, Outcome, Store, StoreOptions,
    TokenCounts,
};

/// Messages in the fixed sample.
const SAMPLE: usize = 200;

struct Corpus {
    /// The sample, in index order.
    sample: Vec<Vec<u8>>,
    /// Learn operations for everything after the sample.
    rest: Vec<Vec<u8>>,
    /// Gold labels of the rest.
    rest_gold: Vec<mailsift::Class>,
}

fn corpus_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MAILSIFT_CORPUS") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpora/spamassassin")
}

fn load() -> Corpus {
    let dir = corpus_dir();
    let index = dir.join("index");
    if !index.is_file() {
        eprintln!(
            "benches/pipeline: no corpus index at {}: run corpora/fetch-spamassassin, or set \
             MAILSIFT_CORPUS to the directory that holds the SpamAssassin corpus 'index'",
            index.display()
        );
        std::process::exit(2);
    }
    let entries = read_index(&index).unwrap_or_else(|e| panic!("{}: {e}", index.display()));
    assert!(
        entries.len() > SAMPLE,
        "{}: {} messages, the benches need more than {SAMPLE}",
        index.display(),
        entries.len()
    );
    let read = |p: &Path| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    Corpus {
        sample: entries[..SAMPLE].iter().map(|e| read(&e.path)).collect(),
        rest: entries[SAMPLE..].iter().map(|e| read(&e.path)).collect(),
        rest_gold: entries[SAMPLE..].iter().map(|e| e.gold).collect(),
    }
}

/// A fresh, empty path for a store file (removed with its WAL files by [`remove_store`]).
fn temp_store_path(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "mailsift-bench-{}-{tag}-{n}.db",
        std::process::id()
    ))
}

fn remove_store(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

fn learn_ops(engine: &Engine, messages: &[Vec<u8>], gold: &[mailsift::Class]) -> Vec<LearnOp> {
    messages
        .iter()
        .zip(gold)
        .map(|(m, &c)| engine.analyze(m).op(Action::Learn(c)))
        .collect()
}

fn pipeline(c: &mut Criterion) {
    let corpus = load();
    let engine = Engine::new();
    let limits = engine.limits.clone();
    let bytes: u64 = corpus.sample.iter().map(|m| m.len() as u64).sum();
    let throughput = Throughput::ElementsAndBytes {
        elements: SAMPLE as u64,
        bytes,
    };

    // The trained store: everything after the sample, learned in batches of 1000 like `train`.
    let db = temp_store_path("trained");
    {
        let mut store = Store::open(&db, OpenMode::ReadWrite, StoreOptions::default())
            .expect("create the bench store");
        let ops = learn_ops(&engine, &corpus.rest, &corpus.rest_gold);
        for batch in ops.chunks(1000) {
            store.apply(None, batch).expect("train the bench store");
        }
    }
    let store =
        Store::open(&db, OpenMode::ReadOnly, StoreOptions::default()).expect("open bench store");
    let model = store.model(None).expect("site model");

    let views: Vec<MessageView> = corpus
        .sample
        .iter()
        .map(|m| MessageView::parse(m, &limits))
        .collect();
    let analyses: Vec<Analysis> = corpus.sample.iter().map(|m| engine.analyze(m)).collect();

    // Reference results, checked inside every measured iteration.
    let parts = |vs: &[MessageView]| -> usize { vs.iter().map(|v| v.part_count).sum() };
    let want_parts = parts(&views);
    let want_tokens: usize = analyses.iter().map(|a| a.tokens.len()).sum();
    let want_hits: usize = analyses
        .iter()
        .map(|a| engine.rule_hits(a, None).len())
        .sum();
    let known = |a: &Analysis, out: &mut Vec<mailsift::bayes::Counts>| -> usize {
        model.lookup(&a.tokens.hashes, out).expect("lookup");
        out.iter()
            .filter(|c| **c != mailsift::bayes::Counts::default())
            .count()
    };
    let mut scratch = Vec::new();
    let want_known: usize = analyses.iter().map(|a| known(a, &mut scratch)).sum();
    let classify = |m: &[u8]| -> (bool, usize) {
        let v = engine.classify(m, &model).expect("classify");
        let out = engine.annotate(m, &v, None);
        (v.is_spam, out.len())
    };
    let (want_spam, want_out) = corpus.sample.iter().fold((0, 0), |(s, n), m| {
        let (spam, len) = classify(m);
        (s + usize::from(spam), n + len)
    });
    assert!(want_tokens > 0 && want_known > 0 && want_out as u64 > bytes);
    eprintln!(
        "sample: {SAMPLE} messages, {bytes} bytes, {want_tokens} tokens ({want_known} known to the store)"
    );

    let mut g = c.benchmark_group("pipeline");
    g.throughput(throughput);

    g.bench_function("parse", |b| {
        b.iter(|| {
            let n: usize = corpus
                .sample
                .iter()
                .map(|m| MessageView::parse(black_box(m), &limits).part_count)
                .sum();
            assert_eq!(n, want_parts);
        })
    });

    g.bench_function("tokenize", |b| {
        b.iter(|| {
            let n: usize = views
                .iter()
                .map(|v| {
                    engine
                        .tokenizer
                        .tokens(black_box(v), limits.max_tokens)
                        .len()
                })
                .sum();
            assert_eq!(n, want_tokens);
        })
    });

    g.bench_function("rules", |b| {
        b.iter(|| {
            let n: usize = analyses
                .iter()
                .map(|a| engine.rule_hits(black_box(a), None).len())
                .sum();
            assert_eq!(n, want_hits);
        })
    });

    g.bench_function("bayes_lookup", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            let n: usize = analyses.iter().map(|a| known(a, &mut out)).sum();
            assert_eq!(n, want_known);
        })
    });

    g.bench_function("classify", |b| {
        b.iter(|| {
            let (spam, len) = corpus.sample.iter().fold((0, 0), |(s, n), m| {
                let (spam, len) = classify(black_box(m));
                (s + usize::from(spam), n + len)
            });
            assert_eq!((spam, len), (want_spam, want_out));
        })
    });

    // The classify server's set-up: a long-lived rule set (Aho-Corasick prefilter) and a
    // read-only connection tuned for long reads, its token cache filled (`mailsift serve`).
    let server_engine = Engine::new();
    server_engine.rules.prepare_now();
    let mut server_store =
        Store::open(&db, OpenMode::ReadOnly, StoreOptions::default()).expect("open bench store");
    server_store.tune_for_long_reader().expect("tune");
    assert!(server_store.preload_token_cache().expect("preload"));
    g.bench_function("classify_server", |b| {
        let model = server_store.model(None).expect("site model");
        b.iter(|| {
            let (spam, len) = corpus.sample.iter().fold((0, 0), |(s, n), m| {
                let v = server_engine
                    .classify(black_box(m), &model)
                    .expect("classify");
                let out = server_engine.annotate(m, &v, None);
                (s + usize::from(v.is_spam), n + out.len())
            });
            assert_eq!((spam, len), (want_spam, want_out));
        })
    });

    let gold: Vec<mailsift::Class> = {
        let index = read_index(&corpus_dir().join("index")).expect("index");
        index[..SAMPLE].iter().map(|e| e.gold).collect()
    };
    g.bench_function("train", |b| {
        b.iter_batched(
            || {
                let path = temp_store_path("train");
                let store = Store::open(&path, OpenMode::ReadWrite, StoreOptions::default())
                    .expect("create a train store");
                (path, store)
            },
            |(path, mut store)| {
                let ops = learn_ops(&engine, black_box(&corpus.sample), &gold);
                let outcomes = store.apply(None, &ops).expect("train");
                assert!(outcomes.iter().all(|o| *o == Outcome::Learned));
                assert_eq!(outcomes.len(), SAMPLE);
                (path, store)
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();

    drop(store);
    drop(server_store);
    remove_store(&db);
    let leftovers = std::fs::read_dir(std::env::temp_dir())
        .into_iter()
        .flatten();
    let prefix = format!("mailsift-bench-{}-", std::process::id());
    for entry in leftovers.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(4));
    targets = pipeline
}
criterion_main!(benches);
