//! `cron(minutes hours day-of-month month day-of-week year)`: AWS's six-field cron, its
//! validation, and the search for the next matching wall-clock minute in a time zone.
//!
//! AWS compat: fields, values and wildcards follow
//! <https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cron-expressions.html>, which
//! EventBridge Scheduler shares:
//!
//! | field        | values          | wildcards         |
//! |--------------|-----------------|-------------------|
//! | minutes      | 0-59            | `, - * /`         |
//! | hours        | 0-23            | `, - * /`         |
//! | day-of-month | 1-31            | `, - * ? / L W`   |
//! | month        | 1-12 or JAN-DEC | `, - * /`         |
//! | day-of-week  | 1-7 or SUN-SAT  | `, - * ? L #`     |
//! | year         | 1970-2199       | `, - * /`         |
//!
//! Where the page is silent, Nimbus follows Quartz, the cron dialect AWS's mirrors: `L` alone in
//! day-of-week is Saturday and `nL` the month's last weekday `n`; `LW` is the month's last
//! weekday; `L`, `LW`, `nW`, `nL` and `n#k` stand alone in their field (no lists or ranges); an
//! increment is at most the field's largest value (AWS refuses `*/60` in minutes).

use std::fmt;

use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};

use super::Violation;

const FIRST_YEAR: i16 = 1970;
const LAST_YEAR: i16 = 2199;

/// A field of a cron expression, for error reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CronField {
    /// The first field, 0-59.
    Minutes,
    /// The second field, 0-23.
    Hours,
    /// The third field, 1-31.
    DayOfMonth,
    /// The fourth field, 1-12 or JAN-DEC.
    Month,
    /// The fifth field, 1-7 or SUN-SAT (SUN = 1).
    DayOfWeek,
    /// The sixth field, 1970-2199.
    Year,
}

impl fmt::Display for CronField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Minutes => "minutes",
            Self::Hours => "hours",
            Self::DayOfMonth => "day-of-month",
            Self::Month => "month",
            Self::DayOfWeek => "day-of-week",
            Self::Year => "year",
        })
    }
}

/// A parsed `cron()` expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: ValueSet,
    hours: ValueSet,
    days: Days,
    months: ValueSet,
    /// Indexed by `year - 1970`.
    years: ValueSet,
}

/// Which of day-of-month and day-of-week is set (the other is `?`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Days {
    OfMonth(DayOfMonth),
    OfWeek(DayOfWeek),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum DayOfMonth {
    Days(ValueSet),
    /// `L`.
    Last,
    /// `LW`.
    LastWeekday,
    /// `nW`: the weekday nearest day `n`, within the month.
    NearestWeekday(i8),
}

/// Weekdays are numbered as AWS does: 1 = Sunday … 7 = Saturday.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DayOfWeek {
    Days(ValueSet),
    /// `nL`: the month's last weekday `n`.
    Last(i8),
    /// `n#k`: the month's `k`th weekday `n`.
    Nth {
        weekday: i8,
        nth: i8,
    },
}

struct Spec {
    field: CronField,
    min: u16,
    max: u16,
    /// Names for `min`, `min + 1`, …
    names: &'static [&'static str],
    increments: bool,
    /// Subtracted from a value to get its index in the set.
    offset: u16,
}

const MINUTES: Spec = Spec {
    field: CronField::Minutes,
    min: 0,
    max: 59,
    names: &[],
    increments: true,
    offset: 0,
};
const HOURS: Spec = Spec {
    field: CronField::Hours,
    min: 0,
    max: 23,
    names: &[],
    increments: true,
    offset: 0,
};
const DAY_OF_MONTH: Spec = Spec {
    field: CronField::DayOfMonth,
    min: 1,
    max: 31,
    names: &[],
    increments: true,
    offset: 0,
};
const MONTH: Spec = Spec {
    field: CronField::Month,
    min: 1,
    max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
    increments: true,
    offset: 0,
};
// AWS compat: the cron reference lists no `/` for day-of-week.
const DAY_OF_WEEK: Spec = Spec {
    field: CronField::DayOfWeek,
    min: 1,
    max: 7,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
    increments: false,
    offset: 0,
};
const YEAR: Spec = Spec {
    field: CronField::Year,
    min: FIRST_YEAR as u16,
    max: LAST_YEAR as u16,
    names: &[],
    increments: true,
    offset: FIRST_YEAR as u16,
};

impl Spec {
    fn bad(&self, problem: &'static str) -> Violation {
        Violation::CronField {
            field: self.field,
            problem,
        }
    }

    /// One value: a number in range or a name (already upper-cased).
    fn value(&self, text: &str) -> Result<u16, Violation> {
        if let Some(n) = number(text) {
            return if (self.min..=self.max).contains(&n) {
                Ok(n)
            } else {
                Err(self.bad("value out of range"))
            };
        }
        self.names
            .iter()
            .position(|name| *name == text)
            .and_then(|i| u16::try_from(i).ok())
            .map(|i| self.min + i)
            .ok_or(self.bad("not a value of this field"))
    }

    /// Lists of values, ranges (`a-b`), wildcards (`*`) and increments (`a/n`, `a-b/n`, `*/n`).
    fn list(&self, text: &str) -> Result<ValueSet, Violation> {
        let mut set = ValueSet::default();
        for item in text.split(',') {
            let (range, step) = match item.split_once('/') {
                None => (item, None),
                Some(_) if !self.increments => {
                    return Err(self.bad("increments (/) are not allowed"))
                }
                Some((range, step)) => {
                    let step = number(step)
                        .filter(|s| (1..=self.max).contains(s))
                        .ok_or(self.bad("increment out of range"))?;
                    (range, Some(step))
                }
            };
            let (lo, hi) = if range == "*" {
                (self.min, self.max)
            } else if let Some((a, b)) = range.split_once('-') {
                let (lo, hi) = (self.value(a)?, self.value(b)?);
                if lo > hi {
                    return Err(self.bad("range starts after it ends"));
                }
                (lo, hi)
            } else {
                let v = self.value(range)?;
                // `a/n` runs from a to the field's end.
                (v, if step.is_some() { self.max } else { v })
            };
            let step = step.unwrap_or(1);
            let mut v = lo;
            while v <= hi {
                set.insert(v - self.offset);
                v += step;
            }
        }
        Ok(set)
    }
}

/// A whole number of at most four digits (every cron value has at most four).
fn number(text: &str) -> Option<u16> {
    if text.is_empty() || text.len() > 4 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn narrow(v: u16) -> i8 {
    // Only ever called with day and weekday numbers (≤ 31).
    i8::try_from(v).unwrap_or(i8::MAX)
}

impl Cron {
    pub(super) fn parse(body: &str) -> Result<Self, Violation> {
        let fields: Vec<&str> = if body.is_empty() {
            Vec::new()
        } else {
            body.split(' ').collect()
        };
        let [minutes, hours, dom, month, dow, year] = fields[..] else {
            return Err(Violation::CronFieldCount(fields.len()));
        };
        let minutes = MINUTES.list(minutes)?;
        let hours = HOURS.list(hours)?;
        // Names and the letters L, W are accepted in either case, as Quartz does.
        let dom = parse_day_of_month(&dom.to_ascii_uppercase())?;
        let months = MONTH.list(&month.to_ascii_uppercase())?;
        let dow = parse_day_of_week(&dow.to_ascii_uppercase())?;
        let years = YEAR.list(year)?;
        // AWS compat: "You can't specify the Day-of-month and Day-of-week fields in the same
        // cron expression. If you specify a value or a * in one of the fields, you must use a ?
        // in the other." Both `?` is refused too.
        let days = match (dom, dow) {
            (Some(dom), None) => Days::OfMonth(dom),
            (None, Some(dow)) => Days::OfWeek(dow),
            _ => return Err(Violation::CronDayFields),
        };
        Ok(Self {
            minutes,
            hours,
            days,
            months,
            years,
        })
    }

    /// The first fire time strictly after `after`, reading the fields as wall-clock time in
    /// `tz`; `None` when there is none up to the end of 2199.
    ///
    /// AWS compat: "When the time shifts forward in the Spring, if a cron expression falls on
    /// a non-existent date and time, your schedule invocation is skipped. When the time shifts
    /// backwards in the Fall, your schedule runs only once and does not repeat its invocation."
    /// So a wall-clock minute in a gap never fires, and one that occurs twice fires at its first
    /// occurrence only.
    /// <https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html#daylist-savings-time>
    /// and <https://repost.aws/knowledge-center/eventbridge-scheduler-adjust-dst>
    pub fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        // Every wall-clock minute has a first occurrence later than that of each minute before
        // it, so none up to `after`'s own minute can fire after `after`: start at the next one.
        let local = tz.to_datetime(after);
        let minute = DateTime::new(
            local.year(),
            local.month(),
            local.day(),
            local.hour(),
            local.minute(),
            0,
            0,
        )
        .ok()?;
        let one_minute = SignedDuration::from_mins(1);
        let mut from = minute.checked_add(one_minute).ok()?;
        // Each turn moves past one matching minute that is in a gap, or whose first occurrence
        // (in a fold) is not after `after`: a bounded number, at most a gap's or a fold's length.
        loop {
            let candidate = self.next_local(from)?;
            let fire = match tz.to_ambiguous_timestamp(candidate).offset() {
                AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(candidate).ok(),
                AmbiguousOffset::Gap { .. } => None,
                AmbiguousOffset::Fold { before, .. } => before.to_timestamp(candidate).ok(),
            };
            if let Some(fire) = fire.filter(|fire| *fire > after) {
                return Some(fire);
            }
            from = candidate.checked_add(one_minute).ok()?;
        }
    }

    /// The first wall-clock minute at or after `from` (whose seconds are zero) that matches.
    fn next_local(&self, from: DateTime) -> Option<DateTime> {
        let (year, month, day, hour, minute) = if from.year() < FIRST_YEAR {
            (FIRST_YEAR, 1, 1, 0, 0)
        } else {
            (
                from.year(),
                from.month(),
                from.day(),
                from.hour(),
                from.minute(),
            )
        };
        let mut year_index = u16::try_from(year - FIRST_YEAR).ok()?;
        while let Some(y) = self.years.next_from(year_index) {
            let this_year = FIRST_YEAR + i16::try_from(y).ok()?;
            let first_year = this_year == year;
            let mut month_from = if first_year { month } else { 1 };
            while let Some(m) = self.months.next_from(u16::try_from(month_from).ok()?) {
                let this_month = narrow(m);
                let first_month = first_year && this_month == month;
                let mut days = self.day_mask(this_year, this_month);
                if first_month {
                    days &= u64::MAX << day;
                }
                while days != 0 {
                    let this_day = narrow(u16::try_from(days.trailing_zeros()).ok()?);
                    days &= days - 1;
                    let first_day = first_month && this_day == day;
                    let (h, m) = if first_day { (hour, minute) } else { (0, 0) };
                    if let Some((h, m)) = self.time_from(h, m) {
                        return DateTime::new(this_year, this_month, this_day, h, m, 0, 0).ok();
                    }
                }
                month_from = this_month + 1;
            }
            year_index = y + 1;
        }
        None
    }

    /// The first matching (hour, minute) at or after `hour:minute` within a day.
    fn time_from(&self, hour: i8, minute: i8) -> Option<(i8, i8)> {
        let index = |v: i8| u16::try_from(v).ok();
        let to_i8 = |v: u16| i8::try_from(v).ok();
        let h = self.hours.next_from(index(hour)?)?;
        if h == index(hour)? {
            if let Some(m) = self.minutes.next_from(index(minute)?) {
                return Some((hour, to_i8(m)?));
            }
            let h = self.hours.next_from(h + 1)?;
            return Some((to_i8(h)?, to_i8(self.minutes.next_from(0)?)?));
        }
        Some((to_i8(h)?, to_i8(self.minutes.next_from(0)?)?))
    }

    /// The days of `month` in `year` that match, as bits `1 << day`.
    fn day_mask(&self, year: i16, month: i8) -> u64 {
        let Ok(first) = Date::new(year, month, 1) else {
            return 0;
        };
        let last = first.days_in_month();
        let all = (u64::MAX >> (63 - last)) & !1;
        let first_weekday = first.weekday().to_sunday_zero_offset();
        // 1 = Sunday … 7 = Saturday, as in AWS's day-of-week field.
        let weekday = |day: i8| (first_weekday + day - 1) % 7 + 1;
        let bit = |day: i8| 1u64 << day;
        match &self.days {
            Days::OfMonth(DayOfMonth::Days(set)) => set.0[0] & all,
            Days::OfMonth(DayOfMonth::Last) => bit(last),
            Days::OfMonth(DayOfMonth::LastWeekday) => {
                bit(nearest_weekday(last, last, weekday(last)))
            }
            Days::OfMonth(DayOfMonth::NearestWeekday(n)) if *n <= last => {
                bit(nearest_weekday(*n, last, weekday(*n)))
            }
            // A day this month does not have (31W in June): no fire that month.
            Days::OfMonth(DayOfMonth::NearestWeekday(_)) => 0,
            Days::OfWeek(DayOfWeek::Days(set)) => (1..=last)
                .filter(|d| set.contains(u16::try_from(weekday(*d)).unwrap_or(0)))
                .fold(0, |mask, d| mask | bit(d)),
            Days::OfWeek(DayOfWeek::Last(w)) => bit(last - (weekday(last) - w).rem_euclid(7)),
            Days::OfWeek(DayOfWeek::Nth { weekday: w, nth }) => {
                let day = 1 + (w - weekday(1)).rem_euclid(7) + 7 * (nth - 1);
                if day <= last {
                    bit(day)
                } else {
                    0
                }
            }
        }
    }
}

/// The weekday nearest `day` without leaving the month: Saturday moves to Friday (or to Monday
/// the 3rd when it is the 1st), Sunday to Monday (or to Friday when it is the last day).
fn nearest_weekday(day: i8, last: i8, weekday: i8) -> i8 {
    match weekday {
        7 if day == 1 => 3,
        7 => day - 1,
        1 if day == last => day - 2,
        1 => day + 1,
        _ => day,
    }
}

/// `None` for `?`.
fn parse_day_of_month(text: &str) -> Result<Option<DayOfMonth>, Violation> {
    let spec = &DAY_OF_MONTH;
    Ok(Some(match text {
        "?" => return Ok(None),
        "L" => DayOfMonth::Last,
        "LW" => DayOfMonth::LastWeekday,
        _ => match text.strip_suffix('W') {
            Some(day) => DayOfMonth::NearestWeekday(narrow(
                number(day)
                    .filter(|d| (spec.min..=spec.max).contains(d))
                    .ok_or(spec.bad("W needs a day of the month before it"))?,
            )),
            None if text.contains(['L', 'W']) => {
                return Err(spec.bad("L and W stand alone: L, LW or nW"));
            }
            None => DayOfMonth::Days(spec.list(text)?),
        },
    }))
}

/// `None` for `?`.
fn parse_day_of_week(text: &str) -> Result<Option<DayOfWeek>, Violation> {
    let spec = &DAY_OF_WEEK;
    if text == "?" {
        return Ok(None);
    }
    if text == "L" {
        let mut saturday = ValueSet::default();
        saturday.insert(7);
        return Ok(Some(DayOfWeek::Days(saturday)));
    }
    if let Some((weekday, nth)) = text.split_once('#') {
        // AWS compat: "If you use a '#' character, you can define only one expression in the
        // day-of-week field. For example, "3#1,6#3" is not valid".
        if text.contains(',') {
            return Err(spec.bad("# allows only one expression"));
        }
        let nth = number(nth)
            .filter(|n| (1..=5).contains(n))
            .ok_or(spec.bad("# needs an occurrence from 1 to 5"))?;
        return Ok(Some(DayOfWeek::Nth {
            weekday: narrow(spec.value(weekday)?),
            nth: narrow(nth),
        }));
    }
    if let Some(weekday) = text.strip_suffix('L') {
        return Ok(Some(DayOfWeek::Last(narrow(spec.value(weekday)?))));
    }
    if text.contains('L') {
        return Err(spec.bad("L stands alone: L or nL"));
    }
    Ok(Some(DayOfWeek::Days(spec.list(text)?)))
}

/// A set of small numbers (0..256).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct ValueSet([u64; 4]);

impl ValueSet {
    fn insert(&mut self, v: u16) {
        if let Some(word) = self.0.get_mut(usize::from(v / 64)) {
            *word |= 1 << (v % 64);
        }
    }

    fn contains(&self, v: u16) -> bool {
        self.0
            .get(usize::from(v / 64))
            .is_some_and(|word| word & (1 << (v % 64)) != 0)
    }

    /// The smallest member at or above `v`.
    fn next_from(&self, v: u16) -> Option<u16> {
        let mut word = usize::from(v / 64);
        let mut bits = *self.0.get(word)? & (u64::MAX << (v % 64));
        loop {
            if bits != 0 {
                let found = word * 64 + bits.trailing_zeros() as usize;
                return u16::try_from(found).ok();
            }
            word += 1;
            bits = *self.0.get(word)?;
        }
    }
}

impl fmt::Debug for ValueSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries((0..256).filter(|v| self.contains(*v)))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::super::ScheduleExpression;
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("test timestamp")
    }

    fn cron(text: &str) -> Cron {
        match ScheduleExpression::parse(text) {
            Ok(ScheduleExpression::Cron(cron)) => cron,
            other => panic!("{text} is not a valid cron: {other:?}"),
        }
    }

    fn zone(name: &str) -> TimeZone {
        TimeZone::get(name).expect("zone in the system tz database")
    }

    /// The first `n` fire times after `after`.
    fn fires(text: &str, tz: &str, after: &str, n: usize) -> Vec<String> {
        let (cron, tz) = (cron(text), zone(tz));
        let mut out = Vec::new();
        let mut at = ts(after);
        while out.len() < n {
            let Some(next) = cron.next_after(at, &tz) else {
                break;
            };
            assert!(next > at, "{text}: {next} is not after {at}");
            out.push(next.to_string());
            at = next;
        }
        out
    }

    #[test]
    fn fire_times() {
        // (expression, zone, after, the fire times that follow)
        let cases: &[(&str, &str, &str, &[&str])] = &[
            // Every day at 10:00, strictly after: a time on a fire gives the next day's.
            (
                "cron(0 10 * * ? *)",
                "UTC",
                "2026-05-01T10:00:00Z",
                &["2026-05-02T10:00:00Z"],
            ),
            (
                "cron(0 10 * * ? *)",
                "UTC",
                "2026-05-01T09:59:59.999Z",
                &["2026-05-01T10:00:00Z"],
            ),
            // Increments from a start: 1/10 is 1, 11, 21, … (AWS's own example).
            (
                "cron(1/10 * * * ? *)",
                "UTC",
                "2026-05-01T10:45:00Z",
                &[
                    "2026-05-01T10:51:00Z",
                    "2026-05-01T11:01:00Z",
                    "2026-05-01T11:11:00Z",
                ],
            ),
            // Lists, ranges and increments together.
            (
                "cron(5,10-11,50/5 8 * * ? *)",
                "UTC",
                "2026-05-01T00:00:00Z",
                &[
                    "2026-05-01T08:05:00Z",
                    "2026-05-01T08:10:00Z",
                    "2026-05-01T08:11:00Z",
                    "2026-05-01T08:50:00Z",
                    "2026-05-01T08:55:00Z",
                    "2026-05-02T08:05:00Z",
                ],
            ),
            // Weekdays 08:00-17:55 every 5 minutes (AWS example), from a Friday evening.
            (
                "cron(0/5 8-17 ? * MON-FRI *)",
                "UTC",
                "2026-05-01T17:52:00Z",
                &["2026-05-01T17:55:00Z", "2026-05-04T08:00:00Z"],
            ),
            // Stepped range of hours, and a single day of the week by number (2 = Monday).
            (
                "cron(30 0-12/6 ? * 2 *)",
                "UTC",
                "2026-05-01T00:00:00Z",
                &[
                    "2026-05-04T00:30:00Z",
                    "2026-05-04T06:30:00Z",
                    "2026-05-04T12:30:00Z",
                    "2026-05-11T00:30:00Z",
                ],
            ),
            // Month names and a list.
            (
                "cron(0 0 1 JAN,jul ? *)",
                "UTC",
                "2026-01-01T00:00:00Z",
                &["2026-07-01T00:00:00Z", "2027-01-01T00:00:00Z"],
            ),
            // L: last day of the month, leap years included.
            (
                "cron(0 12 L * ? *)",
                "UTC",
                "2027-12-31T12:00:00Z",
                &[
                    "2028-01-31T12:00:00Z",
                    "2028-02-29T12:00:00Z",
                    "2028-03-31T12:00:00Z",
                    "2028-04-30T12:00:00Z",
                ],
            ),
            (
                "cron(0 12 L 2 ? *)",
                "UTC",
                "2026-03-01T00:00:00Z",
                &["2027-02-28T12:00:00Z", "2028-02-29T12:00:00Z"],
            ),
            // Feb 29 only: leap years only.
            (
                "cron(0 0 29 2 ? *)",
                "UTC",
                "2024-02-29T00:00:00Z",
                &["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"],
            ),
            // 2100 is not a leap year.
            (
                "cron(0 0 29 2 ? 2096-2104)",
                "UTC",
                "2096-03-01T00:00:00Z",
                &["2104-02-29T00:00:00Z"],
            ),
            // W: 15 March 2026 is a Sunday (→ Monday 16), 15 August a Saturday (→ Friday 14).
            (
                "cron(0 9 15W 3,8 ? 2026)",
                "UTC",
                "2026-01-01T00:00:00Z",
                &["2026-03-16T09:00:00Z", "2026-08-14T09:00:00Z"],
            ),
            // 1 August 2026 is a Saturday: the nearest weekday in the month is Monday the 3rd.
            (
                "cron(0 9 1W 8 ? 2026)",
                "UTC",
                "2026-01-01T00:00:00Z",
                &["2026-08-03T09:00:00Z"],
            ),
            // 31 May 2026 is a Sunday and the last day: Friday the 29th. June has no 31st.
            (
                "cron(0 9 31W 5,6,7 ? 2026)",
                "UTC",
                "2026-05-01T00:00:00Z",
                &["2026-05-29T09:00:00Z", "2026-07-31T09:00:00Z"],
            ),
            // LW: last weekday. 31 Jan 2026 is a Saturday, 31 May a Sunday, 30 June a Tuesday.
            (
                "cron(0 18 LW 1,5,6 ? 2026)",
                "UTC",
                "2026-01-01T00:00:00Z",
                &[
                    "2026-01-30T18:00:00Z",
                    "2026-05-29T18:00:00Z",
                    "2026-06-30T18:00:00Z",
                ],
            ),
            // #: 3#2 is the second Tuesday (AWS's example).
            (
                "cron(0 10 ? * 3#2 *)",
                "UTC",
                "2026-01-01T00:00:00Z",
                &[
                    "2026-01-13T10:00:00Z",
                    "2026-02-10T10:00:00Z",
                    "2026-03-10T10:00:00Z",
                ],
            ),
            // Fifth Thursday: only months that have one (Jan, Apr, Jul, Oct, Dec in 2026).
            (
                "cron(0 10 ? * THU#5 2026)",
                "UTC",
                "2026-01-01T00:00:00Z",
                &[
                    "2026-01-29T10:00:00Z",
                    "2026-04-30T10:00:00Z",
                    "2026-07-30T10:00:00Z",
                    "2026-10-29T10:00:00Z",
                    "2026-12-31T10:00:00Z",
                ],
            ),
            // nL: last Friday of the month.
            (
                "cron(0 17 ? * 6L *)",
                "UTC",
                "2026-01-01T00:00:00Z",
                &[
                    "2026-01-30T17:00:00Z",
                    "2026-02-27T17:00:00Z",
                    "2026-03-27T17:00:00Z",
                ],
            ),
            (
                "cron(0 17 ? * friL *)",
                "UTC",
                "2026-01-31T00:00:00Z",
                &["2026-02-27T17:00:00Z"],
            ),
            // L alone in day-of-week: every Saturday.
            (
                "cron(0 8 ? * L *)",
                "UTC",
                "2026-05-01T00:00:00Z",
                &["2026-05-02T08:00:00Z", "2026-05-09T08:00:00Z"],
            ),
            // Day-of-week 1 is Sunday.
            (
                "cron(0 8 ? * 1,7 *)",
                "UTC",
                "2026-05-01T00:00:00Z",
                &[
                    "2026-05-02T08:00:00Z",
                    "2026-05-03T08:00:00Z",
                    "2026-05-09T08:00:00Z",
                ],
            ),
            // Year lists, ranges and increments.
            (
                "cron(0 0 1 1 ? 2030/5)",
                "UTC",
                "2026-06-01T00:00:00Z",
                &["2030-01-01T00:00:00Z", "2035-01-01T00:00:00Z"],
            ),
            (
                "cron(0 0 1 1 ? 2027,2029-2030)",
                "UTC",
                "2026-06-01T00:00:00Z",
                &[
                    "2027-01-01T00:00:00Z",
                    "2029-01-01T00:00:00Z",
                    "2030-01-01T00:00:00Z",
                ],
            ),
            // The last year a cron can name.
            (
                "cron(0 0 1 1 ? *)",
                "UTC",
                "2198-12-31T12:00:00Z",
                &["2199-01-01T00:00:00Z"],
            ),
            (
                "cron(59 23 31 12 ? 2199)",
                "UTC",
                "2150-01-01T00:00:00Z",
                &["2199-12-31T23:59:00Z"],
            ),
            // Before 1970 the search starts at the first year.
            (
                "cron(0 0 1 1 ? *)",
                "UTC",
                "1960-06-01T00:00:00Z",
                &["1970-01-01T00:00:00Z"],
            ),
            // Fields are wall-clock time in the zone: 09:00 in Tokyo is 00:00Z.
            (
                "cron(0 9 * * ? *)",
                "Asia/Tokyo",
                "2026-05-01T00:00:00Z",
                &["2026-05-02T00:00:00Z"],
            ),
            // New York, standard time and daylight time on either side of 8 March 2026.
            (
                "cron(0 9 * * ? *)",
                "America/New_York",
                "2026-03-06T15:00:00Z",
                &["2026-03-07T14:00:00Z", "2026-03-08T13:00:00Z"],
            ),
        ];
        for (text, tz, after, want) in cases {
            assert_eq!(
                fires(text, tz, after, want.len()),
                *want,
                "{text} in {tz} after {after}"
            );
        }
    }

    #[test]
    fn spring_forward_skips_times_that_do_not_exist() {
        // New York: 8 March 2026, 02:00 EST becomes 03:00 EDT.
        assert_eq!(
            fires(
                "cron(30 2 * * ? *)",
                "America/New_York",
                "2026-03-07T08:00:00Z",
                2
            ),
            // 7 March's 02:30 EST has passed; 8 March's 02:30 never happens; 9 March's is EDT.
            ["2026-03-09T06:30:00Z", "2026-03-10T06:30:00Z"]
        );
        assert_eq!(
            fires(
                "cron(0/30 * * * ? *)",
                "America/New_York",
                "2026-03-08T06:00:00Z",
                3
            ),
            // 01:30 EST, then 02:00 and 02:30 do not exist, then 03:00 EDT.
            [
                "2026-03-08T06:30:00Z",
                "2026-03-08T07:00:00Z",
                "2026-03-08T07:30:00Z"
            ]
        );
        // London: 29 March 2026, 01:00 GMT becomes 02:00 BST.
        assert_eq!(
            fires(
                "cron(30 1 * * ? *)",
                "Europe/London",
                "2026-03-28T02:00:00Z",
                1
            ),
            ["2026-03-30T00:30:00Z"]
        );
    }

    #[test]
    fn fall_back_fires_a_repeated_time_once() {
        // New York: 1 November 2026, 02:00 EDT becomes 01:00 EST; 01:30 happens twice.
        assert_eq!(
            fires(
                "cron(30 1 * * ? *)",
                "America/New_York",
                "2026-11-01T00:00:00Z",
                2
            ),
            // The EDT one (05:30Z) only; the EST one (06:30Z) does not fire.
            ["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"]
        );
        assert_eq!(
            fires(
                "cron(0/20 * * * ? *)",
                "America/New_York",
                "2026-11-01T04:50:00Z",
                5
            ),
            // 01:00, 01:20, 01:40 EDT; the repeated 01:00-01:40 EST are skipped; 02:00 EST.
            [
                "2026-11-01T05:00:00Z",
                "2026-11-01T05:20:00Z",
                "2026-11-01T05:40:00Z",
                "2026-11-01T07:00:00Z",
                "2026-11-01T07:20:00Z",
            ]
        );
        // Asked from inside the repeated hour (01:10 EST), the next is still 02:00 EST.
        assert_eq!(
            fires(
                "cron(0/20 * * * ? *)",
                "America/New_York",
                "2026-11-01T06:10:00Z",
                1
            ),
            ["2026-11-01T07:00:00Z"]
        );
        // London: 25 October 2026, 02:00 BST becomes 01:00 GMT.
        assert_eq!(
            fires(
                "cron(30 1 * * ? *)",
                "Europe/London",
                "2026-10-25T00:00:00Z",
                2
            ),
            ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]
        );
    }

    #[test]
    fn expressions_that_never_fire_return_none() {
        let utc = TimeZone::UTC;
        let after = ts("1970-01-01T00:00:00Z");
        for text in [
            "cron(0 0 30 2 ? *)",
            "cron(0 0 31 4,6,9,11 ? *)",
            "cron(0 0 31W 2 ? *)",
            "cron(0 0 * * ? 1999)",
        ] {
            let from = if text.contains("1999") {
                ts("2026-01-01T00:00:00Z")
            } else {
                after
            };
            assert_eq!(cron(text).next_after(from, &utc), None, "{text}");
        }
        // Past the last year.
        assert_eq!(
            cron("cron(* * * * ? *)").next_after(ts("2200-01-01T00:00:00Z"), &utc),
            None
        );
        assert_eq!(
            cron("cron(0 0 1 1 ? *)").next_after(ts("2199-01-01T00:00:00Z"), &utc),
            None
        );
        // Only ever in New York's spring-forward gap (second Sunday of March, 02:30).
        let ny = zone("America/New_York");
        assert_eq!(
            cron("cron(30 2 ? 3 1#2 *)").next_after(ts("2026-01-01T00:00:00Z"), &ny),
            None
        );
    }

    #[test]
    fn invalid_fields() {
        use CronField::*;
        let cases: &[(&str, CronField)] = &[
            ("cron(71 8 1 * ? *)", Minutes),
            ("cron(60 * * * ? *)", Minutes),
            ("cron(*/60 * * * ? *)", Minutes),
            ("cron(0/0 * * * ? *)", Minutes),
            ("cron(/5 * * * ? *)", Minutes),
            ("cron(5/ * * * ? *)", Minutes),
            ("cron(10-5 * * * ? *)", Minutes),
            ("cron(1,,2 * * * ? *)", Minutes),
            ("cron(-1 * * * ? *)", Minutes),
            ("cron(? * * * ? *)", Minutes),
            ("cron(L * * * ? *)", Minutes),
            ("cron(0 dummy ? * MON-FRI *)", Hours),
            ("cron(0 24 * * ? *)", Hours),
            ("cron(0 22-2 * * ? *)", Hours),
            ("cron(0 0 0 * ? *)", DayOfMonth),
            ("cron(0 0 32 * ? *)", DayOfMonth),
            ("cron(0 0 L,15 * ? *)", DayOfMonth),
            ("cron(0 0 L-3 * ? *)", DayOfMonth),
            ("cron(0 0 15W,20 * ? *)", DayOfMonth),
            ("cron(0 0 32W * ? *)", DayOfMonth),
            ("cron(0 0 W * ? *)", DayOfMonth),
            ("cron(0 0 MON * ? *)", DayOfMonth),
            ("cron(0 0 1 0 ? *)", Month),
            ("cron(0 0 1 13 ? *)", Month),
            ("cron(0 0 1 JANUARY ? *)", Month),
            ("cron(0 0 1 L ? *)", Month),
            ("cron(7 20 ? * NOT *)", DayOfWeek),
            ("cron(0 0 ? * 0 *)", DayOfWeek),
            ("cron(0 0 ? * 8 *)", DayOfWeek),
            ("cron(0 0 ? * */2 *)", DayOfWeek),
            ("cron(0 0 ? * MON/2 *)", DayOfWeek),
            ("cron(0 0 ? * FRI-MON *)", DayOfWeek),
            ("cron(0 0 ? * 3#1,6#3 *)", DayOfWeek),
            ("cron(0 0 ? * 3#6 *)", DayOfWeek),
            ("cron(0 0 ? * 3#0 *)", DayOfWeek),
            ("cron(0 0 ? * 8#1 *)", DayOfWeek),
            ("cron(0 0 ? * 8L *)", DayOfWeek),
            ("cron(0 0 ? * 5L,6 *)", DayOfWeek),
            ("cron(0 0 ? * 1W *)", DayOfWeek),
            ("cron(0 0 1 1 ? 1969)", Year),
            ("cron(0 0 1 1 ? 2200)", Year),
            ("cron(0 0 1 1 ? 20260)", Year),
            ("cron(0 0 1 1 ? 2030-2026)", Year),
            ("cron(0 0 1 1 ? ?)", Year),
        ];
        for (text, want) in cases {
            match ScheduleExpression::parse(text) {
                Err(e) => match e.violation {
                    Violation::CronField { field, .. } => assert_eq!(field, *want, "{text}"),
                    other => panic!("{text}: {other:?}"),
                },
                Ok(parsed) => panic!("{text} parsed: {parsed:?}"),
            }
        }
    }

    #[test]
    fn spacing_is_strict() {
        for text in [
            "cron( 0 1 * * ? *)",
            "cron(0 1 * * ? * )",
            "cron(0  1 * * ? *)",
            "cron(0\t1 * * ? *)",
        ] {
            assert!(ScheduleExpression::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn valid_expressions_from_the_aws_docs() {
        for text in [
            "cron(0 10 * * ? *)",
            "cron(15 12 * * ? *)",
            "cron(0 18 ? * MON-FRI *)",
            "cron(0 8 1 * ? *)",
            "cron(0/15 * * * ? *)",
            "cron(0/10 * ? * MON-FRI *)",
            "cron(0/5 8-17 ? * MON-FRI *)",
            "cron(0 9 ? * 2#1 *)",
            "cron(0-15/1 8-8 ? * 2,3,4,5,6,7 *)",
            "cron(30-30 13-13 ? * 2,4,6 *)",
            "cron(1-31/30 1-1 ? * 1,7 *)",
            "cron(* * ? * * *)",
            "cron(0 0 * * ? 1970-2199)",
        ] {
            cron(text);
        }
    }
}
