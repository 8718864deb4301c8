//! Reading messages from where users keep them: single files, directories of files, Maildir
//! folders (`cur/` and `new/`), and mbox files.

use std::io;
use std::path::{Path, PathBuf};

/// One message read from a source, or why it could not be read.
#[derive(Debug)]
pub struct Item {
    /// Where it came from: a path, or `path:N` for the N-th message of an mbox file that holds
    /// more than one (a file with a single message, mbox `From ` line or not, is just `path`).
    pub label: String,
    /// The raw bytes.
    pub bytes: io::Result<Vec<u8>>,
}

/// A path that could not be listed or read, with the error (which does not repeat the path).
pub type PathError = (PathBuf, io::Error);

/// Expands paths into the message files they hold, in argument order: a file is itself; a
/// Maildir gives the files in `cur/` and `new/`; any other directory gives all regular files
/// under it (recursively, skipping dot-files and Maildir `tmp/`), in sorted order. Links to
/// files count as the files; links to directories are not followed.
pub fn expand(paths: &[PathBuf]) -> Vec<Result<PathBuf, PathError>> {
    let mut out = Vec::new();
    for p in paths {
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => walk(p, &mut out, 0),
            Ok(_) => out.push(Ok(p.clone())),
            Err(e) => out.push(Err((p.clone(), e))),
        }
    }
    out
}

fn walk(dir: &Path, out: &mut Vec<Result<PathBuf, PathError>>, depth: usize) {
    if depth > 32 {
        return;
    }
    let is_maildir = dir.join("cur").is_dir() && dir.join("new").is_dir();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            out.push(Err((dir.to_owned(), e)));
            return;
        }
    };
    let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    names.sort();
    for path in names {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') || (is_maildir && name == "tmp") {
            continue;
        }
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => walk(&path, out, depth + 1),
            Ok(m) if m.is_file() => out.push(Ok(path)),
            // A link to a message file is read: mairix and notmuch search results are
            // Maildirs of links. A link to a directory is not followed (no loops); a dangling
            // link is reported, not skipped in silence.
            Ok(m) if m.file_type().is_symlink() => match std::fs::metadata(&path) {
                Ok(target) if target.is_file() => out.push(Ok(path)),
                Ok(_) => {}
                Err(e) => out.push(Err((path, e))),
            },
            _ => {}
        }
    }
}

/// True when the bytes look like an mbox file (start with a `From ` envelope line).
pub fn is_mbox(bytes: &[u8]) -> bool {
    bytes.starts_with(b"From ")
}

/// Splits an mbox into messages. The envelope `From ` line is dropped and mboxrd quoting
/// (`>From `, `>>From `) is undone by one level.
pub fn split_mbox(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut messages = Vec::new();
    let mut reader = MboxReader::new(bytes);
    // Reading from memory cannot fail.
    while let Ok(Some(m)) = reader.next_message() {
        messages.push(m);
    }
    messages
}

/// Reads an mbox one message at a time, holding only the message being read: memory stays
/// bounded by the largest message, not the file.
pub struct MboxReader<R> {
    input: R,
    line: Vec<u8>,
    /// The line read ahead: the `From ` line that starts the next message.
    pending_from: bool,
    prev_blank: bool,
    done: bool,
}

impl<R: io::BufRead> MboxReader<R> {
    /// A reader over an mbox.
    pub fn new(input: R) -> Self {
        MboxReader {
            input,
            line: Vec::new(),
            pending_from: false,
            prev_blank: true,
            done: false,
        }
    }

    /// The next message, without its envelope line; `None` at the end of the file. Text before
    /// the first `From ` line is not a message and is skipped.
    pub fn next_message(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut current: Option<Vec<u8>> = if self.pending_from {
            self.pending_from = false;
            Some(Vec::new())
        } else {
            None
        };
        while !self.done {
            self.line.clear();
            if self.input.read_until(b'\n', &mut self.line)? == 0 {
                self.done = true;
                break;
            }
            let line = &self.line[..];
            if self.prev_blank && line.starts_with(b"From ") {
                self.prev_blank = false;
                if let Some(mut m) = current.take() {
                    // The blank line before "From " belongs to the mbox, not the message.
                    if m.ends_with(b"\r\n") {
                        m.truncate(m.len() - 2);
                    } else if m.ends_with(b"\n") {
                        m.truncate(m.len() - 1);
                    }
                    self.pending_from = true;
                    return Ok(Some(m));
                }
                current = Some(Vec::new());
                continue;
            }
            if let Some(m) = current.as_mut() {
                let unquoted = line
                    .iter()
                    .position(|&b| b != b'>')
                    .filter(|&n| n > 0 && line[n..].starts_with(b"From "));
                match unquoted {
                    Some(_) => m.extend_from_slice(&line[1..]),
                    None => m.extend_from_slice(line),
                }
            }
            self.prev_blank = line == b"\n" || line == b"\r\n";
        }
        Ok(current)
    }
}

/// Header fields of which a mail message has at least one (RFC 5322 origination, destination
/// and identification fields, trace fields, MIME). A file whose header block names none of
/// them is not taken for a message.
const MESSAGE_FIELDS: &[&str] = &[
    "from",
    "sender",
    "reply-to",
    "to",
    "cc",
    "bcc",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "received",
    "return-path",
    "delivered-to",
    "x-original-to",
    "envelope-to",
    "mime-version",
    "content-type",
];

/// Whether `bytes` is a mail message, for training and scoring: after an optional mbox `From `
/// line, it starts with a header block (one header field per line, `Name: value`, continuation
/// lines indented), and that block has at least one of the fields every message carries
/// (`From`, `To`, `Subject`, `Date`, `Message-ID`, `Received`, `Content-Type`, ...). Dovecot's
/// index and uidlist files, IMAP subscription lists, binaries and plain text are not.
pub fn is_message(bytes: &[u8]) -> bool {
    let Some(block) = crate::headers::header_block(bytes) else {
        return false;
    };
    bytes[block.start..block.end]
        .split(|&b| b == b'\n')
        .filter(|line| !matches!(line.first(), Some(b' ' | b'\t')))
        .filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            std::str::from_utf8(&line[..colon]).ok()
        })
        .any(|name| {
            let name = name.trim_end();
            MESSAGE_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(name))
        })
}

/// The form in which a message is learned (and forgotten): without a leading mbox `From `
/// line, ending in exactly one line ending (the blank line that separates mbox messages, or a
/// missing final newline, is how the message travelled, not the message). Every learning
/// path tokenizes this form, so the same message gives the same digest
/// ([`crate::headers::digest`] ignores the same differences) and the same tokens, however it
/// was delivered: what `forget` or a flip subtracts is exactly what was added.
pub fn learning_form(mut bytes: Vec<u8>) -> Vec<u8> {
    let content_end = bytes
        .iter()
        .rposition(|&b| b != b'\n' && b != b'\r')
        .map_or(0, |p| p + 1);
    if content_end == 0 {
        bytes.clear();
        return bytes;
    }
    let eol: &[u8] = if bytes[content_end..].starts_with(b"\r\n") {
        b"\r\n"
    } else {
        b"\n"
    };
    let tail_ok = bytes.len() == content_end + eol.len() && bytes[content_end..] == *eol;
    if !tail_ok {
        bytes.truncate(content_end);
        bytes.extend_from_slice(eol);
    }
    if is_mbox(&bytes) {
        let first_line = bytes
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |p| p + 1);
        bytes.drain(..first_line);
    }
    bytes
}

/// Reads every message under `paths` (files, directories, Maildirs, mbox files), calling `f`
/// with each. Unreadable files are reported as items with an error, not skipped silently. An
/// mbox is read one message at a time (memory does not grow with its size).
pub fn for_each_message(paths: &[PathBuf], mut f: impl FnMut(Item)) {
    for entry in expand(paths) {
        match entry {
            Err((path, e)) => f(Item {
                label: path.display().to_string(),
                bytes: Err(e),
            }),
            Ok(path) => read_file(&path, &mut f),
        }
    }
}

/// One file: a single message, or each message of an mbox in turn.
fn read_file(path: &Path, f: &mut impl FnMut(Item)) {
    use io::{BufRead, Read};
    let label = path.display().to_string();
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) => {
            return f(Item {
                label,
                bytes: Err(e),
            });
        }
    };
    let mut reader = io::BufReader::with_capacity(64 << 10, file);
    let is_mbox = match reader.fill_buf() {
        Ok(buf) => is_mbox(buf),
        Err(e) => {
            return f(Item {
                label,
                bytes: Err(e),
            });
        }
    };
    if !is_mbox {
        let mut bytes = Vec::new();
        let bytes = reader.read_to_end(&mut bytes).map(|_| bytes);
        return f(Item { label, bytes });
    }
    // Messages are numbered only when the file holds more than one: one message is read ahead
    // (memory stays bounded by two messages).
    let mut mbox = MboxReader::new(reader);
    let mut held = match mbox.next_message() {
        Ok(Some(m)) => m,
        Ok(None) => return,
        Err(e) => {
            return f(Item {
                label,
                bytes: Err(e),
            });
        }
    };
    for i in 1.. {
        match mbox.next_message() {
            Ok(Some(next)) => f(Item {
                label: format!("{label}:{i}"),
                bytes: Ok(std::mem::replace(&mut held, next)),
            }),
            Ok(None) => {
                let label = if i == 1 {
                    label
                } else {
                    format!("{label}:{i}")
                };
                return f(Item {
                    label,
                    bytes: Ok(held),
                });
            }
            Err(e) => {
                f(Item {
                    label: format!("{label}:{i}"),
                    bytes: Ok(held),
                });
                return f(Item {
                    label: format!("{label}:{}", i + 1),
                    bytes: Err(e),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_messages_only_in_a_file_that_holds_several() {
        let dir = std::env::temp_dir().join(format!("mailsift-mbox-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let one = dir.join("one");
        let two = dir.join("two.mbox");
        let missing = dir.join("missing");
        std::fs::write(&one, "From a@b Mon Jan  1 00:00:00 2024\nSubject: a\n\nx\n")
            .expect("write");
        std::fs::write(
            &two,
            "From a@b Mon Jan  1 00:00:00 2024\nSubject: a\n\nx\n\nFrom c@d Mon Jan  1 00:00:00 2024\nSubject: b\n\ny\n",
        )
        .expect("write");
        let mut seen = Vec::new();
        for_each_message(&[two.clone(), missing.clone(), one.clone()], |item| {
            seen.push((item.label, item.bytes.map_err(|e| e.to_string())));
        });
        let labels: Vec<&str> = seen.iter().map(|(l, _)| l.as_str()).collect();
        let (one, two, missing) = (
            one.display().to_string(),
            two.display().to_string(),
            missing.display().to_string(),
        );
        assert_eq!(
            labels,
            [format!("{two}:1"), format!("{two}:2"), missing.clone(), one]
        );
        // The error names the cause once; the label carries the path.
        let err = seen[2].1.as_ref().expect_err("missing file");
        assert!(!err.contains(&missing), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn splits_mbox_and_unquotes() {
        let mbox = b"From a@b Mon Jan  1 00:00:00 2024\nSubject: one\n\nhello\n>From the start\n\nFrom c@d Mon Jan  1 00:00:00 2024\nSubject: two\n\nbye\n";
        let msgs = split_mbox(mbox);
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0], b"Subject: one\n\nhello\nFrom the start\n");
        assert_eq!(msgs[1], b"Subject: two\n\nbye\n");
    }

    #[test]
    fn mbox_is_read_one_message_at_a_time() {
        // A reader that counts what was taken from it: the first message must come out
        // before the rest of the file is read.
        struct Counting<'a> {
            data: &'a [u8],
            taken: std::rc::Rc<std::cell::Cell<usize>>,
        }
        impl io::Read for Counting<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf.len().min(self.data.len()).min(512);
                buf[..n].copy_from_slice(&self.data[..n]);
                self.data = &self.data[n..];
                self.taken.set(self.taken.get() + n);
                Ok(n)
            }
        }
        let mut mbox = Vec::new();
        for i in 0..200 {
            mbox.extend_from_slice(
                format!(
                    "From a@b Mon Jan  1 00:00:00 2024\nSubject: {i}\n\n{}\n\n",
                    "x".repeat(1000)
                )
                .as_bytes(),
            );
        }
        let taken = std::rc::Rc::new(std::cell::Cell::new(0));
        let input = io::BufReader::with_capacity(
            1024,
            Counting {
                data: &mbox,
                taken: taken.clone(),
            },
        );
        let mut reader = MboxReader::new(input);
        let first = reader.next_message().expect("read").expect("a message");
        assert!(first.starts_with(b"Subject: 0\n"));
        assert!(
            taken.get() < 4096,
            "read {} of {} bytes for the first message",
            taken.get(),
            mbox.len()
        );
        let mut n = 1;
        while let Some(m) = reader.next_message().expect("read") {
            assert!(m.starts_with(format!("Subject: {n}\n").as_bytes()));
            n += 1;
        }
        assert_eq!(n, 200);
        assert_eq!(split_mbox(&mbox).len(), 200);
    }

    #[test]
    fn learning_form_drops_the_envelope_and_extra_line_endings() {
        for (raw, want) in [
            (&b"Subject: a\n\nx\n"[..], &b"Subject: a\n\nx\n"[..]),
            (b"Subject: a\n\nx", b"Subject: a\n\nx\n"),
            (b"Subject: a\n\nx\n\n\n", b"Subject: a\n\nx\n"),
            (b"Subject: a\r\n\r\nx\r\n\r\n", b"Subject: a\r\n\r\nx\r\n"),
            (
                b"From a@b Mon Jan  1 2024\nSubject: a\n\nx\n\n",
                b"Subject: a\n\nx\n",
            ),
            (b"\n\n", b""),
        ] {
            assert_eq!(
                learning_form(raw.to_vec()),
                want,
                "{:?}",
                String::from_utf8_lossy(raw)
            );
            assert_eq!(
                crate::headers::digest(raw),
                crate::headers::digest(want),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn only_messages_are_messages() {
        for yes in [
            &b"Subject: a\n\nx"[..],
            b"From a@b Mon Jan  1 00:00:00 2024\nFrom: a@b\n\nbody\n",
            b"Received: from x\n\tby y\nX-Other: 1\n\n",
            b"MESSAGE-ID : <a@b>\r\n\r\n",
        ] {
            assert!(is_message(yes), "{:?}", String::from_utf8_lossy(yes));
        }
        for no in [
            &b""[..],
            b"3 V1700000000 N2 G0123abcd\n1 :1700000000\n",
            b"V\t2\n\nINBOX\nJunk\n",
            b"hello there\nthis is a note\n",
            b"\x7fELF\x02\x01\x01\0\0\0\0",
            b"\x01\x02\x03\x04 Subject: x\n\n",
            b"X-Custom: 1\nFoo: bar\n\nbody",
            b"From a@b Mon Jan  1 00:00:00 2024\n\nno header\n",
        ] {
            assert!(!is_message(no), "{:?}", String::from_utf8_lossy(no));
        }
    }

    #[test]
    fn expands_maildir() {
        let dir = std::env::temp_dir().join(format!("mailsift-maildir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(dir.join(sub)).expect("mkdir");
        }
        std::fs::write(dir.join("cur/1"), "Subject: a\n\nx").expect("write");
        std::fs::write(dir.join("new/2"), "Subject: b\n\ny").expect("write");
        std::fs::write(dir.join("tmp/3"), "partial").expect("write");
        let files: Vec<PathBuf> = expand(std::slice::from_ref(&dir))
            .into_iter()
            .map(|r| r.expect("ok"))
            .collect();
        assert_eq!(files, [dir.join("cur/1"), dir.join("new/2")]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A search-results Maildir (mairix, notmuch) holds links to the messages: they are read.
    /// A dangling link is an error item; a link to a directory is not followed.
    #[cfg(unix)]
    #[test]
    fn expands_links_to_messages() {
        let dir = std::env::temp_dir().join(format!("mailsift-links-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["store", "results/cur", "results/new", "results/tmp"] {
            std::fs::create_dir_all(dir.join(sub)).expect("mkdir");
        }
        std::fs::write(dir.join("store/1"), "Subject: a\n\nx").expect("write");
        let link = |target: &str, name: &str| {
            std::os::unix::fs::symlink(dir.join(target), dir.join("results/cur").join(name))
                .expect("symlink");
        };
        link("store/1", "a");
        link("store/gone", "b");
        link("store", "c");
        let got = expand(&[dir.join("results")]);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(
            got[0].as_ref().expect("a is read"),
            &dir.join("results/cur/a")
        );
        let (path, _) = got[1].as_ref().expect_err("b dangles");
        assert_eq!(path, &dir.join("results/cur/b"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
