//! Tests of the session: negotiation, facts, the rebuilt message, the actions, and the
//! headers against `classify`'s for the same bytes.

use std::cell::RefCell;

use mailsift::config::{MilterConfig, RecipientUser, SpamAction};
use mailsift::{Engine, SmtpFacts};

use super::*;
use crate::classify::{self, Outcome, StoreFault};

/// What Postfix 3.x offers in option negotiation.
const POSTFIX_ACTIONS: u32 = 0x1ff;
const POSTFIX_PROTOCOL: u32 = 0x1f_ffff;

/// What a judge was asked: the message, the facts, the user.
type Asked = (Vec<u8>, SmtpFacts, Option<String>);

/// A judge that records what it was asked and answers with a fixed score.
struct Fixed {
    score: f64,
    seen: RefCell<Vec<Asked>>,
}

impl Fixed {
    fn new(score: f64) -> Fixed {
        Fixed {
            score,
            seen: RefCell::new(Vec::new()),
        }
    }
}

impl Judge for Fixed {
    fn judge(&self, m: &[u8], f: &SmtpFacts, u: Option<&str>) -> Result<Judgement, String> {
        self.seen
            .borrow_mut()
            .push((m.to_vec(), f.clone(), u.map(str::to_owned)));
        Ok(Judgement {
            score: self.score,
            is_spam: self.score >= 5.0,
            fields: vec![(
                "X-Spam-Flag".into(),
                if self.score >= 5.0 { "YES" } else { "NO" }.into(),
            )],
            subject_tag: None,
            warning: None,
            micros: 0,
        })
    }
}

struct Failing;

impl Judge for Failing {
    fn judge(&self, _: &[u8], _: &SmtpFacts, _: Option<&str>) -> Result<Judgement, String> {
        Err("classification took longer than 20 s (timeout_secs)".into())
    }
}

fn optneg(protocol: u32) -> Command {
    Command::OptNeg {
        version: 6,
        actions: POSTFIX_ACTIONS,
        protocol,
    }
}

/// Splits a message into the header and body commands Postfix sends: values with their
/// leading space, folded lines joined with LF, the body as it is.
fn content_commands(msg: &[u8]) -> Vec<Command> {
    let block = mailsift::headers::header_block(msg).expect("header block");
    let mut out = Vec::new();
    let head = &msg[block.start..block.end];
    let mut fields: Vec<Vec<u8>> = Vec::new();
    for line in head.split_inclusive(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match (line.first(), fields.last_mut()) {
            (Some(b' ' | b'\t'), Some(f)) => {
                f.push(b'\n');
                f.extend_from_slice(line);
            }
            _ => fields.push(line.to_vec()),
        }
    }
    for f in fields {
        let colon = f.iter().position(|&b| b == b':').expect("colon");
        out.push(Command::Header {
            name: f[..colon].to_vec(),
            value: f[colon + 1..].to_vec(),
        });
    }
    out.push(Command::EndOfHeaders);
    // Skip the empty line that ends the header block.
    let rest = &msg[block.end..];
    let body = rest
        .strip_prefix(b"\r\n")
        .or_else(|| rest.strip_prefix(b"\n"))
        .unwrap_or(rest);
    for chunk in body.chunks(65535) {
        out.push(Command::Body(chunk.to_vec()));
    }
    out.push(Command::EndOfBody(Vec::new()));
    out
}

/// A whole SMTP transaction as an MTA drives it, returning every reply sent.
fn transaction(session: &mut Session, judge: &dyn Judge, msg: &[u8], rcpts: &[&str]) -> Vec<Reply> {
    let mut cmds = vec![
        Command::Connect {
            hostname: b"mx.example.org".to_vec(),
            family: b'4',
            port: 40000,
            address: b"192.0.2.7".to_vec(),
        },
        Command::Helo(b"mx.example.org".to_vec()),
        Command::Mail(vec![b"<a@example.org>".to_vec()]),
    ];
    for r in rcpts {
        cmds.push(Command::Rcpt(vec![format!("<{r}>").into_bytes()]));
    }
    cmds.push(Command::Data);
    cmds.extend(content_commands(msg));
    let mut replies = Vec::new();
    for c in cmds {
        let step = session.handle(c, judge);
        assert!(!step.close);
        replies.extend(step.replies);
    }
    replies
}

/// Applies header changes to a message as the MTA does, in CRLF form.
fn apply(msg: &[u8], replies: &[Reply]) -> Vec<u8> {
    let cmds = content_commands(msg);
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut body = Vec::new();
    for c in cmds {
        match c {
            Command::Header { name, value } => headers.push((
                String::from_utf8_lossy(&name).into_owned(),
                String::from_utf8_lossy(&value).into_owned(),
            )),
            Command::Body(b) => body.extend_from_slice(&b),
            _ => {}
        }
    }
    for r in replies {
        match r {
            Reply::ChangeHeader { index, name, value } => {
                let pos = headers
                    .iter()
                    .enumerate()
                    .filter(|(_, (n, _))| n.eq_ignore_ascii_case(name))
                    .nth(*index as usize - 1)
                    .map(|(i, _)| i)
                    .expect("the field to change exists");
                if value.is_empty() {
                    headers.remove(pos);
                } else {
                    headers[pos].1 = value.clone();
                }
            }
            Reply::AddHeader { name, value } => headers.push((name.clone(), value.clone())),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (n, v) in headers {
        out.extend_from_slice(format!("{n}:{}\r\n", v.replace('\n', "\r\n")).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    out
}

fn crlf(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut prev = 0;
    for &b in msg {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

const HAM: &[u8] = b"Received: from mx.example.org (mx.example.org [192.0.2.7])\r\n\tby mail.example.net (Postfix) with ESMTP id 4ABC\r\n\tfor <b@example.net>; Wed, 2 Dec 2026 05:00:00 +0000\r\nFrom: a@example.org\r\nX-Spam-Flag: YES\r\nSubject: lunch\r\n\ttomorrow?\r\nx-spam-flag: NO\r\n\r\nSee you at noon.\r\n";

#[test]
fn negotiates_no_replies_and_kept_leading_space() {
    let policy = MilterConfig::default();
    let mut s = Session::new(&policy);
    let step = s.handle(optneg(POSTFIX_PROTOCOL), &Fixed::new(0.0));
    let Reply::OptNeg {
        version,
        actions,
        protocol: p,
    } = step.replies[0]
    else {
        panic!("not an OptNeg reply: {step:?}");
    };
    assert_eq!(version, 6);
    assert_eq!(
        actions,
        action::ADD_HEADERS | action::CHANGE_HEADERS | action::QUARANTINE
    );
    assert_eq!(
        p,
        NO_REPLY | protocol::HEADER_LEADING_SPACE | protocol::NO_UNKNOWN
    );
    // Only the end of the body is answered.
    let replies = transaction(&mut s, &Fixed::new(0.0), HAM, &["b@example.net"]);
    assert_eq!(replies.last(), Some(&Reply::Continue));
    assert!(!replies.is_empty() && replies.iter().all(|r| !matches!(r, Reply::OptNeg { .. })));
    let continues = replies.iter().filter(|r| **r == Reply::Continue).count();
    assert_eq!(continues, 1, "{replies:?}");
}

#[test]
fn answers_every_step_when_the_mta_cannot_skip_replies() {
    let policy = MilterConfig::default();
    let mut s = Session::new(&policy);
    s.handle(optneg(0), &Fixed::new(0.0));
    let replies = transaction(&mut s, &Fixed::new(0.0), HAM, &["b@example.net"]);
    // connect, helo, mail, rcpt, data, 5 headers, eoh, 1 body chunk, and the final continue.
    let continues = replies.iter().filter(|r| **r == Reply::Continue).count();
    assert_eq!(continues, 5 + 5 + 1 + 1 + 1, "{replies:?}");
}

#[test]
fn rebuilds_the_message_byte_for_byte_and_collects_the_facts() {
    let policy = MilterConfig::default();
    let mut s = Session::new(&policy);
    let judge = Fixed::new(0.0);
    s.handle(optneg(POSTFIX_PROTOCOL), &judge);
    s.handle(
        Command::Macro {
            stage: b'C',
            pairs: vec![(b"j".to_vec(), b"mail.example.net".to_vec())],
        },
        &judge,
    );
    s.handle(
        Command::Macro {
            stage: b'M',
            pairs: vec![
                (b"i".to_vec(), b"4ABC".to_vec()),
                (b"{auth_authen}".to_vec(), b"alice".to_vec()),
            ],
        },
        &judge,
    );
    transaction(&mut s, &judge, HAM, &["b@example.net"]);
    let seen = judge.seen.borrow();
    let (msg, facts, user) = &seen[0];
    assert_eq!(msg.as_slice(), HAM);
    assert_eq!(facts.client_ip.as_deref(), Some("192.0.2.7"));
    assert_eq!(facts.client_name.as_deref(), Some("mx.example.org"));
    assert_eq!(facts.helo.as_deref(), Some("mx.example.org"));
    assert_eq!(facts.mail_from.as_deref(), Some("a@example.org"));
    assert_eq!(facts.rcpt_to, ["b@example.net"]);
    assert_eq!(facts.mta_name.as_deref(), Some("mail.example.net"));
    assert_eq!(user.as_deref(), Some("b"));
    // Macros arrive just before their stage's command, and are kept by it.
    assert_eq!(facts.auth_user.as_deref(), Some("alice"));
}

#[test]
fn one_recipient_picks_a_user_several_the_site_model() {
    let policy = MilterConfig::default();
    let judge = Fixed::new(0.0);
    let mut s = Session::new(&policy);
    s.handle(optneg(POSTFIX_PROTOCOL), &judge);
    transaction(&mut s, &judge, HAM, &["Alice+lists@Example.NET"]);
    transaction(
        &mut s,
        &judge,
        HAM,
        &["alice@example.net", "bob@example.net"],
    );
    let seen = judge.seen.borrow();
    assert_eq!(seen[0].2.as_deref(), Some("alice"));
    assert_eq!(seen[1].2, None);
    assert_eq!(
        seen[1].1.rcpt_to.len(),
        2,
        "recipients of the previous message are forgotten"
    );
    assert_eq!(
        user_for("Alice@Example.net", RecipientUser::Address).as_deref(),
        Some("alice@example.net")
    );
    assert_eq!(user_for("alice@example.net", RecipientUser::None), None);
    assert_eq!(
        user_for("\"odd name\"@example.net", RecipientUser::LocalPart),
        None,
        "invalid user: site model"
    );
    assert_eq!(
        user_for("postmaster", RecipientUser::LocalPart).as_deref(),
        Some("postmaster")
    );
}

fn policy(reject: Option<f64>, tempfail: Option<f64>, action: SpamAction) -> MilterConfig {
    MilterConfig {
        reject_score: reject,
        tempfail_score: tempfail,
        spam_action: action,
        ..MilterConfig::default()
    }
}

fn final_replies(p: &MilterConfig, score: f64) -> (Vec<Reply>, String) {
    let mut s = Session::new(p);
    let judge = Fixed::new(score);
    s.handle(optneg(POSTFIX_PROTOCOL), &judge);
    let mut replies = Vec::new();
    let mut log = String::new();
    for c in [
        Command::Mail(vec![b"<a@x>".to_vec()]),
        Command::Rcpt(vec![b"<b@y>".to_vec()]),
    ]
    .into_iter()
    .chain(content_commands(HAM))
    {
        let step = s.handle(c, &judge);
        replies.extend(step.replies);
        if let Some(l) = step.log {
            log = l;
        }
    }
    (replies, log)
}

#[test]
fn actions_follow_the_score_bands() {
    let p = policy(Some(15.0), Some(10.0), SpamAction::Accept);
    let (r, log) = final_replies(&p, 20.0);
    assert_eq!(
        r,
        [Reply::Smtp(
            "550 5.7.1 Message rejected as spam (score 20.0)".into()
        )]
    );
    assert!(
        log.contains("score=20.0") && log.contains("rejected"),
        "{log}"
    );
    let (r, _) = final_replies(&p, 15.0);
    assert!(
        matches!(&r[..], [Reply::Smtp(c)] if c.starts_with("550 5.7.1 ")),
        "at the score: {r:?}"
    );
    let (r, _) = final_replies(&p, 12.0);
    assert!(
        matches!(&r[..], [Reply::Smtp(c)] if c.starts_with("451 4.7.1 ")),
        "{r:?}"
    );
    // Spam under the bands: the incoming X-Spam-* fields deleted (last first), ours added.
    let (r, log) = final_replies(&p, 7.0);
    assert_eq!(
        r,
        [
            Reply::ChangeHeader {
                index: 2,
                name: "X-Spam-Flag".into(),
                value: String::new()
            },
            Reply::ChangeHeader {
                index: 1,
                name: "X-Spam-Flag".into(),
                value: String::new()
            },
            Reply::AddHeader {
                name: "X-Spam-Flag".into(),
                value: " YES".into()
            },
            Reply::Continue,
        ]
    );
    assert!(log.contains("accepted as spam"), "{log}");
    let (r, _) = final_replies(&policy(None, None, SpamAction::Quarantine), 7.0);
    assert!(
        r.contains(&Reply::Quarantine("spam, score 7.0".into())),
        "{r:?}"
    );
    let (r, _) = final_replies(&policy(None, None, SpamAction::Quarantine), 1.0);
    assert!(
        !r.iter().any(|x| matches!(x, Reply::Quarantine(_))),
        "ham is not held: {r:?}"
    );
    // No reject score: never rejected.
    let (r, _) = final_replies(&MilterConfig::default(), 1000.0);
    assert!(!r.iter().any(|x| matches!(x, Reply::Smtp(_))), "{r:?}");
}

#[test]
fn a_failed_classification_continues_and_logs() {
    let p = policy(Some(1.0), None, SpamAction::Accept);
    let mut s = Session::new(&p);
    s.handle(optneg(POSTFIX_PROTOCOL), &Failing);
    let mut last = Step::default();
    for c in content_commands(HAM) {
        last = s.handle(c, &Failing);
    }
    assert_eq!(last.replies, [Reply::Continue]);
    let log = last.log.expect("logged");
    assert!(
        log.contains("timeout_secs") && log.contains("passed on unclassified"),
        "{log}"
    );
}

#[test]
fn abort_forgets_the_message_and_quit_closes() {
    let p = MilterConfig::default();
    let judge = Fixed::new(0.0);
    let mut s = Session::new(&p);
    s.handle(optneg(POSTFIX_PROTOCOL), &judge);
    s.handle(
        Command::Header {
            name: b"Subject".to_vec(),
            value: b" first".to_vec(),
        },
        &judge,
    );
    assert_eq!(s.handle(Command::Abort, &judge), Step::default());
    s.handle(
        Command::Header {
            name: b"Subject".to_vec(),
            value: b" second".to_vec(),
        },
        &judge,
    );
    s.handle(Command::EndOfBody(b"b\r\n".to_vec()), &judge);
    assert_eq!(judge.seen.borrow()[0].0, b"Subject: second\r\n\r\nb\r\n");
    assert!(s.handle(Command::Quit, &judge).close);
}

#[test]
fn an_old_mta_is_refused() {
    let p = MilterConfig::default();
    let step = Session::new(&p).handle(
        Command::OptNeg {
            version: 1,
            actions: 0,
            protocol: 0,
        },
        &Fixed::new(0.0),
    );
    assert!(step.close && step.log.is_some());
}

/// The judge `mailsift milter` uses, minus the threads: the real engine, no database.
struct EngineJudge {
    engine: Engine,
    subject_tag: Option<String>,
}

impl Judge for EngineJudge {
    fn judge(&self, m: &[u8], f: &SmtpFacts, user: Option<&str>) -> Result<Judgement, String> {
        let fault = untrained();
        let classify::Scanned {
            verdict: v,
            warning,
        } = classify::scan(&self.engine, Err(&fault), user, &f.rcpt_to, m)?;
        Ok(Judgement {
            score: v.score,
            is_spam: v.is_spam,
            fields: v.header_fields(),
            subject_tag: self.subject_tag.clone(),
            warning,
            micros: 0,
        })
    }
}

fn untrained() -> StoreFault {
    StoreFault {
        message: "no database".into(),
        untrained: true,
    }
}

/// House style #13: the milter's changes turn the message into exactly what `classify`
/// writes for the same bytes (headers removed, added, Subject tagged).
#[test]
fn headers_are_the_ones_classify_writes() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../corpora/fixtures");
    let mut messages: Vec<Vec<u8>> = std::fs::read_dir(fixtures)
        .expect("corpora/fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .map(|p| crlf(&std::fs::read(p).expect("read")))
        .collect();
    messages.push(crlf(include_bytes!(
        "../../../tests/fixtures/malformed/spoofed-x-spam.eml"
    )));
    messages.push(HAM.to_vec());
    assert!(messages.len() >= 6);
    let mut spam_seen = false;
    for tag in [None, Some("[SPAM]")] {
        let mut config = mailsift::Config::default();
        config.subject_tag = tag.map(str::to_owned);
        let judge = EngineJudge {
            engine: Engine::new(),
            subject_tag: config.subject_tag.clone(),
        };
        let p = MilterConfig::default();
        for msg in &messages {
            let mut s = Session::new(&p);
            s.handle(optneg(POSTFIX_PROTOCOL), &judge);
            let replies = transaction(&mut s, &judge, msg, &["b@example.net"]);
            let Outcome::Done { output, spam, .. } = classify::classify_ready(
                &judge.engine,
                &config,
                Err(&untrained()),
                Some("b"),
                &["b@example.net".to_owned()],
                msg,
            ) else {
                panic!("classify failed");
            };
            spam_seen |= spam;
            assert_eq!(
                String::from_utf8_lossy(&apply(msg, &replies)),
                String::from_utf8_lossy(&output),
            );
        }
    }
    assert!(
        spam_seen,
        "the fixtures include spam (Subject tagging is exercised)"
    );
}
