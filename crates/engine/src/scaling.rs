//! The per-function scaling rate: how fast new environments may be made for one function, as
//! Lambda limits it (1,000 every 10 seconds by default). A token bucket per function holding at
//! most one period's allowance and refilled continuously; a cold start takes one token, and one
//! that finds none is throttled (429). Warm invocations and provisioned environments take none.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// The period the allowance is given for.
const PERIOD: Duration = Duration::from_secs(10);
/// More functions than this in the table, and those whose buckets are full are forgotten.
const PRUNE_ABOVE: usize = 10_000;

pub(crate) struct ScalingRate {
    /// New environments per [`PERIOD`] per function; 0: no limit.
    per_period: u32,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl ScalingRate {
    pub(crate) fn new(per_period: u32) -> Self {
        Self {
            per_period,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one new environment of `function`'s allowance at `now`; false when none is left.
    pub(crate) fn take(&self, function: &str, now: Instant) -> bool {
        if self.per_period == 0 {
            return true;
        }
        let cap = f64::from(self.per_period);
        let refilled = |at: Instant| {
            now.saturating_duration_since(at).as_secs_f64() * cap / PERIOD.as_secs_f64()
        };
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() > PRUNE_ABOVE {
            buckets.retain(|_, (tokens, at)| *tokens + refilled(*at) < cap);
        }
        let (tokens, at) = buckets.entry(function.to_string()).or_insert((cap, now));
        *tokens = (*tokens + refilled(*at)).min(cap);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_makes_at_most_its_allowance_and_it_refills_continuously() {
        let rate = ScalingRate::new(1_000);
        let t0 = Instant::now();
        assert_eq!((0..1_500).filter(|_| rate.take("f", t0)).count(), 1_000);
        // Another function scales on its own.
        assert!(rate.take("g", t0));
        // A second is a tenth of the period: 100 more.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!((0..500).filter(|_| rate.take("f", t1)).count(), 100);
        // Unused allowance does not pile up past one period's.
        let later = t1 + Duration::from_secs(3_600);
        assert_eq!((0..5_000).filter(|_| rate.take("f", later)).count(), 1_000);
        let unlimited = ScalingRate::new(0);
        assert!((0..10_000).all(|_| unlimited.take("f", t0)));
    }
}
