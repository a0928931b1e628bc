//! Backpressure for async sends (Java's `enableBackpressureForAsyncMode`): bounds on the count
//! and on the body bytes of async sends in flight; a send over a bound waits for room within
//! the send timeout (`block`) or fails at once (`fail`), with `TooManyRequests` either way.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::error::{Error, ErrorKind, Result};
use crate::producer::config::{Backpressure, ProducerConfig};

pub struct AsyncBounds {
    count: Option<(Arc<Semaphore>, usize)>,
    bytes: Option<(Arc<Semaphore>, usize)>,
    pub mode: Backpressure,
}

/// Room for one async send, given back when dropped.
pub struct AsyncPermit {
    _count: Option<OwnedSemaphorePermit>,
    _bytes: Option<OwnedSemaphorePermit>,
}

impl AsyncBounds {
    pub fn new(config: &ProducerConfig) -> Self {
        let bound = |max: usize| (max > 0).then(|| (Arc::new(Semaphore::new(max)), max));
        AsyncBounds {
            count: bound(config.max_async_in_flight),
            bytes: bound(config.max_async_in_flight_bytes),
            mode: config.backpressure,
        }
    }

    /// A message larger than the whole byte bound takes all of it (it would never fit).
    fn byte_permits(&self, bytes: usize) -> Option<(&Arc<Semaphore>, u32)> {
        self.bytes
            .as_ref()
            .map(|(sem, max)| (sem, bytes.clamp(1, *max).min(u32::MAX as usize) as u32))
    }

    /// Room now, or `None`.
    pub fn try_acquire(&self, bytes: usize) -> Option<AsyncPermit> {
        let count = match &self.count {
            Some((sem, _)) => Some(sem.clone().try_acquire_owned().ok()?),
            None => None,
        };
        let bytes = match self.byte_permits(bytes) {
            Some((sem, n)) => Some(sem.clone().try_acquire_many_owned(n).ok()?),
            None => None,
        };
        Some(AsyncPermit {
            _count: count,
            _bytes: bytes,
        })
    }

    /// The permit `acquire` gives before `deadline`, else `TooManyRequests`.
    async fn before(
        &self,
        deadline: Instant,
        acquire: impl std::future::Future<
            Output = std::result::Result<OwnedSemaphorePermit, tokio::sync::AcquireError>,
        >,
    ) -> Result<OwnedSemaphorePermit> {
        match tokio::time::timeout_at(deadline, acquire).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(self.full()),
        }
    }

    /// Room before `deadline` (count first, then bytes, as Java), else `TooManyRequests`.
    pub async fn acquire(&self, bytes: usize, deadline: Instant) -> Result<AsyncPermit> {
        let count = match &self.count {
            Some((sem, _)) => Some(self.before(deadline, sem.clone().acquire_owned()).await?),
            None => None,
        };
        let bytes = match self.byte_permits(bytes) {
            Some((sem, n)) => Some(
                self.before(deadline, sem.clone().acquire_many_owned(n))
                    .await?,
            ),
            None => None,
        };
        Ok(AsyncPermit {
            _count: count,
            _bytes: bytes,
        })
    }

    pub fn full(&self) -> Error {
        let limits: Vec<String> = [
            self.count
                .as_ref()
                .map(|(_, max)| format!("max_async_in_flight = {max}")),
            self.bytes
                .as_ref()
                .map(|(_, max)| format!("max_async_in_flight_bytes = {max}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        Error::new(
            ErrorKind::TooManyRequests,
            format!(
                "too many async sends in flight ({}); wait for some to complete or raise the bound",
                limits.join(", ")
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn bounds(count: &str, bytes: &str) -> AsyncBounds {
        let mut config = ProducerConfig::new("g");
        config.set("max_async_in_flight", count).unwrap();
        config.set("max_async_in_flight_bytes", bytes).unwrap();
        AsyncBounds::new(&config)
    }

    #[test]
    fn count_bound() {
        let b = bounds("2", "0");
        let first = b.try_acquire(10).unwrap();
        let _second = b.try_acquire(10).unwrap();
        assert!(b.try_acquire(10).is_none());
        drop(first);
        assert!(b.try_acquire(10).is_some());
    }

    #[test]
    fn byte_bound_and_oversized_messages() {
        let b = bounds("0", "100");
        let sixty = b.try_acquire(60).unwrap();
        assert!(b.try_acquire(60).is_none());
        drop(sixty);
        // Larger than the whole bound: takes all of it instead of never fitting.
        let huge = b.try_acquire(1000).unwrap();
        assert!(b.try_acquire(1).is_none());
        drop(huge);
        assert!(
            b.full()
                .message()
                .contains("max_async_in_flight_bytes = 100")
        );
    }

    #[test]
    fn the_default_config_is_bounded() {
        let mut config = ProducerConfig::new("g");
        config.set("backpressure", "fail").unwrap();
        let b = AsyncBounds::new(&config);
        let held: Vec<AsyncPermit> = (0..10_000)
            .map(|i| {
                b.try_acquire(10)
                    .unwrap_or_else(|| panic!("send {i} refused"))
            })
            .collect();
        assert!(b.try_acquire(10).is_none(), "send 10,001 was let in");
        let err = b.full();
        assert_eq!(err.kind(), ErrorKind::TooManyRequests);
        assert!(
            err.message().contains("max_async_in_flight = 10000"),
            "{err}"
        );
        drop(held);

        // 128 MiB of bodies fill the byte bound.
        let body = 4 << 20;
        let held: Vec<AsyncPermit> = (0..32).map(|_| b.try_acquire(body).unwrap()).collect();
        assert!(b.try_acquire(1).is_none(), "a byte past 128 MiB was let in");
        assert!(
            b.full()
                .message()
                .contains("max_async_in_flight_bytes = 134217728")
        );
        drop(held);

        // 0 stays an explicit "unbounded".
        let unbounded = bounds("0", "0");
        let held: Vec<AsyncPermit> = (0..20_000)
            .map(|_| unbounded.try_acquire(1 << 20).unwrap())
            .collect();
        assert_eq!(held.len(), 20_000);
    }

    #[tokio::test]
    async fn acquire_waits_then_times_out() {
        let b = bounds("1", "0");
        let held = b.try_acquire(1).unwrap();
        let err = b
            .acquire(1, Instant::now() + Duration::from_millis(50))
            .await
            .err()
            .unwrap();
        assert_eq!(err.kind(), ErrorKind::TooManyRequests);
        drop(held);
        b.acquire(1, Instant::now() + Duration::from_millis(50))
            .await
            .unwrap();
    }
}
