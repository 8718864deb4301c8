//! recipes/postfix/mailsift-reinject on its own, with a recording stand-in for sendmail: it
//! injects the classified message only when classify exited 0 (or 3, failed open) and wrote the
//! whole message, the original otherwise; exit 75 only when nothing could be injected; temp
//! files removed. (tests/mda.rs runs it inside a real Postfix.)

mod common;

use common::Scratch;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const MSG: &[u8] =
    b"From: a@example.org\nTo: b@example.org\nSubject: hello\n\nbody line one\nbody line two\n";

struct Setup {
    s: Scratch,
    script: PathBuf,
}

/// The script with mailsift replaced by `classify` (a shell script body, or None for the real
/// binary) and sendmail by a stand-in running `sendmail` (a shell script body).
fn setup(classify: Option<&str>, sendmail: &str) -> Setup {
    let s = Scratch::new("reinject");
    let program = match classify {
        Some(body) => {
            let p = s.path("fake-mailsift");
            write_exec(&p, body);
            p
        }
        None => PathBuf::from(common::bin()),
    };
    let sm = s.path("sendmail");
    write_exec(&sm, sendmail);
    std::fs::create_dir_all(s.path("tmp")).expect("mkdir tmp");
    let recipe = Path::new(env!("CARGO_MANIFEST_DIR")).join("../recipes/postfix/mailsift-reinject");
    let text = std::fs::read_to_string(recipe).expect("read recipe");
    let mut out = text.clone();
    for (from, to) in [
        (
            "MAILSIFT=/usr/local/bin/mailsift\n",
            format!("MAILSIFT={}\n", program.display()),
        ),
        (
            "MAILSIFT_DB=/var/lib/mailsift/site.db",
            format!("MAILSIFT_DB={}", s.path("db").display()),
        ),
        (
            "SENDMAIL=/usr/sbin/sendmail",
            format!("SENDMAIL={}", sm.display()),
        ),
    ] {
        assert!(out.contains(from), "the recipe no longer sets {from}");
        out = out.replace(from, &to);
    }
    let script = s.path("mailsift-reinject");
    write_exec(&script, &out);
    Setup { s, script }
}

fn write_exec(p: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(p, text).expect("write script");
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// Runs the script on MSG; returns its exit code, what sendmail received (each call appended to
/// `sent`, separated) and stderr.
fn run(st: &Setup) -> (Option<i32>, Vec<Vec<u8>>, String) {
    let out = common::run_with_input(
        {
            let mut c = Command::new("/bin/sh");
            c.arg(&st.script)
                .args(["-f", "sender@example.org", "--", "rcpt@example.org"])
                .env("TMPDIR", st.s.path("tmp"))
                .env("SENT", st.s.path("sent"))
                .env("XDG_CONFIG_HOME", "/nonexistent-mailsift-test")
                .env_remove("MAILSIFT_DB")
                .env_remove("MAILSIFT_USER")
                .env_remove("MAILSIFT_SOCKET")
                .env_remove("MAILSIFT_DEBUG_FAULT")
                .stderr(Stdio::piped());
            c
        },
        MSG,
    );
    let mut sent = Vec::new();
    for i in 0.. {
        match std::fs::read(st.s.path(&format!("sent.{i}"))) {
            Ok(b) => sent.push(b),
            Err(_) => break,
        }
    }
    let left: Vec<_> = std::fs::read_dir(st.s.path("tmp"))
        .expect("read tmp")
        .collect();
    assert!(left.is_empty(), "temp files left behind: {left:?}");
    (out.status.code(), sent, common::stderr(&out))
}

/// A sendmail stand-in: records its arguments and input as sent.N, then exits `code`.
fn recorder(code: i32) -> String {
    format!(
        "#!/bin/sh\nn=0\nwhile [ -e \"$SENT.$n\" ]; do n=$((n+1)); done\n\
         cat > \"$SENT.$n\"\necho \"$*\" > \"$SENT.args.$n\"\nexit {code}\n"
    )
}

fn body(m: &[u8]) -> &[u8] {
    let i = m.windows(2).position(|w| w == b"\n\n").expect("header end");
    &m[i + 2..]
}

#[test]
fn classified_message_is_injected_with_the_arguments() {
    let st = setup(None, &recorder(0));
    let (code, sent, err) = run(&st);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(sent.len(), 1);
    assert!(
        common::contains(&sent[0], b"X-Spam-Flag: "),
        "{}",
        String::from_utf8_lossy(&sent[0])
    );
    assert_eq!(body(&sent[0]), body(MSG));
    let args = std::fs::read_to_string(st.s.path("sent.args.0")).expect("args");
    assert_eq!(
        args.trim(),
        "-G -i -f sender@example.org -- rcpt@example.org"
    );
}

#[test]
fn a_missing_binary_injects_the_original() {
    let st = setup(
        Some("#!/bin/sh\nexec /nonexistent/mailsift \"$@\"\n"),
        &recorder(0),
    );
    let (code, sent, err) = run(&st);
    assert_eq!((code, sent), (Some(0), vec![MSG.to_vec()]), "{err}");
    assert!(err.contains("injecting the original"), "{err}");
}

#[test]
fn a_killed_classify_with_half_its_output_injects_the_original() {
    let st = setup(Some("#!/bin/sh\nhead -c 30\nkill -KILL $$\n"), &recorder(0));
    let (code, sent, err) = run(&st);
    assert_eq!((code, sent), (Some(0), vec![MSG.to_vec()]), "{err}");
}

#[test]
fn exit_0_with_a_truncated_or_empty_message_injects_the_original() {
    for fake in [
        "#!/bin/sh\nhead -c 60\ncat >/dev/null\nexit 0\n",
        "#!/bin/sh\ncat >/dev/null\nexit 0\n",
        // The header with our fields, then a body that stops short.
        "#!/bin/sh\nsed -e 's/^$/X-Spam-Flag: NO\\n/' | head -n 6\nexit 0\n",
    ] {
        let st = setup(Some(fake), &recorder(0));
        let (code, sent, err) = run(&st);
        assert_eq!((code, sent), (Some(0), vec![MSG.to_vec()]), "{fake}: {err}");
    }
}

#[test]
fn fail_open_exit_3_with_the_whole_message_is_injected() {
    let classified = "#!/bin/sh\nsed -e 's/^$/X-Spam-Flag: NO\\n/'\necho 'mailsift: database unusable' >&2\nexit 3\n";
    let st = setup(Some(classified), &recorder(0));
    let (code, sent, err) = run(&st);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(sent.len(), 1);
    assert!(common::contains(&sent[0], b"X-Spam-Flag: NO\n"), "{err}");
    assert_eq!(body(&sent[0]), body(MSG));
}

#[test]
fn sendmail_refusing_the_classified_copy_gets_the_original() {
    // Fails on a message carrying our field, accepts the original.
    let sm = "#!/bin/sh\nt=$(cat)\nif printf '%s' \"$t\" | grep -q '^X-Spam-Flag'; then exit 1; fi\n\
              printf '%s\\n' \"$t\" > \"$SENT.0\"\nexit 0\n";
    let st = setup(None, sm);
    let (code, sent, err) = run(&st);
    assert_eq!((code, sent), (Some(0), vec![MSG.to_vec()]), "{err}");
}

#[test]
fn nothing_injectable_exits_75_so_postfix_keeps_the_message() {
    let st = setup(None, &recorder(1));
    let (code, sent, err) = run(&st);
    assert_eq!(code, Some(75), "{err}");
    assert_eq!(
        sent.len(),
        2,
        "the classified copy, then the original, were tried"
    );
    assert_eq!(sent[1], MSG);
}

#[test]
fn an_unusable_temp_directory_exits_75_without_injecting() {
    let st = setup(None, &recorder(0));
    std::fs::remove_dir(st.s.path("tmp")).expect("rmdir");
    std::fs::write(st.s.path("tmp"), b"not a directory").expect("write");
    let out = common::run_with_input(
        {
            let mut c = Command::new("/bin/sh");
            c.arg(&st.script)
                .args(["-f", "s@example.org", "--", "r@example.org"])
                .env("TMPDIR", st.s.path("tmp"))
                .env("SENT", st.s.path("sent"))
                .stderr(Stdio::piped());
            c
        },
        MSG,
    );
    assert_eq!(out.status.code(), Some(75), "{}", common::stderr(&out));
    assert!(!st.s.path("sent.0").exists(), "nothing may be injected");
}

#[test]
fn classify_gets_the_envelope_recipients() {
    // A stand-in classify that records its arguments and writes the message back unchanged.
    let st = setup(
        Some("#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$SENT.classify\"\ncat\n"),
        &recorder(0),
    );
    let (code, sent, err) = run(&st);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(sent.len(), 1);
    let args = std::fs::read_to_string(st.s.path("sent.classify")).expect("classify args");
    let args: Vec<&str> = args.lines().collect();
    assert_eq!(
        args[args.len() - 2..],
        ["classify", "--recipient=rcpt@example.org"],
        "{args:?}"
    );
}
