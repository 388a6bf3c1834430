//! Time, as the engine reads it. Durations, deadlines and idle times use tokio's clock (which
//! tests pause and advance); wall-clock timestamps (log events, `Lambda-Runtime-Deadline-Ms`)
//! come from a [`Clock`], so that tests can fix them too.

use std::time::{SystemTime, UNIX_EPOCH};

/// The wall clock.
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn epoch_ms(&self) -> i64;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn epoch_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}
