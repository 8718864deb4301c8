//! Long-running mutation fuzzer for parse → tokenize → classify → annotate, on stable Rust.
//!
//! ```text
//! cargo run --release -p mailsift-cli --example fuzz -- [--hours H | --cases N] [--seed S] [--corpus DIR]... [--out DIR] [--stock-rules] [--slow SECS]
//! ```
//!
//! Seeds are the committed malformed fixtures (`tests/fixtures/malformed`) plus every file under
//! each `--corpus DIR` (e.g. the SpamAssassin corpus). Each case mutates a seed (bit flips,
//! truncation, duplicated and deleted ranges, inserted MIME boundaries, encoded words, NULs,
//! line-ending changes), runs the whole pipeline against a small trained model and checks the
//! fail-open contract: no panic, a finite score, and the input written back unchanged after the
//! added headers; and that the servers' path (`analyze_with_hits`, the tokens made beside the
//! rules) gives the verdict the step-by-step path gives. Case `i` is a pure function of
//! `(seed, i)`.
//!
//! `--stock-rules` loads the SpamAssassin rules installed here (`spamassassin_rules = "auto"`)
//! beside the built-in ones, prepared as a server prepares them (two threads, the long-lived
//! prefilters): the trust path, the HTML and MIME evals and the byte-mode views that only those
//! rules reach. `--slow SECS` (default 10) saves a case that takes longer, as `slow-*`: a
//! delivery would have met `classify --timeout`. `--cases N` runs cases 0 to N - 1 and stops
//! (the same inputs every time, for CI), instead of running for `--hours`. The exit status is 1
//! when the run saved a finding.
//!
//! The fuzzing runs in a child process; this parent watches it. A panic or contract violation
//! is saved by the child; a crash that kills the child (stack overflow, abort, OOM kill) is
//! saved by the parent, which regenerates the input of the last case the child announced.
//! Findings go to `--out` (default `fuzz-findings/`) as `<kind>-<seed>-<case>.eml`.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mailsift::{Action, Class, Engine, MemoryModel};

struct Rng(u64);

impl Rng {
    fn new(seed: u64, case: u64) -> Rng {
        let mut r = Rng((seed ^ case.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1);
        for _ in 0..4 {
            r.next();
        }
        r
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const TOKENS: &[&[u8]] = &[
    b"\n--b\n",
    b"\n--b--\n",
    b"\nContent-Type: multipart/mixed; boundary=\"b\"\n\n",
    b"\nContent-Type: multipart/alternative; boundary=b\n\n--b\n",
    b"Content-Type: message/rfc822\n\n",
    b"Content-Transfer-Encoding: base64\n\n",
    b"Content-Transfer-Encoding: quoted-printable\n\n",
    b"Content-Type: text/html; charset=x-unknown\n\n",
    b"=?utf-8?B?",
    b"=?iso-8859-1?Q?=E9=",
    b"?=",
    b"=\n",
    b"\n\n",
    b"\r\n",
    b"\r",
    b"\0",
    b"\xff\xfe\xc3",
    b"X-Spam-Status: No\n",
    b"<a href=\"http://",
    b"<script>",
    b"&#x10FFFF;&#0;&amp",
    b"\n\tfolded",
    b"From: ",
    b"Subject: ",
];

fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut m = seed.to_vec();
    for _ in 0..1 + rng.below(8) {
        let len = m.len().max(1);
        match rng.below(9) {
            0 | 1 => {
                if !m.is_empty() {
                    let i = rng.below(m.len());
                    m[i] ^= 1 << rng.below(8);
                }
            }
            2 => m.truncate(rng.below(len)),
            3 => {
                let a = rng.below(len).min(m.len());
                let b = (a + rng.below(512)).min(m.len());
                let chunk = m[a..b].to_vec();
                let most = if rng.below(20) == 0 { 2000 } else { 3 };
                let reps = 1 + rng.below(most);
                let to = rng.below(len).min(m.len());
                let mut ins = Vec::with_capacity(chunk.len() * reps);
                for _ in 0..reps {
                    ins.extend_from_slice(&chunk);
                }
                m.splice(to..to, ins);
            }
            4 => {
                let a = rng.below(len).min(m.len());
                let b = (a + rng.below(128)).min(m.len());
                m.drain(a..b);
            }
            5 | 6 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                let most = if rng.below(30) == 0 { 5000 } else { 2 };
                let reps = 1 + rng.below(most);
                let at = rng.below(len).min(m.len());
                m.splice(at..at, t.repeat(reps));
            }
            7 => {
                let at = rng.below(len).min(m.len());
                let bytes: Vec<u8> = (0..rng.below(32)).map(|_| rng.next() as u8).collect();
                m.splice(at..at, bytes);
            }
            _ => {
                if rng.below(2) == 0 {
                    m = m
                        .split(|&b| b == b'\n')
                        .collect::<Vec<_>>()
                        .join(&b"\r\n"[..]);
                } else {
                    m.retain(|&b| b != b'\r');
                }
            }
        }
    }
    m
}

fn load_seeds(dirs: &[PathBuf]) -> Vec<Vec<u8>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    for d in dirs {
        walk(d, &mut files);
    }
    files.sort();
    files
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .filter(|b| b.len() <= 256 << 10)
        .collect()
}

/// Checks the fail-open contract on one input; Err describes a violation.
fn check(engine: &Engine, model: &MemoryModel, input: &[u8]) -> Result<(), String> {
    let analysis = engine.analyze(input);
    let verdict = engine
        .verdict(&analysis, model)
        .map_err(|e| e.to_string())?;
    if !verdict.score.is_finite() {
        return Err(format!("score {}", verdict.score));
    }
    // The servers' path: tokens made beside the rules, the hits handed to the verdict.
    let (served, hits) = engine.analyze_with_hits(input, &[]);
    let other = engine
        .verdict_with(&served, hits.as_deref(), model)
        .map_err(|e| e.to_string())?;
    if other.score.to_bits() != verdict.score.to_bits() || other.is_spam != verdict.is_spam {
        return Err(format!(
            "the servers' path scores {} (spam {}), the step-by-step path {} (spam {})",
            other.score, other.is_spam, verdict.score, verdict.is_spam
        ));
    }
    let out = engine.annotate(input, &verdict, None);
    match mailsift::headers::header_block(input) {
        None if out != input => Err("input without headers was changed".into()),
        None => Ok(()),
        Some(block) => {
            let mut expected = mailsift::headers::strip_spam_headers(input);
            if block.end == input.len()
                && expected.len() > block.start
                && !expected.ends_with(b"\n")
            {
                expected.extend_from_slice(if block.crlf { b"\r\n" } else { b"\n" });
            }
            if mailsift::headers::strip_spam_headers(&out) != expected {
                Err("output differs from the input beyond the X-Spam-* headers".into())
            } else {
                Ok(())
            }
        }
    }
}

struct Opts {
    seed: u64,
    hours: f64,
    corpora: Vec<PathBuf>,
    out: PathBuf,
    worker_start: Option<u64>,
    stock_rules: bool,
    slow: f64,
    cases: Option<u64>,
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs()),
        hours: 1.0,
        corpora: vec![PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/malformed"
        ))],
        out: PathBuf::from("fuzz-findings"),
        worker_start: None,
        stock_rules: false,
        slow: 10.0,
        cases: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        if args[i] == "--stock-rules" {
            o.stock_rules = true;
            i += 1;
            continue;
        }
        let val = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--slow" => o.slow = val.parse().unwrap_or(o.slow),
            "--cases" => o.cases = val.parse().ok(),
            "--seed" => o.seed = val.parse().unwrap_or(o.seed),
            "--hours" => o.hours = val.parse().unwrap_or(o.hours),
            "--corpus" => o.corpora.push(PathBuf::from(val)),
            "--out" => o.out = PathBuf::from(val),
            "--worker-start" => o.worker_start = val.parse().ok(),
            other => {
                eprintln!("fuzz: unknown option {other}");
                std::process::exit(2);
            }
        }
        i += 2;
    }
    o
}

fn save(out: &Path, kind: &str, seed: u64, case: u64, input: &[u8], why: &str) {
    let _ = std::fs::create_dir_all(out);
    let p = out.join(format!("{kind}-{seed}-{case}.eml"));
    let _ = std::fs::write(&p, input);
    eprintln!(
        "fuzz: {kind} at case {case}: {why}; input saved to {}",
        p.display()
    );
}

fn input_for(seeds: &[Vec<u8>], seed: u64, case: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed, case);
    let s = &seeds[rng.below(seeds.len())];
    mutate(s, &mut rng)
}

/// The engine under test: the built-in rules, and with `--stock-rules` SpamAssassin's installed
/// ones beside them, prepared as a server prepares them.
fn engine(o: &Opts) -> Engine {
    let mut engine = Engine::new();
    if o.stock_rules {
        let files = match mailsift::rules::SpamAssassinRules::parse("auto").files() {
            Ok(f) if !f.is_empty() => f,
            Ok(_) => fail("--stock-rules: no SpamAssassin rules are installed here"),
            Err(e) => fail(&format!("--stock-rules: {e}")),
        };
        match engine.rules.with_files(&files) {
            Ok((rules, _)) => engine.rules = rules,
            Err(e) => fail(&format!("--stock-rules: {e}")),
        }
        engine.rules.prepare_now();
    }
    engine
}

fn fail(why: &str) -> ! {
    eprintln!("fuzz: {why}");
    std::process::exit(2)
}

fn worker(o: &Opts, seeds: &[Vec<u8>], start: u64) {
    std::panic::set_hook(Box::new(|_| {}));
    let engine = engine(o);
    let mut model = MemoryModel::new();
    for (i, s) in seeds.iter().enumerate().take(200) {
        let class = if i % 2 == 0 { Class::Spam } else { Class::Ham };
        model.apply(&engine.analyze(s).op(Action::Learn(class)));
    }
    let mut stdout = std::io::stdout().lock();
    for case in start..o.cases.unwrap_or(u64::MAX) {
        // Announce the case first: if it kills us, the parent knows which input did it.
        if writeln!(stdout, "{case}")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            return;
        }
        let input = input_for(seeds, o.seed, case);
        let began = Instant::now();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            check(&engine, &model, &input)
        }));
        let took = began.elapsed().as_secs_f64();
        if took > o.slow {
            save(
                &o.out,
                "slow",
                o.seed,
                case,
                &input,
                &format!("{took:.1} s"),
            );
        }
        match result {
            Ok(Ok(())) => {}
            Ok(Err(why)) => save(&o.out, "violation", o.seed, case, &input, &why),
            Err(p) => {
                let msg = p
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                save(&o.out, "panic", o.seed, case, &input, &msg);
            }
        }
    }
}

fn main() {
    let o = parse_opts();
    let seeds = load_seeds(&o.corpora);
    if seeds.is_empty() {
        eprintln!("fuzz: no seed messages found");
        std::process::exit(2);
    }
    if let Some(start) = o.worker_start {
        worker(&o, &seeds, start);
        return;
    }
    let span = match o.cases {
        Some(n) => format!("cases 0 to {}", n.saturating_sub(1)),
        None => format!("running for {} h", o.hours),
    };
    eprintln!(
        "fuzz: seed {} ({} seed messages), {span}; findings go to {}",
        o.seed,
        seeds.len(),
        o.out.display()
    );
    // With --cases the count ends the run, however long it takes.
    let hours = if o.cases.is_some() { 1e6 } else { o.hours };
    let deadline = Instant::now() + Duration::from_secs_f64(hours * 3600.0);
    let before = findings(&o.out);
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("fuzz"));
    let mut next = 0u64;
    let mut last_report = Instant::now();
    while Instant::now() < deadline {
        let mut cmd = Command::new(&exe);
        cmd.args(["--seed", &o.seed.to_string(), "--out"])
            .arg(&o.out)
            .args(["--worker-start", &next.to_string()])
            .args(["--slow", &o.slow.to_string()])
            .stdout(Stdio::piped());
        if let Some(n) = o.cases {
            cmd.args(["--cases", &n.to_string()]);
        }
        if o.stock_rules {
            cmd.arg("--stock-rules");
        }
        for c in o.corpora.iter().skip(1) {
            cmd.arg("--corpus").arg(c);
        }
        let Ok(mut child) = cmd.spawn() else {
            eprintln!("fuzz: cannot start the worker");
            std::process::exit(2);
        };
        let Some(out) = child.stdout.take() else {
            return;
        };
        let mut last = next;
        for line in std::io::BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            last = line.trim().parse().unwrap_or(last);
            if Instant::now() >= deadline {
                let _ = child.kill();
                break;
            }
            if last_report.elapsed() > Duration::from_secs(60) {
                eprintln!("fuzz: {last} cases");
                last_report = Instant::now();
            }
        }
        let status = child.wait();
        next = last + 1;
        if Instant::now() >= deadline || o.cases.is_some_and(|n| next >= n) {
            break;
        }
        let input = input_for(&seeds, o.seed, last);
        save(
            &o.out,
            "crash",
            o.seed,
            last,
            &input,
            &format!("worker died: {status:?}"),
        );
    }
    let found = findings(&o.out) - before;
    eprintln!("fuzz: done, {next} cases, {found} finding(s)");
    if found > 0 {
        std::process::exit(1);
    }
}

/// The findings saved in `out` so far.
fn findings(out: &Path) -> usize {
    std::fs::read_dir(out).map_or(0, |d| {
        d.flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
            .count()
    })
}
