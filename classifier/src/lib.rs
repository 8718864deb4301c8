//! mailsift: decide whether an email is spam by combining a naive-Bayes token store (SQLite, or
//! Redis/Valkey shared by several hosts: [`store`])
//! with SpamAssassin-style heuristic rules.
//!
//! The pipeline is a chain of named types; every stage but the store is pure:
//! `&[u8]` → [`MessageView`] → [`Tokens`](tokenize::Tokens) → [`Analysis`] →
//! ([`BayesResult`](bayes::BayesResult) + rule hits) → [`Verdict`].
//!
//! ```no_run
//! use mailsift::{Engine, Store, OpenMode, StoreOptions, Class, Action};
//! # fn main() -> Result<(), mailsift::Error> {
//! let engine = Engine::new();
//! let mut store = Store::open("bayes.db".as_ref(), OpenMode::ReadWrite, StoreOptions::default())?;
//! let spam = b"Subject: cheap pills\n\nBuy now!\n";
//! store.apply(None, &[engine.op(&engine.analyze(spam), Action::Learn(Class::Spam))])?;
//! let verdict = engine.classify(b"Subject: hello\n\nLunch?\n", &store.model(None)?)?;
//! println!("spam={} score={:.1}", verdict.is_spam, verdict.score);
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

pub mod bayes;
pub mod blocks;
pub mod combination;
pub mod config;
pub mod engine;
pub mod error;
pub mod eval;
pub mod facts;
pub mod headers;
pub mod html;
pub mod learn;
pub mod ledger;
pub mod limits;
pub mod logreg;
pub mod message;
pub mod model;
pub mod overlap;
pub mod recipients;
pub mod rules;
pub mod sources;
pub mod store;
pub mod tokenize;
pub mod url;

pub use config::Config;
pub use engine::{Analysis, Engine, Scoring, Verdict};
pub use error::{Error, Result};
pub use facts::SmtpFacts;
pub use limits::Limits;
pub use message::MessageView;
pub use model::{MemoryModel, TokenCounts};
pub use store::{Action, Class, LearnOp, OpenMode, Outcome, Store, StoreOptions};
