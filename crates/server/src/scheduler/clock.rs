//! The scheduler's clock: the system's, or, for tests, one that moves only when told, so that
//! a day of a `rate(1 minute)` schedule runs in moments instead of a day.

use std::sync::Arc;

use tokio::sync::watch;

/// The time schedules fire by.
#[derive(Clone, Default)]
pub struct ScheduleClock {
    manual: Option<Arc<watch::Sender<i64>>>,
}

impl std::fmt::Debug for ScheduleClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.manual {
            None => f.write_str("ScheduleClock::System"),
            Some(now) => write!(f, "ScheduleClock::Manual({})", *now.borrow()),
        }
    }
}

impl PartialEq for ScheduleClock {
    fn eq(&self, other: &Self) -> bool {
        match (&self.manual, &other.manual) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for ScheduleClock {}

impl ScheduleClock {
    /// A clock standing at `now_ms` (epoch ms) until [`ScheduleClock::advance`] moves it.
    /// Clones share it: a test keeps one and hands another to the server (or to several
    /// servers in turn, across a restart).
    pub fn manual(now_ms: i64) -> Self {
        Self {
            manual: Some(Arc::new(watch::channel(now_ms).0)),
        }
    }

    /// Now, epoch ms.
    pub fn now_ms(&self) -> i64 {
        match &self.manual {
            None => crate::app::now_ms(),
            Some(now) => *now.borrow(),
        }
    }

    /// Moves a manual clock on by `ms` (the system's cannot be moved).
    pub fn advance(&self, ms: i64) {
        if let Some(now) = &self.manual {
            now.send_modify(|n| *n = n.saturating_add(ms));
        }
    }

    /// Returns once it is `at_ms` or later.
    pub(crate) async fn sleep_until(&self, at_ms: i64) {
        match &self.manual {
            None => {
                let wait = at_ms.saturating_sub(crate::app::now_ms()).max(0);
                tokio::time::sleep(std::time::Duration::from_millis(
                    u64::try_from(wait).unwrap_or(0),
                ))
                .await;
            }
            Some(now) => {
                let mut rx = now.subscribe();
                // The sender lives as long as this clock: an error cannot happen here.
                let _ = rx.wait_for(|n| *n >= at_ms).await;
            }
        }
    }
}
