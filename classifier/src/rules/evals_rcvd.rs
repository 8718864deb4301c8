//! Eval tests that read the Received chain as text, for the free-mail services whose own
//! Received lines are well known: a From address at the service with no such line is forged.
//! Same names and meaning as SpamAssassin's HeaderEval tests.

use std::sync::OnceLock;

use super::HeaderTarget;
use super::evals::{Env, EvalDef, no_args};
use super::htext::header_text;
use super::relays::IP;
use crate::message::MessageView;

/// A pattern compiled once; `{IP}` stands for an address. Perl semantics (back-references
/// included) with a step limit: running out of steps is "no match".
struct Rx {
    pattern: &'static str,
    cell: OnceLock<Option<fancy_regex::Regex>>,
}

impl Rx {
    const fn new(pattern: &'static str) -> Rx {
        Rx {
            pattern,
            cell: OnceLock::new(),
        }
    }

    fn compiled(&self) -> Option<&fancy_regex::Regex> {
        self.cell
            .get_or_init(|| {
                fancy_regex::RegexBuilder::new(&self.pattern.replace("{IP}", IP))
                    .backtrack_limit(100_000)
                    .build()
                    .ok()
            })
            .as_ref()
    }

    fn is_match(&self, s: &str) -> bool {
        self.compiled()
            .is_some_and(|r| r.is_match(s).unwrap_or(false))
    }

    /// The first group of the first match.
    fn captures1(&self, s: &str) -> Option<String> {
        let c = self.compiled()?.captures(s).ok().flatten()?;
        Some(c.get(1)?.as_str().to_owned())
    }
}

/// A header as SpamAssassin's `get` returns it (`None` when absent); `addr` for `:addr`.
fn get(view: &MessageView, name: &str, addr: bool) -> Option<String> {
    let t = HeaderTarget {
        key: String::new(),
        name: name.to_owned(),
        raw: false,
        addr,
        display_name: false,
        host: false,
        domain: false,
        first: false,
        last: false,
        every: false,
        lossy: false,
        newline: false,
    };
    header_text(view, &t)
}

fn text(view: &MessageView, name: &str) -> String {
    get(view, name, false).unwrap_or_default()
}

fn squeezed(view: &MessageView, name: &str) -> String {
    text(view, name)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn from_addr_ends(view: &MessageView, re: &Rx) -> bool {
    re.is_match(&get(view, "From", true).unwrap_or_default())
}

/// HeaderEval's `check_outlook_message_id`: a Message-Id in Outlook Express's form
/// (`<` 12 hex digits `$` 8 `$` 8 `@`) whose time token (digits 5-12) is not within 250 of
/// the value Outlook derives from the Date header, nor from the oldest Received header's time.
fn outlook_msgid_invalid(view: &MessageView) -> bool {
    static ID: Rx = Rx::new(r"^<[0-9a-f]{4}([0-9a-f]{8})\$[0-9a-f]{8}\$[0-9a-f]{8}@");
    static RCVD: Rx = Rx::new(r"(\s.?\d+ \S\S\S \d+ \d+:\d+:\d+ \S+).*?\n?\z");
    const FUDGE: i64 = 250;
    let id = text(view, "MESSAGEID");
    let Some(token) = ID
        .captures1(&id)
        .and_then(|h| i64::from_str_radix(&h, 16).ok())
    else {
        return false;
    };
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    let expected = |t: i64| (t as f64 * 0.002_328_306_436_538_7 + 27_111_902.832_984_9) as i64;
    let date = super::dates::parse_rfc822(&text(view, "Date")).unwrap_or(0);
    if (token - expected(date)).abs() < FUDGE {
        return false;
    }
    // All Received headers, each ending in a line break, as SpamAssassin's `get` joins them;
    // Perl's `$` (end, or before a final line break) only lets a date on the last line (the
    // oldest header) match.
    let mut rcvd = text(view, "Received");
    if !rcvd.is_empty() {
        rcvd.push('\n');
    }
    let when = RCVD
        .captures1(&rcvd)
        .and_then(|d| super::dates::parse_rfc822(&d))
        .unwrap_or(0);
    (token - expected(when)).abs() >= FUDGE
}

/// HeaderEval's `check_unresolved_template`: a header line (of SpamAssassin's `ALL`, decoded
/// and unfolded) holds `%` and two capitals, a mail merge's unfilled field, outside the
/// address, subject and message-id headers where such text is normal.
fn unresolved_template(view: &MessageView) -> bool {
    static FIELD: Rx = Rx::new(r"%[A-Z][A-Z_-]");
    static EXEMPT: Rx = Rx::new(
        r"(?i)^(?:X-VMS-To|X-UIDL|X-Face|To|Cc|From|Subject|References|In-Reply-To|(?:X-|Resent-|X-Original-)?Message-Id):",
    );
    text(view, "ALL")
        .split('\n')
        .any(|line| FIELD.is_match(line) && !EXEMPT.is_match(line))
}

/// Every address of an address-list header value, in order (`first_mailbox` on each
/// top-level, comma-separated member).
fn all_addresses(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = v;
    loop {
        let end = super::htext::top_level_comma(rest).unwrap_or(rest.len());
        if let Some((_, a)) = super::htext::first_mailbox(&rest[..end]) {
            if !a.is_empty() {
                out.push(a);
            }
        }
        if end == rest.len() {
            return out;
        }
        rest = &rest[end + 1..];
    }
}

/// HeaderEval's recipient measures: (at least 7 addresses in sorted order, the share of
/// address pairs whose first two characters, or whose hosts' first two characters for
/// different hosts, are equal, over at least 5 addresses). The addresses are those of To and
/// Cc, then Bcc while fewer than 5, neighbours equal but for case counted once, at most 256.
fn recipients(view: &MessageView) -> (bool, f64) {
    const SORTED_COUNT: usize = 7;
    const SIMILAR_COUNT: usize = 5;
    let raw = |name: &str| -> Vec<String> {
        view.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .flat_map(|h| all_addresses(&h.raw))
            .collect()
    };
    let mut inputs = raw("To");
    inputs.extend(raw("Cc"));
    if inputs.len() < SIMILAR_COUNT {
        inputs.extend(raw("Bcc"));
    }
    let mut address: Vec<String> = Vec::new();
    for a in inputs {
        // SpamAssassin's loop stops at an empty or "0" address (Perl falsehood).
        if a.is_empty() || a == "0" {
            break;
        }
        if address.last().is_none_or(|p| !p.eq_ignore_ascii_case(&a)) {
            address.push(a);
        }
        if address.len() == 256 {
            break;
        }
    }
    let mut sorted = address.clone();
    sorted.sort();
    let is_sorted = address.len() >= SORTED_COUNT && sorted == address;
    let mut similar = 0.0;
    if address.len() >= SIMILAR_COUNT {
        let two = |s: &str| s.chars().take(2).collect::<String>();
        let user: Vec<String> = address.iter().map(|a| two(a)).collect();
        // Addresses without `@` add no host, so later hosts shift, as in SpamAssassin.
        let fqhn: Vec<&str> = address
            .iter()
            .filter_map(|a| a.split_once('@').map(|(_, h)| h))
            .collect();
        let host: Vec<String> = fqhn.iter().map(|h| two(h)).collect();
        let (mut hits, mut combinations) = (0u32, 0u32);
        for i in 0..address.len() {
            for j in i + 1..address.len() {
                hits += u32::from(user[i] == user[j]);
                let (hi, hj) = (host.get(i), host.get(j));
                let (fi, fj) = (fqhn.get(i), fqhn.get(j));
                hits += u32::from(
                    hi.map(String::as_str).unwrap_or("") == hj.map(String::as_str).unwrap_or("")
                        && fi.copied().unwrap_or("") != fj.copied().unwrap_or(""),
                );
                combinations += 1;
            }
        }
        similar = f64::from(hits) / f64::from(combinations);
    }
    (is_sorted, similar)
}

pub(crate) static RCVD_EVALS: &[EvalDef] = &[
    EvalDef {
        name: "sorted_recipients",
        signature: "()",
        doc: "At least 7 To/Cc addresses, in sorted order (HeaderEval, SORTED_RECIPS).",
        check: no_args,
        run: |e, _| recipients(e.view).0,
    },
    EvalDef {
        name: "similar_recipients",
        signature: "(min, max)",
        doc: "Over at least 5 To/Cc addresses, the share of pairs with the same first two \
              characters (or different hosts with the same first two) is in [min, max); 'undef' \
              leaves a side open (HeaderEval, SUSPICIOUS_RECIPS).",
        check: |a| {
            super::evals::arity(a, 2, 2)?;
            for x in a {
                if x.0 != "undef" {
                    x.0.parse::<f64>()
                        .map_err(|_| format!("expected a number, got '{}'", x.0))?;
                }
            }
            Ok(())
        },
        run: |e, a| {
            let r = recipients(e.view).1;
            let bound = |x: &super::evals::Arg| x.0.parse::<f64>().ok();
            bound(&a[0]).is_none_or(|m| r >= m) && bound(&a[1]).is_none_or(|m| r < m)
        },
    },
    EvalDef {
        name: "check_unresolved_template",
        signature: "()",
        doc: "A header other than To, Cc, From, Subject, References, In-Reply-To, the \
              Message-Ids, X-VMS-To, X-UIDL and X-Face holds `%` and two capitals, an unfilled \
              template field (HeaderEval, UNRESOLVED_TEMPLATE).",
        check: no_args,
        run: |e, _| unresolved_template(e.view),
    },
    EvalDef {
        name: "check_outlook_message_id",
        signature: "()",
        doc: "The Message-Id has Outlook Express's form but its time token matches neither \
              the Date header nor the oldest Received time (HeaderEval, MSGID_OUTLOOK_INVALID).",
        check: no_args,
        run: |e, _| outlook_msgid_invalid(e.view),
    },
    EvalDef {
        name: "gated_through_received_hdr_remover",
        signature: "()",
        doc: "The message came through a list or gateway that strips Received lines (ezmlm \
              with its Delivered-To and qmail line, MSN groups), or has none at all.",
        check: no_args,
        run: |e, _| gated_through_received_remover(e.view),
    },
    EvalDef {
        name: "check_ratware_name_id",
        signature: "()",
        doc: "The Message-Id is 28 capitals, a dot and a string that is also the From address \
              in angle brackets after a quoted name (HeaderEval, RATWARE_NAME_ID).",
        check: no_args,
        run: |e, _| ratware_name_id(e.view),
    },
    EvalDef {
        name: "check_for_fake_aol_relay_in_rcvd",
        signature: "()",
        doc: "A Received line names an AOL relay (rly-xx00.) that is not in AOL's own layout.",
        check: no_args,
        run: |e, _| fake_aol(e),
    },
    EvalDef {
        name: "check_for_forged_hotmail_received_headers",
        signature: "()",
        doc: "A Received line claims a hotmail.com sender, yet none of Hotmail's own Received \
              layouts (with an X-Originating-IP) is there.",
        check: no_args,
        run: |e, _| hotmail(e.view) == Hotmail::Forged,
    },
    EvalDef {
        name: "check_for_no_hotmail_received_headers",
        signature: "()",
        doc: "From a hotmail.com address, yet no Received line from Hotmail.",
        check: no_args,
        run: |e, _| hotmail(e.view) == Hotmail::Missing,
    },
    EvalDef {
        name: "check_for_forged_eudoramail_received_headers",
        signature: "()",
        doc: "From a eudoramail.com address, without Eudoramail's own Received line and \
              X-Sender-Ip.",
        check: no_args,
        run: |e, _| eudoramail(e.view),
    },
    EvalDef {
        name: "check_for_forged_yahoo_received_headers",
        signature: "()",
        doc: "From a yahoo.com address, yet no relay with a yahoo.com rDNS and no Received \
              line in one of Yahoo's own layouts.",
        check: no_args,
        run: |e, _| yahoo(e),
    },
    EvalDef {
        name: "check_for_forged_juno_received_headers",
        signature: "()",
        doc: "From a juno.com address, without Juno's own Received lines and X-Mailer.",
        check: no_args,
        run: |e, _| juno(e.view),
    },
    EvalDef {
        name: "check_for_forged_gmail_received_headers",
        signature: "()",
        doc: "From a gmail.com address, without Google's X-Received, submission Received \
              line, or X-Gm-Message-State and X-Google-Smtp-Source headers.",
        check: no_args,
        run: |e, _| gmail(e.view),
    },
];

fn fake_aol(e: &Env<'_>) -> bool {
    static RLY: Rx = Rx::new(r"(?i) rly-[a-z][a-z]\d\d\.");
    static VIA: Rx = Rx::new(r"/AOL-\d+\.\d+\.\d+\)");
    static OWN: Rx = Rx::new(r"ESMTP id (?:RELAY|MAILRELAY|MAILIN)");
    let r = squeezed(e.view, "Received");
    RLY.is_match(&r) && !VIA.is_match(&r) && !OWN.is_match(&r)
}

/// HeaderEval's `check_ratware_name_id`: `<` 28 capitals `.` X `>` as the Message-Id and
/// `"name" <X>` in the From header.
fn ratware_name_id(view: &MessageView) -> bool {
    static MID: Rx = Rx::new(r"<[A-Z]{28}\.([^>]+?)>");
    let Some(tail) = MID.captures1(&text(view, "MESSAGEID")) else {
        return false;
    };
    let from = text(view, "From");
    let want = format!("<{tail}>");
    // `\"[^\"]+\"\s*<\Q$1\E>`: a quoted name, optional white space, then the address.
    from.match_indices(&want).any(|(at, _)| {
        from[..at]
            .trim_end()
            .strip_suffix('"')
            .is_some_and(|q| q.rfind('"').is_some_and(|open| open + 1 < q.len()))
    })
}

/// Lists and gateways that strip Received lines: the forgery tests do not apply.
fn gated_through_received_remover(view: &MessageView) -> bool {
    static EZMLM: Rx = Rx::new(r"(?m)^contact \S+@\S+; run by ezmlm$");
    static DLTO: Rx = Rx::new(r"(?m)^mailing list \S+@\S+");
    static QMAIL: Rx = Rx::new(r"qmail \d+ invoked (?:from network|by .{3,20})\); \d+ ... \d+");
    static MSN: Rx = Rx::new(r"from groups\.msn\.com \(\S+\.msn\.com ");
    if get(view, "Mailing-List", false).is_some_and(|t| EZMLM.is_match(&t))
        && DLTO.is_match(&text(view, "Delivered-To"))
        && QMAIL.is_match(&text(view, "Received"))
    {
        return true;
    }
    match get(view, "Received", false) {
        None => true,
        Some(r) => MSN.is_match(&r),
    }
}

#[derive(PartialEq, Eq)]
enum Hotmail {
    Fine,
    Forged,
    Missing,
}

fn hotmail(view: &MessageView) -> Hotmail {
    static PICKUP: Rx =
        Rx::new(r"from mail pickup service by hotmail\.com with Microsoft SMTPSVC;");
    static IPRX: Rx = Rx::new(r"{IP}");
    static ORIGINATOR: Rx = Rx::new(r"hotmail\.com|msonline\-outlook");
    static OWN_IP: [Rx; 4] = [
        Rx::new(r"from (?:\S*\.)?hotmail.com \(\S+\.hotmail(?:\.msn)?\.com[ \)]"),
        Rx::new(r"from \S*\.hotmail.com \(\[{IP}\][ \):]"),
        Rx::new(r"from \S+ by \S+\.hotmail(?:\.msn)?\.com with HTTP;"),
        Rx::new(r"from \[66\.218.\S+\] by \S+\.yahoo\.com"),
    ];
    static OWN_ORIG: [Rx; 2] = [
        Rx::new(
            r"from \S*\.outbound\.protection\.outlook\.com \(\S+\.outbound\.protection\.outlook\.com[ \)]",
        ),
        Rx::new(r"from \S*\.(?:eur|nam)prd\d+\.prod\.outlook\.com \({IP}\)"),
    ];
    static CLAIMS: Rx = Rx::new(r"(?:from |HELO |helo=)\S*hotmail\.com\b");
    static FROM_HOTMAIL: Rx = Rx::new(r"(?i)\bhotmail\.com$");
    let rcvd = squeezed(view, "Received");
    if PICKUP.is_match(&rcvd) || msn_groups(view) || gated_through_received_remover(view) {
        return Hotmail::Fine;
    }
    let ip = get(view, "X-Originating-Ip", false).is_some_and(|v| IPRX.is_match(&v));
    let orig = get(view, "X-OriginatorOrg", false).is_some_and(|v| ORIGINATOR.is_match(&v));
    if (ip && OWN_IP.iter().any(|r| r.is_match(&rcvd)))
        || (orig && OWN_ORIG.iter().any(|r| r.is_match(&rcvd)))
    {
        return Hotmail::Fine;
    }
    if CLAIMS.is_match(&rcvd) {
        Hotmail::Forged
    } else if from_addr_ends(view, &FROM_HOTMAIL) {
        Hotmail::Missing
    } else {
        Hotmail::Fine
    }
}

/// A genuine MSN Groups message (list address, pickup line, matching Message-Id).
fn msn_groups(view: &MessageView) -> bool {
    let to = text(view, "To");
    let Some(list) = to
        .split('<')
        .nth(1)
        .and_then(|s| s.split('>').next())
        .and_then(|a| {
            a.to_ascii_lowercase()
                .strip_suffix("@groups.msn.com")
                .map(str::to_owned)
        })
    else {
        return false;
    };
    let rcvd = text(view, "Received");
    let Some(server) = rcvd
        .split("from mail pickup service by ")
        .nth(1)
        .and_then(|s| s.split(|c: char| !(c.is_alphanumeric() || c == '.')).next())
        .filter(|s| s.ends_with("groups.msn.com"))
    else {
        return false;
    };
    let msgid = text(view, "Message-Id");
    if list == "notifications" {
        msgid.starts_with('<') && msgid.contains(&format!("@{server}>"))
    } else {
        msgid.starts_with(&format!("<{list}-")) && msgid.contains("@groups.msn.com>") && {
            let env = get(view, "EnvelopeFrom", true).unwrap_or_default();
            env.contains(&format!("{list}-bounce@groups.msn.com"))
        }
    }
}

fn eudoramail(view: &MessageView) -> bool {
    static FROM: Rx = Rx::new(r"(?i)\beudoramail\.com$");
    static IPRX: Rx = Rx::new(r"{IP}");
    static OWN: Rx = Rx::new(r"by \S*whowhere.com;");
    if !from_addr_ends(view, &FROM) || gated_through_received_remover(view) {
        return false;
    }
    let ip = get(view, "X-Sender-Ip", false).is_some_and(|v| IPRX.is_match(&v));
    !(ip && OWN.is_match(&squeezed(view, "Received")))
}

fn yahoo(e: &Env<'_>) -> bool {
    static FROM: Rx = Rx::new(r"(?i)\byahoo\.com$");
    static TRUSTED_RDNS: Rx = Rx::new(r" rdns=\S+\.yahoo\.com ");
    static UNTRUSTED_RDNS: Rx = Rx::new(r"^[^\]]+ rdns=\S+\.yahoo\.com ");
    static OWN: [Rx; 5] = [
        Rx::new(r"by web\S+\.mail\S*\.yahoo\.com via HTTP"),
        Rx::new(r"by sonic\S+\.consmr\.mail\S*\.yahoo\.com with HTTP"),
        Rx::new(r"by smtp\S+\.yahoo\.com with SMTP"),
        Rx::new(r"from \[{IP}\] by \S+\.(?:groups|scd|dcn)\.yahoo\.com with NNFMP"),
        Rx::new(r"by \w+\.\w+\.yahoo\.com \(\d+\.\d+\.\d+/\d+\.\d+\.\d+\)(?: with ESMTP)? id \w+"),
    ];
    static BULK: Rx = Rx::new(r"\bmailer\d+\.bulk\.scd\.yahoo\.com\b");
    static REPLY: Rx = Rx::new(r"(?i)@reply\.yahoo\.com$");
    let view = e.view;
    if !from_addr_ends(view, &FROM) {
        return false;
    }
    let mut rcvd = text(view, "Received");
    if !text(view, "Resent-From").is_empty() && !text(view, "Resent-To").is_empty() {
        let x = text(view, "X-Received");
        if !x.is_empty() {
            rcvd = x;
        }
    }
    let rcvd = rcvd.split_whitespace().collect::<Vec<_>>().join(" ");
    if gated_through_received_remover(view) {
        return false;
    }
    let trusted = e
        .trust
        .pseudo_header("X-Spam-Relays-Trusted")
        .unwrap_or_default();
    let untrusted = e
        .trust
        .pseudo_header("X-Spam-Relays-Untrusted")
        .unwrap_or_default();
    if TRUSTED_RDNS.is_match(&trusted) || UNTRUSTED_RDNS.is_match(&untrusted) {
        return false;
    }
    if OWN.iter().any(|r| r.is_match(&rcvd)) {
        return false;
    }
    !(BULK.is_match(&rcvd) && from_addr_ends(view, &REPLY))
}

fn juno(view: &MessageView) -> bool {
    static FROM: Rx = Rx::new(r"(?i)\bjuno\.com$");
    static OWN: Rx = Rx::new(r"from.*\b(?:juno|untd)\.com.*[\[\(]{IP}[\]\)].*by");
    static COOKIE: Rx = Rx::new(r" cookie\.(?:juno|untd)\.com ");
    static MAILCOM: Rx = Rx::new(r"from.*\bmail\.com.*\[{IP}\].*by");
    static XM_MAILCOM: Rx = Rx::new(r"\bmail\.com");
    static WEBMAIL: Rx = Rx::new(r"from (webmail\S+\.untd\.com) \(\1 \[{IP}\]\) by");
    static XM_WEBMAIL: Rx = Rx::new(r"^Webmail Version \d");
    static IPRX: Rx = Rx::new(r"{IP}");
    if !from_addr_ends(view, &FROM) || gated_through_received_remover(view) {
        return false;
    }
    let xorig = text(view, "X-Originating-IP");
    let xmailer = text(view, "X-Mailer");
    let rcvd = text(view, "Received");
    if !xorig.is_empty() {
        if !OWN.is_match(&rcvd) && !COOKIE.is_match(&rcvd) {
            return true;
        }
        return !xmailer.contains("Juno ");
    }
    if MAILCOM.is_match(&rcvd) {
        if !XM_MAILCOM.is_match(&xmailer) {
            return true;
        }
    } else if WEBMAIL.is_match(&rcvd) {
        if !XM_WEBMAIL.is_match(&xmailer) {
            return true;
        }
    } else {
        return true;
    }
    !IPRX.is_match(&xorig)
}

fn gmail(view: &MessageView) -> bool {
    // Google's header lengths: a genuine X-Gm-Message-State and X-Google-Smtp-Source are at
    // least 60 characters (SpamAssassin's GOOGLE_*_LENGTH_MIN).
    const STATE_MIN: usize = 60;
    static FROM: Rx = Rx::new(r"(?i)\bgmail\.com$");
    static XR_V4: Rx = Rx::new(r"by 10\.\S+ with SMTP id \S+");
    static XR_V6: Rx = Rx::new(r"by 2002:a\d\d:\w+:\S+ with SMTP id \S+");
    static SUBMIT: Rx = Rx::new(r"by smtp\.googlemail\.com with ESMTPSA id \S+");
    if !from_addr_ends(view, &FROM) {
        return false;
    }
    let xr = text(view, "X-Received");
    if XR_V4.is_match(&xr) || XR_V6.is_match(&xr) || SUBMIT.is_match(&text(view, "Received")) {
        return false;
    }
    !(text(view, "X-Gm-Message-State").len() >= STATE_MIN
        && text(view, "X-Google-Smtp-Source").len() >= STATE_MIN)
}
