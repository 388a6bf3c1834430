//! EventBridge Scheduler: the API (`api`) and the one task that fires schedules.
//!
//! The task sleeps until the earliest invocation time the store holds (or until a write of a
//! schedule wakes it), fires what is due, and sleeps again: no polling of the store while
//! nothing is due, whatever the number of schedules. Firing a scheduled time is one
//! transaction (`ScheduleStore::fire_schedule`) that stores the function's asynchronous event
//! and moves the schedule on only if it is still due at that time: each time is invoked once,
//! across crashes and restarts. Times missed while the server was down are invoked late, in
//! order, if they are younger than the target's MaximumEventAgeInSeconds; older ones are
//! skipped in one step (logged), as Scheduler gives up on an invocation past that age.

pub(crate) mod api;
mod clock;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use nimbus_model::scheduler::{AfterCompletion, Schedule, ScheduleGroup, DEFAULT_GROUP};
use nimbus_store::{Due, DueSchedule, FireSchedule, NewEvent, StoreError};
use tokio::sync::Notify;

pub use clock::ScheduleClock;

use crate::app::App;

/// Most schedules one pass fires before it looks again.
const BATCH: usize = 256;
/// The longest the task sleeps without looking at the store (writes by another node of a
/// cluster do not wake it).
const MAX_SLEEP_MS: i64 = 60_000;

/// The firing task's handle.
#[derive(Debug, Default)]
pub(crate) struct Scheduler {
    pub(crate) clock: ScheduleClock,
    /// Woken by every write of a schedule.
    wake: Notify,
    /// What the task has done, for `/_nimbus/schedules`.
    counts: Counts,
}

/// The firing task's work since start-up.
#[derive(Debug, Default)]
struct Counts {
    /// Times it read the due schedules (each wake-up).
    passes: AtomicU64,
    /// Scheduled times invoked.
    fired: AtomicU64,
    /// Scheduled times dead-lettered or dropped (their function gone).
    undeliverable: AtomicU64,
    /// Runs of missed times skipped, too old.
    skipped: AtomicU64,
}

impl Scheduler {
    pub(crate) fn new(clock: ScheduleClock) -> Self {
        Self {
            clock,
            wake: Notify::new(),
            counts: Counts::default(),
        }
    }

    /// A schedule was written: its time may now be the earliest.
    pub(crate) fn changed(&self) {
        self.wake.notify_one();
    }
}

/// A random offset in `[0, window)` ms.
fn jitter(window: i64) -> i64 {
    if window <= 0 {
        0
    } else {
        rand::random::<u64>().rem_euclid(window.unsigned_abs()) as i64
    }
}

/// The schedule's next time after `after_ms`, with its invocation time.
pub(crate) fn next_due(s: &Schedule, after_ms: i64) -> Option<Due> {
    let due_ms = s.due_after(after_ms)?;
    Some(Due {
        due_ms,
        fire_ms: s.fire_time(due_ms, jitter),
    })
}

/// The schedule's first time at or after `now_ms`.
pub(crate) fn first_due(s: &Schedule, now_ms: i64) -> Option<Due> {
    let due_ms = s.first_due(now_ms)?;
    Some(Due {
        due_ms,
        fire_ms: s.fire_time(due_ms, jitter),
    })
}

/// Makes the default group if this store has none yet.
///
/// It is stored without a region: it is every region's, and shown with the caller's.
pub(crate) async fn ensure_default_group(app: &App) -> Result<(), StoreError> {
    let now = app.scheduler.clock.now_ms();
    let g = ScheduleGroup {
        name: DEFAULT_GROUP.into(),
        region: String::new(),
        account: app.account.clone(),
        created_ms: now,
        modified_ms: now,
        tags: Default::default(),
    };
    match app.schedules.create_group(&g).await {
        Ok(()) | Err(StoreError::AlreadyExists(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Starts the firing task.
pub(crate) fn spawn(app: Arc<App>) {
    tokio::spawn(async move {
        loop {
            let notified = app.scheduler.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let now = app.scheduler.clock.now_ms();
            app.scheduler.counts.passes.fetch_add(1, Ordering::Relaxed);
            let due = match app.schedules.due_schedules(now, BATCH).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(error = %e, "read the due schedules");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    continue;
                }
            };
            let full = due.len() == BATCH;
            let mut failed = false;
            for d in due {
                if let Err(e) = fire(&app, d, now).await {
                    tracing::error!(error = %e, "fire a schedule (tried again shortly)");
                    failed = true;
                }
            }
            if failed {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
            if full {
                continue;
            }
            let next = match app.schedules.next_schedule_fire().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "read the next schedule time");
                    None
                }
            };
            let until = next
                .unwrap_or(i64::MAX)
                .min(now.saturating_add(MAX_SLEEP_MS));
            tokio::select! {
                () = notified => {}
                () = app.scheduler.clock.sleep_until(until) => {}
            }
        }
    });
}

/// Invokes one due time of one schedule (or skips it, too old), and moves the schedule on.
async fn fire(app: &App, d: DueSchedule, now: i64) -> Result<(), StoreError> {
    let DueSchedule { schedule: s, due } = d;
    let max_age_ms = i64::from(s.target.retry.max_event_age_seconds) * 1000;
    let complete =
        |next: &Option<Due>| next.is_none() && s.after_completion == AfterCompletion::Delete;
    if now.saturating_sub(due.due_ms) > max_age_ms {
        // Missed for longer than the target waits: skipped, with every other time as old,
        // in one step.
        let next = next_due(&s, now.saturating_sub(max_age_ms).max(due.due_ms));
        tracing::warn!(schedule = %s.arn(), missed_since = due.due_ms,
            "schedule times older than the target's MaximumEventAgeInSeconds skipped");
        let moved = app
            .schedules
            .fire_schedule(&FireSchedule {
                group: s.group.clone(),
                name: s.name.clone(),
                expected: due,
                event: None,
                delete: complete(&next),
                next,
            })
            .await?;
        if moved {
            app.scheduler.counts.skipped.fetch_add(1, Ordering::Relaxed);
        }
        return Ok(());
    }
    let next = next_due(&s, due.due_ms);
    let execution_id = format!("{:016x}", rand::random::<u64>());
    let payload = s.payload(due.due_ms, &execution_id, 1);
    let target = deliverable(app, &s).await;
    let event = match &target {
        Ok(()) if !app.event_queue.is_full() => Some(NewEvent {
            function: s.target.function.clone(),
            qualifier: s.target.qualifier.clone(),
            region: s.region.clone(),
            request_id: uuid::Uuid::new_v4().to_string(),
            payload: payload.clone(),
            client_context: None,
            trace_header: None,
            enqueued_ms: crate::app::now_ms(),
            chain: 0,
        }),
        // The queue is full: the time stays due and is tried again, within its age.
        Ok(()) => return Err(StoreError::Closed("the asynchronous queue is full")),
        Err(_) => None,
    };
    if let Err((code, message)) = &target {
        dead_letter(app, &s, due.due_ms, &execution_id, &payload, code, message).await;
    }
    let stored = event.is_some();
    let fired = app
        .schedules
        .fire_schedule(&FireSchedule {
            group: s.group.clone(),
            name: s.name.clone(),
            expected: due,
            event,
            delete: complete(&next),
            next,
        })
        .await?;
    if fired && !stored {
        app.scheduler
            .counts
            .undeliverable
            .fetch_add(1, Ordering::Relaxed);
    }
    if fired && stored {
        app.scheduler.counts.fired.fetch_add(1, Ordering::Relaxed);
        app.event_queue.stored_elsewhere(1);
        tracing::debug!(schedule = %s.arn(), scheduled = due.due_ms, "schedule fired");
    }
    Ok(())
}

/// `GET /_nimbus/schedules`: what the firing task has done since start-up, and the next
/// invocation time the store holds.
pub(crate) async fn status(
    axum::extract::State(app): axum::extract::State<Arc<App>>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let c = &app.scheduler.counts;
    let next = app.schedules.next_schedule_fire().await.ok().flatten();
    axum::Json(serde_json::json!({
        "Passes": c.passes.load(Ordering::Relaxed),
        "Fired": c.fired.load(Ordering::Relaxed),
        "Undeliverable": c.undeliverable.load(Ordering::Relaxed),
        "Skipped": c.skipped.load(Ordering::Relaxed),
        "NextFire": next,
        "Now": app.scheduler.clock.now_ms(),
    }))
    .into_response()
}

/// Whether the target function (and the version or alias its ARN names) exists; if not,
/// the error Scheduler reports for it.
async fn deliverable(app: &App, s: &Schedule) -> Result<(), (&'static str, String)> {
    let r = nimbus_model::FunctionRef {
        name: s.target.function.clone(),
        qualifier: (!s.target.qualifier.is_empty()).then(|| s.target.qualifier.clone()),
        region: None,
        account: None,
    };
    match crate::api::existence(app, &r).await {
        Ok(Some(true)) => Ok(()),
        Ok(_) => Err((
            "ResourceNotFoundException",
            format!("Function not found: {}", s.target.arn),
        )),
        Err(_) => Err((
            "AWS.Scheduler.InternalServerError",
            "Unexpected error occurred while processing the request".into(),
        )),
    }
}

/// An undeliverable invocation to the schedule's dead-letter queue, with Scheduler's
/// attributes; dropped (logged) without one.
async fn dead_letter(
    app: &App,
    s: &Schedule,
    due_ms: i64,
    execution_id: &str,
    payload: &[u8],
    code: &str,
    message: &str,
) {
    let Some(queue) = &s.target.dead_letter_arn else {
        tracing::warn!(schedule = %s.arn(), error = message, "schedule target undeliverable: dropped");
        return;
    };
    let attr = |value: String| crate::sqs::MessageAttributeValue {
        data_type: "String".into(),
        string_value: Some(value),
        binary_value: None,
    };
    let scheduled = nimbus_model::scheduler::scheduled_time(due_ms);
    let attributes = vec![
        ("ERROR_CODE".to_string(), attr(code.to_string())),
        ("ERROR_MESSAGE".to_string(), attr(message.to_string())),
        ("EXECUTION_ID".to_string(), attr(execution_id.to_string())),
        ("IS_PAYLOAD_TRUNCATED".to_string(), attr("false".into())),
        ("RETRY_ATTEMPTS".to_string(), attr("0".into())),
        ("SCHEDULED_TIME".to_string(), attr(scheduled)),
        ("SCHEDULE_ARN".to_string(), attr(s.arn())),
        ("TARGET_ARN".to_string(), attr(s.target.arn.clone())),
    ];
    let body = String::from_utf8_lossy(payload).into_owned();
    if let Err(e) = crate::sqs::send_internal(app, queue, body, attributes).await {
        tracing::warn!(schedule = %s.arn(), error = %e.message, "dead-letter queue refused: dropped");
    }
}
