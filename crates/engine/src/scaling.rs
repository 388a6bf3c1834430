//! The per-function scaling rate: how fast new environments may be made for one function, as
//! Lambda limits it (1,000 every 10 seconds by default). A token bucket per function holding at
//! most one period's allowance and refilled continuously; a cold start takes one token, and one
//! that finds none is throttled (429). Warm invocations and provisioned environments take none.

use std::time::Duration;

use tokio::time::Instant;

use crate::buckets::Buckets;

/// The period the allowance is given for.
const PERIOD: Duration = Duration::from_secs(10);

pub(crate) struct ScalingRate {
    /// `None`: no limit.
    buckets: Option<Buckets>,
}

impl ScalingRate {
    /// `per_period` new environments per 10 s per function; 0: no limit.
    pub(crate) fn new(per_period: u32) -> Self {
        Self {
            buckets: (per_period > 0).then(|| Buckets::new(u64::from(per_period), PERIOD)),
        }
    }

    /// Takes one new environment of `function`'s allowance at `now`; false when none is left.
    pub(crate) fn take(&self, function: &str, now: Instant) -> bool {
        let Some(buckets) = &self.buckets else {
            return true;
        };
        buckets.with(function, now, |tokens| {
            let left = *tokens >= 1.0;
            if left {
                *tokens -= 1.0;
            }
            left
        })
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
