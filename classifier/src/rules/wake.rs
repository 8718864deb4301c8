//! Waking the rules' second thread ahead of a message (a server's [`RuleSet::expect_message`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::RuleSet;

/// How long a pool thread woken by [`RuleSet::expect_message`] waits for the message's rule
/// work before going back to sleep: longer than reading, parsing and tokenizing a message
/// take before its rules run (0.3-0.6 ms in the classify server), short enough that a request
/// that never comes costs little.
const EXPECT_WAIT: std::time::Duration = std::time::Duration::from_millis(3);

/// Whether a pool thread is waiting for rule work (see [`RuleSet::expect_message`]): one is
/// enough.
pub(super) static EXPECTING: AtomicBool = AtomicBool::new(false);

/// The second threads' shares of [`RuleSet::run`] started so far ([`share_started`]): a thread
/// waiting for a message's share stops as soon as another pool thread has taken it, instead of
/// yielding on until [`EXPECT_WAIT`] is over beside the two threads doing the work (on two
/// cores, a third thread that wants the CPU).
static SHARES_STARTED: AtomicU64 = AtomicU64::new(0);

/// Called by the second thread's share of [`RuleSet::run`] as it starts.
pub(super) fn share_started() {
    SHARES_STARTED.fetch_add(1, Ordering::AcqRel);
}

impl RuleSet {
    /// Tells a long-lived rule set that a message is about to be evaluated (a server has
    /// accepted a request): a thread of the pool wakes now and waits, yielding the CPU, for
    /// the second thread's share of [`RuleSet::run`], instead of being woken when that is
    /// spawned. Waking a sleeping thread took from 30 us to over 2 ms on this project's
    /// virtual machine; in the classify server with the stock rules the second thread
    /// started more than 1 ms late on 17-33 messages of 200 (2-13 with this; session 35,
    /// corpora/SA-FIDELITY.md). The pool wakes a sleeping thread for the share too, and that
    /// one often takes it first (about 4 messages in 10 in an instrumented run, session 40):
    /// the waiting thread then stops, where it used to yield on for the rest of its 3 ms
    /// beside the two threads doing the work. Does nothing for a one-message rule set,
    /// one with too few text rules for a second thread, in a pool of one thread, or when a
    /// thread is waiting already.
    pub fn expect_message(&self) {
        let Some(prep) = self.inner.prepared.get() else {
            return;
        };
        // With one core the waiting thread would only take turns with the one parsing.
        if !prep.two_threads()
            || rayon::current_num_threads() < 2
            || EXPECTING.swap(true, Ordering::AcqRel)
        {
            return;
        }
        // Read before the message's share can exist: a change means it has started.
        let seen = SHARES_STARTED.load(Ordering::Acquire);
        rayon::spawn(move || {
            let until = std::time::Instant::now() + EXPECT_WAIT;
            // Runs the first job queued in the pool (the message's, or another's), then ends;
            // or ends when another thread has taken the message's share.
            while rayon::yield_now() != Some(rayon::Yield::Executed)
                && SHARES_STARTED.load(Ordering::Acquire) == seen
                && std::time::Instant::now() < until
            {
                std::thread::yield_now();
            }
            EXPECTING.store(false, Ordering::Release);
        });
    }
}
