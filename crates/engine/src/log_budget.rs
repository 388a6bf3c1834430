//! The per-function log quota: how many bytes of its own output one function may have stored
//! per minute, across all its environments. Each invocation's output is already cut to
//! [`crate::output::MAX_PENDING`]; this bounds the whole, so that a function at high
//! concurrency cannot fill the data disk with logs before their retention ends them.
//!
//! A token bucket per function: it holds at most a minute's allowance and refills
//! continuously. Output beyond what the bucket holds is dropped, and a line of the log says
//! how much and why. The platform's own lines (START, END, REPORT) are never dropped.

use std::time::Duration;

use tokio::time::Instant;

use crate::buckets::Buckets;

pub(crate) struct LogBudget {
    /// Bytes per minute per function; 0: no quota.
    per_minute: u64,
    buckets: Buckets,
}

impl LogBudget {
    pub(crate) fn new(per_minute: u64) -> Self {
        Self {
            per_minute,
            buckets: Buckets::new(per_minute, Duration::from_secs(60)),
        }
    }

    /// `output` of `function` as far as its quota allows at `now`: whole, or cut at a line's end
    /// with the cut said on a line of its own.
    pub(crate) fn admit(&self, function: &str, output: String, now: Instant) -> String {
        if self.per_minute == 0 || output.is_empty() {
            return output;
        }
        let keep = self.buckets.with(function, now, |bytes| {
            let len = output.len() as f64;
            if len <= *bytes {
                *bytes -= len;
                return None;
            }
            // What fits, to the end of its last whole line.
            let fits = bytes.max(0.0) as usize;
            let keep = output[..floor_char_boundary(&output, fits)]
                .rfind('\n')
                .map_or(0, |i| i + 1);
            *bytes -= keep as f64;
            Some(keep)
        });
        let Some(keep) = keep else {
            return output;
        };
        let dropped = output.len() - keep;
        let mut kept = output;
        kept.truncate(keep);
        kept.push_str(&format!(
            "[nimbus] {dropped} bytes of output dropped: function {function} is over its log quota of {} bytes a minute\n",
            self.per_minute
        ));
        kept
    }
}

/// The largest char boundary of `s` at or below `i`.
fn floor_char_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_function_past_its_quota_loses_its_output_with_the_cut_said_and_refills() {
        let budget = LogBudget::new(1_000);
        let t0 = Instant::now();
        let line = "x".repeat(99) + "\n"; // 100 bytes
        for _ in 0..9 {
            assert_eq!(budget.admit("f", line.clone(), t0), line);
        }
        // 100 bytes left: one line and a half of a second one do not fit.
        let two = line.repeat(2);
        let cut = budget.admit("f", two, t0);
        assert!(cut.starts_with(&line), "{cut}");
        assert!(
            cut.ends_with("[nimbus] 100 bytes of output dropped: function f is over its log quota of 1000 bytes a minute\n"),
            "{cut}"
        );
        // Nothing left now; other functions have their own quota.
        assert!(budget
            .admit("f", line.clone(), t0)
            .starts_with("[nimbus] 100 bytes"));
        assert_eq!(budget.admit("g", line.clone(), t0), line);
        // Six seconds refill a tenth of the minute's allowance.
        let later = t0 + Duration::from_secs(6);
        assert_eq!(budget.admit("f", line.clone(), later), line);
        assert!(budget
            .admit("f", line.clone(), later)
            .starts_with("[nimbus]"));
        // A minute refills all of it, and no more.
        let much_later = later + Duration::from_secs(3600);
        let ten = line.repeat(10);
        assert_eq!(budget.admit("f", ten, much_later), line.repeat(10));
        assert!(budget
            .admit("f", line.clone(), much_later)
            .starts_with("[nimbus]"));
    }

    #[test]
    fn a_cut_never_splits_a_character_and_no_quota_keeps_everything() {
        let budget = LogBudget::new(10);
        let t0 = Instant::now();
        let out = budget.admit("f", "ééééééééé\n".to_string(), t0);
        assert!(out.starts_with("[nimbus] 19 bytes"), "{out}");
        let unlimited = LogBudget::new(0);
        let big = "y".repeat(1 << 20);
        assert_eq!(unlimited.admit("f", big.clone(), t0), big);
    }
}
