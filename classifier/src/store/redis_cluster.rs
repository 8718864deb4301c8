//! The Redis backend on a Redis Cluster: key slots, pipelines routed by slot, and the read
//! of one or two models in one script call.
//!
//! A cluster splits the key space into 16,384 slots spread over its nodes; a script call or a
//! transaction may only touch keys of one slot. Every key of one model shares a hash tag
//! (`{site}`, `{u:NAME}`, see [`super::redis`]), so each script call (read one model, apply a
//! batch to one model) touches one slot, and users' models spread over the nodes.
//!
//! # Commands per classify
//! On a single server, classifying reads both models with one script call. On a cluster the
//! site-wide model and a user's model are two slots, usually on two nodes: a classify with a
//! user takes two script calls (one per model, [`Redis::read_models`]), one without a user
//! takes one. A one-off classify ([`Redis::open_lazy`]) checks the store's metadata in the
//! site-wide model's call (the metadata key shares its hash tag). So at most 2 data commands
//! per classify, as on the budget.

use std::collections::BTreeSet;

use redis::cluster::ClusterConnection;
use redis::{ConnectionLike, ErrorKind, RedisError, RedisResult, Value};

use crate::bayes::{Counts, Totals};
use crate::error::Result;

use super::redis::Redis;
use super::redis_io;

/// The number of slots of a Redis Cluster.
pub(super) const SLOTS: u16 = 16_384;

/// CRC-16/XMODEM (polynomial 0x1021, initial value 0), the checksum Redis Cluster hashes
/// keys with.
fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The part of a key that is hashed: between the first `{` and the next `}` when that is not
/// empty, otherwise the whole key (the cluster specification's hash tags).
fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{') {
        if let Some(len) = key[open + 1..].iter().position(|&b| b == b'}') {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

/// The cluster slot of a key.
pub(super) fn slot(key: &[u8]) -> u16 {
    crc16(hash_tag(key)) % SLOTS
}

/// The commands of a packed pipeline (as the client library encodes it), each as its
/// arguments. `n` is how many there are.
fn unpack(packed: &[u8], n: usize) -> RedisResult<Vec<Vec<Vec<u8>>>> {
    let mut parser = redis::Parser::new();
    let mut reader = packed;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let Value::Array(items) = parser.parse_value(&mut reader)? else {
            return Err(RedisError::from((
                ErrorKind::Client,
                "a pipelined command is not an array",
            )));
        };
        let mut args = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Value::BulkString(b) => args.push(b),
                _ => {
                    return Err(RedisError::from((
                        ErrorKind::Client,
                        "a pipelined argument is not a string",
                    )));
                }
            }
        }
        out.push(args);
    }
    Ok(out)
}

/// Runs a pipeline on a cluster. `offset` and `count` are as in
/// [`ConnectionLike::req_packed_commands`]: a transaction (`MULTI` ... `EXEC`, whose keys must
/// share one slot) goes whole to that slot's node; other pipelines are split by node with the
/// client library's cluster pipeline, which follows redirections per command.
pub(super) fn pipeline(
    c: &mut ClusterConnection,
    packed: &[u8],
    offset: usize,
    count: usize,
) -> RedisResult<Vec<Value>> {
    let commands = unpack(packed, offset + count)?;
    let is_multi = commands
        .first()
        .and_then(|a| a.first())
        .is_some_and(|name| name.eq_ignore_ascii_case(b"MULTI"));
    if is_multi {
        let inner = &commands[1..commands.len().saturating_sub(1)];
        let slots: BTreeSet<u16> = inner
            .iter()
            .filter_map(|args| args.get(1))
            .map(|k| slot(k))
            .collect();
        if slots.len() > 1 {
            return Err(RedisError::from((
                ErrorKind::Client,
                "a transaction spans several cluster slots",
                format!("slots {slots:?}"),
            )));
        }
        return c.req_packed_commands(packed, offset, count);
    }
    let mut p = redis::cluster::cluster_pipe();
    for args in &commands {
        let mut cmd = redis::Cmd::new();
        for a in args {
            cmd.arg(a.as_slice());
        }
        p.add_command(cmd);
    }
    let values: Vec<Value> = p.query(c)?;
    Ok(values.into_iter().skip(offset).take(count).collect())
}

impl Redis {
    /// Reads the totals and the counts of `hashes` of the models of `users` (`None`: the
    /// site-wide one; on a cluster, one model per call: a call's keys share one slot) into
    /// `outs`, one per model, with one call of `redis_read.lua`. The store's metadata rides
    /// along when it still has to be checked and the site-wide model is read first (its key
    /// shares that model's hash tag, so its slot). With `lr`, each model's token learner
    /// slots and bias ride along too, into `lr`'s site or user part (E25).
    pub(super) fn read_models(
        &self,
        users: &[Option<&str>],
        hashes: &[u64],
        outs: &mut [&mut [Counts]],
        lr: Option<&mut crate::logreg::LrRead>,
    ) -> Result<Vec<Totals>> {
        let with_meta = self.meta_pending() && users.first() == Some(&None);
        let site = self.keys(None);
        let keys: Vec<_> = users.iter().map(|u| self.keys(*u)).collect();
        let mut inv = self.read_script.prepare_invoke();
        if with_meta {
            inv.key(&site.meta);
        }
        for k in &keys {
            for key in k.read() {
                inv.key(key);
            }
        }
        let flag = |b: bool| if b { '1' } else { '0' };
        inv.arg(format!("{}{}", flag(with_meta), flag(lr.is_some())));
        for h in hashes {
            inv.arg(&h.to_be_bytes()[..]);
        }
        let reply: Vec<Value> = self.run(|c| inv.invoke(c))?;
        let (meta, totals, parts) =
            redis_io::parse_read(&reply, hashes.len(), with_meta, lr.is_some(), outs)
                .ok_or_else(|| self.corrupt("unreadable token counts".into()))?;
        if let Some(lr) = lr {
            for (user, part) in users.iter().zip(parts) {
                let (slots, bias) = match user {
                    None => (&mut lr.site, &mut lr.bias[0]),
                    Some(_) => (&mut lr.user, &mut lr.bias[1]),
                };
                *bias = super::redis_lr::parse_slots(part, slots)
                    .ok_or_else(|| self.corrupt("unreadable token learner slots".into()))?;
            }
        }
        if let Some((schema, tokenizer)) = meta {
            self.accept(schema, tokenizer)?;
        }
        Ok(totals)
    }
}

#[cfg(test)]
mod tests {
    use super::super::redis_io::Keys;
    use super::*;

    #[test]
    fn slots_follow_the_cluster_specification() {
        // The specification's check value, and `CLUSTER KEYSLOT` answers of a real server.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(slot(b"foo"), 12182);
        assert_eq!(slot(b"{user1000}.following"), slot(b"{user1000}.followers"));
        assert_eq!(slot(b"foo{}{bar}"), crc16(b"foo{}{bar}") % SLOTS);
        assert_eq!(slot(b"foo{{bar}}zap"), slot(b"{bar"));
        assert_eq!(slot(b"foo{bar}{zap}"), slot(b"bar"));
    }

    /// Every script's KEYS, and every transaction's, are in one slot; site and users are not
    /// all in one (that is the point of the tags).
    #[test]
    fn every_script_call_touches_one_slot() {
        let names = [
            "alice",
            "bob@example.org",
            "",
            "a}b",
            "{x}",
            "}{",
            "ünïcode",
            "user with spaces",
        ];
        for prefix in ["mailsift:", "", "site-2:"] {
            let site = Keys::new(prefix, None);
            // redis_read.lua without a user (with the metadata), redis_apply.lua, init's
            // transaction on meta.
            let mut read = vec![&site.meta];
            read.extend(site.read());
            let apply = site.model();
            let one = |keys: &[&String]| {
                keys.iter()
                    .map(|k| slot(k.as_bytes()))
                    .collect::<BTreeSet<_>>()
                    .len()
                    == 1
            };
            assert!(one(&read) && one(&apply), "{prefix}");
            assert!(one(&[&site.meta, &site.users, &site.totals]), "{prefix}");
            let mut user_slots = BTreeSet::new();
            for n in names {
                let u = Keys::new(prefix, Some(n));
                assert!(one(&u.model()), "{prefix}{n}");
                user_slots.insert(slot(u.totals.as_bytes()));
            }
            // Per-user models spread over slots, away from the site-wide model's.
            assert!(user_slots.len() >= names.len() - 2, "{user_slots:?}");
            let alice = Keys::new(prefix, Some("alice"));
            assert_ne!(slot(alice.totals.as_bytes()), slot(site.totals.as_bytes()));
        }
    }

    #[test]
    fn packed_pipelines_unpack_to_their_commands() {
        let mut p = redis::pipe();
        p.cmd("HSET").arg("k").arg(&b"\x00\r\n"[..]).arg(1).ignore();
        p.cmd("HLEN").arg("other");
        let packed = p.get_packed_pipeline();
        let cmds = unpack(&packed, 2).expect("unpack");
        assert_eq!(cmds[0], [&b"HSET"[..], b"k", b"\x00\r\n", b"1"]);
        assert_eq!(cmds[1], [&b"HLEN"[..], b"other"]);
        assert!(unpack(&packed, 3).is_err(), "no third command");
    }
}
