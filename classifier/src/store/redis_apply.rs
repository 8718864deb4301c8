//! Applying a batch of learn/forget operations to a Redis model ([`super::Backend::apply`]).
//!
//! A batch is cut into chunks of about [`CHUNK_TOKENS`] token occurrences, each applied by one
//! call of `redis_apply.lua`: the chunk is planned ([`crate::ledger::plan`]) against the ledger
//! entries read for it, and the script writes the plan only if the ledger still holds those
//! entries, so two hosts learning at once never double-count or lose a count.
//!
//! On one server the calls are pipelined: chunk `k + 1` is planned and sent while the server
//! runs chunk `k`, and `k`'s reply is read after that, so the server does not wait for the
//! client between chunks (the batch's ledger entries are read once, before the first). A chunk
//! that shares a message with the one in flight waits for it, so two chunks that may run in
//! either order are always about different messages. A chunk whose ledger check fails (another
//! host changed one of its messages meanwhile) is planned and applied again from fresh reads
//! once the chunk in flight is answered, and the rest of the batch is read afresh too. A
//! connection lost with calls in flight (a restart, a proxy's timeout) leaves their outcome
//! unknown: the rest of the batch is done on a new connection one chunk at a time, each
//! unanswered chunk first checked against the ledger, which tells whether the server carried
//! it out ([`Redis::recover`]).
//!
//! The token learner (on by default, E28) pipelines too: its state over the batch is read
//! with the ledger, and each call carries the steps taken on that copy and the version they
//! were taken from ([`super::redis_lr`]); a call the script had to step itself (another host
//! trained meanwhile) makes the copy stale, and it is read afresh with the ledger. On a
//! cluster (whose client cannot leave a call in flight) the calls of [`WINDOW`] chunks go in
//! one pipeline instead.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use redis::Value;

use crate::error::Result;
use crate::ledger::{Digest, LearnOp, Outcome, Plan};
use crate::model::LedgerEntry;

use super::redis::Redis;
use super::redis_conn::Conn;
use super::redis_io::{self, Keys};
use super::redis_lr;

/// Token occurrences per script call when training in bulk (about 150 messages of the
/// SpamAssassin corpus): a call runs alone on the server, so it is kept to some milliseconds
/// of work, while merging the deltas of many messages saves most of the per-token updates.
pub(super) const CHUNK_TOKENS: usize = 50_000;

/// Script calls per pipeline on a cluster ([`Redis::apply_windows`]).
const WINDOW: usize = 8;

/// A script call sent and not yet answered.
struct InFlight {
    chunk: usize,
    digests: HashSet<Digest>,
    /// Its plan: the outcomes if it is applied, and what the ledger shows if it was carried
    /// out when its answer is lost with the connection.
    plan: Plan,
}

/// The chunks of `ops`: consecutive ranges of at most `limit` token occurrences (at least one
/// operation each).
fn chunks(ops: &[LearnOp], limit: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < ops.len() {
        let mut end = start;
        let mut tokens = 0;
        // A chunk's operations share the learner's settings (the script takes one set).
        while end < ops.len()
            && (end == start
                || (tokens + ops[end].tokens.len() <= limit && ops[end].lr == ops[start].lr))
        {
            tokens += ops[end].tokens.len();
            end += 1;
        }
        out.push(start..end);
        start = end;
    }
    out
}

/// Plans `part` (its distinct `digests`) against the ledger entries `known`, which then hold
/// the state after it: the entries it was planned from, and the plan.
fn plan_known(
    known: &mut HashMap<Digest, Option<LedgerEntry>>,
    part: &[LearnOp],
    digests: &[Digest],
) -> (Vec<(Digest, Option<LedgerEntry>)>, Plan) {
    let mine: Vec<(Digest, Option<LedgerEntry>)> = digests
        .iter()
        .map(|d| (*d, known.get(d).cloned().flatten()))
        .collect();
    let plan = crate::ledger::plan(part, &mine);
    for (d, e) in &plan.ledger {
        known.insert(*d, e.clone());
    }
    (mine, plan)
}

/// Whether the ledger entries `known` are those `plan` leaves: then a call of it whose answer
/// was lost was carried out (or another host did exactly the same meanwhile).
fn carried_out(plan: &Plan, known: &[(Digest, Option<LedgerEntry>)]) -> bool {
    plan.ledger.iter().all(|(d, e)| {
        known
            .iter()
            .find(|(k, _)| k == d)
            .is_some_and(|(_, now)| now == e)
    })
}

/// The apply script's call by its hash (for a pipeline: the script is loaded first) with
/// `plan`, planned from the entries `mine`, and the learner's arguments `lr`.
fn apply_call(
    script: &redis::Script,
    keys: &Keys,
    mine: &[(Digest, Option<LedgerEntry>)],
    plan: &Plan,
    lr: &[Vec<u8>],
) -> redis::Cmd {
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(script.get_hash())
        .arg(keys.model().len())
        .arg(&keys.model()[..])
        .arg(&redis_io::plan_args(mine, plan)[..])
        .arg(lr);
    cmd
}

impl Redis {
    /// [`super::Backend::apply`].
    pub(super) fn apply_ops(&self, user: Option<&str>, ops: &[LearnOp]) -> Result<Vec<Outcome>> {
        if ops.is_empty() {
            // Still registers the user, as SQLite does.
            return self.apply_chunk(user, ops);
        }
        let chunks = chunks(ops, self.chunk_tokens.get());
        if chunks.len() == 1 {
            return self.apply_chunk(user, ops);
        }
        if self.is_cluster() {
            return self.apply_windows(user, ops, &chunks);
        }
        self.apply_pipelined(user, ops, &chunks)
    }

    /// Reads the ledger entries of `digests` (and registers `user`), in one round trip.
    fn read_ledger(
        &self,
        user: Option<&str>,
        keys: &Keys,
        digests: &[Digest],
    ) -> Result<Vec<(Digest, Option<LedgerEntry>)>> {
        let users = self.keys(None).users;
        let raw: Vec<Option<Vec<u8>>> = self.run(|c| {
            let mut p = redis::pipe();
            if let Some(name) = user {
                p.cmd("SADD").arg(&users).arg(name).ignore();
            }
            p.cmd("HMGET").arg(&keys.ledger);
            for d in digests {
                p.arg(&d[..]);
            }
            // HMGET needs a field: an empty batch asks for one that cannot exist.
            if digests.is_empty() {
                p.arg("");
            }
            let (v,): (Vec<Option<Vec<u8>>>,) = p.query(c)?;
            Ok(v)
        })?;
        let mut known = Vec::with_capacity(digests.len());
        for (d, v) in digests.iter().zip(&raw) {
            let entry = match v {
                None => None,
                Some(v) => Some(
                    redis_io::parse_ledger(v)
                        .ok_or_else(|| {
                            self.corrupt(format!("unreadable ledger entry in {}", keys.ledger))
                        })?
                        .entry(),
                ),
            };
            known.push((*d, entry));
        }
        Ok(known)
    }

    /// Applies one chunk of operations: read the ledger, plan, apply if the ledger is unchanged.
    fn apply_chunk(&self, user: Option<&str>, ops: &[LearnOp]) -> Result<Vec<Outcome>> {
        self.apply_chunk_after(user, ops, None)
    }

    /// [`Redis::apply_chunk`], where `sent` is the plan of a call for these operations that
    /// may have been carried out (its answer was lost with its connection): if the ledger is
    /// as that plan leaves it, its outcomes are what happened.
    fn apply_chunk_after(
        &self,
        user: Option<&str>,
        ops: &[LearnOp],
        sent: Option<Plan>,
    ) -> Result<Vec<Outcome>> {
        let keys = self.keys(user);
        let digests = crate::ledger::digests(ops);
        // A plan whose call was sent twice (the connection closed before its answer came) and
        // refused the second time: the first may have been carried out.
        let mut resent: Option<Plan> = sent;
        // Bounded: each retry means another host changed one of these very messages.
        for _ in 0..100 {
            let known = self.read_ledger(user, &keys, &digests)?;
            if let Some(done) = resent.take().filter(|p| carried_out(p, &known)) {
                // The ledger is as that plan left it: its outcomes are what happened (the
                // messages were learned, not "already known").
                return Ok(done.outcomes);
            }
            let plan = crate::ledger::plan(ops, &known);
            if plan.is_empty() {
                return Ok(plan.outcomes);
            }
            let mut mirror = redis_lr::read_mirror(self, user, ops)?;
            let lr = redis_lr::call_args(&mut mirror, ops, &known, &plan);
            let mut inv = self.apply_script.prepare_invoke();
            for key in keys.model() {
                inv.key(key);
            }
            for a in redis_io::plan_args(&known, &plan) {
                inv.arg(a);
            }
            for a in lr {
                inv.arg(a);
            }
            // 1 or 2: applied (2: the learner's steps taken by the script); 0: not applied.
            // `run` sends it again after a closed connection (or a BUSY refusal).
            let mut sent = 0;
            let applied: i64 = self.run(|c| {
                sent += 1;
                inv.invoke(c)
            })?;
            if applied == 1 {
                redis_lr::keep(self, user, mirror);
            }
            if applied >= 1 {
                return Ok(plan.outcomes);
            }
            if sent > 1 {
                resent = Some(plan);
            }
        }
        Err(self.error_text(
            "the ledger kept changing under this batch (100 attempts): try again".into(),
        ))
    }

    /// Applies `chunks` of `ops` with one script call in flight while the next is planned.
    fn apply_pipelined(
        &self,
        user: Option<&str>,
        ops: &[LearnOp],
        chunks: &[Range<usize>],
    ) -> Result<Vec<Outcome>> {
        let keys = self.keys(user);
        // A pipelined call cannot reload the script on NOSCRIPT: loaded first (a call that
        // still meets NOSCRIPT, the script cache flushed meanwhile, is done again below).
        let script = &self.apply_script;
        self.run(|c| script.prepare_invoke().load(c))?;
        let mut results: Vec<Option<Vec<Outcome>>> = vec![None; chunks.len()];
        let mut known: HashMap<Digest, Option<LedgerEntry>> = HashMap::new();
        let mut stale = true;
        // The token learner's copy, read with the ledger; stale after a call whose steps the
        // script took itself (another host trained the model meanwhile) or that failed.
        let mut mirror = redis_lr::Mirror::default();
        let mut lr_stale = false;
        let mut inflight: Option<InFlight> = None;
        let mut failed: Vec<usize> = Vec::new();
        let mut i = 0;
        while i < chunks.len() {
            let part = &ops[chunks[i].clone()];
            let digests = crate::ledger::digests(part);
            let overlaps = inflight
                .as_ref()
                .is_some_and(|f| digests.iter().any(|d| f.digests.contains(d)));
            if overlaps || !failed.is_empty() || lr_stale {
                // This chunk's plan needs the outcome of the one in flight, or a chunk has to
                // be done again first, or the learner's copy read afresh.
                if let Some(f) = inflight.take() {
                    match self.receive(&f, &mut results, &mut failed) {
                        Ok(s) => lr_stale |= s,
                        Err(_) if self.lost() => {
                            return self.recover(user, ops, chunks, results, vec![f]);
                        }
                        Err(e) => return Err(e),
                    }
                }
                for c in failed.drain(..) {
                    results[c] = Some(self.apply_chunk(user, &ops[chunks[c].clone()])?);
                    stale = true;
                }
                stale |= lr_stale;
                lr_stale = false;
            }
            if stale {
                let rest = &ops[chunks[i].start..];
                let digests: Vec<Digest> = crate::ledger::digests(rest);
                known = self
                    .read_ledger(user, &keys, &digests)?
                    .into_iter()
                    .collect();
                mirror = redis_lr::read_mirror(self, user, rest)?;
                stale = false;
            }
            let (mine, plan) = plan_known(&mut known, part, &digests);
            if plan.is_empty() {
                results[i] = Some(plan.outcomes);
                i += 1;
                continue;
            }
            let lr = redis_lr::call_args(&mut mirror, part, &mine, &plan);
            let packed = apply_call(script, &keys, &mine, &plan, &lr).get_packed_command();
            let this = InFlight {
                chunk: i,
                digests: digests.into_iter().collect(),
                plan,
            };
            let send = self.run_in_step(|c| match c {
                Conn::Single(s) => s.send_packed_command(&packed),
                Conn::Cluster(_) => Err(redis::RedisError::from((
                    redis::ErrorKind::Client,
                    "pipelined script calls need one server",
                ))),
            });
            if let Err(e) = send {
                if !self.lost() {
                    return Err(e);
                }
                // Sent in part or whole, it may have been carried out, as the one before it.
                let sent = inflight.into_iter().chain([this]).collect();
                return self.recover(user, ops, chunks, results, sent);
            }
            if let Some(f) = inflight.take() {
                match self.receive(&f, &mut results, &mut failed) {
                    Ok(s) => lr_stale |= s,
                    Err(_) if self.lost() => {
                        return self.recover(user, ops, chunks, results, vec![f, this]);
                    }
                    Err(e) => {
                        // The reply of the call just sent is still to come: read it, so the
                        // connection stays in step for the next command.
                        let _ = self.recv();
                        return Err(e);
                    }
                }
            }
            inflight = Some(this);
            i += 1;
        }
        if let Some(f) = inflight.take() {
            match self.receive(&f, &mut results, &mut failed) {
                Ok(s) => lr_stale |= s,
                Err(_) if self.lost() => {
                    return self.recover(user, ops, chunks, results, vec![f]);
                }
                Err(e) => return Err(e),
            }
        }
        // Every call took the fast path from this copy: it is the model's state now.
        if !lr_stale && failed.is_empty() {
            redis_lr::keep(self, user, mirror);
        }
        for c in failed {
            results[c] = Some(self.apply_chunk(user, &ops[chunks[c].clone()])?);
        }
        let mut outcomes = Vec::with_capacity(ops.len());
        for r in results {
            // Every chunk was answered or done again above.
            outcomes.extend(r.ok_or_else(|| self.error_text("a batch chunk was lost".into()))?);
        }
        Ok(outcomes)
    }

    /// Applies `chunks` of `ops` on a cluster: the calls of [`WINDOW`] chunks at a time go in
    /// one pipeline (the client library's cluster pipeline cannot leave a call in flight while
    /// the next is planned), each planned as if the ones before it in the window were applied.
    /// A call whose ledger check fails (another host changed one of its messages, or a chunk
    /// before it in the window failed) changed nothing and is done again afterwards.
    fn apply_windows(
        &self,
        user: Option<&str>,
        ops: &[LearnOp],
        chunks: &[Range<usize>],
    ) -> Result<Vec<Outcome>> {
        let keys = self.keys(user);
        let script = &self.apply_script;
        self.run(|c| script.prepare_invoke().load(c))?;
        let mut outcomes = Vec::with_capacity(ops.len());
        for window in chunks.chunks(WINDOW) {
            let all = &ops[window[0].start..window[window.len() - 1].end];
            let rest = crate::ledger::digests(all);
            let mut known: HashMap<Digest, Option<LedgerEntry>> =
                self.read_ledger(user, &keys, &rest)?.into_iter().collect();
            let mut mirror = redis_lr::read_mirror(self, user, all)?;
            let mut planned: Vec<(Vec<Outcome>, bool)> = Vec::with_capacity(window.len());
            let mut p = redis::pipe();
            for c in window {
                let part = &ops[c.clone()];
                let (mine, plan) = plan_known(&mut known, part, &crate::ledger::digests(part));
                let sent = !plan.is_empty();
                if sent {
                    let lr = redis_lr::call_args(&mut mirror, part, &mine, &plan);
                    p.add_command(apply_call(script, &keys, &mine, &plan, &lr));
                }
                planned.push((plan.outcomes, sent));
            }
            let replies: Vec<Value> = match planned.iter().any(|(_, sent)| *sent) {
                true => self.run(|c| p.query(c))?,
                false => Vec::new(),
            };
            let mut replies = replies.into_iter();
            for (c, (out, sent)) in window.iter().zip(planned) {
                let applied = !sent || matches!(replies.next(), Some(Value::Int(1 | 2)));
                if applied {
                    outcomes.extend(out);
                } else {
                    outcomes.extend(self.apply_chunk(user, &ops[c.clone()])?);
                }
            }
        }
        Ok(outcomes)
    }

    fn recv(&self) -> Result<Value> {
        self.run_in_step(|c| match c {
            Conn::Single(s) => s.recv_response(),
            Conn::Cluster(_) => Err(redis::RedisError::from((
                redis::ErrorKind::Client,
                "pipelined script calls need one server",
            ))),
        })
    }

    /// After the connection was lost with calls of [`Redis::apply_pipelined`] in flight
    /// (`sent`, whose answers did not come): every chunk without a result is done on a new
    /// connection, in order, one call at a time; those whose calls may have been carried out
    /// are first checked against the ledger ([`Redis::apply_chunk_after`]). So a server
    /// restarted or a connection cut in the middle of a bulk training loses no batch and counts
    /// none twice. A second failure (no server to reconnect to) is the error.
    fn recover(
        &self,
        user: Option<&str>,
        ops: &[LearnOp],
        chunks: &[Range<usize>],
        mut results: Vec<Option<Vec<Outcome>>>,
        sent: Vec<InFlight>,
    ) -> Result<Vec<Outcome>> {
        let mut sent: HashMap<usize, Plan> = sent.into_iter().map(|f| (f.chunk, f.plan)).collect();
        for (c, range) in chunks.iter().enumerate() {
            if results[c].is_none() {
                let done = self.apply_chunk_after(user, &ops[range.clone()], sent.remove(&c))?;
                results[c] = Some(done);
            }
        }
        Ok(results.into_iter().flatten().flatten().collect())
    }

    /// Reads the reply of the call in flight: its outcomes into `results` if it was applied,
    /// else its chunk into `failed` (to be done again). True when the client's copy of the
    /// token learner's state is stale since (the script took the steps, or the call failed).
    fn receive(
        &self,
        f: &InFlight,
        results: &mut [Option<Vec<Outcome>>],
        failed: &mut Vec<usize>,
    ) -> Result<bool> {
        match self.recv()?.extract_error() {
            Ok(Value::Int(1)) => {
                results[f.chunk] = Some(f.plan.outcomes.clone());
                return Ok(false);
            }
            Ok(Value::Int(2)) => results[f.chunk] = Some(f.plan.outcomes.clone()),
            Ok(Value::Int(_)) => failed.push(f.chunk),
            Ok(other) => {
                return Err(self.error_text(format!(
                    "unexpected reply to the learning script: {other:?}"
                )));
            }
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                failed.push(f.chunk)
            }
            Err(e) => return Err(self.error(&e)),
        }
        Ok(true)
    }
}
