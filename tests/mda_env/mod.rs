//! The world the delivery-recipe tests (tests/mda.rs) run in: the delivering user, the corpus
//! messages and the trained database, the recipes' files with their install paths replaced, the
//! faults, and reading back what an MDA delivered.
//!
//! Running as root, every MDA and every mailsift process runs as `nobody` (Postfix refuses
//! `pipe user=root`, Dovecot refuses mail for uid 0, and file permissions must bind, e.g. for the
//! unreadable-database fault). Not as root, they run as the current user, and the tests that
//! need root to start a private Dovecot or Postfix skip with a message.

#![allow(dead_code)]

pub mod servers;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The repository root (tests/ lives there).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The recipe file `recipes/NAME`.
pub fn recipe(name: &str) -> PathBuf {
    repo().join("recipes").join(name)
}

/// The first of `candidates` that exists, or a skip message naming the package.
pub fn need(candidates: &[&str], package: &str) -> Result<PathBuf, String> {
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .ok_or_else(|| {
            format!(
                "SKIP: {} not found (Debian package {package}); run scripts/install-test-deps",
                candidates[0]
            )
        })
}

/// The account that deliveries run as.
#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// True when the test runs as root and switches to this user.
    pub switch: bool,
}

fn id(args: &[&str]) -> String {
    let o = Command::new("id").args(args).output().expect("run id");
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

impl User {
    pub fn get() -> User {
        if id(&["-u"]) == "0" {
            User {
                name: "nobody".into(),
                uid: id(&["-u", "nobody"]).parse().expect("uid of nobody"),
                gid: id(&["-g", "nobody"]).parse().expect("gid of nobody"),
                switch: true,
            }
        } else {
            User {
                name: id(&["-un"]),
                uid: id(&["-u"]).parse().expect("uid"),
                gid: id(&["-g"]).parse().expect("gid"),
                switch: false,
            }
        }
    }

    /// Makes `c` run as this user, with a clean environment.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env_clear().env("PATH", "/usr/local/bin:/usr/bin:/bin");
        if self.switch {
            c.uid(self.uid).gid(self.gid);
        }
        c
    }

    /// Gives `path` (recursively) to this user.
    pub fn own(&self, path: &Path) {
        if !self.switch {
            return;
        }
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid)).expect("chown");
        if path.is_dir() && !path.is_symlink() {
            for e in std::fs::read_dir(path).expect("read dir") {
                self.own(&e.expect("dir entry").path());
            }
        }
    }
}

pub fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Writes `text` to `path` with `mode`, creating its directory.
pub fn write(path: &Path, text: &[u8], mode: u32) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write file");
    chmod(path, mode);
}

/// A recipe file's text with its install paths replaced, e.g. `/usr/local/bin/mailsift` by the
/// binary under test. Each replacement must occur, so a renamed path in a recipe fails here.
pub fn substitute(file: &Path, pairs: &[(&str, String)]) -> String {
    let mut text = std::fs::read_to_string(file).expect("read recipe");
    for (from, to) in pairs {
        assert!(
            text.contains(from),
            "{} no longer contains {from}",
            file.display()
        );
        text = text.replace(from, to);
    }
    text
}

/// One test message: an input as an MTA hands it over, and the verdict mailsift gives it.
#[derive(Clone, Debug)]
pub struct Msg {
    pub name: String,
    pub bytes: Vec<u8>,
    /// Taken from the spam part of the corpus.
    pub from_spam: bool,
    /// `X-Spam-Flag: YES` from the trained database (`mailsift score`).
    pub verdict_spam: bool,
}

impl Msg {
    pub fn body(&self) -> &[u8] {
        split(&self.bytes).1
    }
}

/// (header, body) split at the first empty line (LF or CRLF); no empty line: all header.
pub fn split(m: &[u8]) -> (&[u8], &[u8]) {
    let mut i = 0;
    while i < m.len() {
        let end = m[i..].iter().position(|&b| b == b'\n').map(|p| i + p + 1);
        let Some(end) = end else { break };
        if &m[i..end] == b"\n" || &m[i..end] == b"\r\n" {
            return (&m[..i], &m[end..]);
        }
        i = end;
    }
    (m, &[])
}

/// The header without its `X-Spam-*` fields (continuation lines included).
pub fn header_without_ours(header: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut skipping = false;
    for line in header.split_inclusive(|&b| b == b'\n') {
        let continuation = line.first().is_some_and(|&b| b == b' ' || b == b'\t');
        if !continuation {
            skipping = line.len() >= 7 && line[..7].eq_ignore_ascii_case(b"x-spam-");
        }
        if !skipping {
            out.extend_from_slice(line);
        }
    }
    out
}

/// The value of the `X-Spam-Flag` field, if any.
pub fn spam_flag(m: &[u8]) -> Option<String> {
    let (header, _) = split(m);
    header.split(|&b| b == b'\n').find_map(|l| {
        let l = String::from_utf8_lossy(l);
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("x-spam-flag")
            .then(|| value.trim().to_owned())
    })
}

/// The messages and the trained database template for one test.
pub struct Corpus {
    /// Directory holding `mailsift.db` (copy it into each case).
    pub db_dir: PathBuf,
    /// 20 from the spam part, 20 from the ham part, none of them trained on.
    pub messages: Vec<Msg>,
}

fn corpus_root() -> Result<PathBuf, String> {
    let root = repo().join("corpora/spamassassin");
    if root.join("spam-1").is_dir() && root.join("easy-ham-1").is_dir() {
        Ok(root)
    } else {
        Err(format!(
            "SKIP: the SpamAssassin corpus is missing at {}: run scripts/setup",
            root.display()
        ))
    }
}

fn sorted_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read corpus dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

/// The message as an MTA would hand it over: without the corpus's mbox `From ` line. Only
/// plain messages (no NUL or CR, lines under 990 bytes, under 64 KB, with a body) are used, so
/// SMTP transport cannot change a byte.
fn usable(raw: &[u8]) -> Option<Vec<u8>> {
    let m = if raw.starts_with(b"From ") {
        &raw[raw.iter().position(|&b| b == b'\n')? + 1..]
    } else {
        raw
    };
    let plain = m.len() < 64 << 10
        && !m.contains(&0)
        && !m.contains(&b'\r')
        && m.ends_with(b"\n")
        && m.split(|&b| b == b'\n').all(|l| l.len() < 990);
    let (_, body) = split(m);
    (plain && body.len() > 20).then(|| m.to_vec())
}

impl Corpus {
    /// Trains a database on a part of the corpus (spam-2, easy-ham-2) and picks 20 spam and 20
    /// ham test messages from the other part (spam-1, easy-ham-1), with their verdicts.
    pub fn load(scratch: &Path, user: &User) -> Result<Corpus, String> {
        let root = corpus_root()?;
        let db_dir = scratch.join("template-db");
        std::fs::create_dir_all(&db_dir).expect("mkdir");
        let db = db_dir.join("mailsift.db");
        for (class, dir) in [("spam", "spam-2"), ("ham", "easy-ham-2")] {
            let files: Vec<PathBuf> = sorted_files(&root.join(dir))
                .into_iter()
                .take(200)
                .collect();
            let o = mailsift(&db)
                .args(["--quiet", "train", class])
                .args(&files)
                .output()
                .expect("run mailsift train");
            assert!(
                o.status.success(),
                "train: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        let msgs_dir = scratch.join("messages");
        std::fs::create_dir_all(&msgs_dir).expect("mkdir");
        let mut messages = Vec::new();
        let mut bodies = std::collections::HashSet::new();
        for (from_spam, dir) in [(true, "spam-1"), (false, "easy-ham-1")] {
            let mut n = 0;
            for f in sorted_files(&root.join(dir)) {
                let Some(bytes) = std::fs::read(&f).ok().and_then(|r| usable(&r)) else {
                    continue;
                };
                if !bodies.insert(split(&bytes).1.to_vec()) {
                    continue;
                }
                let name = format!(
                    "{dir}-{}",
                    f.file_name().expect("file name").to_string_lossy()
                );
                std::fs::write(msgs_dir.join(&name), &bytes).expect("write message");
                messages.push(Msg {
                    name,
                    bytes,
                    from_spam,
                    verdict_spam: false,
                });
                n += 1;
                if n == 20 {
                    break;
                }
            }
        }
        // The verdicts, as the recipes' user sees them (site model plus an empty user model).
        let o = mailsift(&db)
            .args(["--user", &user.name, "score"])
            .arg(&msgs_dir)
            .output()
            .expect("run mailsift score");
        assert!(
            o.status.success(),
            "score: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        for m in &mut messages {
            let line = out
                .lines()
                .find(|l| l.split('\t').next().is_some_and(|p| p.ends_with(&m.name)))
                .unwrap_or_else(|| panic!("no score for {}: {out}", m.name));
            m.verdict_spam = line.split('\t').nth(1) == Some("spam");
        }
        let junk = messages.iter().filter(|m| m.verdict_spam).count();
        assert!(
            (5..=35).contains(&junk),
            "the trained database should tell spam from ham: {junk} of 40 are spam"
        );
        Ok(Corpus { db_dir, messages })
    }

    /// A few messages for a fault case: two the database calls spam, two it calls ham.
    pub fn few(&self) -> Vec<Msg> {
        let spam = self.messages.iter().filter(|m| m.verdict_spam).take(2);
        let ham = self.messages.iter().filter(|m| !m.verdict_spam).take(2);
        spam.chain(ham).cloned().collect()
    }

    /// Copies the trained database to `db` (same file name rules: `db` is the database path).
    pub fn install_db(&self, db: &Path, user: &User) {
        let dir = db.parent().expect("db dir");
        std::fs::create_dir_all(dir).expect("mkdir db dir");
        std::fs::copy(self.db_dir.join("mailsift.db"), db).expect("copy db");
        for ext in ["-wal", "-shm"] {
            let from = self.db_dir.join(format!("mailsift.db{ext}"));
            if from.exists() {
                let to = PathBuf::from(format!("{}{ext}", db.display()));
                std::fs::copy(from, to).expect("copy db part");
            }
        }
        user.own(dir);
        chmod(dir, 0o755);
    }
}

/// `mailsift` under test, as the test's own user, with no configuration from the environment.
pub fn mailsift(db: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mailsift"));
    c.env_remove("MAILSIFT_DB")
        .env_remove("MAILSIFT_USER")
        .env_remove("MAILSIFT_DEBUG_FAULT")
        .env_remove("MAILSIFT_SOCKET")
        .env("XDG_CONFIG_HOME", "/nonexistent-mailsift-test")
        .arg("--db")
        .arg(db);
    c
}

/// The faults every recipe is run under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    Missing,
    Killed,
    CorruptDb,
    UnreadableDbDir,
    StoppedServer,
}

impl Fault {
    pub const ALL: [Fault; 6] = [
        Fault::None,
        Fault::Missing,
        Fault::Killed,
        Fault::CorruptDb,
        Fault::UnreadableDbDir,
        Fault::StoppedServer,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Fault::None => "no fault",
            Fault::Missing => "binary missing",
            Fault::Killed => "killed (SIGKILL)",
            Fault::CorruptDb => "corrupt database",
            Fault::UnreadableDbDir => "database dir unreadable",
            Fault::StoppedServer => "server stopped (SIGSTOP)",
        }
    }

    /// Whether mailsift cannot have written anything: the MDA must deliver the input as is.
    pub fn unchanged(self) -> bool {
        matches!(self, Fault::Missing | Fault::Killed)
    }

    /// Whether the verdict must still be the trained database's.
    pub fn same_verdict(self) -> bool {
        matches!(self, Fault::None | Fault::StoppedServer)
    }
}

/// The mailsift binary, reachable by the delivering user: a hard link (or copy) in `dir`.
pub fn install_binary(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).expect("mkdir bin");
    chmod(dir, 0o755);
    let to = dir.join("mailsift-real");
    let from = env!("CARGO_BIN_EXE_mailsift");
    if std::fs::hard_link(from, &to).is_err() {
        std::fs::copy(from, &to).expect("copy mailsift");
    }
    chmod(&to, 0o755);
    to
}

/// Sets up `fault` for one case: returns the path the recipe must call as mailsift, and the
/// stopped server to keep alive (if any). `db` is where the recipe's database is (already
/// installed); `bin_dir` a directory of the case's own.
pub fn arrange(fault: Fault, real: &Path, bin_dir: &Path, db: &Path, user: &User) -> Arranged {
    std::fs::create_dir_all(bin_dir).expect("mkdir");
    chmod(bin_dir, 0o755);
    let mut server = None;
    let program = match fault {
        Fault::Missing => bin_dir.join("mailsift"),
        Fault::Killed => {
            // Writes the start of the message (a half-written output), lets the real mailsift
            // read the rest and hang, SIGKILLs it, then SIGKILLs itself: the MDA sees its filter
            // killed by SIGKILL in mid-message.
            let script = format!(
                "#!/bin/sh\n\
                 head -c 200\n\
                 exec 3<&0\n\
                 MAILSIFT_DEBUG_FAULT=hang {real} \"$@\" <&3 3<&- &\n\
                 pid=$!\n\
                 sleep 1\n\
                 kill -KILL $pid\n\
                 kill -KILL $$\n",
                real = real.display()
            );
            let p = bin_dir.join("mailsift");
            write(&p, script.as_bytes(), 0o755);
            p
        }
        Fault::CorruptDb => {
            let mut junk = b"this is not an SQLite database\n".repeat(200);
            junk.extend_from_slice(&[0xff; 4096]);
            std::fs::write(db, junk).expect("corrupt db");
            for ext in ["-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
            }
            real.to_path_buf()
        }
        Fault::UnreadableDbDir => {
            chmod(db.parent().expect("db dir"), 0o000);
            real.to_path_buf()
        }
        Fault::StoppedServer => {
            server = Some(StoppedServer::start(real, db, user));
            real.to_path_buf()
        }
        Fault::None => real.to_path_buf(),
    };
    Arranged { program, server }
}

pub struct Arranged {
    pub program: PathBuf,
    pub server: Option<StoppedServer>,
}

/// A `mailsift serve` on the case's database, stopped with SIGSTOP once its socket is up, so
/// that clients connect and get no answer. Killed (by PID) when dropped.
pub struct StoppedServer {
    child: Child,
}

impl StoppedServer {
    fn start(real: &Path, db: &Path, user: &User) -> StoppedServer {
        let home = db.parent().expect("db dir");
        let mut child = user
            .command(real)
            .env("HOME", home)
            .arg("--db")
            .arg(db)
            .args(["serve", "--threads", "1"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mailsift serve");
        let sock = PathBuf::from(format!("{}.sock", db.display()));
        let deadline = Instant::now() + Duration::from_secs(20);
        while !sock.exists() {
            if Instant::now() > deadline || child.try_wait().ok().flatten().is_some() {
                let _ = child.kill();
                let _ = child.wait();
                panic!("mailsift serve did not create {}", sock.display());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        signal(child.id(), "STOP");
        StoppedServer { child }
    }
}

impl Drop for StoppedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends a signal by PID with kill(1).
pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

/// Runs `c` with `input` on stdin; returns its exit code (None: killed) and stderr.
pub fn feed(mut c: Command, input: &[u8]) -> (Option<i32>, String) {
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start MDA");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait for MDA");
    let _ = writer.join();
    let mut err = String::from_utf8_lossy(&out.stderr).into_owned();
    err.push_str(&String::from_utf8_lossy(&out.stdout));
    (out.status.code(), err)
}

/// Where a message was delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Folder {
    Inbox,
    Junk,
}

/// The messages in a Maildir's `new/` and `cur/` (and its `.Junk` folder's), with their folder.
pub fn delivered(maildir: &Path) -> Vec<(Folder, PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for (folder, dir) in [
        (Folder::Inbox, maildir.to_path_buf()),
        (Folder::Junk, maildir.join(".Junk")),
    ] {
        for sub in ["new", "cur"] {
            let Ok(rd) = std::fs::read_dir(dir.join(sub)) else {
                continue;
            };
            for e in rd {
                let p = e.expect("entry").path();
                let bytes = std::fs::read(&p).expect("read delivered message");
                out.push((folder, p, bytes));
            }
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}
