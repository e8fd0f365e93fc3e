//! Waiting out a network sink that is down. The daemon waits for ever: while
//! a write retries it has not returned, so the pipeline's bounded channels
//! fill and the source stops reading; `/healthz` says which sink is down and
//! since when. A one-shot run (backfill, `run --once`, replay) gives up after
//! `[pipeline] sink_wait_secs` and leaves what it could not write for the
//! next run.

use std::error::Error;
use std::time::Duration;

use tokio::time::Instant;

/// Exponential delays, 100 ms doubling up to 30 s: quick enough to ride out a
/// server restart, slow enough not to hammer a server that is down for hours.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(30);

    pub(crate) fn new() -> Backoff {
        Backoff { next: Self::FIRST }
    }

    /// The delay before the next attempt.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        delay
    }
}

/// A sink given up on: it stayed unreachable longer than a one-shot run waits.
#[derive(Debug, thiserror::Error)]
#[error(
    "{sink} unreachable for {}s, given up ([pipeline] sink_wait_secs); what was not \
     written comes again on the next run. Last error: {last}",
    .waited.as_secs()
)]
pub struct Unreachable {
    pub sink: String,
    pub waited: Duration,
    pub last: String,
}

/// The retries of one write (or connect) to one sink.
pub(crate) struct Retry {
    sink: String,
    patience: Option<Duration>,
    backoff: Backoff,
    since: Option<Instant>,
}

impl Retry {
    /// `patience`: how long to wait before giving up; `None` waits for ever.
    pub(crate) fn new(sink: String, patience: Option<Duration>) -> Retry {
        Retry {
            sink,
            patience,
            backoff: Backoff::new(),
            since: None,
        }
    }

    /// After a failure worth retrying: logs it, marks the sink unhealthy and
    /// waits, or gives up once the patience is spent.
    pub(crate) async fn failed(&mut self, error: &(dyn Error + Sync)) -> Result<(), Unreachable> {
        let since = *self.since.get_or_insert_with(Instant::now);
        let last = chain(error);
        crate::observe::health().failing(&self.sink, &last);
        if let Some(patience) = self.patience
            && since.elapsed() >= patience
        {
            return Err(Unreachable {
                sink: self.sink.clone(),
                waited: since.elapsed(),
                last,
            });
        }
        let mut delay = self.backoff.next_delay();
        if let Some(patience) = self.patience {
            // The last wait ends when the patience does, not a backoff later.
            delay = delay.min(patience.saturating_sub(since.elapsed()));
        }
        tracing::warn!(
            sink = %self.sink,
            error = %last,
            retry_in_ms = delay.as_millis() as u64,
            "sink unavailable, retrying"
        );
        tokio::time::sleep(delay).await;
        Ok(())
    }

    /// The attempt went through: the sink is healthy.
    pub(crate) fn succeeded(&self) {
        crate::observe::health().ok(&self.sink);
    }
}

/// An error and its causes on one line, for the WARN logged on each retry.
pub(crate) fn chain(err: &dyn Error) -> String {
    let mut out = err.to_string();
    let mut cause = err.source();
    while let Some(e) = cause {
        out.push_str(": ");
        out.push_str(&e.to_string());
        cause = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_one_shot_run_gives_up_after_its_patience_and_the_daemon_never_does() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let mut once = Retry::new("postgres:db/t".into(), Some(Duration::from_secs(60)));
        let started = Instant::now();
        let given_up = loop {
            if let Err(e) = once.failed(&refused).await {
                break e;
            }
        };
        assert!(started.elapsed() >= Duration::from_secs(60));
        assert!(
            started.elapsed() < Duration::from_secs(61),
            "no wait past it"
        );
        assert!(
            given_up
                .to_string()
                .starts_with("postgres:db/t unreachable for 60s"),
            "{given_up}"
        );

        let mut daemon = Retry::new("nats:bus/s".into(), None);
        for _ in 0..200 {
            daemon
                .failed(&refused)
                .await
                .expect("the daemon waits for ever");
        }
        assert!(started.elapsed() > Duration::from_secs(3600));
    }

    #[test]
    fn delays_double_from_100ms_and_stop_growing_at_30s() {
        let mut b = Backoff::new();
        let delays: Vec<u64> = (0..12).map(|_| b.next_delay().as_millis() as u64).collect();
        assert_eq!(
            delays,
            [
                100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000
            ]
        );
    }
}
