//! `mailsift milter`: classify during the SMTP session, through the milter protocol that
//! Postfix and Sendmail speak, so that spam can be refused at the end of DATA (the sending
//! MTA then owns the bounce) instead of bounced later.
//!
//! `codec` is the wire format, `session` one connection's state machine (facts, message,
//! actions), `server` the sockets and the worker pool around the resident engine that `serve`
//! also uses. The protocol is written here rather than taken from a crate: the maintained
//! Rust milter crates are GPL-3.0 (`indymilter`, `milter`, which also needs libmilter) or
//! built on an async runtime (`miltr-server`, tokio) this synchronous program does not use,
//! and the part of the protocol a filter needs is small.

pub mod codec;
pub mod server;
pub mod session;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use mailsift::config::SpamAction;

use crate::common::Global;
use crate::serve::{self, Shared};

/// Options for `mailsift milter`.
#[derive(Debug, Args)]
pub struct MilterArgs {
    /// Where to listen: HOST:PORT, inet:PORT@HOST, unix:PATH or a socket path [default: the
    /// configuration's [milter] listen].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Reject messages scoring at least this with "550 5.7.1" [default: [milter] reject_score;
    /// without one, never].
    #[arg(long, value_name = "SCORE")]
    pub reject_score: Option<f64>,
    /// Defer messages scoring at least this (and under the reject score) with "451 4.7.1"
    /// [default: [milter] tempfail_score; without one, never].
    #[arg(long, value_name = "SCORE")]
    pub tempfail_score: Option<f64>,
    /// Put spam below the reject score on hold (Postfix's hold queue) instead of accepting it
    /// with the headers.
    #[arg(long)]
    pub quarantine: bool,
    /// Classification worker threads [default: the number of CPUs].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Permissions of a Unix socket, in octal (the MTA's user must be able to connect).
    #[arg(long, default_value = "660", value_parser = serve::parse_mode, value_name = "MODE")]
    pub socket_mode: u32,
}

/// Runs the milter until it is killed.
pub fn run(global: &Global, args: &MilterArgs) -> Result<i32> {
    let db = global.db_path()?;
    let shared = Arc::new(Shared::new(db.clone(), global.config.clone())?);
    let mut policy = shared.current().config.milter.clone();
    if let Some(r) = args.reject_score {
        policy.reject_score = Some(r);
    }
    if let Some(t) = args.tempfail_score {
        policy.tempfail_score = Some(t);
    }
    if args.quarantine {
        policy.spam_action = SpamAction::Quarantine;
    }
    for (name, v) in [
        ("--reject-score", policy.reject_score),
        ("--tempfail-score", policy.tempfail_score),
    ] {
        if v.is_some_and(|v| !v.is_finite()) {
            anyhow::bail!("{name} must be a number");
        }
    }
    let listen = args
        .listen
        .clone()
        .or_else(|| policy.listen.clone())
        .context("no address to listen on: give --listen (e.g. 127.0.0.1:11332) or set listen in the [milter] section of the configuration")?;
    let listen = server::parse_listen(&listen)?;
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    // From here on SIGTERM and SIGINT remove the Unix socket (bound in `serve`) as they stop.
    crate::unix_socket::remove_on_signal()?;
    let pool = server::start_pool(
        &shared,
        threads,
        Duration::from_secs(policy.timeout_secs.max(1)),
    )?;
    if !global.quiet {
        eprintln!(
            "mailsift milter: database {}, {threads} worker(s), reject at {}, defer at {}, spam {}",
            db.display(),
            policy
                .reject_score
                .map_or("never".into(), |r| format!("{r:.1}")),
            policy
                .tempfail_score
                .map_or("never".into(), |r| format!("{r:.1}")),
            match policy.spam_action {
                SpamAction::Accept => "accepted with headers",
                SpamAction::Quarantine => "quarantined",
            }
        );
    }
    server::serve(&listen, args.socket_mode, policy, pool, global.quiet)?;
    Ok(0)
}
