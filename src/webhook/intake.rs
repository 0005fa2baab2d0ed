//! Reading a webhook body under the listener's limits: a budget of bytes buffered at once over
//! all requests (reserved by the declared length before any byte is read, or step by step as a
//! chunked body streams), a deadline for the whole body, and the HMAC fed as the bytes arrive.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::config::{HttpLimits, MAX_WEBHOOK_BODY_BYTES};
use crate::webhook::signature::{SignatureCheck, SignatureError};

/// How much more a chunked body reserves each time it outgrows its reservation: large enough
/// that a big body does not queue on the budget thousands of times.
const CHUNKED_STEP: usize = 256 * 1024;

/// The shared budget and deadlines; cloning shares the budget. (tower-http's
/// `RequestBodyLimitLayer` and axum's `DefaultBodyLimit` cap one body at a time; nothing there
/// bounds the bytes of all bodies together, hence this, on tokio's fair semaphore.)
#[derive(Clone)]
pub struct BodyIntake {
    budget: Arc<Semaphore>,
    budget_wait: Duration,
    body_timeout: Duration,
}

/// Why a body was not taken in.
#[derive(Debug, thiserror::Error)]
pub(crate) enum IntakeError {
    #[error("the body exceeds {MAX_WEBHOOK_BODY_BYTES} bytes")]
    TooLarge,
    #[error("too many webhook bodies are being received at once; retry later")]
    Busy,
    #[error("the body did not arrive within {}", humantime::format_duration(*.0))]
    TimedOut(Duration),
    #[error("cannot read the request body: {}", crate::error_chain::chain(.0))]
    Read(#[source] axum::Error),
    #[error(transparent)]
    Signature(#[from] SignatureError),
}

/// A body whose signature verified. Its bytes stay counted in the budget until it is dropped.
pub(crate) struct VerifiedBody {
    pub bytes: Vec<u8>,
    _reservation: Option<OwnedSemaphorePermit>,
}

impl BodyIntake {
    pub fn new(limits: &HttpLimits) -> Self {
        // The config check bounds the budget; the clamp keeps a mistake from panicking here.
        let bytes = limits
            .body_budget_mib
            .saturating_mul(1024 * 1024)
            .clamp(MAX_WEBHOOK_BODY_BYTES, Semaphore::MAX_PERMITS);
        BodyIntake {
            budget: Arc::new(Semaphore::new(bytes)),
            budget_wait: limits.budget_wait.0,
            body_timeout: limits.body_timeout.0,
        }
    }

    /// Bytes of the budget free right now (for tests).
    #[cfg(test)]
    fn available(&self) -> usize {
        self.budget.available_permits()
    }

    /// Reads `body` whole within the body deadline, never holding more bytes than it has
    /// reserved in the budget, and checks it against the signature on the way.
    pub(crate) async fn read_verified(
        &self,
        mut body: Body,
        mut check: SignatureCheck,
    ) -> Result<VerifiedBody, IntakeError> {
        let deadline = Instant::now() + self.body_timeout;
        let hint = hyper::body::Body::size_hint(&body);
        if hint.lower() > MAX_WEBHOOK_BODY_BYTES as u64 {
            return Err(IntakeError::TooLarge);
        }
        let mut reservation = Reservation::default();
        // A declared length is reserved whole before the first byte is read; with
        // `Expect: 100-continue` the client does not even send the body before that.
        if let Some(declared) = hint.exact() {
            reservation
                .grow_to(self, declared as usize, deadline)
                .await?;
        }
        let mut bytes = Vec::with_capacity(reservation.bytes);
        loop {
            let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
                Err(_) => return Err(IntakeError::TimedOut(self.body_timeout)),
                Ok(None) => break,
                Ok(Some(Err(e))) => return Err(IntakeError::Read(e)),
                Ok(Some(Ok(frame))) => frame,
            };
            // Trailers carry nothing prgate reads.
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let needed = bytes.len() + data.len();
            if needed > MAX_WEBHOOK_BODY_BYTES {
                return Err(IntakeError::TooLarge);
            }
            if needed > reservation.bytes {
                let step = needed.max(reservation.bytes + CHUNKED_STEP);
                reservation
                    .grow_to(self, step.min(MAX_WEBHOOK_BODY_BYTES), deadline)
                    .await?;
            }
            check.update(&data);
            bytes.extend_from_slice(&data);
        }
        check.finish()?;
        Ok(VerifiedBody {
            bytes,
            _reservation: reservation.permit,
        })
    }
}

/// The bytes of the budget one body holds.
#[derive(Default)]
struct Reservation {
    bytes: usize,
    permit: Option<OwnedSemaphorePermit>,
}

impl Reservation {
    /// Reserves up to `total` bytes, waiting at most `budget_wait` (and never past the body's
    /// deadline) for them to be free; the semaphore is fair, so a waiting body is not
    /// overtaken by later ones.
    async fn grow_to(
        &mut self,
        intake: &BodyIntake,
        total: usize,
        deadline: Instant,
    ) -> Result<(), IntakeError> {
        let Some(more) = total.checked_sub(self.bytes).filter(|&n| n > 0) else {
            return Ok(());
        };
        let more = u32::try_from(more).map_err(|_| IntakeError::TooLarge)?;
        let wait_until = deadline.min(Instant::now() + intake.budget_wait);
        let acquired =
            tokio::time::timeout_at(wait_until, intake.budget.clone().acquire_many_owned(more))
                .await;
        // The budget is never closed; were it, refusing is the safe answer.
        let Ok(Ok(permit)) = acquired else {
            return Err(IntakeError::Busy);
        };
        match &mut self.permit {
            Some(held) => held.merge(permit),
            None => self.permit = Some(permit),
        }
        self.bytes = total;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{HumanDuration, Secret};
    use crate::webhook::sign;

    fn intake(budget_mib: usize) -> BodyIntake {
        BodyIntake::new(&HttpLimits {
            body_budget_mib: budget_mib,
            budget_wait: HumanDuration(Duration::from_millis(100)),
            body_timeout: HumanDuration(Duration::from_millis(500)),
            ..HttpLimits::default()
        })
    }

    fn check(body: &[u8]) -> SignatureCheck {
        SignatureCheck::new(&[Secret::new("k")], Some(&sign("k", body))).unwrap()
    }

    /// A body of unknown length, sent in `pieces` frames; with `stall`, it then never ends.
    struct Pieces {
        pieces: std::collections::VecDeque<Vec<u8>>,
        stall: bool,
    }

    impl hyper::body::Body for Pieces {
        type Data = bytes::Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, std::io::Error>>>
        {
            match self.pieces.pop_front() {
                Some(p) => std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(p.into())))),
                None if self.stall => std::task::Poll::Pending,
                None => std::task::Poll::Ready(None),
            }
        }
    }

    fn chunked(pieces: Vec<Vec<u8>>) -> Body {
        Body::new(Pieces {
            pieces: pieces.into(),
            stall: false,
        })
    }

    #[tokio::test]
    async fn a_declared_body_holds_its_length_until_dropped() {
        let intake = intake(25);
        let total = intake.available();
        let body = vec![b'x'; 1000];
        let verified = intake
            .read_verified(Body::from(body.clone()), check(&body))
            .await
            .unwrap();
        assert_eq!(verified.bytes, body);
        assert_eq!(intake.available(), total - 1000);
        drop(verified);
        assert_eq!(intake.available(), total);
    }

    #[tokio::test]
    async fn a_chunked_body_reserves_as_it_streams_and_is_verified_whole() {
        let intake = intake(25);
        let pieces = vec![vec![b'a'; 300_000], vec![b'b'; 300_000]];
        let whole = pieces.concat();
        let verified = intake
            .read_verified(chunked(pieces.clone()), check(&whole))
            .await
            .unwrap();
        assert_eq!(verified.bytes, whole);
        let err = intake
            .read_verified(chunked(pieces), check(b"another body"))
            .await
            .err();
        assert!(matches!(
            err,
            Some(IntakeError::Signature(SignatureError::Mismatch))
        ));
    }

    #[tokio::test]
    async fn past_the_budget_a_body_waits_then_is_refused() {
        let intake = intake(25);
        let held = intake
            .budget
            .clone()
            .acquire_many_owned((intake.available() - 10) as u32)
            .await
            .unwrap();
        let body = vec![b'x'; 100];
        let err = intake
            .read_verified(Body::from(body.clone()), check(&body))
            .await
            .err();
        assert!(matches!(err, Some(IntakeError::Busy)), "{err:?}");
        drop(held);
        assert!(
            intake
                .read_verified(Body::from(body.clone()), check(&body))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_chunked_body_over_the_cap_is_refused() {
        let intake = intake(64);
        let pieces = vec![vec![b'x'; 1024 * 1024]; 26];
        let err = intake
            .read_verified(chunked(pieces), check(b""))
            .await
            .err();
        assert!(matches!(err, Some(IntakeError::TooLarge)), "{err:?}");
        assert_eq!(intake.available(), 64 * 1024 * 1024);
    }

    #[tokio::test]
    async fn a_body_that_stalls_is_cut_off_at_the_deadline() {
        let intake = intake(25);
        let body = Body::new(Pieces {
            pieces: vec![b"{".to_vec()].into(),
            stall: true,
        });
        let err = intake.read_verified(body, check(b"")).await.err();
        assert!(matches!(err, Some(IntakeError::TimedOut(_))), "{err:?}");
    }
}
