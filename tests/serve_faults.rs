//! The classify server under faults (issue #10): it must see every commit or refuse to serve,
//! clean up its socket when stopped, and classify must not trust a planted socket.

mod common;
#[path = "faults/support.rs"]
mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use common::*;
use support::*;

const MSG: &[u8] = b"From: a@example.com\nTo: b@example.org\nSubject: hello\n\nbody\n";

// ---- 5. A server that could not see commits refuses to serve --------------------------------

#[test]
fn serve_refuses_a_database_whose_commits_it_cannot_see() {
    let s = Scratch::new("serve-readonly-dir");
    // The database in a directory only root can write; the server runs as nobody.
    let (db, run_dir) = database_only_root_writes(&s);
    let dir = db.parent().expect("dir").to_owned();
    let socket = run_dir.join("m.sock");
    let Some(c) = as_nobody(&db) else { return };
    let mut server = Server::spawn(c, &socket);
    let Some((status, err)) = server.wait_exit(Duration::from_secs(30)) else {
        panic!("serve as a user who cannot write the database directory must refuse to start");
    };
    assert!(!status.success());
    assert!(
        err.contains("cannot write the database's directory") && err.contains("stale"),
        "stderr must say why: {err}"
    );
    assert!(!socket.exists(), "no socket: clients classify in-process");
    // A directory it may write, but a -shm it may not (left by another user's training).
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    std::fs::write(dir.join("m.db-shm"), b"").expect("write -shm");
    std::fs::set_permissions(dir.join("m.db-shm"), std::fs::Permissions::from_mode(0o644))
        .expect("chmod");
    let Some(c) = as_nobody(&db) else { return };
    let mut server = Server::spawn(c, &socket);
    let Some((status, err)) = server.wait_exit(Duration::from_secs(30)) else {
        panic!("serve with a -shm file it cannot write must refuse to start");
    };
    assert!(!status.success());
    assert!(err.contains("m.db-shm") && err.contains("stale"), "{err}");
    std::fs::remove_file(dir.join("m.db-shm")).expect("rm -shm");
    // As the directory's owner it serves.
    let _ok = Server::start(&db, &socket);
}

// ---- 10. SIGTERM and SIGINT remove the socket ----------------------------------------------

#[test]
fn serve_removes_its_socket_when_stopped_by_a_signal() {
    for signal in ["TERM", "INT"] {
        let s = Scratch::new("serve-signal");
        let db = s.path("m.db");
        let socket = s.path("m.db.sock");
        let mut server = Server::start(&db, &socket);
        server.signal(signal);
        let Some((status, _)) = server.wait_exit(Duration::from_secs(20)) else {
            panic!("SIG{signal} did not stop the server");
        };
        assert!(!status.success(), "SIG{signal}: {status:?}");
        assert!(!socket.exists(), "SIG{signal} left the socket behind");
        // The next classify says nothing about a stale socket.
        let o = classify(&db, &[], MSG);
        assert_eq!(o.status.code(), Some(0));
        assert_eq!(stderr(&o), "", "SIG{signal}");
    }
}

#[test]
fn a_stopped_server_leaves_a_socket_that_is_not_its_own_alone() {
    let s = Scratch::new("serve-signal-replaced");
    let db = s.path("m.db");
    let socket = s.path("m.db.sock");
    let mut server = Server::start(&db, &socket);
    // Someone replaced the socket file (e.g. a second server after removing it).
    std::fs::remove_file(&socket).expect("rm");
    let other = std::os::unix::net::UnixListener::bind(&socket).expect("bind");
    server.signal("TERM");
    assert!(server.wait_exit(Duration::from_secs(20)).is_some());
    assert!(socket.exists(), "another process's socket was removed");
    drop(other);
}

// ---- 11. Trust does not follow files another user planted ----------------------------------

/// Plants, as user `owner`, a database file and a socket answering every request with
/// `planted`; returns the server thread.
fn plant(
    db: &Path,
    socket: &Path,
    owner: u32,
    planted: &'static [u8],
) -> std::thread::JoinHandle<()> {
    std::fs::write(db, b"").expect("plant db");
    std::os::unix::fs::chown(db, Some(owner), Some(owner)).expect("chown db");
    let server = fake_server(socket, 4, Duration::from_secs(30), move |stream| {
        read_request(stream);
        use std::io::Write;
        let _ = stream.write_all(&done_response(planted));
    });
    std::os::unix::fs::lchown(socket, Some(owner), Some(owner)).expect("chown socket");
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    server
}

#[test]
fn a_socket_planted_in_a_shared_directory_is_not_trusted() {
    if !is_root() {
        eprintln!("skipped: needs root to create files owned by another user");
        return;
    }
    let s = Scratch::new("planted");
    // A shared sticky directory, like /tmp.
    let shared = s.path("shared");
    std::fs::create_dir(&shared).expect("mkdir");
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    let db = shared.join("x.db");
    let socket = shared.join("x.db.sock");
    let _server = plant(
        &db,
        &socket,
        NOBODY,
        b"Subject: rewritten by another user\n\n",
    );
    let o = classify(&db, &[], MSG);
    assert!(
        !contains(&o.stdout, b"rewritten"),
        "the planted server's answer was delivered"
    );
    assert_annotated("planted socket", MSG, &o.stdout);
    assert!(stderr(&o).contains("not trusted"), "{}", stderr(&o));
}

#[test]
fn the_database_owners_server_is_trusted_in_its_own_directory() {
    if !is_root() {
        eprintln!("skipped: needs root to create files owned by another user");
        return;
    }
    // A site-wide server running as the database's owner, in a directory only it writes: a
    // user delivering mail (root stands in here; any user but the owner) uses it.
    let s = Scratch::new("owner-trusted");
    std::fs::set_permissions(&s.0, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let site = s.path("site");
    std::fs::create_dir(&site).expect("mkdir");
    std::fs::set_permissions(&site, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::os::unix::fs::chown(&site, Some(NOBODY), Some(NOBODY)).expect("chown");
    let db = site.join("x.db");
    let socket = site.join("x.db.sock");
    let _server = plant(
        &db,
        &socket,
        NOBODY,
        b"Subject: from the owner's server\n\n",
    );
    // Root trusts every socket; drop to another user for the client side.
    let Some(c) = client_as_other_user(&db) else {
        return;
    };
    let o = run_with_input(c, MSG);
    assert!(
        contains(&o.stdout, b"from the owner's server"),
        "{}",
        stderr(&o)
    );
}

/// `mailsift --db DB classify` as a user other than root and nobody (uid 1), when possible.
fn client_as_other_user(db: &Path) -> Option<std::process::Command> {
    if !Path::new("/usr/bin/setpriv").exists() {
        eprintln!("skipped: setpriv (util-linux) is not installed");
        return None;
    }
    if !others_can_run(Path::new(bin())) {
        eprintln!("skipped: other users cannot run the test binary where it was built");
        return None;
    }
    let mut c = std::process::Command::new("/usr/bin/setpriv");
    c.args(["--reuid=1", "--regid=1", "--clear-groups"])
        .arg(bin())
        .env_remove("MAILSIFT_SOCKET")
        .env_remove("MAILSIFT_USER")
        .env("XDG_CONFIG_HOME", "/nonexistent-mailsift-test")
        .arg("--db")
        .arg(db)
        .arg("classify");
    Some(c)
}
