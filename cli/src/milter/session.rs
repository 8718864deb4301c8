//! One milter connection as a state machine: commands in, replies out, no I/O. It collects the
//! SMTP facts and rebuilds the message from the header and body callbacks, asks a [`Judge`]
//! at the end of the body, and turns the verdict into the MTA's actions.
//!
//! The rebuilt message is the message as the MTA will deliver it, in SMTP's CRLF form: each
//! header field as `name:value` (the MTA is asked to keep the space after the colon, so the
//! field comes back byte for byte; folded lines are rejoined with CRLF), an empty line, then
//! the body chunks as sent. Postfix does not hand milters the `Received:` field it adds on
//! top; the engine's view gets one built from the SMTP facts in Postfix's layout (see
//! [`SmtpFacts::rules_view`]), so `classify` at delivery, which sees Postfix's own, and the
//! milter judge the same message (tests/milter.rs checks the delivered headers against
//! `classify`'s for the same bytes).

use mailsift::SmtpFacts;
use mailsift::config::{MilterConfig, RecipientUser, SpamAction};

use super::codec::{Command, Reply, VERSION, action, protocol};

/// The largest message buffered for classification; a bigger one is passed on unclassified
/// (Postfix's default `message_size_limit` is 10 MB).
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// What the engine says about a message.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// The total score.
    pub score: f64,
    /// Whether it is spam (score at or above `required_score`).
    pub is_spam: bool,
    /// The `X-Spam-*` fields classify adds, in order (values folded with `"\n\t"`).
    pub fields: Vec<(String, String)>,
    /// The Subject tag to add (spam only, when configured).
    pub subject_tag: Option<String>,
    /// A degradation to log (e.g. rules alone after a database fault).
    pub warning: Option<String>,
    /// How long the engine took, in microseconds (logged).
    pub micros: u64,
}

/// Classifies a rebuilt message with the SMTP facts and the user's model (`None`: site-wide).
pub trait Judge {
    /// The judgement, or why there is none (the message is then passed on unclassified).
    fn judge(
        &self,
        message: &[u8],
        facts: &SmtpFacts,
        user: Option<&str>,
    ) -> Result<Judgement, String>;
}

/// What to do after one command.
#[derive(Debug, Default, PartialEq)]
pub struct Step {
    /// Replies to send, in order.
    pub replies: Vec<Reply>,
    /// Close the connection.
    pub close: bool,
    /// A line for the log.
    pub log: Option<String>,
}

impl Step {
    fn reply(r: Reply) -> Step {
        Step {
            replies: vec![r],
            ..Step::default()
        }
    }
}

/// The steps whose replies are not needed: everything until the end of the body.
const NO_REPLY: u32 = protocol::NR_CONNECT
    | protocol::NR_HELO
    | protocol::NR_MAIL
    | protocol::NR_RCPT
    | protocol::NR_DATA
    | protocol::NR_HEADER
    | protocol::NR_EOH
    | protocol::NR_BODY;

/// One connection's state.
pub struct Session<'a> {
    policy: &'a MilterConfig,
    /// Protocol flags agreed on.
    agreed: u32,
    /// Actions the MTA allows.
    actions: u32,
    facts: SmtpFacts,
    /// Header fields as received: (name, value).
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    body: Vec<u8>,
    too_big: bool,
    size: usize,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// An address without angle brackets.
fn bare(arg: &[u8]) -> String {
    let s = text(arg);
    let s = s.trim();
    s.strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(s)
        .to_owned()
}

/// The user name for a recipient address, or `None` for the site-wide model (also when the
/// name would not be a valid user name).
pub fn user_for(recipient: &str, mapping: RecipientUser) -> Option<String> {
    let lower = recipient.to_ascii_lowercase();
    let name = match mapping {
        RecipientUser::None => return None,
        RecipientUser::Address => lower,
        RecipientUser::LocalPart => {
            let local = lower.rsplit_once('@').map_or(lower.as_str(), |(l, _)| l);
            local.split('+').next().unwrap_or(local).to_owned()
        }
    };
    mailsift::store::validate_user(&name).ok().map(|()| name)
}

impl<'a> Session<'a> {
    /// A new connection under this policy.
    pub fn new(policy: &'a MilterConfig) -> Session<'a> {
        Session {
            policy,
            agreed: 0,
            actions: 0,
            facts: SmtpFacts::default(),
            headers: Vec::new(),
            body: Vec::new(),
            too_big: false,
            size: 0,
        }
    }

    fn reset_message(&mut self) {
        self.headers.clear();
        self.body = Vec::new();
        self.too_big = false;
        self.size = 0;
        self.facts.mail_from = None;
        self.facts.rcpt_to.clear();
        // Not the queue id nor the auth user: their macros arrive just before MAIL.
    }

    /// `Continue` unless the MTA agreed not to wait for a reply to this step.
    fn ack(&self, flag: u32) -> Step {
        if self.agreed & flag != 0 {
            Step::default()
        } else {
            Step::reply(Reply::Continue)
        }
    }

    fn add(&mut self, bytes: usize) -> bool {
        self.size = self.size.saturating_add(bytes);
        if self.size > MAX_MESSAGE_BYTES {
            self.too_big = true;
            self.headers = Vec::new();
            self.body = Vec::new();
        }
        !self.too_big
    }

    /// Handles one command.
    pub fn handle(&mut self, cmd: Command, judge: &dyn Judge) -> Step {
        match cmd {
            Command::OptNeg {
                version,
                actions,
                protocol: offered,
            } => {
                if version < 2 {
                    return Step {
                        close: true,
                        log: Some(format!(
                            "MTA speaks milter protocol {version}; 2 or later is needed"
                        )),
                        ..Step::default()
                    };
                }
                self.actions = actions;
                let want = NO_REPLY | protocol::HEADER_LEADING_SPACE | protocol::NO_UNKNOWN;
                self.agreed = offered & want;
                Step::reply(Reply::OptNeg {
                    version: VERSION.min(version),
                    actions: actions
                        & (action::ADD_HEADERS | action::CHANGE_HEADERS | action::QUARANTINE),
                    protocol: self.agreed,
                })
            }
            Command::Macro { pairs, .. } => {
                for (name, value) in pairs {
                    let v = text(&value);
                    match name.as_slice() {
                        b"j" => self.facts.mta_name = Some(v),
                        // "Postfix 3.7.11": the software, for the Received field's comment.
                        b"v" => {
                            self.facts.mta_software = v.split_whitespace().next().map(str::to_owned)
                        }
                        b"i" => self.facts.queue_id = Some(v),
                        b"{auth_authen}" if !v.is_empty() => self.facts.auth_user = Some(v),
                        b"{client_addr}" if self.facts.client_ip.is_none() => {
                            self.facts.client_ip = Some(v)
                        }
                        b"{client_name}" if self.facts.client_name.is_none() => {
                            self.facts.client_name = Some(v)
                        }
                        _ => {}
                    }
                }
                Step::default() // macros are never answered
            }
            Command::Connect {
                hostname,
                family,
                address,
                ..
            } => {
                // The connect-stage macros came just before: keep them.
                if matches!(family, b'4' | b'6') {
                    let ip = text(&address);
                    self.facts.client_ip = Some(ip.strip_prefix("IPv6:").unwrap_or(&ip).to_owned());
                }
                self.facts.client_name = Some(text(&hostname));
                self.ack(protocol::NR_CONNECT)
            }
            Command::Helo(h) => {
                self.facts.helo = Some(text(&h));
                self.ack(protocol::NR_HELO)
            }
            Command::Mail(args) => {
                self.reset_message();
                self.facts.mail_from = Some(args.first().map(|a| bare(a)).unwrap_or_default());
                self.ack(protocol::NR_MAIL)
            }
            Command::Rcpt(args) => {
                if let Some(a) = args.first() {
                    self.facts.rcpt_to.push(bare(a));
                }
                self.ack(protocol::NR_RCPT)
            }
            Command::Data => self.ack(protocol::NR_DATA),
            Command::Header { name, value } => {
                if self.add(name.len() + value.len() + 4) {
                    self.headers.push((name, value));
                }
                self.ack(protocol::NR_HEADER)
            }
            Command::EndOfHeaders => self.ack(protocol::NR_EOH),
            Command::Body(chunk) => {
                if self.add(chunk.len()) {
                    self.body.extend_from_slice(&chunk);
                }
                self.ack(protocol::NR_BODY)
            }
            Command::EndOfBody(chunk) => {
                if self.add(chunk.len()) {
                    self.body.extend_from_slice(&chunk);
                }
                let step = self.end_of_body(judge);
                self.reset_message();
                self.facts.queue_id = None;
                step
            }
            Command::Abort => {
                self.reset_message();
                Step::default() // never answered
            }
            Command::Quit => Step {
                close: true,
                ..Step::default()
            },
            Command::QuitNewConnection => {
                self.reset_message();
                self.facts = SmtpFacts {
                    mta_name: self.facts.mta_name.take(),
                    mta_software: self.facts.mta_software.take(),
                    ..SmtpFacts::default()
                };
                Step::default()
            }
            Command::Unknown(_) => Step::reply(Reply::Continue),
        }
    }

    /// The message as the MTA will deliver it, in CRLF form.
    pub fn message(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(self.size + 2);
        for (name, value) in &self.headers {
            m.extend_from_slice(name);
            m.push(b':');
            if self.agreed & protocol::HEADER_LEADING_SPACE == 0 && !value.is_empty() {
                m.push(b' ');
            }
            // Folded lines: the MTA joins them with LF (Postfix) or CRLF; CRLF here.
            let mut prev = 0u8;
            for &b in value {
                if b == b'\n' && prev != b'\r' {
                    m.push(b'\r');
                }
                m.push(b);
                prev = b;
            }
            m.extend_from_slice(b"\r\n");
        }
        m.extend_from_slice(b"\r\n");
        m.extend_from_slice(&self.body);
        m
    }

    fn end_of_body(&self, judge: &dyn Judge) -> Step {
        let id = self.facts.queue_id.clone().unwrap_or_else(|| "-".into());
        if self.too_big {
            return Step {
                replies: vec![Reply::Continue],
                log: Some(format!(
                    "{id}: message over {} MB, passed on unclassified",
                    MAX_MESSAGE_BYTES >> 20
                )),
                ..Step::default()
            };
        }
        let user = match self.facts.rcpt_to.as_slice() {
            [one] => user_for(one, self.policy.recipient_user),
            _ => None, // several recipients share one copy: the site-wide model decides
        };
        let j = match judge.judge(&self.message(), &self.facts, user.as_deref()) {
            Ok(j) => j,
            Err(why) => {
                return Step {
                    replies: vec![Reply::Continue],
                    log: Some(format!("{id}: {why}; passed on unclassified")),
                    ..Step::default()
                };
            }
        };
        let who = user.as_deref().unwrap_or("site");
        let mut log = format!(
            "{id}: score={:.1} model={who} classify={:.2}ms",
            j.score,
            j.micros as f64 / 1000.0
        );
        let p = self.policy;
        if p.reject_score.is_some_and(|r| j.score >= r) {
            log.push_str(" rejected");
            return Step {
                replies: vec![Reply::Smtp(format!(
                    "550 5.7.1 Message rejected as spam (score {:.1})",
                    j.score
                ))],
                log: Some(log),
                close: false,
            };
        }
        if p.tempfail_score.is_some_and(|t| j.score >= t) {
            log.push_str(" deferred");
            return Step {
                replies: vec![Reply::Smtp(format!(
                    "451 4.7.1 Message deferred as likely spam (score {:.1}), try again later",
                    j.score
                ))],
                log: Some(log),
                close: false,
            };
        }
        let mut replies = self.header_changes(&j);
        if j.is_spam
            && p.spam_action == SpamAction::Quarantine
            && self.actions & action::QUARANTINE != 0
        {
            log.push_str(" quarantined");
            replies.push(Reply::Quarantine(format!("spam, score {:.1}", j.score)));
        } else {
            log.push_str(if j.is_spam {
                " accepted as spam"
            } else {
                " accepted"
            });
        }
        if let Some(w) = &j.warning {
            log.push_str(&format!(" ({w})"));
        }
        replies.push(Reply::Continue);
        Step {
            replies,
            log: Some(log),
            close: false,
        }
    }

    /// The header changes that make the delivered message what `classify` writes: incoming
    /// `X-Spam-*` fields deleted, the Subject tagged (spam, when configured), ours appended.
    fn header_changes(&self, j: &Judgement) -> Vec<Reply> {
        let lead = if self.agreed & protocol::HEADER_LEADING_SPACE != 0 {
            " "
        } else {
            ""
        };
        let mut out = Vec::new();
        if self.actions & action::CHANGE_HEADERS != 0 {
            // Each X-Spam-* name's occurrences, deleted last first so that indexes hold
            // whether or not the MTA renumbers after a deletion.
            let mut seen: Vec<(String, u32)> = Vec::new();
            for (name, _) in &self.headers {
                if name.len() >= 7 && name[..7].eq_ignore_ascii_case(b"x-spam-") {
                    let n = text(name);
                    match seen.iter_mut().find(|(s, _)| s.eq_ignore_ascii_case(&n)) {
                        Some((_, count)) => *count += 1,
                        None => seen.push((n, 1)),
                    }
                }
            }
            for (name, count) in seen {
                for index in (1..=count).rev() {
                    out.push(Reply::ChangeHeader {
                        index,
                        name: name.clone(),
                        value: String::new(),
                    });
                }
            }
            if let Some(tag) = j.subject_tag.as_deref().filter(|_| j.is_spam) {
                if let Some((name, value)) = self
                    .headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(b"subject"))
                {
                    let v = text(value);
                    let trimmed = v.trim_start_matches([' ', '\t']);
                    out.push(Reply::ChangeHeader {
                        index: 1,
                        name: text(name),
                        value: format!("{lead}{tag} {trimmed}"),
                    });
                }
            }
        }
        if self.actions & action::ADD_HEADERS != 0 {
            for (name, value) in &j.fields {
                out.push(Reply::AddHeader {
                    name: name.clone(),
                    value: format!("{lead}{value}"),
                });
            }
        }
        out
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
