//! The progress bar of `train`, `correct` and `forget`: messages done, their rate, the share of
//! the input read and the time left. The total is the input's size in bytes (a `stat` per file,
//! cheap next to reading them; an mbox's message count is not known before it is read), so the
//! bar and its ETA follow bytes while the text counts messages. Shown only on a terminal and
//! without `-q`: a cron job or a pipe gets the summary line alone.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use mailsift::sources;

/// Progress over a set of input paths; a no-op when hidden.
pub struct Progress {
    bar: Option<ProgressBar>,
    messages: std::sync::Arc<AtomicU64>,
}

impl Progress {
    /// A bar on stderr when it is a terminal and `quiet` is off; otherwise nothing is drawn.
    pub fn new(quiet: bool, paths: &[PathBuf]) -> Progress {
        Self::with_terminal(!quiet && std::io::stderr().is_terminal(), paths)
    }

    fn with_terminal(shown: bool, paths: &[PathBuf]) -> Progress {
        let messages = std::sync::Arc::new(AtomicU64::new(0));
        if !shown {
            return Progress {
                bar: None,
                messages,
            };
        }
        let total: u64 = sources::expand(paths)
            .into_iter()
            .filter_map(Result::ok)
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        let count = std::sync::Arc::clone(&messages);
        // Only standard input (no file to measure): a spinner with the count and rate.
        let template = if total > 0 {
            "{prefix} {wide_bar} {percent:>3}%  {messages}  ETA {eta}"
        } else {
            "{prefix} {spinner} {messages}"
        };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .with_key(
                "messages",
                move |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let n = count.load(Ordering::Relaxed);
                    let secs = state.elapsed().as_secs_f64();
                    let rate = if secs > 0.0 { n as f64 / secs } else { 0.0 };
                    let _ = write!(w, "{n} messages, {rate:.0}/s");
                },
            )
            .progress_chars("=> ");
        let bar = ProgressBar::with_draw_target(
            (total > 0).then_some(total),
            ProgressDrawTarget::stderr(),
        )
        .with_style(style)
        .with_prefix("mailsift:");
        // Drawn at once (not at the first tick), then redrawn five times a second.
        bar.tick();
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress {
            bar: Some(bar),
            messages,
        }
    }

    /// One message of `bytes` bytes done (read and analysed). Callable from any thread.
    pub fn message(&self, bytes: usize) {
        if let Some(bar) = &self.bar {
            self.messages.fetch_add(1, Ordering::Relaxed);
            bar.inc(bytes as u64);
        }
    }

    /// Removes the bar, so the summary line that follows stands alone.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_progress_counts_nothing_and_draws_nothing() {
        let p = Progress::with_terminal(false, &[PathBuf::from("/nonexistent")]);
        p.message(100);
        p.finish();
        assert!(p.bar.is_none());
        assert_eq!(p.messages.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn shown_progress_totals_the_input_bytes() {
        let dir = std::env::temp_dir().join(format!("mailsift-progress-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("a"), "Subject: a\n\nxx\n").expect("write");
        std::fs::write(dir.join("b"), "Subject: b\n\nyyyy\n").expect("write");
        let p = Progress::with_terminal(true, std::slice::from_ref(&dir));
        let bar = p.bar.clone().expect("a bar");
        assert_eq!(bar.length(), Some(15 + 17));
        p.message(15);
        assert_eq!(
            (bar.position(), p.messages.load(Ordering::Relaxed)),
            (15, 1)
        );
        p.finish();
        // Standard input alone: no total, a spinner.
        let p = Progress::with_terminal(true, &[PathBuf::from("-")]);
        assert_eq!(p.bar.as_ref().and_then(ProgressBar::length), None);
        p.finish();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
