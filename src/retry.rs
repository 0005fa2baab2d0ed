//! The one retry policy for work that may fail for a moment (a code host call that timed out
//! or answered 5xx, an evaluation whose facts could not be read): a few tries, the pause
//! doubling after each failure. What may be retried is the caller's to say: the transport
//! retries only reads and append-only writes, and waits out GitHub's rate limits first; the
//! gate retries whole evaluations and deliveries, which re-read every fact and are idempotent.
//! (Hand-written: each caller needs only the pauses and the count, and those layers'
//! conditions would be most of any retry crate's configuration.)

use std::time::Duration;

/// How many times and how patiently to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Tries in all, the first included.
    pub tries: u32,
    /// The pause after the first failure; each later one doubles.
    pub first_pause: Duration,
}

impl Backoff {
    /// The pause after failed try number `failed` (0 for the first).
    pub fn pause(&self, failed: u32) -> Duration {
        self.first_pause
            .saturating_mul(2u32.saturating_pow(failed.min(16)))
    }

    /// Runs `op` until it succeeds or the tries are spent; `on_failure` hears of each failure
    /// (with its try number) before the pause. Returns the last error.
    pub async fn run<T, E, F, Fut>(
        &self,
        mut op: F,
        mut on_failure: impl FnMut(u32, &E),
    ) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        let mut failed = 0;
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(e) => {
                    on_failure(failed, &e);
                    if failed + 1 >= self.tries.max(1) {
                        return Err(e);
                    }
                    tokio::time::sleep(self.pause(failed)).await;
                    failed += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double() {
        let b = Backoff {
            tries: 3,
            first_pause: Duration::from_millis(250),
        };
        assert_eq!(
            [b.pause(0), b.pause(1), b.pause(2)],
            [250, 500, 1000].map(Duration::from_millis)
        );
        assert!(b.pause(u32::MAX) > Duration::from_secs(3600));
    }

    #[tokio::test]
    async fn tries_as_many_times_as_it_says_and_returns_the_last_error() {
        let b = Backoff {
            tries: 3,
            first_pause: Duration::from_millis(1),
        };
        let mut calls = 0;
        let mut heard = Vec::new();
        let r: Result<(), u32> = b
            .run(
                || {
                    calls += 1;
                    let n = calls;
                    async move { Err(n) }
                },
                |failed, e| heard.push((failed, *e)),
            )
            .await;
        assert_eq!(r, Err(3));
        assert_eq!(heard, [(0, 1), (1, 2), (2, 3)]);

        let mut calls = 0;
        let r: Result<u32, u32> = b
            .run(
                || {
                    calls += 1;
                    let n = calls;
                    async move { if n < 2 { Err(n) } else { Ok(n) } }
                },
                |_, _| {},
            )
            .await;
        assert_eq!(r, Ok(2));
    }
}
