//! Recipient-aware tokens (tokenizer v4, corpora/EXPERIMENTS.md E20): who the message was
//! delivered to, and that recipient paired with the sender's or the list's identity.
//!
//! One newsletter can be ham for one recipient and spam for another: same sender, same content,
//! a different recipient. A site-wide model learns that only if the recipient and the pairing
//! are evidence of their own:
//! - `rcpt:ADDR`: the delivery recipients: the envelope recipients the MTA gave
//!   ([`MessageView::envelope_to`], from `classify --recipient` or a milter's RCPT TO), then
//!   `Delivered-To`, `X-Original-To` and `Envelope-To` (which MDAs write from the envelope);
//!   else the `To` addresses;
//! - `rcpt|ADDR|list:ID`: a recipient with the `List-Id` of the list that sent the message;
//! - `rcpt|ADDR|from:DOMAIN`: a recipient with the sender's registrable domain;
//! - `rcpt|ADDR|from:ADDR`: a recipient with the sender's address;
//! - with `names` (tokenizer v5, on: E45, E46): `rcpt|ADDR|name:NAME@DOMAIN`, a
//!   recipient with the sender's display name at its registrable domain (a newsletter that
//!   sends each issue from a new address keeps its name);
//! - with `lists` (`--set recipient_lists=true`, off: E29): `rcpt|ADDR|rpath:DOMAIN`, a
//!   recipient with the `Return-Path` registrable domain (a bulk sender's bounce domain), and
//!   `rcpt|ADDR|to:ADDR`, a recipient with each `To`/`Cc` address that is not a recipient (a
//!   group's or list's posting address).
//!
//! At most [`MAX_RECIPIENTS`] recipients are paired.

use crate::message::MessageView;
use crate::url::registrable_domain;

/// Recipients looked at per message.
pub const MAX_RECIPIENTS: usize = 4;

/// The address in a header value such as `<a@b.example>` or `a@b.example (comment)`, lowercased.
pub fn address_of(value: &str) -> Option<String> {
    let v = value.trim();
    let inner = match (v.find('<'), v.rfind('>')) {
        (Some(a), Some(b)) if a < b => &v[a + 1..b],
        _ => v.split_whitespace().next().unwrap_or(""),
    };
    let inner = inner.trim();
    (inner.contains('@') && inner.len() <= 254 && !inner.contains(char::is_whitespace))
        .then(|| inner.to_ascii_lowercase())
}

/// The identity in a `List-Id` value: the part in angle brackets, else the whole, lowercased.
fn list_id(value: &str) -> Option<String> {
    let v = value.trim();
    let id = match (v.rfind('<'), v.rfind('>')) {
        (Some(a), Some(b)) if a < b => &v[a + 1..b],
        _ => v,
    };
    let id = id.trim();
    (!id.is_empty()).then(|| id.chars().take(128).collect::<String>().to_lowercase())
}

/// True for every recipient pair token (`rcpt|...`: list, domain, address and name pairs).
pub fn is_recipient_pair(token: &str) -> bool {
    token.starts_with(PAIR)
}

/// Whether `token` (prefix and value, as the tokenizer joins them) names one sender for one
/// recipient: `rcpt|ADDR|from:ADDR` or `rcpt|ADDR|name:NAME@DOMAIN`, recipient reputation's
/// candidates (E45). Not the list pairs (a list relays many senders) and not the sender's
/// domain (a mailbox provider's domain stands for all its users: E44's spam-2/01189).
pub fn is_sender_pair(token: &str) -> bool {
    let Some(rest) = token.strip_prefix(PAIR) else {
        return false;
    };
    match rest.rsplit_once("|from:") {
        Some((_, sender)) => sender.contains('@'),
        None => rest.contains("|name:"),
    }
}

/// The sender's display name as a recipient pair names it: lowercased, quotes dropped, runs of
/// white space as one space, at most 64 characters; None when there is none.
fn display_name(view: &MessageView) -> Option<String> {
    let name = view.from.first()?.name.as_deref()?;
    let mut out = String::with_capacity(name.len());
    for word in name
        .split(|c: char| c.is_whitespace() || c == '"')
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    let out: String = out.to_lowercase().chars().take(64).collect();
    (!out.is_empty()).then_some(out)
}

/// The prefix of a recipient pair token.
const PAIR: &str = "rcpt|";

/// The message's delivery recipients, at most [`MAX_RECIPIENTS`], lowercased: the envelope
/// recipients, then `Delivered-To`, `X-Original-To` and `Envelope-To`; else the `To` addresses.
pub fn delivery_recipients(view: &MessageView) -> Vec<String> {
    fn add(rcpts: &mut Vec<String>, a: String) {
        if rcpts.len() < MAX_RECIPIENTS && !rcpts.contains(&a) {
            rcpts.push(a);
        }
    }
    let mut rcpts: Vec<String> = Vec::new();
    for a in view.envelope_to.iter().filter_map(|r| address_of(r)) {
        add(&mut rcpts, a);
    }
    for field in &view.headers {
        if matches!(
            field.name.to_ascii_lowercase().as_str(),
            "delivered-to" | "x-original-to" | "envelope-to"
        ) {
            if let Some(a) = address_of(&field.decoded) {
                add(&mut rcpts, a);
            }
        }
    }
    if rcpts.is_empty() {
        for a in view.to.iter().filter_map(|mb| mb.address.as_ref()) {
            add(&mut rcpts, a.to_ascii_lowercase());
        }
    }
    rcpts
}

/// Emits the recipient tokens of a message (see the module documentation); the last argument
/// says the token is a recipient-name pair, which only tokenizer version 5 emits.
pub fn recipient_tokens(
    view: &MessageView,
    lists: bool,
    names: bool,
    emit: &mut dyn FnMut(&str, &str, bool),
) {
    let rcpts = delivery_recipients(view);
    let mut list: Option<String> = None;
    let mut bounce: Option<String> = None;
    for field in &view.headers {
        let name = field.name.to_ascii_lowercase();
        match name.as_str() {
            "list-id" if list.is_none() => list = list_id(&field.decoded),
            "return-path" if bounce.is_none() => {
                bounce = address_of(&field.decoded).and_then(|a| {
                    a.rsplit_once('@')
                        .map(|(_, d)| registrable_domain(d).to_string())
                });
            }
            _ => {}
        }
    }
    let sender = view
        .from
        .first()
        .and_then(|mb| mb.address.as_deref())
        .map(str::to_ascii_lowercase);
    // With `names`: NAME@DOMAIN, the sender's display name at its registrable domain.
    let named = names
        .then(|| display_name(view))
        .flatten()
        .zip(sender.as_deref().and_then(|s| s.rsplit_once('@')))
        .map(|(name, (_, domain))| format!("{name}@{}", registrable_domain(domain)));
    let mut buf = String::with_capacity(128);
    for r in &rcpts {
        emit("rcpt:", r, false);
        let mut pair = |what: &str, id: &str| {
            buf.clear();
            buf.push_str(r);
            buf.push('|');
            buf.push_str(what);
            buf.push_str(id);
            emit(PAIR, &buf, what == "name:");
        };
        if let Some(id) = &list {
            pair("list:", id);
        }
        if let Some(s) = &sender {
            if let Some((_, domain)) = s.rsplit_once('@') {
                pair("from:", registrable_domain(domain));
            }
            pair("from:", s);
        }
        if let Some(id) = &named {
            pair("name:", id);
        }
        if lists {
            if let Some(d) = &bounce {
                pair("rpath:", d);
            }
            for mb in view.to.iter().chain(view.cc.iter()).take(MAX_RECIPIENTS) {
                if let Some(a) = &mb.address {
                    let a = a.to_ascii_lowercase();
                    if !rcpts.contains(&a) {
                        pair("to:", &a);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Limits;

    fn tokens(msg: &str) -> Vec<String> {
        let view = MessageView::parse(msg.as_bytes(), &Limits::default());
        let mut out = Vec::new();
        recipient_tokens(&view, false, false, &mut |p, v, _| {
            out.push(format!("{p}{v}"))
        });
        out
    }

    #[test]
    fn list_pairs_name_the_bounce_domain_and_the_posting_address() {
        let msg = "Return-Path: <Group-bounce@groups.example.com>\nDelivered-To: alice@example.org\n\
                   From: someone@mail.example.net\nTo: \"Group\" <Group@groups.example.com>\n\
                   Cc: alice@example.org\nSubject: x\n\nbody\n";
        let view = MessageView::parse(msg.as_bytes(), &Limits::default());
        let mut with = Vec::new();
        recipient_tokens(&view, true, false, &mut |p, v, _| {
            with.push(format!("{p}{v}"))
        });
        for want in [
            "rcpt|alice@example.org|rpath:example.com",
            "rcpt|alice@example.org|to:group@groups.example.com",
        ] {
            assert!(with.iter().any(|x| x == want), "{want} not in {with:?}");
        }
        // A recipient is not paired with itself, and without `lists` neither pair is made.
        assert!(
            !with.iter().any(|x| x.ends_with("|to:alice@example.org")),
            "{with:?}"
        );
        let without = tokens(msg);
        assert!(
            !without
                .iter()
                .any(|x| x.contains("rpath:") || x.contains("|to:")),
            "{without:?}"
        );
        assert_eq!(with.len(), without.len() + 2, "{with:?} / {without:?}");
    }

    #[test]
    fn delivery_headers_pair_with_list_and_sender() {
        let t = tokens(
            "Delivered-To: Alice@Example.org\nX-Original-To: <list-alice@example.org>\n\
             List-Id: News for all <news.lists.example.com>\nFrom: News <news@mail.shop.example.com>\n\
             To: everyone@lists.example.com\nSubject: x\n\nbody\n",
        );
        for want in [
            "rcpt:alice@example.org",
            "rcpt:list-alice@example.org",
            "rcpt|alice@example.org|list:news.lists.example.com",
            "rcpt|alice@example.org|from:example.com",
            "rcpt|alice@example.org|from:news@mail.shop.example.com",
            "rcpt|list-alice@example.org|list:news.lists.example.com",
        ] {
            assert!(t.iter().any(|x| x == want), "{want} not in {t:?}");
        }
        // To is used only without delivery headers.
        assert!(!t.iter().any(|x| x.contains("everyone@")), "{t:?}");
    }

    #[test]
    fn envelope_recipients_come_first_and_replace_to() {
        let msg = "From: News <news@shop.example.com>\nTo: everyone@lists.example.com\n\
                   Subject: x\n\nbody\n";
        let mut view = MessageView::parse(msg.as_bytes(), &Limits::default());
        view.envelope_to = vec!["<Carol@Example.org>".into(), "not an address".into()];
        let mut t = Vec::new();
        recipient_tokens(&view, false, false, &mut |p, v, _| {
            t.push(format!("{p}{v}"))
        });
        for want in [
            "rcpt:carol@example.org",
            "rcpt|carol@example.org|from:example.com",
            "rcpt|carol@example.org|from:news@shop.example.com",
        ] {
            assert!(t.iter().any(|x| x == want), "{want} not in {t:?}");
        }
        // The envelope recipient is the delivery recipient: To is not used beside it.
        assert!(!t.iter().any(|x| x.contains("everyone@")), "{t:?}");
        assert!(!t.iter().any(|x| x.contains("not an")), "{t:?}");
    }

    #[test]
    fn to_is_the_recipient_without_delivery_headers() {
        let t = tokens("From: a@b.example\nTo: Bob <bob@c.example>\nSubject: x\n\nbody\n");
        assert!(t.iter().any(|x| x == "rcpt:bob@c.example"), "{t:?}");
        assert!(
            t.iter().any(|x| x == "rcpt|bob@c.example|from:a@b.example"),
            "{t:?}"
        );
    }

    #[test]
    fn the_same_newsletter_differs_by_recipient() {
        let msg = |to: &str| {
            tokens(&format!(
                "Delivered-To: {to}\nFrom: n@news.example\nSubject: x\n\nbody\n"
            ))
        };
        let (a, b) = (msg("a@site.example"), msg("b@site.example"));
        assert_ne!(a, b);
        assert_eq!(a.len(), b.len());
    }

    #[test]
    fn odd_values_are_ignored_and_capped() {
        let many: String = (0..20)
            .map(|i| format!("Delivered-To: u{i}@x.example\n"))
            .collect();
        let t = tokens(&format!(
            "{many}Delivered-To: not an address\nList-Id: <>\n\nb\n"
        ));
        assert_eq!(
            t.iter().filter(|x| x.starts_with("rcpt:")).count(),
            MAX_RECIPIENTS
        );
        assert!(!t.iter().any(|x| x.contains("list:")), "{t:?}");
    }
}

#[cfg(test)]
mod store_version_tests {
    use crate::engine::Engine;
    use crate::error::Error;
    use crate::store::{Action, Class, OpenMode, Store, StoreOptions};
    use crate::tokenize::TOKENIZER_VERSION;

    /// A store trained with tokenizer v3 (before the recipient tokens) is refused with the
    /// retrain hint; an untrained one is taken over.
    #[test]
    fn v3_stores_are_refused_with_a_hint_or_taken_over_when_empty() {
        let dir = std::env::temp_dir().join(format!("mailsift-v3-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let engine = Engine::default();
        for trained in [true, false] {
            let path = dir.join(format!("t{trained}.db"));
            let _ = std::fs::remove_file(&path);
            {
                let mut store =
                    Store::open(&path, OpenMode::ReadWrite, StoreOptions::default()).expect("open");
                if trained {
                    let op = engine
                        .analyze(b"Subject: hi\n\nhello world\n")
                        .op(Action::Learn(Class::Ham));
                    store.apply(None, &[op]).expect("learn");
                }
            }
            let c = rusqlite::Connection::open(&path).expect("sqlite");
            c.execute(
                "UPDATE meta SET value = '3' WHERE key = 'tokenizer_version'",
                [],
            )
            .expect("set v3");
            drop(c);
            let opened = Store::open(&path, OpenMode::ReadWrite, StoreOptions::default());
            if trained {
                let Err(err) = opened else {
                    panic!("a trained v3 store must be refused");
                };
                assert!(
                    matches!(
                        err,
                        Error::TokenizerMismatch {
                            found: 3,
                            expected: TOKENIZER_VERSION,
                            ..
                        }
                    ),
                    "{err}"
                );
                assert!(err.to_string().contains("retrain"), "{err}");
            } else {
                let store = opened.expect("an empty v3 store is taken over");
                assert_eq!(
                    store.tokenizer_version().expect("version"),
                    TOKENIZER_VERSION
                );
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
