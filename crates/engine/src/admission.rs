//! The admit stage: concurrency as counted permits. An invocation runs only while it holds a
//! permit of the account's unreserved concurrency, or of its function's reserved concurrency; a
//! permit is taken in one atomic step (no check-then-act race) and returned when the invocation
//! ends, however it ends. Limits may change at any time (PutFunctionConcurrency): a lower limit
//! refuses new invocations until enough running ones have ended, and never stops one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::invocation::ThrottleReason;

/// A count of running invocations under a limit.
#[derive(Debug)]
struct Pool {
    limit: AtomicU32,
    running: AtomicU32,
}

impl Pool {
    fn new(limit: u32) -> Arc<Self> {
        Arc::new(Self {
            limit: AtomicU32::new(limit),
            running: AtomicU32::new(0),
        })
    }

    fn try_take(self: &Arc<Self>) -> Option<Permit> {
        self.running
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.limit.load(Ordering::Acquire)).then_some(n + 1)
            })
            .ok()?;
        Some(Permit {
            pool: Arc::clone(self),
        })
    }
}

/// Held while an invocation runs.
#[derive(Debug)]
pub(crate) struct Permit {
    pool: Arc<Pool>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.pool.running.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The concurrency limits.
pub(crate) struct Admission {
    /// The account's concurrency that no function has reserved.
    account: Arc<Pool>,
    /// Functions with reserved concurrency draw from their own reservation only, by function
    /// name.
    reserved: Mutex<HashMap<String, Arc<Pool>>>,
}

impl Admission {
    pub(crate) fn new(account_limit: u32) -> Self {
        Self {
            account: Pool::new(account_limit),
            reserved: Mutex::new(HashMap::new()),
        }
    }

    /// A permit for one invocation of `function`, or why there is none.
    pub(crate) fn admit(
        &self,
        function: &str,
        reserved: Option<u32>,
    ) -> Result<Permit, ThrottleReason> {
        match reserved {
            None => self
                .account
                .try_take()
                .ok_or(ThrottleReason::ConcurrentInvocationLimitExceeded),
            Some(n) => {
                let pool = {
                    let mut map = self.reserved.lock().unwrap_or_else(PoisonError::into_inner);
                    let pool = map
                        .entry(function.to_string())
                        .or_insert_with(|| Pool::new(n));
                    pool.limit.store(n, Ordering::Release);
                    Arc::clone(pool)
                };
                pool.try_take()
                    .ok_or(ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded)
            }
        }
    }

    /// Sets the account's unreserved concurrency (its limit less what functions reserve).
    pub(crate) fn set_unreserved(&self, limit: u32) {
        self.account.limit.store(limit, Ordering::Release);
    }

    /// Forgets a deleted function's reservation (its running invocations keep their permits).
    pub(crate) fn forget(&self, function: &str) {
        self.reserved
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(function);
    }

    /// Invocations running on the account's unreserved concurrency.
    pub(crate) fn running_unreserved(&self) -> u32 {
        self.account.running.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_limit_is_exact_and_permits_come_back() {
        let a = Admission::new(2);
        let p1 = a.admit("f", None).expect("first");
        let _p2 = a.admit("g", None).expect("second");
        assert_eq!(
            a.admit("h", None).expect_err("third"),
            ThrottleReason::ConcurrentInvocationLimitExceeded
        );
        assert_eq!(a.running_unreserved(), 2);
        drop(p1);
        assert!(
            a.admit("h", None).is_ok(),
            "a finished invocation frees its permit"
        );
    }

    #[test]
    fn reserved_concurrency_is_its_own_pool() {
        let a = Admission::new(1);
        let _acct = a.admit("other", None).expect("account");
        let r1 = a
            .admit("f", Some(1))
            .expect("from the reservation, not the account");
        assert_eq!(
            a.admit("f", Some(1)).expect_err("reservation used"),
            ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded
        );
        assert_eq!(
            a.admit("g", Some(0))
                .expect_err("zero throttles everything"),
            ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded
        );
        drop(r1);
        let _r = a.admit("f", Some(2)).expect("a new reservation");
        let _r = a.admit("f", Some(2)).expect("of two");
        a.forget("f");
    }

    #[test]
    fn a_changed_limit_holds_new_invocations_and_stops_none() {
        let a = Admission::new(3);
        let held: Vec<_> = (0..3).map(|_| a.admit("f", None).expect("free")).collect();
        // Two of the three reserved by another function now.
        a.set_unreserved(1);
        assert!(a.admit("g", None).is_err());
        drop(held);
        let _one = a.admit("g", None).expect("within the new limit");
        assert!(a.admit("g", None).is_err(), "only one");
        // A reservation lowered while its invocations run.
        let r: Vec<_> = (0..2)
            .map(|_| a.admit("r", Some(2)).expect("reserved"))
            .collect();
        assert!(a.admit("r", Some(1)).is_err(), "two running, limit one");
        drop(r);
        let _r = a.admit("r", Some(1)).expect("after they ended");
    }

    #[test]
    fn many_threads_never_exceed_the_limit() {
        let a = Arc::new(Admission::new(10));
        let held = Arc::new(Mutex::new(Vec::new()));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (a, held) = (Arc::clone(&a), Arc::clone(&held));
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        if let Ok(p) = a.admit("f", None) {
                            held.lock().expect("lock").push(p);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("join");
        }
        assert_eq!(held.lock().expect("lock").len(), 10);
    }
}
