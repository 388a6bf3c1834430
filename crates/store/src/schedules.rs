//! EventBridge Scheduler's schedule groups and schedules, and the firing of a schedule: one
//! transaction that stores its asynchronous event and moves it on to its next time.

use nimbus_model::scheduler::{Schedule, ScheduleGroup, ScheduleState};

use crate::{NewEvent, StoreFuture};

/// A schedule's next scheduled time and when it is invoked for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// The scheduled time, epoch ms.
    pub due_ms: i64,
    /// When it is invoked (the scheduled time, or later within its flexible window).
    pub fire_ms: i64,
}

/// A schedule whose invocation time has come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueSchedule {
    /// The schedule.
    pub schedule: Schedule,
    /// The time it is due for.
    pub due: Due,
}

/// The outcome of one invocation time of a schedule, applied if the schedule is still due
/// at `expected` (else nothing changes: it was changed, deleted or fired meanwhile).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FireSchedule {
    /// Its group.
    pub group: String,
    /// Its name.
    pub name: String,
    /// The invocation time the caller found it due at.
    pub expected: Due,
    /// The asynchronous invocation to store (none: nothing is delivered for this time).
    pub event: Option<NewEvent>,
    /// Its next time (none: it has nothing more to fire).
    pub next: Option<Due>,
    /// Delete it (ActionAfterCompletion DELETE once it has nothing more to fire).
    pub delete: bool,
}

/// Durable schedules. Every method is atomic.
pub trait ScheduleStore: Send + Sync {
    /// Stores a new group: `AlreadyExists` if the name is taken.
    fn create_group<'a>(&'a self, g: &'a ScheduleGroup) -> StoreFuture<'a, ()>;
    /// Replaces a stored group (its tags): `NotFound` if there is none.
    fn update_group<'a>(&'a self, g: &'a ScheduleGroup) -> StoreFuture<'a, ()>;
    /// The group `name`.
    fn get_group<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<ScheduleGroup>>;
    /// Up to `limit` groups in name order, after `after`, whose names start with `prefix`.
    fn list_groups<'a>(
        &'a self,
        prefix: Option<&'a str>,
        after: Option<&'a str>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<ScheduleGroup>>;
    /// Deletes a group and every schedule in it; whether there was one.
    fn delete_group<'a>(&'a self, name: &'a str) -> StoreFuture<'a, bool>;
    /// Stores a new schedule due at `due`: `AlreadyExists` if its group has one of its name,
    /// `NotFound` if its group does not exist.
    fn create_schedule<'a>(&'a self, s: &'a Schedule, due: Option<Due>) -> StoreFuture<'a, ()>;
    /// Replaces a stored schedule and its next time: `NotFound` if there is none.
    fn update_schedule<'a>(&'a self, s: &'a Schedule, due: Option<Due>) -> StoreFuture<'a, ()>;
    /// The schedule `name` of `group`, and its next time.
    fn get_schedule<'a>(
        &'a self,
        group: &'a str,
        name: &'a str,
    ) -> StoreFuture<'a, Option<(Schedule, Option<Due>)>>;
    /// Deletes a schedule; whether there was one.
    fn delete_schedule<'a>(&'a self, group: &'a str, name: &'a str) -> StoreFuture<'a, bool>;
    /// Up to `limit` schedules in (group, name) order after `after`, of `group` (or every
    /// group), whose names start with `prefix`, in `state`.
    fn list_schedules<'a>(
        &'a self,
        group: Option<&'a str>,
        prefix: Option<&'a str>,
        state: Option<ScheduleState>,
        after: Option<(&'a str, &'a str)>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<Schedule>>;
    /// The earliest invocation time of any schedule.
    fn next_schedule_fire(&self) -> StoreFuture<'_, Option<i64>>;
    /// Up to `limit` schedules whose invocation time is at or before `now_ms`, earliest first.
    fn due_schedules(&self, now_ms: i64, limit: usize) -> StoreFuture<'_, Vec<DueSchedule>>;
    /// Applies `fire` if the schedule is still due at `fire.expected`; whether it was.
    fn fire_schedule<'a>(&'a self, fire: &'a FireSchedule) -> StoreFuture<'a, bool>;
}
