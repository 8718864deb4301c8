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
/// under it (recursively, skipping dot-files and Maildir `tmp/`), in sorted order.
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
    let mut current: Option<Vec<u8>> = None;
    let mut pos = 0;
    let mut prev_blank = true;
    while pos < bytes.len() {
        let end = bytes[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |p| pos + p + 1);
        let line = &bytes[pos..end];
        if prev_blank && line.starts_with(b"From ") {
            if let Some(mut m) = current.take() {
                // The blank line before "From " belongs to the mbox, not the message.
                if m.ends_with(b"\r\n") {
                    m.truncate(m.len() - 2);
                } else if m.ends_with(b"\n") {
                    m.truncate(m.len() - 1);
                }
                messages.push(m);
            }
            current = Some(Vec::new());
        } else if let Some(m) = current.as_mut() {
            let unquoted = line
                .iter()
                .position(|&b| b != b'>')
                .filter(|&n| n > 0 && line[n..].starts_with(b"From "));
            match unquoted {
                Some(_) => m.extend_from_slice(&line[1..]),
                None => m.extend_from_slice(line),
            }
        }
        prev_blank = line == b"\n" || line == b"\r\n";
        pos = end;
    }
    if let Some(m) = current {
        messages.push(m);
    }
    messages
}

/// Reads every message under `paths` (files, directories, Maildirs, mbox files), in argument
/// order, calling `f` with each. Unreadable files are reported as items with an error (labelled
/// with the path alone, so the error is not repeated), not skipped silently.
pub fn for_each_message(paths: &[PathBuf], mut f: impl FnMut(Item)) {
    for entry in expand(paths) {
        match entry {
            Err((path, e)) => f(Item {
                label: path.display().to_string(),
                bytes: Err(e),
            }),
            Ok(path) => {
                let label = path.display().to_string();
                match std::fs::read(&path) {
                    Ok(bytes) if is_mbox(&bytes) => {
                        let messages = split_mbox(&bytes);
                        let numbered = messages.len() > 1;
                        for (i, m) in messages.into_iter().enumerate() {
                            f(Item {
                                label: if numbered {
                                    format!("{label}:{}", i + 1)
                                } else {
                                    label.clone()
                                },
                                bytes: Ok(m),
                            });
                        }
                    }
                    bytes => f(Item { label, bytes }),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_mbox_and_unquotes() {
        let mbox = b"From a@b Mon Jan  1 00:00:00 2024\nSubject: one\n\nhello\n>From the start\n\nFrom c@d Mon Jan  1 00:00:00 2024\nSubject: two\n\nbye\n";
        let msgs = split_mbox(mbox);
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0], b"Subject: one\n\nhello\nFrom the start\n");
        assert_eq!(msgs[1], b"Subject: two\n\nbye\n");
    }

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
}
