//! Amazon EventBridge Scheduler's schedule expressions: `at(...)`, `rate(...)` and `cron(...)`,
//! parsed with AWS's rules and evaluated to fire times in the schedule's time zone.
//!
//! The only I/O is jiff reading the system time-zone database when [`schedule_time_zone`]
//! loads a zone. Everything else is pure and bounded: evaluation walks the cron fields (years,
//! months, days, hours, minutes) instead of scanning minute by minute, and stops at the cron
//! year limit, 2199.
//!
//! AWS compat: <https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html> and
//! <https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cron-expressions.html>.

mod cron;

use std::fmt;
use std::str::FromStr;

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

pub use cron::{Cron, CronField};

use crate::error::LambdaError;

/// A parsed `ScheduleExpression`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleExpression {
    /// `at(yyyy-mm-ddThh:mm:ss)`: a one-time schedule.
    At(At),
    /// `rate(value unit)`: every fixed period from the schedule's first occurrence.
    Rate(Rate),
    /// `cron(minutes hours day-of-month month day-of-week year)`.
    Cron(Cron),
}

impl ScheduleExpression {
    /// Parses `text` exactly as given.
    ///
    /// AWS compat: no trimming; AWS rejects `" rate(10 minutes)"` and `"rate( 10 minutes )"`.
    pub fn parse(text: &str) -> Result<Self, ScheduleExpressionError> {
        let invalid = |violation| ScheduleExpressionError {
            expression: text.to_string(),
            violation,
        };
        let inner = |prefix: &str| text.strip_prefix(prefix)?.strip_suffix(')');
        if let Some(body) = inner("at(") {
            At::parse(body).map(Self::At).map_err(invalid)
        } else if let Some(body) = inner("rate(") {
            Rate::parse(body).map(Self::Rate).map_err(invalid)
        } else if let Some(body) = inner("cron(") {
            Cron::parse(body).map(Self::Cron).map_err(invalid)
        } else {
            Err(invalid(Violation::UnknownType))
        }
    }

    /// The first fire time strictly after `after`, ignoring StartDate and EndDate.
    ///
    /// `tz` is the `ScheduleExpressionTimezone` in which `at()` and `cron()` are read; `anchor`
    /// is the first occurrence of a `rate()` schedule (its StartDate, or the time it was
    /// created when it has none) and is unused by the other two.
    pub fn next_after(
        &self,
        after: Timestamp,
        tz: &TimeZone,
        anchor: Timestamp,
    ) -> Option<Timestamp> {
        match self {
            Self::At(at) => at.next_after(after, tz),
            Self::Rate(rate) => rate.next_after(after, anchor),
            Self::Cron(cron) => cron.next_after(after, tz),
        }
    }

    /// The first fire time strictly after `after` that lies within the schedule's
    /// `[StartDate, EndDate]`, both ends included.
    ///
    /// AWS compat: invocations "might occur on, or after, the StartDate" and "might stop on, or
    /// before, the EndDate"; both are ignored for one-time schedules; a rate schedule's
    /// StartDate is its first occurrence.
    /// <https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateSchedule.html>
    pub fn next_fire(&self, after: Timestamp, timing: &ScheduleTiming) -> Option<Timestamp> {
        let fire = match self {
            Self::At(at) => return at.next_after(after, &timing.time_zone),
            Self::Rate(rate) => rate.next_after(after, timing.rate_anchor())?,
            Self::Cron(cron) => {
                // A fire exactly at StartDate counts, so search from just before it.
                let from = match timing.start_date {
                    Some(start) if start > after => {
                        start.checked_sub(SignedDuration::from_nanos(1)).ok()?
                    }
                    _ => after,
                };
                cron.next_after(from, &timing.time_zone)?
            }
        };
        match timing.end_date {
            Some(end) if fire > end => None,
            _ => Some(fire),
        }
    }
}

impl FromStr for ScheduleExpression {
    type Err = ScheduleExpressionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

/// What a schedule's fire times depend on besides its expression.
#[derive(Debug, Clone)]
pub struct ScheduleTiming {
    /// `ScheduleExpressionTimezone` (UTC when the schedule names none); see [`schedule_time_zone`].
    pub time_zone: TimeZone,
    /// `StartDate`: no fire before it; a rate schedule's first occurrence.
    pub start_date: Option<Timestamp>,
    /// `EndDate`: no fire after it.
    pub end_date: Option<Timestamp>,
    /// When the schedule was created: the first occurrence of a rate schedule without a
    /// StartDate, which "starts invoking its target immediately".
    pub created: Timestamp,
}

impl ScheduleTiming {
    /// The instant a rate schedule counts its periods from.
    pub fn rate_anchor(&self) -> Timestamp {
        self.start_date.unwrap_or(self.created)
    }
}

/// Loads a `ScheduleExpressionTimezone` from the system tz database; `None` means UTC, as in
/// AWS.
pub fn schedule_time_zone(name: Option<&str>) -> Result<TimeZone, UnknownTimeZoneError> {
    match name {
        None => Ok(TimeZone::UTC),
        Some(name) => TimeZone::get(name).map_err(|_| UnknownTimeZoneError {
            name: name.to_string(),
        }),
    }
}

/// A `ScheduleExpressionTimezone` that the tz database does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown time zone {name:?}")]
pub struct UnknownTimeZoneError {
    /// The name as given.
    pub name: String,
}

/// `at(yyyy-mm-ddThh:mm:ss)`: one wall-clock time in the schedule's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct At {
    local: DateTime,
}

impl At {
    fn parse(body: &str) -> Result<Self, Violation> {
        let b = body.as_bytes();
        let digits = |range: std::ops::Range<usize>| -> Option<i16> {
            let part = b.get(range)?;
            if !part.iter().all(u8::is_ascii_digit) {
                return None;
            }
            part.iter().try_fold(0i16, |n, d| {
                n.checked_mul(10)?.checked_add(i16::from(d - b'0'))
            })
        };
        let shape_ok = b.len() == 19
            && b[4] == b'-'
            && b[7] == b'-'
            && b[10] == b'T'
            && b[13] == b':'
            && b[16] == b':';
        if !shape_ok {
            return Err(Violation::AtDateTime);
        }
        let field = |range| digits(range).ok_or(Violation::AtDateTime);
        let (year, month, day) = (field(0..4)?, field(5..7)?, field(8..10)?);
        let (hour, minute, second) = (field(11..13)?, field(14..16)?, field(17..19)?);
        let narrow = |v: i16| i8::try_from(v).map_err(|_| Violation::AtDateTime);
        let local = DateTime::new(
            year,
            narrow(month)?,
            narrow(day)?,
            narrow(hour)?,
            narrow(minute)?,
            narrow(second)?,
            0,
        )
        .map_err(|_| Violation::AtDateTime)?;
        Ok(Self { local })
    }

    /// The wall-clock time as written.
    pub fn local(&self) -> DateTime {
        self.local
    }

    /// The instant this schedule fires in `tz`.
    ///
    /// AWS documents no rule for a one-time schedule whose time falls in a daylight-saving
    /// change. Nimbus resolves it as RFC 5545 and Temporal do ("compatible"): a time in a
    /// spring-forward gap moves forward by the gap's length, and a time that occurs twice fires
    /// at its first occurrence (the same choice AWS documents for cron schedules).
    pub fn fire_time(&self, tz: &TimeZone) -> Option<Timestamp> {
        tz.to_ambiguous_timestamp(self.local).compatible().ok()
    }

    /// [`Self::fire_time`] when it is strictly after `after`.
    pub fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        self.fire_time(tz).filter(|fire| *fire > after)
    }
}

/// The unit of a `rate()` expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateUnit {
    /// `minute` or `minutes`.
    Minutes,
    /// `hour` or `hours`.
    Hours,
    /// `day` or `days`: 24 hours of elapsed time, whatever the clock does.
    Days,
}

impl RateUnit {
    fn seconds(self) -> i64 {
        match self {
            Self::Minutes => 60,
            Self::Hours => 3_600,
            Self::Days => 86_400,
        }
    }
}

/// `rate(value unit)`: fires at the anchor and every `value` units after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    value: u64,
    unit: RateUnit,
}

impl Rate {
    fn parse(body: &str) -> Result<Self, Violation> {
        let (value, unit) = body.split_once(' ').ok_or(Violation::RateShape)?;
        // AWS compat: Scheduler's API reference lists the units `minute | minutes | hour |
        // hours | day | days` and says nothing of the singular/plural agreement that
        // EventBridge *rules* demand (rate(1 hours) invalid there), so neither form is refused.
        // https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateSchedule.html
        let unit = match unit {
            "minute" | "minutes" => RateUnit::Minutes,
            "hour" | "hours" => RateUnit::Hours,
            "day" | "days" => RateUnit::Days,
            _ => return Err(Violation::RateUnit),
        };
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Violation::RateValue);
        }
        let value: u64 = value.parse().map_err(|_| Violation::RateValue)?;
        let rate = Self { value, unit };
        if value == 0 || rate.period_seconds().is_none() {
            return Err(Violation::RateValue);
        }
        Ok(rate)
    }

    /// The number of units.
    pub fn value(&self) -> u64 {
        self.value
    }

    /// The unit.
    pub fn unit(&self) -> RateUnit {
        self.unit
    }

    fn period_seconds(&self) -> Option<i64> {
        i64::try_from(self.value)
            .ok()?
            .checked_mul(self.unit.seconds())
    }

    /// The period as elapsed time.
    pub fn period(&self) -> SignedDuration {
        // Parsing checked that the period fits in i64 seconds.
        SignedDuration::from_secs(self.period_seconds().unwrap_or(i64::MAX))
    }

    /// The first `anchor + k * period` (k ≥ 0) strictly after `after`: exact, with no drift.
    ///
    /// AWS compat: the StartDate is the first occurrence, and a day is 24 hours of elapsed time
    /// even when daylight saving makes a calendar day 23 or 25 hours long; the time zone plays
    /// no part. <https://repost.aws/knowledge-center/eventbridge-scheduler-adjust-dst>
    pub fn next_after(&self, after: Timestamp, anchor: Timestamp) -> Option<Timestamp> {
        if after < anchor {
            return Some(anchor);
        }
        let period = self.period().as_nanos();
        let elapsed = after.as_nanosecond() - anchor.as_nanosecond();
        let periods = elapsed.div_euclid(period) + 1;
        let fire = anchor
            .as_nanosecond()
            .checked_add(periods.checked_mul(period)?)?;
        Timestamp::from_nanosecond(fire).ok()
    }
}

/// An expression AWS would refuse, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid schedule expression {expression:?}: {violation}")]
pub struct ScheduleExpressionError {
    /// The expression as given.
    pub expression: String,
    /// The rule it breaks.
    pub violation: Violation,
}

impl ScheduleExpressionError {
    /// The message AWS answers with.
    ///
    /// AWS compat: `ValidationException` with `Invalid Schedule Expression <expression>.` for
    /// every kind of invalid expression, as recorded from AWS in LocalStack's validated
    /// snapshot tests (tests/aws/services/scheduler/test_scheduler.snapshot.json, 2025-01-26).
    pub fn aws_message(&self) -> String {
        format!("Invalid Schedule Expression {}.", self.expression)
    }
}

impl From<ScheduleExpressionError> for LambdaError {
    fn from(e: ScheduleExpressionError) -> Self {
        LambdaError::validation(e.aws_message())
    }
}

/// The rule an invalid expression breaks. AWS reports them all with one message; the variant is
/// for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// Not `at(...)`, `rate(...)` or `cron(...)`.
    UnknownType,
    /// `at()` whose body is not a valid `yyyy-mm-ddThh:mm:ss`.
    AtDateTime,
    /// `rate()` whose body is not `value unit` with one space.
    RateShape,
    /// `rate()` whose value is not a positive integer (or overflows).
    RateValue,
    /// `rate()` whose unit is not minute(s), hour(s) or day(s).
    RateUnit,
    /// `cron()` with other than six fields.
    CronFieldCount(usize),
    /// A cron field with a value or wildcard it does not allow.
    CronField {
        /// The field.
        field: CronField,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// Day-of-month and day-of-week are both `?` or both set: exactly one must be `?`.
    CronDayFields,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownType => f.write_str("not an at(), rate() or cron() expression"),
            Self::AtDateTime => f.write_str("at() needs a valid yyyy-mm-ddThh:mm:ss"),
            Self::RateShape => {
                f.write_str("rate() needs a value and a unit separated by one space")
            }
            Self::RateValue => f.write_str("rate() value must be a positive integer"),
            Self::RateUnit => f.write_str("rate() unit must be minute(s), hour(s) or day(s)"),
            Self::CronFieldCount(n) => write!(f, "cron() needs 6 fields, not {n}"),
            Self::CronField { field, problem } => write!(f, "cron() {field}: {problem}"),
            Self::CronDayFields => {
                f.write_str("cron() needs exactly one of day-of-month and day-of-week to be ?")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("test timestamp")
    }

    fn tz(name: &str) -> TimeZone {
        schedule_time_zone(Some(name)).expect("zone in the system tz database")
    }

    fn violation(text: &str) -> Violation {
        ScheduleExpression::parse(text).expect_err(text).violation
    }

    #[test]
    fn aws_message_echoes_the_expression_with_a_period() {
        let e = ScheduleExpression::parse(" rate(10 minutes)").expect_err("leading space");
        assert_eq!(
            e.aws_message(),
            "Invalid Schedule Expression  rate(10 minutes)."
        );
        let l: LambdaError = e.into();
        assert_eq!(l.code, crate::error::ErrorCode::Validation);
        assert_eq!(l.message, "Invalid Schedule Expression  rate(10 minutes).");
    }

    #[test]
    fn invalid_expressions_recorded_from_aws() {
        use Violation::*;
        // The expressions LocalStack recorded AWS refusing, plus neighbours.
        let cases: &[(&str, Violation)] = &[
            (" rate(10 minutes)", UnknownType),
            ("rate(10 minutes) ", UnknownType),
            ("RATE(10 minutes)", UnknownType),
            ("every(5 minutes)", UnknownType),
            ("rate(10 minutes", UnknownType),
            ("", UnknownType),
            ("rate(10 seconds)", RateUnit),
            ("rate(10 years)", RateUnit),
            ("rate(10 minutess)", RateUnit),
            ("rate(10 Minutes)", RateUnit),
            ("rate(10  minutes)", RateUnit),
            ("rate()", RateShape),
            ("rate(10)", RateShape),
            ("rate(foo minutes)", RateValue),
            ("rate(-10 minutes)", RateValue),
            ("rate(+10 minutes)", RateValue),
            ("rate(1.5 hours)", RateValue),
            ("rate(0 minutes)", RateValue),
            ("rate( 10 minutes )", RateUnit),
            ("rate(99999999999999999999 minutes)", RateValue),
            ("rate(9223372036854775807 days)", RateValue),
            ("at(2021-12-31T23:59:59Z)", AtDateTime),
            ("at(2021-12-31)", AtDateTime),
            ("at(2021-12-31 23:59:59)", AtDateTime),
            ("at(2021-12-31t23:59:59)", AtDateTime),
            ("at(2021-02-29T00:00:00)", AtDateTime),
            ("at(2021-04-31T00:00:00)", AtDateTime),
            ("at(2021-12-31T24:00:00)", AtDateTime),
            ("at(2021-12-31T23:60:00)", AtDateTime),
            ("at(2021-1-31T23:59:59)", AtDateTime),
            ("at(+021-12-31T23:59:59)", AtDateTime),
            ("cron()", CronFieldCount(0)),
            ("cron(INVALID)", CronFieldCount(1)),
            ("cron(0 1 * * *)", CronFieldCount(5)),
            ("cron(0 0 1 * ? * *)", CronFieldCount(7)),
            ("cron(0 1 * * * *)", CronDayFields),
            ("cron(0 1 ? * ? *)", CronDayFields),
            ("cron(0 1 1 * MON *)", CronDayFields),
        ];
        for (text, want) in cases {
            assert_eq!(violation(text), *want, "{text}");
        }
    }

    #[test]
    fn rate_units_singular_and_plural() {
        for (text, value, unit) in [
            ("rate(1 minute)", 1, RateUnit::Minutes),
            ("rate(1 minutes)", 1, RateUnit::Minutes),
            ("rate(5 minutes)", 5, RateUnit::Minutes),
            ("rate(2 hours)", 2, RateUnit::Hours),
            ("rate(1 hour)", 1, RateUnit::Hours),
            ("rate(30 day)", 30, RateUnit::Days),
        ] {
            let ScheduleExpression::Rate(rate) = ScheduleExpression::parse(text).expect(text)
            else {
                panic!("{text} is a rate");
            };
            assert_eq!((rate.value(), rate.unit()), (value, unit), "{text}");
        }
    }

    #[test]
    fn rate_counts_exact_periods_from_the_anchor() {
        let rate: ScheduleExpression = "rate(5 minutes)".parse().expect("valid");
        let anchor = ts("2026-01-01T00:00:07.5Z");
        let utc = TimeZone::UTC;
        let next = |after| rate.next_after(ts(after), &utc, anchor);
        // Before the anchor, the anchor itself is the first occurrence.
        assert_eq!(next("2025-12-31T00:00:00Z"), Some(anchor));
        // Strictly after: a time on a fire returns the next one.
        assert_eq!(
            next("2026-01-01T00:00:07.5Z"),
            Some(ts("2026-01-01T00:05:07.5Z"))
        );
        assert_eq!(
            next("2026-01-01T00:12:07Z"),
            Some(ts("2026-01-01T00:15:07.5Z"))
        );
        // Nine years on, still on the grid to the nanosecond.
        assert_eq!(
            next("2035-07-07T10:40:07.4Z"),
            Some(ts("2035-07-07T10:40:07.5Z"))
        );
    }

    #[test]
    fn rate_days_are_24_hours_across_daylight_saving() {
        let rate: ScheduleExpression = "rate(1 day)".parse().expect("valid");
        let ny = tz("America/New_York");
        // 07:00 EST on 7 March; New York springs forward on 8 March 2026.
        let anchor = ts("2026-03-07T12:00:00Z");
        let fire = rate.next_after(ts("2026-03-08T11:00:00Z"), &ny, anchor);
        // 12:00Z is 08:00 EDT: the clock moved, the period did not.
        assert_eq!(fire, Some(ts("2026-03-08T12:00:00Z")));
    }

    #[test]
    fn at_fires_once_in_its_time_zone() {
        let at: ScheduleExpression = "at(2026-01-15T09:00:00)".parse().expect("valid");
        let tokyo = tz("Asia/Tokyo");
        let epoch = Timestamp::UNIX_EPOCH;
        assert_eq!(
            at.next_after(ts("2026-01-14T23:59:59Z"), &tokyo, epoch),
            Some(ts("2026-01-15T00:00:00Z"))
        );
        assert_eq!(
            at.next_after(ts("2026-01-15T00:00:00Z"), &tokyo, epoch),
            None
        );
        assert_eq!(
            at.next_after(ts("2026-01-15T00:00:00Z"), &TimeZone::UTC, epoch),
            Some(ts("2026-01-15T09:00:00Z"))
        );
        // Past times are valid expressions (AWS accepts them); they just never fire again.
        let past: ScheduleExpression = "at(2022-12-31T23:59:59)".parse().expect("valid");
        assert_eq!(
            past.next_after(ts("2026-01-01T00:00:00Z"), &tokyo, epoch),
            None
        );
    }

    #[test]
    fn at_in_a_daylight_saving_change() {
        let ny = tz("America/New_York");
        let fire = |text: &str| match ScheduleExpression::parse(text).expect(text) {
            ScheduleExpression::At(at) => at.fire_time(&ny),
            _ => None,
        };
        // 02:30 does not exist on 8 March 2026: moved forward by the gap, to 03:30 EDT.
        assert_eq!(
            fire("at(2026-03-08T02:30:00)"),
            Some(ts("2026-03-08T07:30:00Z"))
        );
        // 01:30 happens twice on 1 November 2026: the first one, EDT.
        assert_eq!(
            fire("at(2026-11-01T01:30:00)"),
            Some(ts("2026-11-01T05:30:00Z"))
        );
    }

    fn timing(start: Option<&str>, end: Option<&str>) -> ScheduleTiming {
        ScheduleTiming {
            time_zone: TimeZone::UTC,
            start_date: start.map(ts),
            end_date: end.map(ts),
            created: ts("2026-01-01T00:00:00Z"),
        }
    }

    #[test]
    fn cron_within_start_and_end_both_inclusive() {
        let hourly: ScheduleExpression = "cron(0 * * * ? *)".parse().expect("valid");
        let t = timing(Some("2026-02-01T05:00:00Z"), Some("2026-02-01T07:00:00Z"));
        let after = ts("2026-01-10T00:00:00Z");
        // A fire exactly at StartDate counts.
        assert_eq!(
            hourly.next_fire(after, &t),
            Some(ts("2026-02-01T05:00:00Z"))
        );
        assert_eq!(
            hourly.next_fire(ts("2026-02-01T06:00:00Z"), &t),
            Some(ts("2026-02-01T07:00:00Z"))
        );
        // A fire exactly at EndDate counts; the one after does not.
        assert_eq!(hourly.next_fire(ts("2026-02-01T07:00:00Z"), &t), None);
        let open = timing(None, None);
        assert_eq!(
            hourly.next_fire(ts("2026-02-01T07:00:00Z"), &open),
            Some(ts("2026-02-01T08:00:00Z"))
        );
    }

    #[test]
    fn rate_counts_from_start_date_else_creation() {
        let rate: ScheduleExpression = "rate(2 hours)".parse().expect("valid");
        let t = timing(Some("2026-03-01T00:30:00Z"), Some("2026-03-01T04:30:00Z"));
        assert_eq!(
            rate.next_fire(ts("2026-01-01T00:00:00Z"), &t),
            Some(ts("2026-03-01T00:30:00Z"))
        );
        assert_eq!(
            rate.next_fire(ts("2026-03-01T01:00:00Z"), &t),
            Some(ts("2026-03-01T02:30:00Z"))
        );
        assert_eq!(
            rate.next_fire(ts("2026-03-01T02:30:00Z"), &t),
            Some(ts("2026-03-01T04:30:00Z"))
        );
        assert_eq!(rate.next_fire(ts("2026-03-01T04:30:00Z"), &t), None);
        // No StartDate: the creation time is the first occurrence.
        let created = timing(None, None);
        assert_eq!(
            rate.next_fire(ts("2026-01-01T03:00:00Z"), &created),
            Some(ts("2026-01-01T04:00:00Z"))
        );
    }

    #[test]
    fn at_ignores_start_and_end() {
        let at: ScheduleExpression = "at(2026-06-01T12:00:00)".parse().expect("valid");
        let t = timing(Some("2027-01-01T00:00:00Z"), Some("2026-01-02T00:00:00Z"));
        assert_eq!(
            at.next_fire(ts("2026-01-01T00:00:00Z"), &t),
            Some(ts("2026-06-01T12:00:00Z"))
        );
    }

    #[test]
    fn time_zone_names() {
        assert_eq!(schedule_time_zone(None).expect("utc"), TimeZone::UTC);
        assert!(schedule_time_zone(Some("Europe/London")).is_ok());
        let e = schedule_time_zone(Some("Mars/Olympus_Mons")).expect_err("no such zone");
        assert_eq!(e.name, "Mars/Olympus_Mons");
    }
}
