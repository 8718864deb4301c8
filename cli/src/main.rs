//! `mailsift`: classify, train and explain mail at delivery time.

mod classify;
mod common;
mod db;
mod db_move;
mod eval_cmd;
mod fastargs;
mod manual;
mod milter;
mod progress;
mod report;
mod rules_cmd;
// The prefilter cache of rule sets beyond the built-in one (issue #12, speed).
mod rules_cache;
mod serve;
mod spamd;
mod train;
mod unix_socket;
mod wire;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::common::{EXIT_ERROR, Global};

const AFTER_HELP: &str = "\
Examples:
  mailsift train spam ~/Maildir/.Junk          learn from a Maildir folder
  mailsift train ham ~/Maildir/cur ~/mail/inbox.mbox
  mailsift classify < message.eml              filter: message with X-Spam-* headers on stdout
  mailsift --user alice correct spam msg.eml   fix a mistake for one user
  mailsift explain message.eml                 why the verdict came out as it did
  mailsift eval --index corpora/spamassassin/index --results /tmp/results

Exit codes:
  0  success (classify: message written; with --exit-code, ham)
  1  classify --exit-code: the message is spam
  1  db check: problems found; rules lint: some rule or line is skipped (other than
     the network tests SpamAssassin without network tests skips too)
  2  usage, configuration or database error (commands other than classify);
     train, correct, forget, score: some input could not be read
  3  classify: internal error or usage error; the original message was written unchanged
     (fail-open), or, for a database fault, classified by rules alone; see --fail-open-exit
  74 classify: could not read standard input or write standard output";

/// A spam filter combining a naive-Bayes token store with SpamAssassin-style rules.
#[derive(Debug, Parser)]
// override_usage: clap's error usage otherwise puts a suggested flag in the usage line
// (`mailsift --verbose` printed `Usage: mailsift --version <COMMAND>`).
#[command(name = "mailsift", version, about, long_about = None, after_long_help = AFTER_HELP)]
#[command(override_usage = "mailsift [OPTIONS] <COMMAND>")]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Filter one message from stdin to stdout, adding X-Spam-* headers.
    ///
    /// Incoming X-Spam-* headers are removed first; every other byte, line endings included,
    /// is written back unchanged. Fail-open: on any internal error the original message is
    /// still written, the error goes to stderr, and the exit code is 3 (--fail-open-exit).
    #[command(
        after_long_help = "Examples:\n  mailsift classify < in.eml > out.eml\n  mailsift --user alice classify --exit-code < in.eml"
    )]
    Classify(classify::ClassifyArgs),
    /// Print PATH<TAB>spam|ham<TAB>SCORE for each message.
    ///
    /// Messages are printed in argument order (a directory's files sorted by name). A message
    /// of an mbox file that holds several is PATH:N, the N-th from 1.
    #[command(
        after_long_help = "Examples:\n  mailsift score ~/Maildir/new\n  mailsift --user alice score inbox.mbox message.eml\n  mailsift score - < message.eml"
    )]
    Score {
        /// Files, directories, Maildirs or mbox files.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The envelope recipient, as `classify --recipient` (repeatable).
        #[arg(long, value_name = "ADDR")]
        recipient: Vec<String>,
    },
    /// Learn messages as spam or ham (files, directories, Maildirs, mbox; '-' for stdin).
    #[command(
        after_long_help = "Examples:\n  mailsift train spam ~/Maildir/.Junk\n  mailsift train ham ~/Maildir/cur ~/Maildir/new\n  mailsift train spam - < message.eml"
    )]
    Train(train::TrainArgs),
    /// Re-learn messages as the given class for this user (what a Junk-folder move triggers).
    #[command(
        after_long_help = "Examples:\n  mailsift --user alice correct spam ~/Maildir/.Junk/cur/1700000000.M1P2.host:2,S\n  mailsift --user alice correct ham - < message.eml"
    )]
    Correct(train::TrainArgs),
    /// Forget messages that were learned for this user.
    #[command(
        after_long_help = "Examples:\n  mailsift forget message.eml\n  mailsift --user alice forget ~/Maildir/.Junk"
    )]
    Forget {
        /// Files, directories, Maildirs or mbox files; '-' for stdin.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Messages learned per class and user, tokens, database size, tokenizer version.
    #[command(
        after_long_help = "Examples:\n  mailsift stats\n  mailsift --db /var/lib/mailsift/site.db --user alice stats"
    )]
    Stats,
    /// Show the verdict on a message with its evidence: rule hits and the strongest tokens.
    #[command(
        after_long_help = "Examples:\n  mailsift explain message.eml\n  mailsift --user alice explain --tokens 30 - < message.eml"
    )]
    Explain {
        /// The message file ('-' for stdin).
        path: PathBuf,
        /// How many tokens to show in each direction.
        #[arg(long, default_value_t = 15)]
        tokens: usize,
        /// The envelope recipient, as `classify --recipient` (repeatable).
        #[arg(long, value_name = "ADDR")]
        recipient: Vec<String>,
    },
    /// Run the TREC spam-track online protocol over an index and report accuracy.
    #[command(
        after_long_help = "Example:\n  mailsift eval --index corpora/spamassassin/index --results /tmp/results"
    )]
    Eval(eval_cmd::EvalArgs),
    /// Inspect and check the rules.
    #[command(subcommand)]
    #[command(
        after_long_help = "Examples:\n  mailsift rules list\n  mailsift rules show HTML_FONT_HUGE\n  mailsift rules lint /etc/mailsift/local.cf"
    )]
    Rules(rules_cmd::RulesCommand),
    /// Check, back up, restore or reset the token database.
    #[command(subcommand)]
    #[command(
        after_long_help = "Examples:\n  mailsift db check\n  mailsift db backup /var/backups/mailsift.db\n  mailsift --user alice db reset --yes"
    )]
    Db(db::DbCommand),
    /// Run a resident classifier that `mailsift classify` hands messages to (much faster per
    /// message: no start-up work; classify falls back to in-process whenever it is down).
    #[command(
        after_long_help = "Examples:\n  mailsift serve                      listen on <database>.sock, where classify looks\n  mailsift --db /var/lib/mailsift/mailsift.db serve --socket-mode 660"
    )]
    Serve(serve::ServeArgs),
    /// Print the manual page (roff), or write one page per command into a directory.
    #[command(
        after_long_help = "Examples:\n  mailsift man | man -l -\n  mailsift man --dir /usr/local/share/man/man1"
    )]
    Man(manual::ManArgs),
    /// Print a shell completion script for bash, zsh or fish.
    #[command(
        after_long_help = "Examples:\n  mailsift completions bash > /usr/local/share/bash-completion/completions/mailsift\n  mailsift completions zsh > /usr/local/share/zsh/site-functions/_mailsift\n  mailsift completions fish > ~/.config/fish/completions/mailsift.fish"
    )]
    Completions(manual::CompletionsArgs),
    /// Classify during the SMTP session as a Postfix/Sendmail milter: add the X-Spam-* headers,
    /// or reject spam at the end of DATA (no bounce, no backscatter).
    #[command(
        after_long_help = "Examples:\n  mailsift milter --listen 127.0.0.1:11332\n  mailsift milter --listen unix:/run/mailsift/milter.sock --reject-score 12\n\nPostfix main.cf:\n  smtpd_milters = inet:127.0.0.1:11332\n  milter_default_action = accept\n  milter_protocol = 6"
    )]
    Milter(milter::MilterArgs),
}

fn main() -> ExitCode {
    // The delivery path: a plain `classify` command line skips clap (see fastargs.rs).
    let argv: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if let Some((global, args)) = fastargs::classify_args(&argv, |n| std::env::var_os(n)) {
        return ExitCode::from(classify::run(&global, &args));
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Filter mode stays fail-open even for a command line clap rejects.
            if e.use_stderr() && fastargs::names_classify(&argv) {
                let code = fastargs::fail_open_exit(&argv);
                return ExitCode::from(classify::pass_through_usage_error(&e, code));
            }
            let code = if e.use_stderr() { EXIT_ERROR } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    // Reject a bad user name before anything touches the database (classify fails open itself).
    if !matches!(cli.command, Command::Classify(_)) {
        if let Err(e) = cli.global.user() {
            eprintln!("mailsift: {}", common::chain(&e));
            return ExitCode::from(EXIT_ERROR);
        }
    }
    let result = match cli.command {
        Command::Classify(args) => return ExitCode::from(classify::run(&cli.global, &args)),
        Command::Score { paths, recipient } => report::score(&cli.global, &paths, &recipient),
        Command::Train(args) => train::train(&cli.global, &args),
        Command::Correct(args) => train::train(&cli.global, &args),
        Command::Forget { paths } => train::forget(&cli.global, &paths),
        Command::Stats => report::stats(&cli.global),
        Command::Explain {
            path,
            tokens,
            recipient,
        } => report::explain(&cli.global, &path, tokens, &recipient),
        Command::Eval(args) => eval_cmd::run(&cli.global, &args),
        Command::Rules(cmd) => {
            common::load_engine(&cli.global).and_then(|e| rules_cmd::run(&cmd, &e.rules))
        }
        Command::Db(cmd) => db::run(&cli.global, &cmd),
        Command::Serve(args) => serve::run(&cli.global, &args),
        Command::Man(args) => manual::man(&args),
        Command::Completions(args) => manual::completions(&args),
        Command::Milter(args) => milter::run(&cli.global, &args),
    };
    match result {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            if common::is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("mailsift: {}", common::chain(&e));
            ExitCode::from(EXIT_ERROR)
        }
    }
}
