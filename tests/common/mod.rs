//! Helpers shared by the integration tests: running the binary, scratch directories, synthetic
//! messages, and the fail-open output check.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The `mailsift` binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_mailsift")
}

/// A scratch directory, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mailsift-it-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// A configuration file with a short busy timeout, so lock tests finish quickly.
    pub fn config(&self, busy_timeout_ms: u64) -> PathBuf {
        let p = self.path("config.toml");
        std::fs::write(
            &p,
            format!("[store]\nbusy_timeout_ms = {busy_timeout_ms}\n"),
        )
        .expect("write config");
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = make_writable(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn make_writable(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            make_writable(&e.path())?;
        }
    }
    Ok(())
}

/// A `mailsift` command with a clean environment (no user configuration leaks in).
pub fn cmd(db: &Path) -> Command {
    let mut c = Command::new(bin());
    c.env_remove("MAILSIFT_DB")
        .env_remove("MAILSIFT_USER")
        .env_remove("MAILSIFT_DEBUG_FAULT")
        .env_remove("MAILSIFT_SOCKET")
        .env("XDG_CONFIG_HOME", "/nonexistent-mailsift-test")
        .arg("--db")
        .arg(db);
    c
}

/// Runs a command with `input` on stdin and returns its output.
pub fn run_with_input(mut c: Command, input: &[u8]) -> Output {
    run_piped(&mut c, input)
}

/// Runs `c` with `input` on stdin, stdout and stderr piped (not a terminal); its output.
pub fn run_piped(c: &mut Command, input: &[u8]) -> Output {
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn mailsift");
    let mut stdin = child.stdin.take().expect("stdin");
    let data = input.to_vec();
    // Write from a thread: a large message would otherwise deadlock against a full stdout pipe.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait for mailsift");
    writer.join().expect("stdin writer");
    out
}

/// Runs `mailsift --db DB ARGS...` and returns its output.
pub fn run(db: &Path, args: &[&str]) -> Output {
    let mut c = cmd(db);
    c.args(args);
    run_with_input(c, b"")
}

/// Runs `mailsift --db DB classify [ARGS...]` on `input` (global options work after the
/// subcommand too).
pub fn classify(db: &Path, args: &[&str], input: &[u8]) -> Output {
    let mut c = cmd(db);
    c.arg("classify").args(args);
    run_with_input(c, input)
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Asserts that a command exited 0 (naming `what`, with its output, when it did not) and
/// returns its stdout.
pub fn ok(o: &Output, what: &str) -> String {
    assert_eq!(
        o.status.code(),
        Some(0),
        "{what}: {}{}",
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

/// Paths as command-line arguments.
pub fn paths(p: &[PathBuf]) -> Vec<&str> {
    p.iter().map(|p| p.to_str().expect("utf-8")).collect()
}

/// Starts `mailsift -q ARGS` on `db` in the background: no stdin, stdout dropped, stderr kept.
pub fn spawn_quiet(db: &Path, args: &[&str]) -> std::process::Child {
    let mut c = cmd(db);
    c.arg("-q").args(args);
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c.spawn().expect("spawn mailsift")
}

/// Asserts the fail-open contract for a classified message: when the input has a header block,
/// the output is the input with `X-Spam-*` fields removed and ours added at the end of the
/// header block — every other byte unchanged; without a header block, the output is the input.
pub fn assert_annotated(label: &str, input: &[u8], output: &[u8]) {
    match mailsift::headers::header_block(input) {
        None => assert!(
            output == input,
            "{label}: input without a header block must pass through unchanged"
        ),
        Some(block) => {
            let out_block = mailsift::headers::header_block(output)
                .unwrap_or_else(|| panic!("{label}: output lost its header block"));
            let added = &output[out_block.start..out_block.end];
            assert!(
                contains(added, b"X-Spam-Status: "),
                "{label}: no X-Spam-Status header added"
            );
            let mut expected = mailsift::headers::strip_spam_headers(input);
            // Headers-only input without a final newline gets one before our fields.
            if block.end == input.len()
                && expected.len() > block.start
                && !expected.ends_with(b"\n")
            {
                expected.extend_from_slice(if block.crlf { b"\r\n" } else { b"\n" });
            }
            let got = mailsift::headers::strip_spam_headers(output);
            assert!(
                got == expected,
                "{label}: output differs from the input beyond the X-Spam-* headers \
                 ({} bytes vs {} expected; first difference at byte {:?})",
                got.len(),
                expected.len(),
                got.iter().zip(&expected).position(|(a, b)| a != b)
            );
        }
    }
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// A synthetic message, distinct for each `(class, i)`, with enough class-specific words for
/// Bayes to learn from.
pub fn synthetic(spam: bool, i: usize) -> Vec<u8> {
    let (subject, words) = if spam {
        (
            "Cheap meds and casino offers",
            "viagra casino winner prize free money click unsubscribe offer",
        )
    } else {
        (
            "Meeting notes for the project",
            "agenda minutes review patch build release schedule team lunch",
        )
    };
    let mut body = String::new();
    for (k, w) in words.split(' ').enumerate() {
        body.push_str(&format!("{w} {w}{} ", (i + k) % 97));
    }
    format!(
        "From: sender{i}@example.{tld}\nTo: user@example.org\nSubject: {subject} {i}\n\
         Message-ID: <{i}.{tld}@example>\n\n{body}\nserial {i}\n",
        tld = if spam { "biz" } else { "org" }
    )
    .into_bytes()
}

/// Writes `n` synthetic messages of one class into `dir` (created), one file each.
pub fn write_messages(dir: &Path, spam: bool, range: std::ops::Range<usize>) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).expect("create message dir");
    range
        .map(|i| {
            let p = dir.join(format!("{}-{i}.eml", if spam { "spam" } else { "ham" }));
            std::fs::write(&p, synthetic(spam, i)).expect("write message");
            p
        })
        .collect()
}

/// `m.db` in `s`, trained on `n` synthetic messages of each class (files in `s`'s ham/ and
/// spam/).
pub fn trained_db(s: &Scratch, n: usize) -> PathBuf {
    let db = s.path("m.db");
    for (class, spam) in [("ham", false), ("spam", true)] {
        let files = write_messages(&s.path(class), spam, 0..n);
        let mut args = vec!["train", class];
        args.extend(files.iter().map(|p| p.to_str().expect("utf-8 path")));
        let o = run(&db, &args);
        assert!(o.status.success(), "train: {}", stderr(&o));
    }
    db
}

/// Parses `mailsift stats` output into (model, spam, ham) rows.
pub fn stats_rows(out: &str) -> Vec<(String, u64, u64)> {
    out.lines()
        .skip_while(|l| !l.starts_with("model"))
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 4).then(|| {
                (
                    f[0].to_owned(),
                    f[1].parse().unwrap_or(u64::MAX),
                    f[2].parse().unwrap_or(u64::MAX),
                )
            })
        })
        .collect()
}

/// True when running as root (file permissions do not stop root).
pub fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

// ---- Commands built from scratch (no --db), for the CLI and administrator tests ----------

/// A `mailsift` command with none of the user's configuration, database, socket or home.
pub fn bare() -> Command {
    let mut c = Command::new(bin());
    c.env_remove("MAILSIFT_DB")
        .env_remove("MAILSIFT_USER")
        .env_remove("MAILSIFT_SOCKET")
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .env("HOME", "/nonexistent");
    c
}

impl Scratch {
    /// `m.db` inside, as a command-line argument.
    pub fn db(&self) -> String {
        self.path("m.db").display().to_string()
    }
}

// ---- Property tests: case counts and a trained in-memory model ----------------------------

/// `default` cases, or PROPTEST_CASES when set; no regression files.
pub fn proptest_cases(default: u32) -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    }
}

/// An engine and a model trained on 30 + 30 synthetic messages, so Bayes has something to say.
pub fn trained_engine() -> &'static (mailsift::Engine, mailsift::MemoryModel) {
    use mailsift::{Action, Class, Engine, MemoryModel};
    static SETUP: std::sync::OnceLock<(Engine, MemoryModel)> = std::sync::OnceLock::new();
    SETUP.get_or_init(|| {
        let engine = Engine::new();
        let mut model = MemoryModel::new();
        for i in 0..30 {
            for spam in [true, false] {
                let a = engine.analyze(&synthetic(spam, i));
                let class = if spam { Class::Spam } else { Class::Ham };
                model.apply(&a.op(Action::Learn(class)));
            }
        }
        (engine, model)
    })
}

/// Asserts a process's exit code, showing its stderr otherwise.
pub fn assert_exit(label: &str, o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "{label}: exit status {:?}, stderr: {}",
        o.status,
        stderr(o)
    );
}

/// Trains a small store: 20 spam and 20 ham synthetic messages.
pub fn trained_store(s: &Scratch) -> PathBuf {
    let db = s.path("bayes.db");
    let spam = write_messages(&s.path("spam"), true, 0..20);
    let ham = write_messages(&s.path("ham"), false, 0..20);
    for (class, dir) in [("spam", &spam[0]), ("ham", &ham[0])] {
        let dir = dir.parent().expect("dir").to_str().expect("utf-8");
        let o = run(&db, &["-q", "train", class, dir]);
        assert_exit("train", &o, 0);
    }
    db
}
