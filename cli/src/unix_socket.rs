//! The Unix sockets of the resident front ends (`serve`'s own socket, its spamd listeners, the
//! milter): one way to claim a path, bind it, and remove it again when SIGTERM or SIGINT stops
//! the process, so that no front end leaves a socket file behind for its clients to stumble on.
//! (TCP listeners need nothing: the kernel closes them with the process.)

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, Result, bail};

/// The sockets this process bound, with the identity of each file: removed on SIGTERM/SIGINT
/// if the path still holds that file (another server may have replaced it since).
static BOUND: Mutex<Vec<(PathBuf, (u64, u64))>> = Mutex::new(Vec::new());

fn file_id(path: &Path) -> Option<(u64, u64)> {
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

/// Handles SIGTERM and SIGINT from now on: remove every socket bound through [`bind`], then end
/// the process with that signal (as a service manager expects). Call it before binding, so that
/// a signal from then on finds each socket registered; later calls do nothing.
pub(crate) fn remove_on_signal() -> Result<()> {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    if INSTALLED.get().is_some() {
        return Ok(());
    }
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])
    .context("cannot handle SIGTERM and SIGINT")?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                // Held until the process ends: no socket is bound after its removal.
                let bound = BOUND.lock().unwrap_or_else(|p| p.into_inner());
                for (path, id) in bound.iter() {
                    if file_id(path) == Some(*id) {
                        let _ = std::fs::remove_file(path);
                    }
                }
                let _ = signal_hook::low_level::emulate_default_handler(signal);
                std::process::exit(128 + signal);
            }
        })
        .context("cannot start the signal thread")?;
    let _ = INSTALLED.set(());
    Ok(())
}

/// Refuses a socket path that is another kind of file or has a server listening; removes a
/// stale socket (a socket file nobody listens on). `option` names the setting that chose the
/// path, for the hint.
pub(crate) fn check(socket: &Path, option: &str) -> Result<()> {
    if let Ok(meta) = std::fs::symlink_metadata(socket) {
        if !meta.file_type().is_socket() {
            bail!(
                "{} exists and is not a socket: choose another path with {option}",
                socket.display()
            );
        }
        if UnixStream::connect(socket).is_ok() {
            bail!(
                "a server is already listening on {}: stop it first, or use another {option}",
                socket.display()
            );
        }
        std::fs::remove_file(socket)
            .with_context(|| format!("cannot remove the stale socket {}", socket.display()))?;
    }
    Ok(())
}

/// Binds the socket with the given permissions and registers it for removal on SIGTERM/SIGINT
/// (see [`remove_on_signal`]). `what` says who listens, for the error.
pub(crate) fn bind(socket: &Path, mode: u32, what: &str) -> Result<UnixListener> {
    // Bound and registered under the lock: a signal meanwhile waits, then removes it.
    let mut bound = BOUND.lock().unwrap_or_else(|p| p.into_inner());
    let listener = UnixListener::bind(socket).with_context(|| {
        format!(
            "cannot listen for {what} on {} (the directory must exist and be writable; paths \
             over 107 bytes need a shorter one)",
            socket.display()
        )
    })?;
    if let Some(id) = file_id(socket) {
        bound.push((socket.to_owned(), id));
    }
    drop(bound);
    if let Err(e) = std::fs::set_permissions(socket, std::fs::Permissions::from_mode(mode)) {
        let _ = std::fs::remove_file(socket);
        return Err(e)
            .with_context(|| format!("cannot set the permissions of {}", socket.display()));
    }
    Ok(listener)
}
