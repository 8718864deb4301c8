//! The CLI on a Redis store over TLS (`rediss://`), against a private `redis-server` with TLS
//! on a loopback port and a test CA made with the `openssl` command (skipped with a message
//! when either is missing: run scripts/install-test-deps): classify, train and stats work with
//! the private CA and a client certificate; the server's certificate is checked by default
//! (against the system's roots, which do not hold the test CA), and each way of getting TLS
//! wrong fails with what to do; a wrong CA makes classify fail open within the timeout. A
//! Redis Cluster whose nodes and bus speak TLS works through `rediss+cluster://`.

mod common;
#[path = "support/redis_cluster.rs"]
mod redis_cluster;
#[path = "support/redis_server.rs"]
mod redis_server;
#[path = "support/redis_tls.rs"]
mod redis_tls;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use redis_tls::TlsServer;

/// `stats` on `url`, which must fail (within a 2 s timeout); returns its one-line error.
fn refused(url: &str) -> String {
    let s = Scratch::new("redis-tls-refused");
    let o = run(
        Path::new(url),
        &["--config", s.config(2000).to_str().expect("utf-8"), "stats"],
    );
    assert_eq!(o.status.code(), Some(2), "{url}: {}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.starts_with("mailsift: cannot use the Redis store at rediss://127.0.0.1:"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    err
}

#[test]
fn classify_train_and_stats_work_over_tls() {
    let Some(tls) = TlsServer::start() else {
        return;
    };
    let s = Scratch::new("redis-tls");
    let url = PathBuf::from(tls.url(1, &tls.trusted()));
    let spam = write_messages(&s.path("spam"), true, 0..15);
    let ham = write_messages(&s.path("ham"), false, 0..15);
    for (class, set) in [("spam", &spam), ("ham", &ham)] {
        let mut a = vec!["-q", "train", class];
        a.extend(paths(set));
        ok(&run(&url, &a), "train");
    }
    let mut a = vec!["-q", "--user", "alice", "correct", "ham"];
    a.extend(paths(&spam[..2]));
    ok(&run(&url, &a), "correct");
    let rows = stats_rows(&ok(&run(&url, &["stats"]), "stats"));
    assert_eq!((rows[0].1, rows[0].2), (15, 15), "{rows:?}");
    assert!(ok(&run(&url, &["db", "check"]), "check").starts_with("ok: 32 ledger entries"));
    // The model really is on that server, in database 1.
    assert!(
        tls.server
            .command("SELECT 1\r\nHGET mailsift:{site}:totals spam")
            .contains("15")
    );
    // Classify over TLS gives what the same model gives from a SQLite file.
    let file = s.path("copy.db");
    ok(
        &run(&url, &["db", "export", file.to_str().expect("utf-8")]),
        "export",
    );
    for m in [&spam[5], &ham[6]] {
        let msg = std::fs::read(m).expect("read");
        let o = classify(&url, &["--user", "alice"], &msg);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(stderr(&o), "");
        let want = classify(&file, &["--user", "alice"], &msg);
        assert_eq!(o.stdout, want.stdout);
    }
    // insecure=1 skips the server's certificate check (the client certificate is still
    // needed by this server).
    let insecure = format!(
        "insecure=1&cert={}&key={}",
        tls.pki.client_cert.display(),
        tls.pki.client_key.display()
    );
    let rows = stats_rows(&ok(
        &run(Path::new(&tls.url(1, &insecure)), &["stats"]),
        "stats",
    ));
    assert_eq!(rows[0].1, 15);
}

#[test]
fn tls_mistakes_fail_with_what_to_do() {
    let Some(tls) = TlsServer::start() else {
        return;
    };
    let client = format!(
        "cert={}&key={}",
        tls.pki.client_cert.display(),
        tls.pki.client_key.display()
    );
    // Verification is on by default, against the system's roots: the test CA is not there.
    let err = refused(&tls.url(0, &client));
    assert!(
        err.contains("UnknownIssuer") && err.contains("?ca="),
        "{err}"
    );
    // Another CA than the one that signed the server's certificate.
    let wrong = format!("ca={}&{client}", tls.pki.other_ca.display());
    let err = refused(&tls.url(0, &wrong));
    assert!(err.contains("?ca="), "{err}");
    // The right CA, but no client certificate for a server that requires one.
    let err = refused(&tls.url(0, &format!("ca={}", tls.pki.ca.display())));
    assert!(err.contains("?cert="), "{err}");
    // The server's certificate names localhost too.
    let by_name = tls.url(0, &tls.trusted()).replace("127.0.0.1", "localhost");
    let s = Scratch::new("redis-tls-name");
    let m = write_messages(&s.path("m"), true, 0..1);
    ok(
        &run(Path::new(&by_name), &["-q", "train", "spam", paths(&m)[0]]),
        "by name",
    );
    // TLS to the plain port, and plain to the TLS port.
    let plain = format!("rediss://127.0.0.1:{}/0?{}", tls.server.port, tls.trusted());
    let err = refused(&plain);
    assert!(err.contains("tls-port"), "{err}");
    let o = run(
        Path::new(&format!("redis://127.0.0.1:{}/0", tls.tls_port)),
        &["stats"],
    );
    assert!(stderr(&o).contains("use rediss://"), "{}", stderr(&o));
    // Settings that cannot apply are refused before connecting.
    let o = run(
        Path::new(&format!(
            "redis://127.0.0.1:{}/0?ca=/x.pem",
            tls.server.port
        )),
        &["stats"],
    );
    assert!(stderr(&o).contains("use rediss://"), "{}", stderr(&o));
}

#[test]
fn a_wrong_ca_makes_classify_fail_open_within_the_timeout() {
    let Some(tls) = TlsServer::start() else {
        return;
    };
    let s = Scratch::new("redis-tls-open");
    let url = PathBuf::from(tls.url(0, &tls.trusted()));
    let spam = write_messages(&s.path("spam"), true, 0..5);
    let mut a = vec!["-q", "train", "spam"];
    a.extend(paths(&spam));
    ok(&run(&url, &a), "train");
    let wrong = format!(
        "ca={}&cert={}&key={}",
        tls.pki.other_ca.display(),
        tls.pki.client_cert.display(),
        tls.pki.client_key.display()
    );
    let url = PathBuf::from(tls.url(0, &wrong));
    let msg = synthetic(true, 1);
    let started = Instant::now();
    let o = classify(&url, &["--timeout", "5"], &msg);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "within the timeout"
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_annotated("wrong CA", &msg, &o.stdout);
    let err = stderr(&o);
    assert!(
        err.starts_with("mailsift: cannot use the Redis store at rediss://127.0.0.1:")
            && err.contains("?ca=")
            && err.contains("classified by rules alone")
            && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn a_tls_cluster_works_through_rediss_cluster() {
    if redis_server::redis_server_program().is_none() || !redis_tls::have_openssl() {
        return;
    }
    let s = Scratch::new("redis-tls-cluster");
    let pki_dir = s.path("pki");
    std::fs::create_dir_all(&pki_dir).expect("pki dir");
    let pki = redis_tls::make_pki(&pki_dir);
    let (ca, cert, key) = (
        pki.ca.to_str().expect("utf-8"),
        pki.server_cert.to_str().expect("utf-8"),
        pki.server_key.to_str().expect("utf-8"),
    );
    let server_args = [
        "--tls-cert-file",
        cert,
        "--tls-key-file",
        key,
        "--tls-ca-cert-file",
        ca,
        "--tls-auth-clients",
        "no",
    ];
    let cli_args = ["--tls", "--cacert", ca];
    let Some(cluster) = redis_cluster::RedisCluster::start_with(Some((&server_args, &cli_args)))
    else {
        return;
    };
    let url = PathBuf::from(format!("{}?ca={ca}", cluster.url()));
    assert!(
        url.to_str()
            .expect("utf-8")
            .starts_with("rediss+cluster://")
    );
    let spam = write_messages(&s.path("spam"), true, 0..10);
    let ham = write_messages(&s.path("ham"), false, 0..10);
    for (class, set, user) in [("spam", &spam, None), ("ham", &ham, Some("dave"))] {
        let mut a = vec!["-q"];
        if let Some(u) = user {
            a.extend(["--user", u]);
        }
        a.extend(["train", class]);
        a.extend(paths(set));
        ok(&run(&url, &a), "train");
    }
    let rows = stats_rows(&ok(&run(&url, &["stats"]), "stats"));
    assert_eq!(
        rows,
        [
            ("(site-wide)".to_owned(), 10, 0),
            ("dave".to_owned(), 0, 10)
        ]
    );
    assert!(ok(&run(&url, &["db", "check"]), "check").starts_with("ok: 20 ledger entries"));
    // dave's model sits on its own node, not the site's: the per-user read went there over TLS.
    let (site, dave) = (cluster.node_of("{site}"), cluster.node_of("{u:dave}"));
    assert_ne!(site, dave);
    let keys = cluster.keys_per_node("mailsift:*");
    assert!(
        keys[dave].iter().any(|k| k == "mailsift:{u:dave}:ledger"),
        "{keys:?}"
    );
    let o = classify(
        &url,
        &["--user", "dave"],
        &std::fs::read(&ham[3]).expect("read"),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stderr(&o), "");
    // The wrong CA: every node's certificate is refused.
    let wrong = format!("{}?ca={}", cluster.url(), pki.other_ca.display());
    let o = run(Path::new(&wrong), &["stats"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("?ca="), "{}", stderr(&o));
}
