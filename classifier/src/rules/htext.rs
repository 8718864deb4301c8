//! The text a `header` rule matches, as SpamAssassin builds it (`PerMsgStatus::get`).
//!
//! * A field's value is its original text, unfolded and trimmed, with RFC 2047 encoded words
//!   decoded, except in the fields SpamAssassin leaves encoded (Received, Message-ID, Date,
//!   MIME-Version, References, In-Reply-To, List-*). Nothing is re-serialised: `<>` and quotes
//!   stay as written.
//! * `:raw` is the value as written (unfolded, not decoded), with the white space written after
//!   the colon: `Date:raw` of `Date:\tFri, ...` starts with the tab, as in SpamAssassin.
//! * Several instances of a field are joined by newlines; `ALL` is every field as
//!   `Name: value` lines, names as written.
//! * `:addr` and `:name` take the first address (or display name) of the field's first value
//!   that has one, `:host` and `:domain` its host; a missing one is the empty string.

use std::borrow::Cow;

use mail_parser::parsers::MessageStream;

use super::HeaderTarget;
use crate::message::{HeaderField, MessageView};

/// Fields SpamAssassin does not RFC 2047-decode (its bugs 6945 and 7249).
fn keeps_encoding(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        n.as_str(),
        "received"
            | "message-id"
            | "resent-message-id"
            | "date"
            | "resent-date"
            | "mime-version"
            | "references"
            | "in-reply-to"
    ) || n.starts_with("list-")
}

/// A field's value as SpamAssassin's header rules see it.
pub(crate) fn decoded(h: &HeaderField) -> Cow<'_, str> {
    decoded_as(h, false)
}

/// [`decoded`], or with `lossy` as the built-in rules read it ([`HeaderTarget::lossy`]).
fn decoded_as(h: &HeaderField, lossy: bool) -> Cow<'_, str> {
    if keeps_encoding(&h.name) || !h.raw.contains("=?") {
        Cow::Borrowed(&h.raw)
    } else {
        Cow::Owned(decode_words_as(&h.raw, lossy))
    }
}

/// Decodes RFC 2047 encoded words as SpamAssassin does; whitespace between two adjacent
/// encoded words is dropped. Malformed words stay as written.
pub(crate) fn decode_words(s: &str) -> String {
    decode_words_as(s, false)
}

/// [`decode_words`]; with `lossy`, East Asian charsets are read as UTF-8 as mail-parser reads
/// them ([`HeaderTarget::lossy`]).
fn decode_words_as(s: &str, lossy: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    // Output length just after the last decoded word, and the input position then: whitespace
    // alone between it and the next encoded word is dropped.
    let mut after_word: Option<(usize, usize)> = None;
    while i < bytes.len() {
        if bytes[i] == b'=' && bytes.get(i + 1) == Some(&b'?') {
            // East Asian charsets as SpamAssassin decodes them (message/charsets.rs), the
            // others as mail-parser does.
            let east_asian = match lossy {
                true => None,
                false => crate::message::charsets::decode_word(&bytes[i..]),
            };
            let mut stream = MessageStream::new(&bytes[i + 1..]);
            let word = match east_asian {
                Some((text, used)) => Some((text, used - 1)),
                None => stream.decode_rfc2047().map(|t| (t, stream.offset())),
            };
            if let Some((text, used)) = word {
                if let Some((len, at)) = after_word {
                    if bytes[at..i].iter().all(|b| b.is_ascii_whitespace()) {
                        out.truncate(len);
                    }
                }
                out.push_str(&text);
                i += 1 + used;
                after_word = Some((out.len(), i));
                continue;
            }
        }
        // Copy one UTF-8 character.
        let len = utf8_len(bytes[i]);
        let end = (i + len).min(bytes.len());
        out.push_str(s.get(i..end).unwrap_or(""));
        i = end;
    }
    out
}

fn utf8_len(b: u8) -> usize {
    match b {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// The text a header rule matches; `None` when the header is missing.
pub(crate) fn header_text(view: &MessageView, t: &HeaderTarget) -> Option<String> {
    let value = |h: &HeaderField| -> String {
        if t.raw {
            format!("{}{}", h.lead, h.raw)
        } else {
            decoded_as(h, t.lossy).into_owned()
        }
    };
    if t.name == "ALL" {
        let mut s = String::new();
        for h in &view.headers {
            s.push_str(&h.name);
            // `ALL:raw` is the header as written after the colon; `ALL` is `Name: value`.
            s.push_str(if t.raw { ":" } else { ": " });
            s.push_str(&value(h));
            s.push('\n');
        }
        return Some(s);
    }
    let names: &[&str] = match t.name.as_str() {
        n if n.eq_ignore_ascii_case("ToCc") => &["To", "Cc"],
        "MESSAGEID" => &[
            "X-Message-Id",
            "Resent-Message-Id",
            "X-Original-Message-ID",
            "Message-Id",
        ],
        n if n.eq_ignore_ascii_case("EnvelopeFrom") => {
            return envelope_text(envelope_from(view), t);
        }
        _ => &[],
    };
    let single = [t.name.as_str()];
    let names: &[&str] = if names.is_empty() { &single } else { names };
    let mut values: Vec<&HeaderField> = Vec::new();
    for n in names {
        values.extend(
            view.headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case(n)),
        );
    }
    if t.first {
        values.truncate(1);
    } else if t.last && values.len() > 1 {
        values.drain(..values.len() - 1);
    }
    if values.is_empty() {
        return None;
    }
    if t.every && (t.addr || t.display_name) && !(t.host || t.domain) {
        // A header rule reads every address (or name) of every instance, one a line.
        let mut list: Vec<String> = Vec::new();
        for h in &values {
            for (name, addr) in every_mailbox(&h.raw) {
                if t.addr {
                    list.extend(addr);
                } else if let Some(n) = name {
                    let n = if t.raw {
                        n
                    } else {
                        decode_words_as(&n, t.lossy)
                    };
                    let n = if n.trim().is_empty() {
                        n
                    } else {
                        let n = perl_words(&n);
                        match n.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
                            Some(inner) if !inner.contains('\'') => inner.to_owned(),
                            _ => n,
                        }
                    };
                    list.push(n);
                }
            }
        }
        return (!list.is_empty()).then(|| list.join("\n"));
    }
    if t.addr || t.display_name || t.host || t.domain {
        // SpamAssassin reads addresses from the raw value and returns the first one.
        let first = values.iter().find_map(|h| {
            if !t.display_name {
                // The first address SpamAssassin's parser finds (none in `To: XX`).
                let addr = first_address(&h.raw)?;
                let host = addr.rsplit_once('@').map(|(_, h)| h.to_owned());
                return Some(if t.domain {
                    crate::url::registrable_domain(host.as_deref()?).to_owned()
                } else if t.host {
                    host?
                } else {
                    addr
                });
            }
            let (name, _) = first_mailbox(&h.raw)?;
            {
                let n = if t.raw {
                    name
                } else {
                    decode_words_as(&name, t.lossy)
                };
                Some(perl_words(&n))
            }
        });
        return first;
    }
    let texts: Vec<String> = values.into_iter().map(value).collect();
    let mut text = texts.join("\n");
    if t.newline {
        text.push('\n');
    }
    Some(text)
}

/// The text of an `EnvelopeFrom` target given the envelope sender: the address, or its host
/// (`:host`) or registrable domain (`:domain`); `None` when there is no envelope sender.
pub(crate) fn envelope_text(env: Option<String>, t: &HeaderTarget) -> Option<String> {
    let env = env?;
    Some(if t.host || t.domain {
        let host = env.rsplit_once('@').map(|(_, h)| h.to_owned())?;
        if t.domain {
            crate::url::registrable_domain(&host).to_owned()
        } else {
            host
        }
    } else {
        env
    })
}

/// The envelope sender as SpamAssassin finds it from the headers alone: the first address
/// (as `:first:addr` reads it, [`first_address`]) of the first X-Envelope-From,
/// Envelope-Sender or Return-Path that has one, each only when no instance of it comes after a
/// Received header (a later one was added on the way, so is not trusted); none when an
/// X-Sender address and fetchmail's Received line show the message was fetched. A field
/// without an address (`Return-Path: <>`, `Return-Path: yyyy`) gives none and the next field
/// is tried, as in SpamAssassin 4.0.1 (checked with `spamassassin -L -t --cf`).
pub(crate) fn envelope_from(view: &MessageView) -> Option<String> {
    let first_received = view
        .headers
        .iter()
        .position(|h| h.name.eq_ignore_ascii_case("Received"));
    let fetched = view
        .headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case("Received") && h.raw.contains("(fetchmail"));
    let x_sender = view
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("X-Sender"))
        .and_then(|h| first_address(&h.raw));
    if fetched && x_sender.is_some_and(|a| a.contains('@')) {
        return None;
    }
    for name in ["X-Envelope-From", "Envelope-Sender", "Return-Path"] {
        let mut instances = view
            .headers
            .iter()
            .enumerate()
            .filter(|(_, h)| h.name.eq_ignore_ascii_case(name));
        let Some((first, h)) = instances.next() else {
            continue;
        };
        let Some(addr) = first_address(&h.raw) else {
            continue;
        };
        // SpamAssassin distrusts the field when any instance of it follows a Received line
        // (`ALL =~ /^Received:.*?^Return-Path:/smi`), though it reads the first.
        let last = instances.next_back().map_or(first, |(j, _)| j);
        if first_received.is_some_and(|r| r < last) {
            if name == "X-Envelope-From" {
                return None;
            }
            continue;
        }
        return Some(addr);
    }
    None
}

/// The first address of a header value as SpamAssassin's `:addr` reads it ([`every_mailbox`]):
/// `None` when no mailbox of it looks like an address.
pub(crate) fn first_address(v: &str) -> Option<String> {
    every_mailbox(v).into_iter().find_map(|(_, a)| a)
}

/// The first mailbox of an address list: (display name, address), comments and quotes
/// removed from the name. `None` when the list has no mailbox.
pub(crate) fn first_mailbox(v: &str) -> Option<(String, String)> {
    // The first mailbox: the first non-empty piece between top-level `,` and `;`.
    let m = split_top_level(v)
        .into_iter()
        .map(str::trim)
        .find(|m| !m.is_empty())?;
    // A group ("undisclosed-recipients:") has no mailbox before its colon.
    if let Some(lt) = m.find('<') {
        let addr = m[lt + 1..]
            .split('>')
            .next()
            .unwrap_or("")
            .trim()
            .to_owned();
        let name = strip_comments(&m[..lt]);
        let name = name.trim().trim_matches('"').trim().to_owned();
        return Some((name, addr));
    }
    // addr (Name)
    let name = m
        .find('(')
        .map(|o| {
            m[o + 1..]
                .trim_end()
                .trim_end_matches(')')
                .trim()
                .to_owned()
        })
        .unwrap_or_default();
    let addr = strip_comments(m).trim().to_owned();
    if addr.is_empty() || addr.ends_with(':') {
        return None;
    }
    Some((name, addr))
}

/// Every mailbox of an address list as SpamAssassin's internal parser
/// (`Util::_parse_header_addresses`) reads it: (display name, address), the address only
/// when it looks like one (`local@domain`, no white space outside a quoted local part), cut
/// after the domain; a name alone that looks like an address becomes the address.
pub(crate) fn every_mailbox(v: &str) -> Vec<(Option<String>, Option<String>)> {
    let (commas, parens) = (v.matches(',').count(), v.matches('(').count());
    let mut v = v.trim_end().replace("\\\\", "");
    // A group's name ("undisclosed-recipients:") is dropped.
    if let Some(c) = v.find(':') {
        if c > 0 && !v[..c].contains(['"', '(', ')', '<', '>']) {
            v = v[c + 1..].trim_start().to_owned();
        }
    }
    let mut out = Vec::new();
    let mut entries = Vec::new();
    let pieces: Vec<&str> = split_top_level(&v)
        .into_iter()
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .take(1000)
        .collect();
    for &m in &pieces {
        if !entry_parses(m) {
            // The parser stops at an entry its pattern does not read; what is left (this
            // entry and the rest) gives every `<address>` in it, without a name ("last ditch
            // effort").
            let at = m.as_ptr() as usize - v.as_ptr() as usize;
            let rest = &v[at..];
            if rest.contains('@') {
                out.extend(bracketed_addresses(rest).map(|a| (None, Some(a))));
            }
            break;
        }
        entries.push(m);
        let (mut phrase, mut addr) = match angle_start(m) {
            Some(lt) => {
                let inner = m[lt + 1..].split('>').next().unwrap_or("");
                let inner = strip_comments(inner.trim());
                let addr = looks_like_address(&inner).then_some(inner);
                (Some(unquote_phrase(&m[..lt])), addr)
            }
            None => {
                let bare = strip_comments(m);
                let bare = bare.trim();
                if looks_like_address(bare) {
                    (None, Some(bare.to_owned()))
                } else {
                    (Some(unquote_phrase(m)), None)
                }
            }
        };
        addr = addr.filter(|a| !a.starts_with("\"\"@") && a.matches('"').count() != 1);
        if let Some(full) = phrase.as_deref() {
            let p = full.trim();
            let host_ok = p.split_once('@').is_some_and(|(_, h)| fqdn_like(h));
            if addr.is_none() && looks_like_address(p) && p.matches('"').count() != 1 && host_ok {
                addr = Some(p.to_owned());
                phrase = None;
            } else if p.is_empty() || addr.as_deref() == Some(full) {
                // Compared as SpamAssassin's parser holds it: with the white space before
                // `<` (`"a@b.example" <a@b.example>` keeps its name there, spam-2/00320).
                phrase = None;
            }
        }
        if phrase.is_none() {
            // A comment after the address stands in for a missing name.
            phrase = m
                .strip_suffix(')')
                .and_then(|r| r.rfind('(').map(|o| r[o + 1..].to_owned()));
        }
        let addr = addr.map(|a| {
            // `^(([^@]*)@([^@]*)).*`: up to a second `@`.
            let mut parts = a.splitn(3, '@');
            let (u, h) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            format!("{u}@{h}")
        });
        out.push((phrase, addr));
    }
    // SpamAssassin asks Email::Address::XS when its own parser read no entry, fewer entries
    // than the value has commas plus one, or the value may nest comments (two `(`); XS reads
    // the first address in `<...>` and drops what follows it (`<user@[10.1.2.3] [pi]>`). Its
    // reading is taken here only where the own parser found no address at all.
    let consult = out.is_empty() || out.len() < commas + 1 || parens >= 2;
    if consult && out.is_empty() {
        return pieces
            .iter()
            .map(|m| {
                let name = angle_start(m)
                    .map(|lt| unquote_phrase(&m[..lt]))
                    .filter(|n| !n.trim().is_empty());
                (name, angle_addr_spec(m, true))
            })
            .collect();
    }
    if consult && out.iter().all(|(_, a)| a.is_none()) {
        for ((_, addr), m) in out.iter_mut().zip(entries) {
            *addr = angle_addr_spec(m, false);
        }
    }
    out
}

/// Whether SpamAssassin's internal parser reads an entry (`$header_address_re`): a name
/// without `<`, or one `<...>` after an optional name followed only by more `<...>`, a
/// comment and white space (`Bob <bob@example.com> Bobby <bobby@example.com>` is not read).
fn entry_parses(m: &str) -> bool {
    let Some(lt) = angle_start(m) else {
        return true;
    };
    // `< \s* ( [^>\@]* \S+ | \s* ) \s* >`: some `>` closes a text that is blank, or whose `>`
    // and `@` all sit in its last run of non-blank characters.
    let closes = |gt: usize| {
        let inner = m[lt + 1..gt].trim();
        // After the last blank character, whose UTF-8 may take two bytes or more (U+0085).
        let last_run = inner
            .rmatch_indices(char::is_whitespace)
            .next()
            .map_or(0, |(i, w)| i + w.len());
        !inner[..last_run].contains(['>', '@'])
    };
    // The first few `>` are tried (a hostile value with thousands would cost their square).
    m.match_indices('>')
        .map(|(gt, _)| gt)
        .filter(|&gt| gt > lt)
        .take(16)
        .filter(|&gt| closes(gt))
        .any(|gt| {
            let mut tail = m[gt + 1..].trim_start();
            while let Some(r) = tail.strip_prefix('<') {
                let Some(gt) = r.find('>') else {
                    return false;
                };
                tail = r[gt + 1..].trim_start();
            }
            tail.is_empty() || (tail.starts_with('(') && tail.trim_end().ends_with(')'))
        })
}

/// Every `<local@domain>` in a text (`/<($header_address_mailre)>/g`) without `""@` or a lone
/// quote (`_valid_parsed_address`), each cut after its domain.
fn bracketed_addresses(text: &str) -> impl Iterator<Item = String> + '_ {
    // Each `>` with the text after the last `<` before it (an address holds no `<`): one pass.
    let mut from = 0;
    text.match_indices('>').filter_map(move |(gt, _)| {
        let seg = &text[from..gt];
        from = gt + 1;
        let inner = &seg[seg.rfind('<')? + 1..];
        if !looks_like_address(inner)
            || inner.starts_with("\"\"@")
            || inner.matches('"').count() == 1
        {
            return None;
        }
        // Cut after the domain, as the parser cuts (`^(([^@]*)@([^@]*)).*`).
        let mut parts = inner.splitn(3, '@');
        Some(format!("{}@{}", parts.next()?, parts.next()?))
    })
}

/// The first address in an entry's `<...>` as Email::Address::XS reads it: a local part (an
/// atom or a quoted string), `@` and a domain (a dot-atom or a `[...]` literal), white space
/// allowed around the `@`, anything after the domain ignored; `None` when it does not start
/// that way. With `route`, a source route before the address is skipped (below); where the
/// internal parser read the entry (`<@a.com,@b.com:x@b.com>`, an address it rejects),
/// SpamAssassin keeps that reading, so the route is not skipped there.
fn angle_addr_spec(m: &str, route: bool) -> Option<String> {
    let inner = m[angle_start(m)? + 1..].split('>').next()?;
    let atom = |s: &str| {
        s.find(|c: char| c.is_whitespace() || "()<>[]:;@\\,\"".contains(c))
            .unwrap_or(s.len())
    };
    let mut rest = inner.trim_start();
    // A source route (RFC 5322's obs-route, `@relay.example, @other.example:`) before the
    // address is skipped, its `:` optional (SpamAssassin 4.0.1 reads `test@attack.com` in
    // `<@test.com, @test.ru:test@attack.com>` and `x@b.com` in `<@a.com x@b.com>`).
    while route && let Some(domain) = rest.strip_prefix('@') {
        let after = domain.trim_start();
        let after = &after[atom(after)..];
        rest = after.trim_start_matches(|c: char| c.is_whitespace() || c == ',' || c == ':');
    }
    let local_len = match rest.strip_prefix('"') {
        Some(q) => q.find('"')? + 2,
        None => atom(rest),
    };
    let (local, rest) = rest.split_at(local_len);
    let rest = rest.trim_start().strip_prefix('@')?.trim_start();
    let domain_len = match rest.strip_prefix('[') {
        Some(l) => l.find(']')? + 2,
        None => atom(rest),
    };
    let domain = &rest[..domain_len];
    (!local.is_empty() && !domain.is_empty()).then(|| format!("{local}@{domain}"))
}

/// Where a `<...>` address starts, outside quotes and comments.
fn angle_start(m: &str) -> Option<usize> {
    let (mut quoted, mut paren, mut esc) = (false, 0u32, false);
    for (i, c) in m.char_indices() {
        if esc {
            esc = false;
            continue;
        }
        match c {
            '\\' => esc = true,
            '"' if paren == 0 => quoted = !quoted,
            '(' if !quoted => paren += 1,
            ')' if !quoted => paren = paren.saturating_sub(1),
            '<' if !quoted && paren == 0 => return Some(i),
            _ => {}
        }
    }
    None
}

/// The list split at `,` and `;` outside quotes, angle brackets and comments.
fn split_top_level(v: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in top_level(v, &[',', ';']) {
        out.push(&v[start..i]);
        start = i + 1;
    }
    out.push(&v[start..]);
    out
}

/// Positions of the `seps` characters outside quotes, angle brackets and comments.
fn top_level(v: &str, seps: &[char]) -> Vec<usize> {
    let (mut angle, mut paren, mut quoted, mut esc) = (0u32, 0u32, false, false);
    let mut out = Vec::new();
    for (i, c) in v.char_indices() {
        if esc {
            esc = false;
            continue;
        }
        match c {
            '\\' => esc = true,
            '"' if paren == 0 => quoted = !quoted,
            '(' if !quoted => paren += 1,
            ')' if !quoted => paren = paren.saturating_sub(1),
            '<' if !quoted && paren == 0 => angle += 1,
            '>' if !quoted && paren == 0 => angle = angle.saturating_sub(1),
            c if seps.contains(&c) && !quoted && paren == 0 && angle == 0 => out.push(i),
            _ => {}
        }
    }
    out
}

/// A display name: quoted parts unquoted and unescaped, comments removed elsewhere.
fn unquote_phrase(p: &str) -> String {
    let mut out = String::new();
    let mut rest = p;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('"') {
            let mut end = r.len();
            let mut esc = false;
            for (i, c) in r.char_indices() {
                if esc {
                    esc = false;
                } else if c == '\\' {
                    esc = true;
                } else if c == '"' {
                    end = i;
                    break;
                }
            }
            let q = &r[..end];
            let mut unesc = String::with_capacity(q.len());
            let mut chars = q.chars().peekable();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        unesc.push(n);
                    }
                } else {
                    unesc.push(c);
                }
            }
            out.push_str(&unesc);
            rest = r.get(end + 1..).unwrap_or("");
        } else {
            let end = rest.find('"').unwrap_or(rest.len());
            out.push_str(&strip_comments(&rest[..end]));
            rest = &rest[end..];
        }
    }
    out
}

/// `$header_address_mailre`, whole: a quoted or plain local part (no white space, `<>()[],:;`
/// or `@`), `@`, and a domain without white space, `<>()[],:;` or `"` (an `@` allowed), or an
/// address literal.
fn looks_like_address(a: &str) -> bool {
    let (local, domain) = if let Some(r) = a.strip_prefix('"') {
        let Some(close) = r.find('"') else {
            return false;
        };
        match r[close + 1..].strip_prefix('@') {
            Some(d) => ("x", d),
            None => return false,
        }
    } else {
        match a.split_once('@') {
            Some(x) => x,
            None => return false,
        }
    };
    let plain = |s: &str, extra: &[char]| {
        !s.is_empty()
            && !s
                .chars()
                .any(|c| c.is_whitespace() || "<>()[],:;".contains(c) || extra.contains(&c))
    };
    let literal = domain
        .strip_prefix('[')
        .and_then(|d| d.strip_suffix(']'))
        .is_some_and(|d| {
            !d.is_empty()
                && d.chars()
                    .all(|c| c.is_ascii_digit() || c == ':' || c == '.')
        });
    plain(local, &['@']) && (literal || plain(domain, &['"']))
}

/// Two or more labels of letters, digits, `-` and `_`: the address host test of the swap.
fn fqdn_like(h: &str) -> bool {
    let labels: Vec<&str> = h.trim_end_matches('.').split('.').collect();
    labels.len() > 1
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

fn strip_comments(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = 0u32;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// The first comma outside quotes, angle brackets and comments.
pub(crate) fn top_level_comma(v: &str) -> Option<usize> {
    top_level(v, &[',']).first().copied()
}

/// A display name's words joined by single spaces, split at Perl's `\s` on SpamAssassin's
/// UTF-8 octets (space, tab, line breaks, form feed, vertical tab): an ideographic space
/// (U+3000, `!!` in ISO-2022-JP) stays, as it does in SpamAssassin's `From:name`
/// (hard-ham-1/00039, `__FROM_FULL_NAME`).
fn perl_words(n: &str) -> String {
    n.split([' ', '\t', '\n', '\r', '\x0c', '\x0b'])
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
#[path = "htext_tests.rs"]
mod tests;
