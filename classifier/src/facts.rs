//! What the receiving MTA knows about a message's arrival: the SMTP-stage facts a milter (or a
//! spamd-style front end given them) hands to the engine.
//!
//! The rules see them as SpamAssassin sees the hop that delivered a message to the trusted
//! network: as the topmost `Received:` header field, which is where SpamAssassin's trust path
//! (`X-Spam-Relays-*`) reads the relay's IP address, reverse DNS name, HELO name, envelope
//! sender and whether the client authenticated (`with ESMTPA`/`ESMTPSA`, RFC 3848). When the
//! message already records this hop (Postfix hands milters the `Received:` field it is about to
//! add), nothing is added; otherwise [`SmtpFacts::rules_view`] prepends one, for the rules'
//! view only: the delivered bytes never carry it.

use std::borrow::Cow;

/// The SMTP-stage facts about one message. Every field is optional: an MTA sends what it knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmtpFacts {
    /// The client's IP address, as text.
    pub client_ip: Option<String>,
    /// The client's host name as the MTA resolved it (`unknown` or `[ip]` when it did not).
    pub client_name: Option<String>,
    /// The HELO/EHLO argument.
    pub helo: Option<String>,
    /// The envelope sender (without angle brackets; empty for the null sender).
    pub mail_from: Option<String>,
    /// The envelope recipients (without angle brackets).
    pub rcpt_to: Vec<String>,
    /// The SASL user the client authenticated as.
    pub auth_user: Option<String>,
    /// The receiving MTA's host name.
    pub mta_name: Option<String>,
    /// The receiving MTA's software (`Postfix`), for the field's `by` comment.
    pub mta_software: Option<String>,
    /// The MTA's queue id for the message.
    pub queue_id: Option<String>,
}

/// Characters kept from a fact when it is written into a header field: no line breaks, no
/// parentheses or brackets that would change how the field parses.
fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() && !matches!(c, '(' | ')' | '[' | ']' | ';' | '<' | '>'))
        .take(255)
        .collect()
}

impl SmtpFacts {
    /// The `Received:` field (name included, no line ending) this hop would write, in the form
    /// SpamAssassin's trust path parses (Postfix's own layout); `None` without a client IP.
    /// `date` is an RFC 5322 date.
    pub fn received_field(&self, date: &str) -> Option<String> {
        let ip = clean(self.client_ip.as_deref()?);
        if ip.is_empty() {
            return None;
        }
        let helo = self.helo.as_deref().map_or_else(|| ip.clone(), clean);
        // Postfix says `unknown` (or the MTA `[ip]`) for a client without a verified name.
        let name = match self.client_name.as_deref() {
            Some(n) if !n.starts_with('[') && !clean(n).is_empty() => clean(n),
            _ => "unknown".to_owned(),
        };
        let mut f = format!("Received: from {helo} ({name} [{ip}])");
        let with = match self.auth_user.as_deref().map(clean) {
            Some(user) if !user.is_empty() => {
                f.push_str(&format!("\n\t(Authenticated sender: {user})"));
                "ESMTPA"
            }
            _ => "ESMTP",
        };
        let by = self
            .mta_name
            .as_deref()
            .map_or_else(|| "localhost".into(), clean);
        let software = self
            .mta_software
            .as_deref()
            .map(clean)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "mailsift milter".into());
        f.push_str(&format!("\n\tby {by} ({software}) with {with}"));
        if let Some(id) = self
            .queue_id
            .as_deref()
            .map(clean)
            .filter(|s| !s.is_empty())
        {
            f.push_str(&format!(" id {id}"));
        }
        if let [one] = self.rcpt_to.as_slice() {
            f.push_str(&format!("\n\tfor <{}>", clean(one)));
        }
        f.push_str(&format!("; {date}"));
        Some(f)
    }

    /// Whether the message's first header field already records this hop: a `Received:`
    /// field naming the client IP in brackets, and saying so when the client authenticated.
    pub fn recorded_in(&self, raw: &[u8]) -> bool {
        let Some(ip) = self.client_ip.as_deref().filter(|ip| !ip.is_empty()) else {
            return true; // nothing to add
        };
        let Some(block) = crate::headers::header_block(raw) else {
            return false;
        };
        let head = &raw[block.start..block.end];
        if head.len() < 9 || !head[..9].eq_ignore_ascii_case(b"received:") {
            return false;
        }
        // The first field with its continuation lines.
        let mut end = 0;
        for line in head.split_inclusive(|&b| b == b'\n') {
            if end > 0 && !matches!(line.first(), Some(b' ' | b'\t')) {
                break;
            }
            end += line.len();
        }
        let first = String::from_utf8_lossy(&head[..end]);
        let names_ip =
            first.contains(&format!("[{ip}]")) || first.contains(&format!("[IPv6:{ip}]"));
        let auth_ok = self.auth_user.is_none()
            || first.contains("ESMTPA")
            || first.contains("ESMTPSA")
            || first.contains("Authenticated sender");
        names_ip && auth_ok
    }

    /// The bytes the rules see: `raw`, with this hop's `Received:` field prepended when the
    /// message does not record it already (in the message's own line ending).
    pub fn rules_view<'a>(&self, raw: &'a [u8], date: &str) -> Cow<'a, [u8]> {
        if self.recorded_in(raw) {
            return Cow::Borrowed(raw);
        }
        let Some(field) = self.received_field(date) else {
            return Cow::Borrowed(raw);
        };
        let crlf = crate::headers::header_block(raw).is_none_or(|b| b.crlf);
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut out = Vec::with_capacity(raw.len() + field.len() + 8);
        out.extend_from_slice(field.replace('\n', eol).as_bytes());
        out.extend_from_slice(eol.as_bytes());
        out.extend_from_slice(raw);
        Cow::Owned(out)
    }
}

/// An RFC 5322 date (UTC) for a Unix time, e.g. `Wed, 02 Dec 2026 05:14:50 +0000`.
pub fn rfc5322_date(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (proleptic Gregorian; Howard Hinnant's method).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} +0000",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1).clamp(0, 11) as usize],
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> SmtpFacts {
        SmtpFacts {
            client_ip: Some("192.0.2.7".into()),
            client_name: Some("mx.example.org".into()),
            helo: Some("mx.example.org".into()),
            mail_from: Some("a@example.org".into()),
            rcpt_to: vec!["b@example.net".into()],
            auth_user: None,
            mta_name: Some("mail.example.net".into()),
            mta_software: None,
            queue_id: Some("4ABC".into()),
        }
    }

    #[test]
    fn dates_are_rfc5322() {
        assert_eq!(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(1_795_928_090),
            "Sun, 29 Nov 2026 04:54:50 +0000"
        );
        assert_eq!(rfc5322_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
    }

    #[test]
    fn received_field_has_postfix_layout() {
        let f = facts().received_field("D").expect("field");
        assert_eq!(
            f,
            "Received: from mx.example.org (mx.example.org [192.0.2.7])\n\tby mail.example.net \
             (mailsift milter) with ESMTP id 4ABC\n\tfor <b@example.net>; D"
        );
        let auth = SmtpFacts {
            auth_user: Some("alice".into()),
            client_name: Some("[192.0.2.7]".into()),
            rcpt_to: vec![],
            ..facts()
        };
        let f = auth.received_field("D").expect("field");
        assert!(f.contains("(unknown [192.0.2.7])"), "{f}");
        let postfix = SmtpFacts {
            mta_software: Some("Postfix".into()),
            ..facts()
        };
        let pf = postfix.received_field("D").expect("field");
        assert!(
            pf.contains("by mail.example.net (Postfix) with ESMTP id 4ABC"),
            "{pf}"
        );
        assert!(f.contains("(Authenticated sender: alice)"), "{f}");
        assert!(f.contains("with ESMTPA"), "{f}");
        assert!(!f.contains("for <"), "{f}");
        assert_eq!(SmtpFacts::default().received_field("D"), None);
        // Nothing from the client can break the field's syntax.
        let hostile = SmtpFacts {
            helo: Some("x\r\nX-Spam-Flag: NO (".into()),
            ..facts()
        };
        let f = hostile.received_field("D").expect("field");
        assert!(!f.contains('\r') && f.matches('\n').count() == 2, "{f}");
    }

    #[test]
    fn prepends_only_when_the_hop_is_not_recorded() {
        let recorded = b"Received: from mx.example.org (mx.example.org [192.0.2.7])\r\n\tby mail.example.net (Postfix) with ESMTP id 4ABC\r\n\tfor <b@example.net>; D\r\nSubject: x\r\n\r\nbody\r\n";
        assert!(matches!(
            facts().rules_view(recorded, "D"),
            Cow::Borrowed(_)
        ));
        let bare = b"Subject: x\n\nbody\n";
        let view = facts().rules_view(bare, "D");
        let text = String::from_utf8_lossy(&view);
        assert!(
            text.starts_with("Received: from mx.example.org (mx.example.org [192.0.2.7])\n\tby"),
            "{text}"
        );
        assert!(text.ends_with("; D\nSubject: x\n\nbody\n"), "{text}");
        // Authenticated, but the MTA's field does not say so: added.
        let auth = SmtpFacts {
            auth_user: Some("alice".into()),
            ..facts()
        };
        assert!(matches!(auth.rules_view(recorded, "D"), Cow::Owned(_)));
        // Another hop's Received on top: added.
        let other = b"Received: from a (b [198.51.100.1])\r\n\tby c; D\r\n\r\n";
        assert!(matches!(facts().rules_view(other, "D"), Cow::Owned(_)));
        // No client IP: nothing to say.
        assert!(matches!(
            SmtpFacts::default().rules_view(bare, "D"),
            Cow::Borrowed(_)
        ));
    }
}
