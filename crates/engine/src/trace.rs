//! An invocation's trace: the X-Ray trace header it continues or starts (`X-Amzn-Trace-Id` in,
//! `Lambda-Runtime-Trace-Id` and `_X_AMZN_TRACE_ID` to the runtime), and, for functions with
//! `TracingConfig: Active`, the times of its stages, which the server's tracer turns into
//! spans.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::SystemTime;

/// Which invocations of Active functions are recorded when their caller did not decide: X-Ray's
/// default rule, the first `reservoir` of each second and `rate` of the rest.
#[derive(Debug)]
pub struct Sampler {
    reservoir: AtomicU32,
    rate_bits: AtomicU64,
    second: AtomicU64,
    taken: AtomicU32,
}

impl Default for Sampler {
    /// AWS compat: X-Ray's default sampling rule (1 a second, then 5%).
    fn default() -> Self {
        Self::new(1, 0.05)
    }
}

impl Sampler {
    /// `reservoir` a second, then `rate` (0 to 1) of the rest.
    pub fn new(reservoir: u32, rate: f64) -> Self {
        Self {
            reservoir: AtomicU32::new(reservoir),
            rate_bits: AtomicU64::new(rate.clamp(0.0, 1.0).to_bits()),
            second: AtomicU64::new(0),
            taken: AtomicU32::new(0),
        }
    }

    /// Changes the rule.
    pub fn set(&self, reservoir: u32, rate: f64) {
        self.reservoir.store(reservoir, Ordering::Relaxed);
        self.rate_bits
            .store(rate.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
    }

    /// Whether an invocation at `epoch_s` is recorded.
    pub fn sample(&self, epoch_s: u64) -> bool {
        if self.second.swap(epoch_s, Ordering::AcqRel) != epoch_s {
            self.taken.store(0, Ordering::Release);
        }
        if self.taken.fetch_add(1, Ordering::AcqRel) < self.reservoir.load(Ordering::Relaxed) {
            return true;
        }
        rand::random::<f64>() < f64::from_bits(self.rate_bits.load(Ordering::Relaxed))
    }
}

/// The trace context of one invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// The X-Ray root as a 128-bit id: its 8 hex digits of epoch seconds, then 24 of random.
    pub trace_id: u128,
    /// The caller's span (`Parent=`), if it named one.
    pub caller_parent: Option<u64>,
    /// The caller's sampling decision (`Sampled=`), if it made one.
    pub caller_sampled: Option<bool>,
    /// Whether Nimbus records this invocation's spans (Active tracing, not sampled out).
    pub recorded: bool,
    /// The invocation's own span: the runtime's `Parent` when recorded.
    pub span_id: u64,
    /// The header as the caller sent it, passed on unchanged when not recorded.
    caller_header: Option<String>,
}

fn nonzero_u64() -> u64 {
    rand::random::<u64>() | 1
}

/// `1-5759e988-bd862e3fe1be46a994272793` as an id.
fn parse_root(root: &str) -> Option<u128> {
    let rest = root.strip_prefix("1-")?;
    let (time, random) = rest.split_once('-')?;
    if time.len() != 8 || random.len() != 24 {
        return None;
    }
    u128::from_str_radix(&format!("{time}{random}"), 16)
        .ok()
        .filter(|&id| id != 0)
}

impl TraceContext {
    /// The context of an invocation that brought `header` (or none), of a function whose
    /// tracing is Active (`active`) or PassThrough, at `epoch_s`; `sampler` decides for an
    /// Active function whose caller did not.
    pub fn of(header: Option<&str>, active: bool, epoch_s: u64, sampler: &Sampler) -> Self {
        let mut root = None;
        let mut caller_parent = None;
        let mut caller_sampled = None;
        for field in header.unwrap_or("").split(';') {
            match field.trim().split_once('=') {
                Some(("Root", v)) => root = parse_root(v),
                Some(("Parent", v)) if v.len() == 16 => {
                    caller_parent = u64::from_str_radix(v, 16).ok().filter(|&p| p != 0);
                }
                Some(("Sampled", "1")) => caller_sampled = Some(true),
                Some(("Sampled", "0")) => caller_sampled = Some(false),
                _ => {}
            }
        }
        let continued = root.is_some();
        let trace_id = root
            .unwrap_or_else(|| (u128::from(epoch_s as u32) << 96) | (rand::random::<u128>() >> 32));
        Self {
            trace_id,
            caller_parent,
            caller_sampled,
            // AWS compat: an Active function follows its caller's sampling decision, or makes
            // its own by the sampling rule.
            recorded: active && caller_sampled.unwrap_or_else(|| sampler.sample(epoch_s)),
            span_id: nonzero_u64(),
            caller_header: header.filter(|_| continued).map(str::to_string),
        }
    }

    /// `Root=1-…-…` of this trace.
    pub fn root(&self) -> String {
        let hex = format!("{:032x}", self.trace_id);
        format!("1-{}-{}", &hex[..8], &hex[8..])
    }

    /// What the runtime is given: the caller's header as it was, or, when the invocation is
    /// recorded or the caller sent none, one whose Parent is Nimbus's span.
    pub fn runtime_header(&self) -> String {
        match &self.caller_header {
            Some(h) if !self.recorded => h.clone(),
            _ => format!(
                "Root={};Parent={:016x};Sampled={}",
                self.root(),
                self.span_id,
                u8::from(self.recorded)
            ),
        }
    }
}

/// The stages of a recorded invocation, by the wall clock.
#[derive(Debug, Clone)]
pub struct Timeline {
    /// The invocation reached the engine.
    pub start: SystemTime,
    /// Resolved and admitted.
    pub admitted: SystemTime,
    /// On a cold start: its sandbox launched (the init phase begins).
    pub launched: Option<SystemTime>,
    /// An environment ready for it (after its init phase, on a cold start).
    pub claimed: SystemTime,
    /// The runtime answered.
    pub dispatched: SystemTime,
    /// Logs written, the environment released.
    pub end: SystemTime,
}

/// What the tracer gets of a recorded invocation.
#[derive(Debug, Clone)]
pub struct TraceRecord {
    /// Its trace context.
    pub context: TraceContext,
    /// Its stages.
    pub timeline: Timeline,
    /// The invocation's request id.
    pub request_id: String,
    /// The ARN it was invoked by.
    pub invoked_arn: String,
    /// Whether it was a cold start.
    pub cold: bool,
    /// Its init phase failed with this error type (it never ran: no dispatch, no finish).
    pub init_error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_rule_takes_one_a_second_then_five_percent() {
        let s = Sampler::default();
        let mut taken = 0;
        for second in 0..200 {
            assert!(s.sample(second), "the first of second {second}");
            taken += (0..999).filter(|_| s.sample(second)).count();
        }
        // 5% of 199,800, give or take.
        assert!((8_500..11_500).contains(&taken), "{taken}");
        let none = Sampler::new(0, 0.0);
        assert!(!(0..1000).any(|i| none.sample(i)));
    }

    const CALLER: &str =
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

    #[test]
    fn an_active_function_continues_the_callers_trace_under_its_own_span() {
        let t = TraceContext::of(Some(CALLER), true, 0, &Sampler::default());
        assert_eq!(t.trace_id, 0x5759e988_bd862e3fe1be46a994272793);
        assert_eq!(t.root(), "1-5759e988-bd862e3fe1be46a994272793");
        assert_eq!(t.caller_parent, Some(0x53995c3f42cd8ad8));
        assert!(t.recorded);
        assert_eq!(
            t.runtime_header(),
            format!(
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent={:016x};Sampled=1",
                t.span_id
            )
        );
    }

    #[test]
    fn pass_through_hands_the_header_on_as_it_came() {
        let t = TraceContext::of(Some(CALLER), false, 0, &Sampler::default());
        assert!(!t.recorded);
        assert_eq!(t.runtime_header(), CALLER);
        // A caller that sampled out is not recorded even by an Active function.
        let out = TraceContext::of(
            Some(&CALLER.replace("Sampled=1", "Sampled=0")),
            true,
            0,
            &Sampler::new(100, 1.0),
        );
        assert!(!out.recorded);
    }

    #[test]
    fn without_a_usable_header_a_trace_starts_here() {
        for header in [None, Some("Root=garbage"), Some("Root=1-zz-yy;Sampled=1")] {
            let t = TraceContext::of(header, true, 0x6931_0000, &Sampler::new(100, 0.0));
            assert!(t.recorded);
            assert_eq!(t.caller_parent, None);
            assert!(t.root().starts_with("1-69310000-"), "{}", t.root());
            assert!(t.runtime_header().starts_with("Root=1-69310000-"));
        }
        let passive = TraceContext::of(None, false, 0x6931_0000, &Sampler::default());
        assert!(passive.runtime_header().ends_with(";Sampled=0"));
    }
}
