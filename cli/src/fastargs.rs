//! The command line of the delivery path, parsed without clap.
//!
//! `mailsift classify` runs once per message, and building clap's command tree for every
//! subcommand (help texts, value parsers) is a measurable part of such a short process: it
//! touches about 35 fresh heap pages, about 0.15 ms on the benchmark machine (BENCHMARKS.md,
//! "The classify server"). This parser accepts only the plain forms of
//! `mailsift [GLOBAL...] classify [OPTION...]` and answers `None` for anything else (help,
//! errors, repeated options, unusual spellings), which then goes to clap as before. A property
//! test checks that whatever it accepts, clap parses to the same values.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use crate::classify::{ClassifyArgs, DEFAULT_TIMEOUT_SECS, EXIT_FAIL_OPEN};
use crate::common::Global;

/// Where an option may stand, as clap sees it: global options anywhere, classify's after the
/// subcommand.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    Global,
    Classify,
}

/// Parses `args` (without the program name) when it is a plain classify command line;
/// `env` reads an environment variable (the process's, or a test's).
pub fn classify_args(
    args: &[OsString],
    env: impl Fn(&str) -> Option<OsString>,
) -> Option<(Global, ClassifyArgs)> {
    let mut db: Option<PathBuf> = None;
    let mut user: Option<String> = None;
    let mut config: Option<PathBuf> = None;
    let mut quiet = false;
    let mut exit_code = false;
    let mut fail_open_exit: Option<u8> = None;
    let mut timeout: Option<u64> = None;
    let mut socket: Option<PathBuf> = None;
    let mut no_server = false;
    let mut recipient: Vec<String> = Vec::new();
    let mut seen_classify = false;
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].to_str()?;
        i += 1;
        if arg == "classify" && !seen_classify {
            seen_classify = true;
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v)),
            _ => (arg, None),
        };
        let (scope, takes_value) = match name {
            "--db" | "--user" | "--config" => (Scope::Global, true),
            "-q" | "--quiet" => (Scope::Global, false),
            "--fail-open-exit" | "--timeout" | "--socket" | "--recipient" => {
                (Scope::Classify, true)
            }
            "--exit-code" | "--no-server" => (Scope::Classify, false),
            _ => return None,
        };
        if scope == Scope::Classify && !seen_classify {
            return None;
        }
        let value: Option<&OsStr> = if takes_value {
            let v = match inline {
                Some(v) => OsStr::new(v),
                None => {
                    let v = args.get(i)?;
                    i += 1;
                    v.as_os_str()
                }
            };
            // Empty or hyphen-leading values: clap's rules, not ours.
            let text = v.to_str()?;
            if text.is_empty() || text.starts_with('-') {
                return None;
            }
            Some(v)
        } else {
            if inline.is_some() {
                return None;
            }
            None
        };
        // A repeated option is an error for clap: leave it to clap.
        match (name, value) {
            ("--db", Some(v)) if db.is_none() => db = Some(PathBuf::from(v)),
            ("--user", Some(v)) if user.is_none() => user = Some(v.to_str()?.to_owned()),
            ("--config", Some(v)) if config.is_none() => config = Some(PathBuf::from(v)),
            ("-q" | "--quiet", None) if !quiet => quiet = true,
            ("--exit-code", None) if !exit_code => exit_code = true,
            ("--no-server", None) if !no_server => no_server = true,
            ("--fail-open-exit", Some(v)) if fail_open_exit.is_none() => {
                fail_open_exit = Some(v.to_str()?.parse().ok()?);
            }
            ("--timeout", Some(v)) if timeout.is_none() => {
                timeout = Some(v.to_str()?.parse().ok()?);
            }
            ("--socket", Some(v)) if socket.is_none() => socket = Some(PathBuf::from(v)),
            // Repeatable, as clap's Vec: each one is kept, in order.
            ("--recipient", Some(v)) => recipient.push(v.to_str()?.to_owned()),
            _ => return None,
        }
    }
    if !seen_classify {
        return None;
    }
    // The environment fills what the command line did not; an empty variable is left to clap.
    let from_env = |name: &str| -> Option<Option<OsString>> {
        match env(name) {
            None => Some(None),
            Some(v) if v.is_empty() => None,
            Some(v) => Some(Some(v)),
        }
    };
    if db.is_none() {
        db = from_env("MAILSIFT_DB")?.map(PathBuf::from);
    }
    if user.is_none() {
        user = match from_env("MAILSIFT_USER")? {
            Some(v) => Some(v.into_string().ok()?),
            None => None,
        };
    }
    if socket.is_none() {
        socket = from_env("MAILSIFT_SOCKET")?.map(PathBuf::from);
    }
    if no_server && socket.is_some() {
        return None; // a conflict clap reports
    }
    Some((
        Global {
            db,
            user,
            config,
            quiet,
        },
        ClassifyArgs {
            exit_code,
            fail_open_exit: fail_open_exit.unwrap_or(EXIT_FAIL_OPEN),
            timeout: timeout.unwrap_or(DEFAULT_TIMEOUT_SECS),
            socket,
            no_server,
            recipient,
        },
    ))
}

/// The subcommands, as clap knows them.
const SUBCOMMANDS: &[&str] = &[
    "classify",
    "score",
    "train",
    "correct",
    "forget",
    "stats",
    "explain",
    "eval",
    "rules",
    "db",
    "serve",
    "milter",
    "man",
    "completions",
    "help",
];

/// Whether the command line asks for `classify`: its first word that names a subcommand
/// (skipping options and global options' values, and any other word, which may be the value
/// of a misplaced or unknown option) is `classify`. A command line clap rejects is then still
/// filter mode, and the message must pass through (see [`fail_open_exit`]).
pub fn names_classify(args: &[OsString]) -> bool {
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_encoded_bytes();
        i += 1;
        match arg {
            b"--db" | b"--user" | b"--config" => i += 1,
            _ if arg.starts_with(b"-") => {}
            _ => {
                if let Some(cmd) = SUBCOMMANDS.iter().find(|c| c.as_bytes() == arg) {
                    return *cmd == "classify";
                }
            }
        }
    }
    false
}

/// The fail-open exit code a rejected classify command line asked for: the last
/// `--fail-open-exit N` that parses, else the documented default.
pub fn fail_open_exit(args: &[OsString]) -> u8 {
    let mut code = EXIT_FAIL_OPEN;
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].to_str().unwrap_or("");
        i += 1;
        let value = match arg.strip_prefix("--fail-open-exit") {
            Some("") => args.get(i).and_then(|v| v.to_str()),
            Some(rest) => rest.strip_prefix('='),
            None => None,
        };
        if let Some(n) = value.and_then(|v| v.parse::<u8>().ok()) {
            code = n;
        }
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use proptest::prelude::*;

    /// clap's view of the same command line, when it parses and is `classify` (clap reads
    /// the process environment for `env = ...` values, and so does `fast`).
    fn with_clap(args: &[OsString]) -> Option<String> {
        let mut argv = vec![OsString::from("mailsift")];
        argv.extend(args.iter().cloned());
        let cli = crate::Cli::try_parse_from(argv).ok()?;
        match cli.command {
            crate::Command::Classify(a) => Some(format!("{:?} {:?}", cli.global, a)),
            _ => None,
        }
    }

    fn fast(args: &[OsString]) -> Option<String> {
        classify_args(args, |n| std::env::var_os(n)).map(|(g, a)| format!("{g:?} {a:?}"))
    }

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn plain_command_lines_take_the_fast_path_and_agree_with_clap() {
        for line in [
            vec!["classify"],
            vec!["--db", "/var/lib/m.db", "classify"],
            vec!["--user", "alice", "classify", "--exit-code"],
            vec![
                "classify",
                "--db=/x.db",
                "--user=bob",
                "--fail-open-exit",
                "0",
            ],
            vec![
                "-q",
                "--config",
                "/etc/m.toml",
                "classify",
                "--timeout",
                "5",
            ],
            vec!["classify", "--socket", "/run/m.sock", "--timeout=9"],
            vec!["classify", "--no-server", "--quiet"],
            vec!["classify", "--recipient", "a@example.org"],
            vec![
                "classify",
                "--recipient=a@example.org",
                "--exit-code",
                "--recipient",
                "b@example.net",
            ],
        ] {
            let args = os(&line);
            let f = fast(&args);
            assert!(f.is_some(), "{line:?} should take the fast path");
            assert_eq!(f, with_clap(&args), "{line:?}");
        }
    }

    #[test]
    fn everything_else_goes_to_clap() {
        for line in [
            vec![],
            vec!["--help"],
            vec!["classify", "--help"],
            vec!["--version"],
            vec!["train", "spam", "x"],
            vec!["--exit-code", "classify"],
            vec!["classify", "--db", "a", "--db", "b"],
            vec!["classify", "--timeout", "soon"],
            vec!["classify", "--fail-open-exit", "300"],
            vec!["classify", "--socket", "/s", "--no-server"],
            vec!["classify", "--db"],
            vec!["classify", "--db", "-"],
            vec!["classify", "--db="],
            vec!["classify", "extra"],
            vec!["classify", "--exit-code=yes"],
            vec!["classify", "-x"],
            vec!["--recipient", "a@b", "classify"],
            vec!["classify", "--recipient"],
            vec!["classify", "--recipient", ""],
        ] {
            assert_eq!(fast(&os(&line)), None, "{line:?}");
        }
    }

    #[test]
    fn the_subcommand_list_is_clap_s() {
        use clap::CommandFactory;
        let mut names: Vec<String> = crate::Cli::command()
            .get_subcommands()
            .map(|c| c.get_name().to_owned())
            .collect();
        names.push("help".into());
        names.sort();
        let mut ours: Vec<String> = SUBCOMMANDS.iter().map(|s| (*s).to_owned()).collect();
        ours.sort();
        assert_eq!(ours, names);
    }

    #[test]
    fn a_rejected_classify_command_line_is_still_filter_mode() {
        for line in [
            vec!["classify", "--no-such-flag"],
            vec!["--user", "-list@example.com", "classify"],
            vec!["--db", "classify.db", "classify", "x"],
            vec!["-q", "classify", "--fail-open-exit", "abc"],
            vec!["--socket", "/run/m.sock", "classify"],
            vec!["--bogus", "value", "classify"],
        ] {
            assert!(names_classify(&os(&line)), "{line:?}");
        }
        for line in [
            vec![],
            vec!["train", "classify"],
            vec!["--db", "classify"],
            vec!["--bogus"],
            vec!["db", "backup", "classify"],
        ] {
            assert!(!names_classify(&os(&line)), "{line:?}");
        }
        assert_eq!(
            fail_open_exit(&os(&["classify", "--fail-open-exit", "0"])),
            0
        );
        assert_eq!(
            fail_open_exit(&os(&["classify", "--fail-open-exit=75"])),
            75
        );
        assert_eq!(
            fail_open_exit(&os(&["classify", "--fail-open-exit", "abc"])),
            3
        );
        assert_eq!(
            fail_open_exit(&os(&["classify", "--fail-open-exit=300"])),
            3
        );
        assert_eq!(fail_open_exit(&os(&["classify", "--bad"])), 3);
    }

    #[test]
    fn environment_fills_what_the_command_line_leaves() {
        let env = |name: &str| -> Option<OsString> {
            match name {
                "MAILSIFT_DB" => Some("/env.db".into()),
                "MAILSIFT_USER" => Some("carol".into()),
                "MAILSIFT_SOCKET" => Some("/env.sock".into()),
                _ => None,
            }
        };
        let (g, a) = classify_args(&os(&["classify"]), env).expect("fast");
        assert_eq!(g.db, Some(PathBuf::from("/env.db")));
        assert_eq!(g.user.as_deref(), Some("carol"));
        assert_eq!(a.socket, Some(PathBuf::from("/env.sock")));
        let (g, _) = classify_args(&os(&["--db", "/flag.db", "classify"]), env).expect("fast");
        assert_eq!(g.db, Some(PathBuf::from("/flag.db")), "the flag wins");
        // --no-server with a socket from the environment: clap's conflict, not ours.
        assert!(classify_args(&os(&["classify", "--no-server"]), env).is_none());
        // An empty variable: clap decides.
        assert!(
            classify_args(&os(&["classify"]), |n| (n == "MAILSIFT_DB")
                .then(OsString::new))
            .is_none()
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn whatever_the_fast_path_accepts_clap_parses_the_same(
            tokens in proptest::collection::vec(
                prop::sample::select(vec![
                    "classify", "--db", "--db=/a.db", "/b.db", "--user", "alice", "--user=x",
                    "--config", "/c.toml", "-q", "--quiet", "--exit-code", "--fail-open-exit",
                    "0", "3", "256", "--timeout", "30", "--timeout=7", "--socket", "/s.sock",
                    "--no-server", "train", "--help", "-", "", "--db=", "spam", "--recipient",
                    "a@x.example", "--recipient=b@y.example",
                ]),
                0..7,
            )
        ) {
            let args: Vec<OsString> = tokens.iter().map(OsString::from).collect();
            if let Some(f) = fast(&args) {
                prop_assert_eq!(Some(f), with_clap(&args), "{:?}", tokens);
            }
        }
    }
}
