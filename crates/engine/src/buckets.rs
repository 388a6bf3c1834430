//! Token buckets per key (a function's name), each holding at most `capacity` tokens and
//! refilled continuously at `capacity` per `period`: the log quota and the scaling rate.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// More keys than this in the table, and those whose buckets are full again are forgotten.
const PRUNE_ABOVE: usize = 10_000;

pub(crate) struct Buckets {
    capacity: f64,
    period: Duration,
    /// Tokens, and when they were counted.
    map: Mutex<HashMap<String, (f64, Instant)>>,
}

impl Buckets {
    pub(crate) fn new(capacity: u64, period: Duration) -> Self {
        Self {
            capacity: capacity as f64,
            period,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// Refills `key`'s bucket up to `now` and hands its tokens to `spend`, which takes what it
    /// uses; a new key starts full.
    pub(crate) fn with<R>(&self, key: &str, now: Instant, spend: impl FnOnce(&mut f64) -> R) -> R {
        let refilled = |at: Instant| {
            now.saturating_duration_since(at).as_secs_f64() * self.capacity
                / self.period.as_secs_f64()
        };
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() > PRUNE_ABOVE {
            map.retain(|_, (tokens, at)| *tokens + refilled(*at) < self.capacity);
        }
        let (tokens, at) = map.entry(key.to_string()).or_insert((self.capacity, now));
        *tokens = (*tokens + refilled(*at)).min(self.capacity);
        *at = now;
        spend(tokens)
    }
}
