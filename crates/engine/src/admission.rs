//! The admit stage: concurrency as permits. An invocation runs only while it holds a permit of
//! the account's limit, or of its function's reserved concurrency; a permit is taken in one
//! atomic step (no check-then-act race) and returned when the invocation ends, however it ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::invocation::ThrottleReason;

/// Held while an invocation runs.
#[derive(Debug)]
pub(crate) struct Permit {
    _permit: OwnedSemaphorePermit,
}

/// The concurrency limits.
pub(crate) struct Admission {
    /// The account's unreserved concurrency.
    account: Arc<Semaphore>,
    /// Functions with reserved concurrency draw from their own reservation only, by function
    /// name; an entry is replaced when its reservation changes.
    reserved: Mutex<HashMap<String, (u32, Arc<Semaphore>)>>,
}

impl Admission {
    pub(crate) fn new(account_limit: u32) -> Self {
        Self {
            account: Arc::new(Semaphore::new(account_limit as usize)),
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
            None => Arc::clone(&self.account)
                .try_acquire_owned()
                .map(|p| Permit { _permit: p })
                .map_err(|_| ThrottleReason::ConcurrentInvocationLimitExceeded),
            Some(n) => {
                let sem = {
                    let mut map = self.reserved.lock().unwrap_or_else(PoisonError::into_inner);
                    let entry = map
                        .entry(function.to_string())
                        .or_insert_with(|| (n, Arc::new(Semaphore::new(n as usize))));
                    if entry.0 != n {
                        *entry = (n, Arc::new(Semaphore::new(n as usize)));
                    }
                    Arc::clone(&entry.1)
                };
                sem.try_acquire_owned()
                    .map(|p| Permit { _permit: p })
                    .map_err(|_| ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded)
            }
        }
    }

    /// Forgets a deleted function's reservation.
    pub(crate) fn forget(&self, function: &str) {
        self.reserved
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(function);
    }

    /// Account permits in use.
    pub(crate) fn running(&self, limit: u32) -> u32 {
        limit.saturating_sub(u32::try_from(self.account.available_permits()).unwrap_or(u32::MAX))
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
        assert_eq!(a.running(2), 2);
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
