//! mailsift: decide whether an email is spam by combining a naive-Bayes token store (SQLite)
//! with SpamAssassin-style heuristic rules.
//!
//! The pipeline is a chain of named types, each stage pure but the store:
//! `&[u8]` → [`MessageView`] → tokens → evidence (Bayes + rule hits) → verdict.

pub mod html;
pub mod limits;
pub mod message;
pub mod rules;
pub mod url;

pub use limits::Limits;
pub use message::MessageView;
