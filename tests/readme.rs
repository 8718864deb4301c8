//! The README's samples are what the binary prints: this runs the commands of "What `classify`
//! writes" in a scratch database and compares the X-Spam-* fields with the README's block.
//! After a deliberate change (a new rule, a new version), regenerate the block with
//! `MAILSIFT_BLESS=1 cargo test -p mailsift-cli --test readme`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The lines of the fenced block that starts at or after `from`, and the byte range of its body.
fn fenced(text: &str, from: usize, fence: &str) -> (usize, usize) {
    let open = from + text[from..].find(fence).expect("opening fence");
    let body = open + text[open..].find('\n').expect("fence line") + 1;
    let close = body + text[body..].find("```").expect("closing fence");
    (body, close)
}

/// Our fields from an annotated message: X-Spam-* fields with their continuation lines.
fn spam_fields(message: &str) -> String {
    let header = message.split("\n\n").next().unwrap_or_default();
    let mut out = String::new();
    let mut ours = false;
    for line in header.lines() {
        if line.starts_with("X-Spam-") {
            ours = true;
        } else if !line.starts_with([' ', '\t']) {
            ours = false;
        }
        if ours {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[test]
fn the_classify_sample_is_what_the_binary_prints() {
    let readme_path = root().join("README.md");
    let readme = std::fs::read_to_string(&readme_path).expect("README.md");
    let section = readme
        .find("### What `classify` writes")
        .expect("the README section");
    let (cmd_start, cmd_end) = fenced(&readme, section, "```sh");
    let (out_start, out_end) = fenced(&readme, cmd_end + 3, "```");
    let db = std::env::temp_dir().join(format!("mailsift-readme-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&db);
    let mut last = Vec::new();
    let commands: Vec<&str> = readme[cmd_start..cmd_end].lines().collect();
    assert!(commands.len() >= 2, "{commands:?}");
    for line in commands {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words.first(), Some(&"mailsift"), "{line}");
        let (args, input) = match words.iter().position(|w| *w == "<") {
            Some(i) => (&words[1..i], Some(words[i + 1])),
            None => (&words[1..], None),
        };
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailsift"));
        cmd.current_dir(root())
            .env_remove("MAILSIFT_USER")
            .env_remove("MAILSIFT_SOCKET")
            .env("XDG_CONFIG_HOME", "/nonexistent")
            .env("MAILSIFT_DB", &db)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.stdin(match input {
            Some(f) => Stdio::from(std::fs::File::open(root().join(f)).expect("input file")),
            None => Stdio::null(),
        });
        let out = cmd.output().expect("run mailsift");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{line}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        last = out.stdout;
    }
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
    }
    let printed = spam_fields(&String::from_utf8_lossy(&last));
    let documented = &readme[out_start..out_end];
    if printed != documented && std::env::var_os("MAILSIFT_BLESS").is_some() {
        let updated = format!("{}{printed}{}", &readme[..out_start], &readme[out_end..]);
        std::fs::write(&readme_path, updated).expect("rewrite README.md");
        return;
    }
    assert_eq!(
        documented, printed,
        "README.md's sample differs from the binary's output; after a deliberate change run \
         MAILSIFT_BLESS=1 cargo test -p mailsift-cli --test readme"
    );
}

#[test]
fn the_systemd_unit_in_the_readme_is_the_one_installed() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let section = readme
        .find("A systemd unit for a site-wide server")
        .expect("the README's unit");
    let (start, end) = fenced(&readme, section, "```ini");
    let shipped = std::fs::read_to_string(root().join("dist/mailsift.service")).expect("unit");
    let installed: String = shipped
        .replace("@BINDIR@", "/usr/local/bin")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(&readme[start..end], installed);
}

#[test]
fn the_training_summary_sample_is_what_train_prints() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let dir = std::env::temp_dir().join(format!("mailsift-readme-train-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let notes = dir.join("notes.txt");
    std::fs::write(&notes, "shopping list\n- milk\n").expect("write");
    // `mailsift train spam spam.eml notes.txt`, as the README says.
    let out = Command::new(env!("CARGO_BIN_EXE_mailsift"))
        .env_remove("MAILSIFT_USER")
        .env_remove("MAILSIFT_SOCKET")
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .arg("--db")
        .arg(dir.join("m.db"))
        .args(["train", "spam"])
        .arg(root().join("corpora/fixtures/spam-pills.eml"))
        .arg(&notes)
        .output()
        .expect("run mailsift");
    let _ = std::fs::remove_dir_all(&dir);
    let printed = String::from_utf8_lossy(&out.stderr);
    let line = printed.trim_end();
    assert!(
        readme.contains("`mailsift train spam spam.eml notes.txt` into a new"),
        "the README's command"
    );
    assert!(
        readme.contains(&format!("\n`{line}` (`forget`:")),
        "README.md should show {line:?}"
    );
}
