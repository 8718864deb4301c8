//! A private `redis-server` that speaks TLS on a second loopback port, with a test CA, server
//! and client certificates made by the `openssl` command in the server's temporary directory
//! (EC P-256 keys, valid two days). Include it with `#[path]` beside `redis_server.rs` (as
//! module `redis_server`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::redis_server::{RedisServer, free_port};

/// The certificate files of one test PKI.
pub struct Pki {
    /// The CA certificate that signed the server's and the client's.
    pub ca: PathBuf,
    /// The server's certificate (for 127.0.0.1 and localhost; also a client certificate, as
    /// cluster nodes show it to each other on the cluster bus) and key.
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// A client certificate and key.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// Another CA, which signed nothing here.
    pub other_ca: PathBuf,
}

/// A TLS server: plain on `server.port` (for the test's own commands), TLS on `tls_port`.
pub struct TlsServer {
    pub server: RedisServer,
    pub tls_port: u16,
    pub pki: Pki,
    pki_dir: PathBuf,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.server.stop();
        let _ = std::fs::remove_dir_all(&self.pki_dir);
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn have_openssl() -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!(
            "skipping Redis TLS: the openssl command is not installed (run scripts/install-test-deps)"
        );
    }
    ok
}

const EC: [&str; 4] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];

/// A self-signed CA in `dir`: NAME.pem and NAME.key.
fn make_ca(dir: &Path, name: &str, cn: &str) {
    let (pem, key) = (format!("{name}.pem"), format!("{name}.key"));
    let mut a = vec!["req", "-x509", "-nodes", "-days", "2", "-subj"];
    let subj = format!("/CN={cn}");
    a.push(&subj);
    a.extend(EC);
    a.extend(["-keyout", &key, "-out", &pem]);
    a.extend(["-addext", "basicConstraints=critical,CA:TRUE"]);
    a.extend(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
    openssl(dir, &a);
}

/// A certificate NAME.pem / NAME.key signed by ca.pem, with the extensions in `ext`.
fn make_leaf(dir: &Path, name: &str, cn: &str, ext: &str) {
    let (pem, key, csr, cnf) = (
        format!("{name}.pem"),
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.ext"),
    );
    std::fs::write(dir.join(&cnf), ext).expect("write ext");
    let subj = format!("/CN={cn}");
    let mut a = vec!["req", "-new", "-nodes", "-subj", &subj];
    a.extend(EC);
    a.extend(["-keyout", &key, "-out", &csr]);
    openssl(dir, &a);
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            &pem,
            "-extfile",
            &cnf,
        ],
    );
}

/// Makes the test PKI in `dir`.
pub fn make_pki(dir: &Path) -> Pki {
    make_ca(dir, "ca", "mailsift test CA");
    make_ca(dir, "other-ca", "some other CA");
    make_leaf(
        dir,
        "server",
        "localhost",
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
    );
    make_leaf(
        dir,
        "client",
        "mailsift client",
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
         extendedKeyUsage=clientAuth\n",
    );
    make_paths(dir)
}

impl TlsServer {
    /// Starts a server that requires TLS clients to show a certificate signed by the test CA
    /// (`tls-auth-clients yes`, Redis's default), or `None` (with the reason printed) when
    /// redis-server or openssl is missing.
    pub fn start() -> Option<TlsServer> {
        if !have_openssl() {
            return None;
        }
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let pki_dir = std::env::temp_dir().join(format!(
            "mailsift-pki-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&pki_dir);
        std::fs::create_dir_all(&pki_dir).expect("pki dir");
        let pki = make_pki(&pki_dir);
        let tls_port = free_port();
        let port = tls_port.to_string();
        let server = RedisServer::start_with(&[
            "--tls-port",
            &port,
            "--tls-cert-file",
            pki.server_cert.to_str().expect("utf-8"),
            "--tls-key-file",
            pki.server_key.to_str().expect("utf-8"),
            "--tls-ca-cert-file",
            pki.ca.to_str().expect("utf-8"),
            "--tls-auth-clients",
            "yes",
        ]);
        let Some(server) = server else {
            let _ = std::fs::remove_dir_all(&pki_dir);
            return None;
        };
        Some(TlsServer {
            server,
            tls_port,
            pki,
            pki_dir,
        })
    }

    /// `rediss://127.0.0.1:PORT/DB` with `params` (the `?` included by this function).
    pub fn url(&self, db: u32, params: &str) -> String {
        let q = if params.is_empty() { "" } else { "?" };
        format!("rediss://127.0.0.1:{}/{db}{q}{params}", self.tls_port)
    }

    /// `ca=...&cert=...&key=...` for this PKI.
    pub fn trusted(&self) -> String {
        format!(
            "ca={}&cert={}&key={}",
            self.pki.ca.display(),
            self.pki.client_cert.display(),
            self.pki.client_key.display()
        )
    }
}

fn make_paths(dir: &Path) -> Pki {
    Pki {
        ca: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
        client_cert: dir.join("client.pem"),
        client_key: dir.join("client.key"),
        other_ca: dir.join("other-ca.pem"),
    }
}
