//! spamd's wire format, as SpamAssassin's `spamd` speaks it (`spamd/PROTOCOL` in its sources),
//! plus the legacy rspamd dialect Exim's `variant=rspamd` sends. Parsing and formatting only:
//! no classification, no sockets.
//!
//! Request: `VERB SPAMC/1.5\r\n`, header lines `Name: value\r\n`, an empty line, the message.
//! Protocol 1.0 and older have no headers: the message follows the request line. Reply:
//! `SPAMD/1.1 0 EX_OK\r\n`, header lines, an empty line, a body; an error is one line,
//! `SPAMD/1.0 <EX_* code> <text>\r\n`, and the connection closes.
//!
//! Every size and count is capped before anything is allocated for it, and nothing here panics
//! on any input (a property test feeds it arbitrary bytes).

use std::io::{self, BufRead, Read};

use mailsift::Class;

/// Header lines a request may carry (spamd's own limit).
pub const MAX_HEADERS: usize = 255;
/// Longest request or header line accepted.
pub const MAX_LINE: usize = 8 << 10;

/// What the client asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// The verdict only.
    Check,
    /// The verdict and the names of the tests hit.
    Symbols,
    /// The verdict and a report.
    Report,
    /// The verdict, and a report when the message is spam.
    ReportIfSpam,
    /// The verdict and the message as delivered.
    Process,
    /// The verdict and the header of the message as delivered.
    Headers,
    /// Is the server alive?
    Ping,
    /// The client changed its mind.
    Skip,
    /// Learn or forget the message.
    Tell,
}

impl Verb {
    fn parse(word: &[u8]) -> Option<Verb> {
        Some(match word {
            b"CHECK" => Verb::Check,
            b"SYMBOLS" => Verb::Symbols,
            b"REPORT" => Verb::Report,
            b"REPORT_IFSPAM" => Verb::ReportIfSpam,
            b"PROCESS" => Verb::Process,
            b"HEADERS" => Verb::Headers,
            b"PING" => Verb::Ping,
            b"SKIP" => Verb::Skip,
            b"TELL" => Verb::Tell,
            _ => return None,
        })
    }

    /// Whether a message follows the request head.
    pub fn has_body(self) -> bool {
        !matches!(self, Verb::Ping | Verb::Skip)
    }
}

/// Which protocol the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SpamAssassin's (`SPAMC/x.y`).
    Spamc,
    /// rspamd's legacy one (`RSPAMC/x.y`), as Exim's `variant=rspamd` sends it.
    Rspamc,
}

/// sysexits.h codes, as spamd uses them in its status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExCode {
    /// 65: the message cannot be accepted (over the size limit).
    DataErr = 65,
    /// 67: the user name is not acceptable.
    NoUser = 67,
    /// 69: the server will not do this (TELL not enabled, no database).
    Unavailable = 69,
    /// 70: an internal error.
    Software = 70,
    /// 75: try again later (too many connections).
    TempFail = 75,
    /// 76: the request is malformed.
    Protocol = 76,
    /// 77: the client is not allowed.
    NoPerm = 77,
    /// 79: the client took too long.
    Timeout = 79,
}

/// A request that gets an error reply instead of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    /// The status code.
    pub code: ExCode,
    /// The status text, in spamd's wording where spamd has one.
    pub text: String,
}

impl WireError {
    /// A malformed request: `Bad header line: (why)`, as spamd words it.
    pub fn protocol(why: impl std::fmt::Display) -> WireError {
        WireError {
            code: ExCode::Protocol,
            text: format!("Bad header line: ({why})"),
        }
    }

    /// A request the server will not serve.
    pub fn unavailable(why: impl std::fmt::Display) -> WireError {
        WireError {
            code: ExCode::Unavailable,
            text: format!("Service Unavailable: {why}"),
        }
    }

    /// Any other error.
    pub fn new(code: ExCode, text: impl Into<String>) -> WireError {
        WireError {
            code,
            text: text.into(),
        }
    }

    /// The reply line.
    pub fn reply(&self) -> Vec<u8> {
        // One line: the text never carries the client's CR or LF back.
        let text: String = self
            .text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        format!("SPAMD/1.0 {} {text}\r\n", self.code as u8).into_bytes()
    }
}

/// Reading a request failed: a reply is owed (`Wire`), or the connection itself failed.
#[derive(Debug)]
pub enum ReadError {
    /// Answer with this error.
    Wire(WireError),
    /// The socket failed or timed out.
    Io(io::Error),
}

impl From<WireError> for ReadError {
    fn from(e: WireError) -> Self {
        ReadError::Wire(e)
    }
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// A parsed request head.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    /// The verb.
    pub verb: Verb,
    /// The protocol.
    pub dialect: Dialect,
    /// The protocol version (`1.5` for today's spamc, `1.2` for Exim).
    pub version: f64,
    /// `Content-length`.
    pub content_length: Option<u64>,
    /// `User`.
    pub user: Option<String>,
    /// `Compress: zlib`.
    pub zlib: bool,
    /// `Message-class` (TELL).
    pub message_class: Option<Class>,
    /// `Set: local` (TELL).
    pub set_local: bool,
    /// `Set: remote` (TELL; reporting to remote services, which mailsift does not do).
    pub set_remote: bool,
    /// `Remove: local` (TELL).
    pub remove_local: bool,
    /// `Remove: remote` (TELL).
    pub remove_remote: bool,
}

/// A whole request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Its head.
    pub head: Head,
    /// The message (decompressed); empty for PING and SKIP.
    pub message: Vec<u8>,
}

/// Reads one line, without its `\n` (and `\r\n`); `Ok(None)` at end of input before any byte.
/// A line over [`MAX_LINE`] is a protocol error, found without buffering more than that.
fn read_line(r: &mut impl BufRead) -> Result<Option<Vec<u8>>, ReadError> {
    let mut line = Vec::new();
    let n = r.take(MAX_LINE as u64 + 1).read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        if line.len() > MAX_LINE {
            return Err(WireError::protocol(format!("line over {MAX_LINE} bytes")).into());
        }
        return Err(WireError::protocol("EOF during headers").into());
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Some(line))
}

/// Parses `VERB SPAMC/x.y` (or `RSPAMC/x.y`).
pub fn parse_request_line(line: &[u8]) -> Result<(Verb, Dialect, f64), WireError> {
    let bad = || {
        WireError::protocol(format!(
            "not a spamd request: {:?}",
            String::from_utf8_lossy(&line[..line.len().min(80)])
        ))
    };
    let mut words = line.split(|&b| b == b' ').filter(|w| !w.is_empty());
    let (Some(verb), Some(proto), None) = (words.next(), words.next(), words.next()) else {
        return Err(bad());
    };
    let verb = Verb::parse(verb).ok_or_else(bad)?;
    let (dialect, version) = if let Some(v) = proto.strip_prefix(b"SPAMC/") {
        (Dialect::Spamc, v)
    } else if let Some(v) = proto.strip_prefix(b"RSPAMC/") {
        (Dialect::Rspamc, v)
    } else {
        return Err(bad());
    };
    let numeric = !version.is_empty()
        && version.len() <= 8
        && version.iter().all(|b| b.is_ascii_digit() || *b == b'.')
        && version.iter().filter(|&&b| b == b'.').count() <= 1;
    let version: f64 = std::str::from_utf8(version)
        .ok()
        .filter(|_| numeric)
        .and_then(|v| v.parse().ok())
        .ok_or_else(bad)?;
    if dialect == Dialect::Rspamc && !matches!(verb, Verb::Check | Verb::Symbols | Verb::Ping) {
        return Err(WireError::protocol(
            "RSPAMC requests support CHECK, SYMBOLS and PING only",
        ));
    }
    Ok((verb, dialect, version))
}

/// Applies one header line to the head. Unknown headers are ignored, as the protocol asks.
pub fn apply_header(head: &mut Head, line: &[u8]) -> Result<(), WireError> {
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return Err(WireError::protocol("header not in 'Name: value' format"));
    };
    let name = &line[..colon];
    let value = line[colon + 1..].trim_ascii();
    let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
    if is("Content-length") {
        let text = std::str::from_utf8(value).unwrap_or("");
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(WireError::protocol(
                "Content-Length contains non-numeric bytes",
            ));
        }
        // All digits: only overflow can fail, and no message is that long.
        head.content_length = Some(text.parse().unwrap_or(u64::MAX));
    } else if is("User") {
        if value.iter().any(|&b| b < 0x20 || b == 0x7f) {
            return Err(WireError::protocol("User header contains control chars"));
        }
        head.user = Some(String::from_utf8_lossy(value).into_owned());
    } else if is("Compress") {
        if !value.eq_ignore_ascii_case(b"zlib") {
            return Err(WireError::protocol(format!(
                "compression type not supported: {}",
                String::from_utf8_lossy(value)
            )));
        }
        head.zlib = true;
    } else if is("Message-class") {
        head.message_class = Some(if value.eq_ignore_ascii_case(b"spam") {
            Class::Spam
        } else if value.eq_ignore_ascii_case(b"ham") {
            Class::Ham
        } else {
            return Err(WireError::protocol(
                "Message-class header contains invalid class",
            ));
        });
    } else if is("Set") || is("Remove") {
        let value = value.to_ascii_lowercase();
        let local = value.windows(5).any(|w| w == b"local");
        let remote = value.windows(6).any(|w| w == b"remote");
        if is("Set") {
            (head.set_local, head.set_remote) = (local, remote);
        } else {
            (head.remove_local, head.remove_remote) = (local, remote);
        }
    }
    Ok(())
}

/// Reads a request head; `Ok(None)` when the client closed without sending anything.
pub fn read_head(r: &mut impl BufRead) -> Result<Option<Head>, ReadError> {
    let Some(line) = read_line(r)? else {
        return Ok(None);
    };
    let (verb, dialect, version) = parse_request_line(&line)?;
    let mut head = Head {
        verb,
        dialect,
        version,
        content_length: None,
        user: None,
        zlib: false,
        message_class: None,
        set_local: false,
        set_remote: false,
        remove_local: false,
        remove_remote: false,
    };
    // Protocol 1.0 has no headers; PING and SKIP before 1.5 end at the request line.
    let has_headers = if verb.has_body() {
        version > 1.0 || dialect == Dialect::Rspamc
    } else {
        version >= 1.5
    };
    if !has_headers {
        return Ok(Some(head));
    }
    for _ in 0..=MAX_HEADERS {
        let Some(line) = read_line(r)? else {
            return Err(WireError::protocol("EOF during headers").into());
        };
        if line.is_empty() {
            return Ok(Some(head));
        }
        apply_header(&mut head, &line)?;
    }
    Err(WireError::protocol("too many headers").into())
}

/// A message over the size limit.
pub fn too_big(size: u64, max: usize) -> WireError {
    WireError::new(
        ExCode::DataErr,
        format!(
            "Message too big: {size} bytes, over the limit of {max} (mailsift serve: [spamd] max_size)"
        ),
    )
}

/// Reads the message that follows `head`: `Content-length` bytes, or up to the end of input
/// when there is none; inflated when `Compress: zlib`. Never more than `max` bytes.
pub fn read_body(r: &mut impl Read, head: &Head, max: usize) -> Result<Vec<u8>, ReadError> {
    if !head.verb.has_body() {
        return Ok(Vec::new());
    }
    let expected = head.content_length;
    if head.zlib && expected.is_none() {
        return Err(WireError::unavailable("Compress requires Content-length header").into());
    }
    if let Some(n) = expected.filter(|&n| n > max as u64) {
        return Err(too_big(n, max).into());
    }
    let mut raw = Vec::with_capacity(expected.map_or(64 << 10, |n| n as usize));
    r.take(expected.unwrap_or(max as u64 + 1))
        .read_to_end(&mut raw)?;
    match expected {
        Some(n) if raw.len() as u64 != n => {
            return Err(WireError::protocol(format!(
                "Content-Length mismatch: Expected {n} bytes, got {} bytes",
                raw.len()
            ))
            .into());
        }
        None if raw.len() > max => return Err(too_big(raw.len() as u64, max).into()),
        _ => {}
    }
    if !head.zlib {
        return Ok(raw);
    }
    let mut out = Vec::with_capacity(raw.len() * 4);
    flate2::read::ZlibDecoder::new(raw.as_slice())
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| WireError::unavailable(format!("zlib: {e}")))?;
    if out.len() > max {
        return Err(too_big(out.len() as u64, max).into());
    }
    Ok(out)
}

/// Reads a whole request.
pub fn read_request(r: &mut impl BufRead, max: usize) -> Result<Option<Request>, ReadError> {
    let Some(head) = read_head(r)? else {
        return Ok(None);
    };
    let message = read_body(r, &head, max)?;
    Ok(Some(Request { head, message }))
}

/// The verdict as the reply states it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scores {
    /// Spam or not (the server's decision: the printed numbers never contradict it).
    pub spam: bool,
    /// The score.
    pub score: f64,
    /// The threshold.
    pub required: f64,
}

/// The score as printed with `decimals` places, never contradicting the verdict: a message
/// that is not spam but whose rounded score reaches the rounded threshold is shown just under
/// it (SpamAssassin's `get_tag_value_for_score`; clients such as Exim compare the numbers).
pub fn shown_score(s: Scores, decimals: usize) -> String {
    let score = format!("{:.*}", decimals, s.score);
    let required = format!("{:.*}", decimals, s.required);
    let (sv, rv) = (
        score.parse::<f64>().unwrap_or(s.score),
        required.parse::<f64>().unwrap_or(s.required),
    );
    if s.spam || sv < rv {
        return score;
    }
    let step = 10f64.powi(-(decimals as i32));
    let under = format!("{:.*}", decimals, rv - step);
    // Perl prints the number without trailing zeros (5.1 - 0.1 is "5").
    if decimals == 1 {
        if let Some(whole) = under.strip_suffix(".0") {
            return whole.to_owned();
        }
    }
    under
}

/// `Spam: True ; 7.3 / 5.0` (`Yes`/`No` for REPORT_IFSPAM, as spamd answers).
pub fn spam_line(verb: Verb, s: Scores) -> String {
    let word = match (verb == Verb::ReportIfSpam, s.spam) {
        (false, true) => "True",
        (false, false) => "False",
        (true, true) => "Yes",
        (true, false) => "No",
    };
    format!("Spam: {word} ; {} / {:.1}", shown_score(s, 1), s.required)
}

/// The part of an annotated message HEADERS returns: up to and including the empty line
/// after the header (the whole message when there is none).
pub fn header_part(message: &[u8]) -> &[u8] {
    let mut i = 0;
    while let Some(p) = message[i..].iter().position(|&b| b == b'\n') {
        let nl = i + p;
        let rest = &message[nl + 1..];
        if rest.starts_with(b"\n") {
            return &message[..nl + 2];
        }
        if rest.starts_with(b"\r\n") {
            return &message[..nl + 3];
        }
        i = nl + 1;
    }
    message
}

/// The reply to a scanning verb, laid out for the client's protocol version. `body` is the
/// verb's payload: the annotated message (PROCESS), its header part (HEADERS), the test
/// names (SYMBOLS), the report (REPORT, REPORT_IFSPAM when spam); CHECK ignores it.
pub fn scan_reply(head: &Head, s: Scores, body: &[u8]) -> Vec<u8> {
    let v = head.version;
    let spam = spam_line(head.verb, s);
    let mut out = Vec::with_capacity(body.len() + 96);
    let mut put = |b: &[u8]| out.extend_from_slice(b);
    match head.verb {
        Verb::Process | Verb::Headers if v < 1.2 => {
            put(b"SPAMD/1.0 0 EX_OK\r\n");
            put(body);
        }
        Verb::Process | Verb::Headers => {
            put(b"SPAMD/1.1 0 EX_OK\r\n");
            put(format!("Content-length: {}\r\n", body.len()).as_bytes());
            if v >= 1.3 {
                put(spam.as_bytes());
                put(b"\r\n");
            }
            put(b"\r\n");
            put(body);
        }
        Verb::Check => {
            put(b"SPAMD/1.1 0 EX_OK\r\n");
            put(spam.as_bytes());
            put(b"\r\n\r\n");
        }
        _ => {
            let body: &[u8] = if head.verb == Verb::ReportIfSpam && !s.spam {
                b""
            } else {
                body
            };
            // Before 1.3 the symbol list ends with CRLF (spamd's historical layout).
            let tail: &[u8] = if head.verb == Verb::Symbols && v < 1.3 {
                b"\r\n"
            } else {
                b""
            };
            put(b"SPAMD/1.1 0 EX_OK\r\n");
            if v >= 1.3 {
                put(format!("Content-length: {}\r\n", body.len() + tail.len()).as_bytes());
            }
            put(spam.as_bytes());
            put(b"\r\n\r\n");
            put(body);
            put(tail);
        }
    }
    out
}

/// The reply to an RSPAMC request (what Exim's `variant=rspamd` parses): the verdict as a
/// `Metric:` line with the threshold as both required and reject score, an `Action:` line
/// (`reject` for spam, as Exim sets `$spam_action` for spamd), and for SYMBOLS one `Symbol:`
/// line per test.
pub fn rspamc_reply(head: &Head, s: Scores, symbols: &[(&str, f64)]) -> Vec<u8> {
    let mut out = format!(
        "RSPAMD/1.3 0 EX_OK\r\nMetric: default; {}; {} / {:.2} / {:.2}\r\nAction: {}\r\n",
        if s.spam { "True" } else { "False" },
        shown_score(s, 2),
        s.required,
        s.required,
        if s.spam { "reject" } else { "no action" }
    );
    if head.verb == Verb::Symbols {
        for (name, score) in symbols {
            out.push_str(&format!("Symbol: {name}({score:.2})\r\n"));
        }
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// The reply to PING.
pub fn pong(dialect: Dialect) -> Vec<u8> {
    match dialect {
        Dialect::Spamc => b"SPAMD/1.5 0 PONG\r\n".to_vec(),
        Dialect::Rspamc => b"RSPAMD/1.3 0 PONG\r\n".to_vec(),
    }
}

/// The reply to TELL: what was done.
pub fn tell_reply(did_set: bool, did_remove: bool) -> Vec<u8> {
    let mut out = b"SPAMD/1.1 0 EX_OK\r\n".to_vec();
    if did_set {
        out.extend_from_slice(b"DidSet: local\r\n");
    }
    if did_remove {
        out.extend_from_slice(b"DidRemove: local\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
