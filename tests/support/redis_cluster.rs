//! A private Redis Cluster for tests: three `redis-server` processes with `cluster-enabled yes`
//! on free loopback ports (persistence off, each in its own temporary directory, stopped by
//! PID), formed with `redis-cli --cluster create` and waited on until every node reports
//! `cluster_state:ok`. Include it with `#[path]` beside `redis_server.rs` (as module
//! `redis_server`).

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use super::redis_server::RedisServer;

/// A running cluster of three primaries.
pub struct RedisCluster {
    /// The nodes (primaries, a third of the slots each).
    pub nodes: Vec<RedisServer>,
    /// The port clients use on each node: its TLS port on a TLS cluster, else `nodes[i].port`.
    pub client_ports: Vec<u16>,
    tls: bool,
}

fn redis_cli() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("redis-cli"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        eprintln!(
            "skipping Redis Cluster: redis-cli is not installed (run scripts/install-test-deps)"
        );
    }
    found
}

impl RedisCluster {
    /// Starts and forms a cluster, or returns `None` (with the reason printed) when redis-server
    /// or redis-cli is not installed.
    pub fn start() -> Option<RedisCluster> {
        Self::start_with(None)
    }

    /// Starts a cluster whose nodes and cluster bus speak TLS only when `tls` gives the
    /// servers' TLS arguments (certificate, key, CA) and redis-cli's (`--tls --cacert ...`).
    /// Each node keeps a plain port on loopback for the test's own commands.
    pub fn start_with(tls: Option<(&[&str], &[&str])>) -> Option<RedisCluster> {
        let cli = redis_cli()?;
        let mut nodes = Vec::new();
        let mut client_ports = Vec::new();
        for _ in 0..3 {
            let mut args: Vec<String> = [
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                // A node that stops answering is marked failed after 2 s (the default is 15).
                "--cluster-node-timeout",
                "2000",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            // The bus port would be the client port + 10,000, past 65,535 for a high free port.
            let bus_port = super::redis_server::free_port();
            args.extend(["--cluster-port".to_owned(), bus_port.to_string()]);
            let tls_port = super::redis_server::free_port();
            if let Some((server_args, _)) = tls {
                args.extend(["--tls-port".to_owned(), tls_port.to_string()]);
                args.extend(["--tls-cluster".to_owned(), "yes".to_owned()]);
                args.extend(server_args.iter().map(|s| s.to_string()));
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let node = RedisServer::start_with(&args)?;
            client_ports.push(if tls.is_some() { tls_port } else { node.port });
            nodes.push(node);
        }
        let mut create = Command::new(cli);
        if let Some((_, cli_args)) = tls {
            create.args(cli_args);
        }
        create.args(["--cluster", "create"]);
        for p in &client_ports {
            create.arg(format!("127.0.0.1:{p}"));
        }
        create
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = create.spawn().expect("start redis-cli --cluster create");
        let started = Instant::now();
        loop {
            if child.try_wait().expect("wait redis-cli").is_some() {
                break;
            }
            if started.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("redis-cli --cluster create did not finish within 60 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output().expect("redis-cli output");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let cluster = RedisCluster {
            nodes,
            client_ports,
            tls: tls.is_some(),
        };
        let started = Instant::now();
        while !cluster
            .nodes
            .iter()
            .all(|n| n.command("CLUSTER INFO").contains("cluster_state:ok"))
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the cluster did not reach cluster_state:ok within 30 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(cluster)
    }

    /// One cluster shared by whoever holds it at the same time (the store suite's tests run in
    /// parallel threads); stopped when the last holder drops it.
    pub fn shared() -> Option<Arc<RedisCluster>> {
        static SHARED: Mutex<Weak<RedisCluster>> = Mutex::new(Weak::new());
        let mut slot = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = slot.upgrade() {
            return Some(c);
        }
        let c = Arc::new(RedisCluster::start()?);
        *slot = Arc::downgrade(&c);
        Some(c)
    }

    /// The cluster's URL, listing every node (`rediss+cluster://` on a TLS cluster).
    pub fn url(&self) -> String {
        let nodes: Vec<String> = self
            .client_ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let s = if self.tls { "rediss" } else { "redis" };
        format!("{s}+cluster://{}", nodes.join(","))
    }

    /// The node (index into `nodes`) that holds `key`'s slot, as the cluster says.
    pub fn node_of(&self, key: &str) -> usize {
        let reply = self.nodes[0].command(&format!("CLUSTER KEYSLOT {key}"));
        let slot: u32 = reply
            .trim()
            .trim_start_matches(':')
            .parse()
            .unwrap_or_else(|_| panic!("CLUSTER KEYSLOT {key}: {reply:?}"));
        // CLUSTER NODES: "<id> <ip:port@bus> <flags> <master> <ping> <pong> <epoch> <link>
        // <slot ranges>..."
        let table = self.nodes[0].command("CLUSTER NODES");
        for line in table.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let Some(port) = f
                .get(1)
                .and_then(|a| a.split('@').next())
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| p.parse::<u16>().ok())
            else {
                continue;
            };
            let holds = f.iter().skip(8).any(|r| {
                let (a, b) = r.split_once('-').unwrap_or((r, r));
                matches!((a.parse::<u32>(), b.parse::<u32>()), (Ok(a), Ok(b)) if a <= slot && slot <= b)
            });
            if holds {
                // A TLS node lists itself by its plain port, the others by their TLS ports.
                let i = (0..self.nodes.len())
                    .find(|&i| self.client_ports[i] == port || self.nodes[i].port == port);
                if let Some(i) = i {
                    return i;
                }
            }
        }
        panic!("no node holds slot {slot}: {table}")
    }

    /// The keys (matching `pattern`) each node holds.
    pub fn keys_per_node(&self, pattern: &str) -> Vec<Vec<String>> {
        self.nodes
            .iter()
            .map(|n| {
                n.command(&format!("KEYS {pattern}"))
                    .lines()
                    .filter(|l| !l.starts_with(['*', '$']) && !l.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .collect()
    }
}
