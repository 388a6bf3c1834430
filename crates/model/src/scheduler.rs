//! EventBridge Scheduler's schedules and schedule groups: the requests of CreateSchedule and
//! UpdateSchedule checked against the botocore model (`scheduler` 2021-06-30), the stored
//! records, their wire shapes, and when a schedule fires.
//!
//! A schedule's target is a Lambda function of this server (an ARN naming a function, with or
//! without a qualifier): it is invoked asynchronously, as Scheduler invokes Lambda.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::{ErrorCode, LambdaError, ValidationErrors};
use crate::schedule::{schedule_time_zone, ScheduleExpression, ScheduleTiming};

/// The group every account has, where schedules go when no group is named; it cannot be
/// deleted.
pub const DEFAULT_GROUP: &str = "default";

/// AWS compat: RetryPolicy's defaults.
pub const DEFAULT_MAX_EVENT_AGE_SECONDS: u32 = 86_400;
/// AWS compat: RetryPolicy's defaults.
pub const DEFAULT_MAX_RETRY_ATTEMPTS: u32 = 185;

/// Whether a schedule fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ScheduleState {
    /// It fires.
    #[default]
    Enabled,
    /// It is kept, and does not fire.
    Disabled,
}

impl ScheduleState {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "ENABLED",
            Self::Disabled => "DISABLED",
        }
    }

    /// The state a wire value names.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ENABLED" => Some(Self::Enabled),
            "DISABLED" => Some(Self::Disabled),
            _ => None,
        }
    }
}

/// What happens to a schedule once it has nothing more to fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum AfterCompletion {
    /// It stays.
    #[default]
    None,
    /// It is deleted.
    Delete,
}

impl AfterCompletion {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::Delete => "DELETE",
        }
    }
}

/// How the target is retried when delivery fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// How long after its scheduled time an invocation may still be delivered.
    pub max_event_age_seconds: u32,
    /// How many times delivery is tried again.
    pub max_retry_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_event_age_seconds: DEFAULT_MAX_EVENT_AGE_SECONDS,
            max_retry_attempts: DEFAULT_MAX_RETRY_ATTEMPTS,
        }
    }
}

/// A schedule's target: a Lambda function of this server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// The function's ARN as given.
    pub arn: String,
    /// The role Scheduler assumes (kept, shown; Nimbus's own credentials invoke).
    pub role_arn: String,
    /// The function's name, from the ARN.
    pub function: String,
    /// The qualifier in the ARN (`""`: none).
    pub qualifier: String,
    /// The event, as given (`None`: Scheduler's default).
    pub input: Option<String>,
    /// Delivery retries.
    pub retry: RetryPolicy,
    /// The SQS queue undeliverable invocations go to.
    pub dead_letter_arn: Option<String>,
}

/// FlexibleTimeWindow: the invocation happens at a random moment of the window after the
/// scheduled time (`None`: at the scheduled time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlexibleWindow {
    /// MaximumWindowInMinutes when the mode is FLEXIBLE.
    pub max_minutes: Option<u32>,
}

/// A stored schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// Its group.
    pub group: String,
    /// Its name, unique in its group.
    pub name: String,
    /// The region it was created in.
    pub region: String,
    /// The account.
    pub account: String,
    /// ScheduleExpression, as given (valid).
    pub expression: String,
    /// ScheduleExpressionTimezone, if given (a zone the tz database knows).
    pub time_zone: Option<String>,
    /// StartDate, epoch ms.
    pub start_ms: Option<i64>,
    /// EndDate, epoch ms.
    pub end_ms: Option<i64>,
    /// Description.
    pub description: Option<String>,
    /// State.
    pub state: ScheduleState,
    /// KmsKeyArn (kept and shown; Nimbus does not encrypt with it).
    pub kms_key_arn: Option<String>,
    /// Target.
    pub target: Target,
    /// FlexibleTimeWindow.
    pub window: FlexibleWindow,
    /// ActionAfterCompletion.
    pub after_completion: AfterCompletion,
    /// CreationDate, epoch ms.
    pub created_ms: i64,
    /// LastModificationDate, epoch ms.
    pub modified_ms: i64,
}

/// A stored schedule group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleGroup {
    /// Its name.
    pub name: String,
    /// The region it was created in.
    pub region: String,
    /// The account.
    pub account: String,
    /// CreationDate, epoch ms.
    pub created_ms: i64,
    /// LastModificationDate, epoch ms.
    pub modified_ms: i64,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
}

fn seconds(ms: i64) -> Value {
    // AWS compat: rest-json timestamps are epoch seconds.
    json!(ms as f64 / 1000.0)
}

/// `arn:aws:scheduler:<region>:<account>:schedule-group/<name>`.
pub fn group_arn(region: &str, account: &str, group: &str) -> String {
    format!("arn:aws:scheduler:{region}:{account}:schedule-group/{group}")
}

impl ScheduleGroup {
    /// Its ARN.
    pub fn arn(&self) -> String {
        group_arn(&self.region, &self.account, &self.name)
    }

    /// GetScheduleGroup's answer (also a ScheduleGroupSummary).
    ///
    /// AWS compat: the default group, which no one created, has no dates.
    pub fn wire(&self) -> Value {
        let mut out = json!({
            "Arn": self.arn(),
            "Name": self.name,
            "State": "ACTIVE",
        });
        if self.name != DEFAULT_GROUP {
            out["CreationDate"] = seconds(self.created_ms);
            out["LastModificationDate"] = seconds(self.modified_ms);
        }
        out
    }
}

impl Schedule {
    /// `arn:aws:scheduler:<region>:<account>:schedule/<group>/<name>`.
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:scheduler:{}:{}:schedule/{}/{}",
            self.region, self.account, self.group, self.name
        )
    }

    /// GetSchedule's answer.
    pub fn wire(&self) -> Value {
        let mut target = json!({
            "Arn": self.target.arn,
            "RoleArn": self.target.role_arn,
            "RetryPolicy": {
                "MaximumEventAgeInSeconds": self.target.retry.max_event_age_seconds,
                "MaximumRetryAttempts": self.target.retry.max_retry_attempts,
            },
        });
        if let Some(input) = &self.target.input {
            target["Input"] = json!(input);
        }
        if let Some(dlq) = &self.target.dead_letter_arn {
            target["DeadLetterConfig"] = json!({ "Arn": dlq });
        }
        let window = match self.window.max_minutes {
            Some(m) => json!({ "Mode": "FLEXIBLE", "MaximumWindowInMinutes": m }),
            None => json!({ "Mode": "OFF" }),
        };
        let mut out = json!({
            "Arn": self.arn(),
            "GroupName": self.group,
            "Name": self.name,
            "ScheduleExpression": self.expression,
            "ScheduleExpressionTimezone": self.time_zone.as_deref().unwrap_or("UTC"),
            "State": self.state.as_str(),
            "CreationDate": seconds(self.created_ms),
            "LastModificationDate": seconds(self.modified_ms),
            "Target": target,
            "FlexibleTimeWindow": window,
            "ActionAfterCompletion": self.after_completion.as_str(),
        });
        for (key, value) in [
            ("StartDate", self.start_ms.map(seconds)),
            ("EndDate", self.end_ms.map(seconds)),
            ("Description", self.description.clone().map(Value::from)),
            ("KmsKeyArn", self.kms_key_arn.clone().map(Value::from)),
        ] {
            if let Some(v) = value {
                out[key] = v;
            }
        }
        out
    }

    /// ListSchedules' ScheduleSummary.
    pub fn summary(&self) -> Value {
        json!({
            "Arn": self.arn(),
            "GroupName": self.group,
            "Name": self.name,
            "State": self.state.as_str(),
            "CreationDate": seconds(self.created_ms),
            "LastModificationDate": seconds(self.modified_ms),
            "Target": { "Arn": self.target.arn },
        })
    }

    fn parsed(&self) -> Option<(ScheduleExpression, ScheduleTiming)> {
        let expression = ScheduleExpression::parse(&self.expression).ok()?;
        let timing = ScheduleTiming {
            time_zone: schedule_time_zone(self.time_zone.as_deref()).ok()?,
            start_date: self.start_ms.and_then(timestamp),
            end_date: self.end_ms.and_then(timestamp),
            // AWS compat: without a StartDate, a rate counts from its last create or update.
            created: timestamp(self.modified_ms)?,
        };
        Some((expression, timing))
    }

    /// The first scheduled time at or after `now_ms` (`None`: it never fires again, or it is
    /// disabled).
    pub fn first_due(&self, now_ms: i64) -> Option<i64> {
        self.due_after(now_ms.checked_sub(1)?)
    }

    /// The first scheduled time strictly after `after_ms` (`None`: none, or disabled).
    pub fn due_after(&self, after_ms: i64) -> Option<i64> {
        if self.state == ScheduleState::Disabled {
            return None;
        }
        let (expression, timing) = self.parsed()?;
        let next = expression.next_fire(timestamp(after_ms)?, &timing)?;
        Some(next.as_millisecond())
    }

    /// When the invocation of the time `due_ms` happens: within the flexible window, at an
    /// offset `jitter` picks in `[0, window)` milliseconds.
    pub fn fire_time(&self, due_ms: i64, jitter: impl FnOnce(i64) -> i64) -> i64 {
        match self.window.max_minutes {
            Some(m) if m > 0 => {
                let window = i64::from(m) * 60_000;
                due_ms.saturating_add(jitter(window).clamp(0, window - 1))
            }
            _ => due_ms,
        }
    }

    /// The event the target receives for the scheduled time `due_ms`: the Input with its
    /// context attributes filled in, or, without one, Scheduler's default notification
    /// (`id` is `execution_id`).
    ///
    /// AWS compat: the notification's `detail` is the string `"{}"`, not an object.
    pub fn payload(&self, due_ms: i64, execution_id: &str, attempt: u32) -> Vec<u8> {
        let scheduled = scheduled_time(due_ms);
        let Some(input) = &self.target.input else {
            return json!({
                "version": "0",
                "id": execution_id,
                "detail-type": "Scheduled Event",
                "source": "aws.scheduler",
                "account": self.account,
                "time": scheduled,
                "region": self.region,
                "resources": [self.arn()],
                "detail": "{}",
            })
            .to_string()
            .into_bytes();
        };
        input
            .replace("<aws.scheduler.schedule-arn>", &self.arn())
            .replace("<aws.scheduler.scheduled-time>", &scheduled)
            .replace("<aws.scheduler.execution-id>", execution_id)
            .replace("<aws.scheduler.attempt-number>", &attempt.to_string())
            .into_bytes()
    }
}

/// A scheduled time as Scheduler writes it (`2026-01-01T09:30:00Z`).
pub fn scheduled_time(ms: i64) -> String {
    timestamp(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

fn timestamp(ms: i64) -> Option<jiff::Timestamp> {
    jiff::Timestamp::from_millisecond(ms).ok()
}

/// A name's constraints (schedule and group names share them).
fn check_name(errors: &mut ValidationErrors, value: &str, field: &str) {
    if value.is_empty() || value.chars().count() > 64 {
        errors.push(
            value,
            field,
            "Member must have length less than or equal to 64 and greater than or equal to 1",
        );
    } else if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        errors.push(
            value,
            field,
            "Member must satisfy regular expression pattern: [0-9a-zA-Z-_.]+",
        );
    }
}

/// Checks a schedule or group name as the model does.
pub fn validate_name(value: &str, field: &str) -> Result<(), LambdaError> {
    let mut errors = ValidationErrors::default();
    check_name(&mut errors, value, field);
    errors.finish()
}

/// CreateSchedule's and UpdateSchedule's body (Name and, for Delete and Get, GroupName come
/// from the path and query).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScheduleRequest {
    /// GroupName.
    pub group_name: Option<String>,
    /// ScheduleExpression.
    pub schedule_expression: Option<String>,
    /// StartDate, epoch seconds.
    pub start_date: Option<f64>,
    /// EndDate, epoch seconds.
    pub end_date: Option<f64>,
    /// Description.
    pub description: Option<String>,
    /// ScheduleExpressionTimezone.
    pub schedule_expression_timezone: Option<String>,
    /// State.
    pub state: Option<String>,
    /// KmsKeyArn.
    pub kms_key_arn: Option<String>,
    /// Target.
    pub target: Option<TargetRequest>,
    /// FlexibleTimeWindow.
    pub flexible_time_window: Option<WindowRequest>,
    /// ClientToken (idempotency; accepted).
    pub client_token: Option<String>,
    /// ActionAfterCompletion.
    pub action_after_completion: Option<String>,
}

/// Target, as sent.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TargetRequest {
    /// Arn.
    pub arn: Option<String>,
    /// RoleArn.
    pub role_arn: Option<String>,
    /// Input.
    pub input: Option<String>,
    /// RetryPolicy.
    pub retry_policy: Option<RetryRequest>,
    /// DeadLetterConfig.
    pub dead_letter_config: Option<DeadLetterRequest>,
    /// The parameters of other kinds of target (refused: Lambda targets only).
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// RetryPolicy, as sent.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RetryRequest {
    /// MaximumEventAgeInSeconds.
    pub maximum_event_age_in_seconds: Option<i64>,
    /// MaximumRetryAttempts.
    pub maximum_retry_attempts: Option<i64>,
}

/// DeadLetterConfig, as sent.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeadLetterRequest {
    /// Arn.
    pub arn: Option<String>,
}

/// FlexibleTimeWindow, as sent.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WindowRequest {
    /// Mode.
    pub mode: Option<String>,
    /// MaximumWindowInMinutes.
    pub maximum_window_in_minutes: Option<i64>,
}

/// Where a request is made: what a schedule built from it belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    /// The region.
    pub region: &'a str,
    /// The account.
    pub account: &'a str,
    /// Now, epoch ms.
    pub now_ms: i64,
}

fn in_range(
    errors: &mut ValidationErrors,
    value: Option<i64>,
    field: &str,
    min: i64,
    max: i64,
) -> Option<u32> {
    let v = value?;
    if v < min || v > max {
        let constraint = if v < min {
            format!("Member must have value greater than or equal to {min}")
        } else {
            format!("Member must have value less than or equal to {max}")
        };
        errors.push(&v.to_string(), field, &constraint);
        return None;
    }
    u32::try_from(v).ok()
}

fn matches_pattern(s: &str, pattern: &str) -> bool {
    regex_lite::Regex::new(&format!("^(?:{pattern})$")).is_ok_and(|r| r.is_match(s))
}

const ROLE_PATTERN: &str = r"arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@\/-]+";
const SQS_PATTERN: &str = r"arn:aws[a-z-]*:sqs:[a-z0-9\-]+:\d{12}:[a-zA-Z0-9\-_]+";
const KMS_PATTERN: &str = r"arn:aws[a-z-]*:kms:[a-z0-9\-]+:\d{12}:(key|alias)\/[0-9a-zA-Z-_]*";

/// A Lambda function ARN's name and qualifier.
fn lambda_target(arn: &str) -> Option<(String, String)> {
    let rest = arn.strip_prefix("arn:aws:lambda:")?;
    let parts: Vec<&str> = rest.split(':').collect();
    match parts.as_slice() {
        [_region, _account, "function", name] => Some(((*name).to_string(), String::new())),
        [_region, _account, "function", name, qualifier] if !qualifier.is_empty() => {
            Some(((*name).to_string(), (*qualifier).to_string()))
        }
        _ => None,
    }
    .filter(|(name, _)| !name.is_empty())
}

fn epoch_ms(seconds: f64) -> Option<i64> {
    let ms = (seconds * 1000.0).round();
    (ms.is_finite() && ms.abs() < 1e15).then_some(ms as i64)
}

impl ScheduleRequest {
    /// The schedule `name` this request describes (CreateSchedule; UpdateSchedule replaces a
    /// schedule whole, so `existing`, the one it replaces, lends only its creation time).
    /// Every constraint of the model is checked and reported at once, then the expression,
    /// the time zone and the dates.
    pub fn schedule(
        &self,
        name: &str,
        place: Place<'_>,
        existing: Option<&Schedule>,
    ) -> Result<Schedule, LambdaError> {
        let mut errors = ValidationErrors::default();
        check_name(&mut errors, name, "name");
        let group = self.group_name.as_deref().unwrap_or(DEFAULT_GROUP);
        check_name(&mut errors, group, "groupName");
        match self.schedule_expression.as_deref() {
            None => errors.push_null("scheduleExpression"),
            Some(e) if e.is_empty() || e.chars().count() > 256 => errors.push(
                e,
                "scheduleExpression",
                "Member must have length less than or equal to 256 and greater than or equal to 1",
            ),
            Some(_) => {}
        }
        if let Some(d) = &self.description {
            if d.chars().count() > 512 {
                errors.push(
                    d,
                    "description",
                    "Member must have length less than or equal to 512",
                );
            }
        }
        if let Some(tz) = &self.schedule_expression_timezone {
            if tz.is_empty() || tz.chars().count() > 50 {
                errors.push(
                    tz,
                    "scheduleExpressionTimezone",
                    "Member must have length less than or equal to 50 and greater than or equal to 1",
                );
            }
        }
        let state = match self.state.as_deref() {
            None => ScheduleState::Enabled,
            Some(s) => ScheduleState::parse(s).unwrap_or_else(|| {
                errors.push(
                    s,
                    "state",
                    "Member must satisfy enum value set: [ENABLED, DISABLED]",
                );
                ScheduleState::Enabled
            }),
        };
        let after_completion = match self.action_after_completion.as_deref() {
            None | Some("NONE") => AfterCompletion::None,
            Some("DELETE") => AfterCompletion::Delete,
            Some(s) => {
                errors.push(
                    s,
                    "actionAfterCompletion",
                    "Member must satisfy enum value set: [NONE, DELETE]",
                );
                AfterCompletion::None
            }
        };
        if let Some(k) = &self.kms_key_arn {
            if !matches_pattern(k, KMS_PATTERN) {
                errors.push(
                    k,
                    "kmsKeyArn",
                    &format!("Member must satisfy regular expression pattern: {KMS_PATTERN}"),
                );
            }
        }
        if let Some(t) = &self.client_token {
            if t.is_empty() || t.len() > 64 || !matches_pattern(t, "[a-zA-Z0-9-_]+") {
                errors.push(
                    t,
                    "clientToken",
                    "Member must satisfy regular expression pattern: [a-zA-Z0-9-_]+",
                );
            }
        }
        let window = match &self.flexible_time_window {
            None => {
                errors.push_null("flexibleTimeWindow");
                FlexibleWindow { max_minutes: None }
            }
            Some(w) => {
                let minutes = in_range(
                    &mut errors,
                    w.maximum_window_in_minutes,
                    "flexibleTimeWindow.maximumWindowInMinutes",
                    1,
                    1440,
                );
                match w.mode.as_deref() {
                    None => {
                        errors.push_null("flexibleTimeWindow.mode");
                        FlexibleWindow { max_minutes: None }
                    }
                    Some("OFF") => FlexibleWindow { max_minutes: None },
                    Some("FLEXIBLE") => FlexibleWindow {
                        max_minutes: minutes,
                    },
                    Some(m) => {
                        errors.push(
                            m,
                            "flexibleTimeWindow.mode",
                            "Member must satisfy enum value set: [OFF, FLEXIBLE]",
                        );
                        FlexibleWindow { max_minutes: None }
                    }
                }
            }
        };
        let target = self.target(&mut errors);
        errors.finish()?;
        let (Some(expression), Some(target)) = (self.schedule_expression.clone(), target) else {
            return Err(LambdaError::validation(
                "Target and ScheduleExpression are required",
            ));
        };
        let invalid = |m: String| LambdaError::new(ErrorCode::Validation, m);
        ScheduleExpression::parse(&expression).map_err(|e| invalid(e.aws_message()))?;
        if let Some(tz) = &self.schedule_expression_timezone {
            schedule_time_zone(Some(tz))
                .map_err(|_| invalid(format!("Invalid time zone: {tz}")))?;
        }
        let flexible = self
            .flexible_time_window
            .as_ref()
            .and_then(|w| w.mode.as_deref())
            == Some("FLEXIBLE");
        if flexible && window.max_minutes.is_none() {
            return Err(invalid(
                "MaximumWindowInMinutes must be provided when FlexibleTimeWindowMode is set to FLEXIBLE"
                    .into(),
            ));
        }
        if !flexible
            && self
                .flexible_time_window
                .as_ref()
                .is_some_and(|w| w.maximum_window_in_minutes.is_some())
        {
            return Err(invalid(
                "MaximumWindowInMinutes must not be provided when FlexibleTimeWindowMode is set to OFF."
                    .into(),
            ));
        }
        let date = |v: Option<f64>, field: &str| match v {
            None => Ok(None),
            Some(s) => epoch_ms(s)
                .map(Some)
                .ok_or_else(|| invalid(format!("Invalid {field}"))),
        };
        let start_ms = date(self.start_date, "StartDate")?;
        let end_ms = date(self.end_date, "EndDate")?;
        if let (Some(s), Some(e)) = (start_ms, end_ms) {
            if s >= e {
                return Err(invalid(
                    "The StartDate you specify must come before the EndDate.".into(),
                ));
            }
        }
        // AWS compat: an EndDate already past is accepted (the schedule never fires); a
        // StartDate more than five minutes back is not, for a recurring schedule.
        let one_time = expression.starts_with("at(");
        if !one_time && start_ms.is_some_and(|s| s < place.now_ms - 300_000) {
            return Err(invalid(
                "The StartDate you specify cannot be earlier than 5 minutes ago.".into(),
            ));
        }
        let target_region = target.arn.split(':').nth(3).unwrap_or_default();
        if target_region != place.region {
            return Err(invalid(format!(
                "The target ARN provided does not match the current region {}.",
                place.region
            )));
        }
        if let Some(input) = &target.input {
            // AWS compat: a Lambda target's Input must be JSON (its context attributes may
            // stand where a value does).
            let mut sample = input.clone();
            for attribute in [
                "<aws.scheduler.schedule-arn>",
                "<aws.scheduler.scheduled-time>",
                "<aws.scheduler.execution-id>",
                "<aws.scheduler.attempt-number>",
            ] {
                sample = sample.replace(attribute, "1");
            }
            if serde_json::from_str::<serde::de::IgnoredAny>(&sample).is_err() {
                return Err(invalid("JSON syntax error in input for the target".into()));
            }
        }
        Ok(Schedule {
            group: group.to_string(),
            name: name.to_string(),
            region: place.region.to_string(),
            account: place.account.to_string(),
            expression,
            time_zone: self.schedule_expression_timezone.clone(),
            start_ms,
            end_ms,
            description: self.description.clone(),
            state,
            kms_key_arn: self.kms_key_arn.clone(),
            target,
            window,
            after_completion,
            created_ms: existing.map_or(place.now_ms, |s| s.created_ms),
            modified_ms: place.now_ms,
        })
    }

    fn target(&self, errors: &mut ValidationErrors) -> Option<Target> {
        let Some(t) = &self.target else {
            errors.push_null("target");
            return None;
        };
        let arn = match t.arn.as_deref() {
            None => {
                errors.push_null("target.arn");
                None
            }
            Some(a) if a.is_empty() || a.chars().count() > 1600 => {
                errors.push(
                    a,
                    "target.arn",
                    "Member must have length less than or equal to 1600 and greater than or equal to 1",
                );
                None
            }
            Some(a) => Some(a),
        };
        let role = match t.role_arn.as_deref() {
            None => {
                errors.push_null("target.roleArn");
                None
            }
            Some(r) if !matches_pattern(r, ROLE_PATTERN) => {
                errors.push(
                    r,
                    "target.roleArn",
                    &format!("Member must satisfy regular expression pattern: {ROLE_PATTERN}"),
                );
                None
            }
            Some(r) => Some(r),
        };
        if t.input.as_deref() == Some("") {
            errors.push(
                "",
                "target.input",
                "Member must have length greater than or equal to 1",
            );
        }
        if let Some(i) = t.input.as_deref() {
            // What an asynchronous invocation can carry (its context attributes filled in
            // add at most a few hundred bytes).
            let limit = crate::event_invoke::MAX_ASYNC_PAYLOAD_BYTES - 4096;
            if i.len() > limit {
                errors.push_raw(&format!(
                    "Value at 'target.input' failed to satisfy constraint: Member must have length less than or equal to {limit}"
                ));
            }
        }
        let retry = t.retry_policy.unwrap_or_default();
        let max_age = in_range(
            errors,
            retry.maximum_event_age_in_seconds,
            "target.retryPolicy.maximumEventAgeInSeconds",
            60,
            86_400,
        );
        let max_attempts = in_range(
            errors,
            retry.maximum_retry_attempts,
            "target.retryPolicy.maximumRetryAttempts",
            0,
            185,
        );
        let dead_letter_arn = t.dead_letter_config.as_ref().and_then(|d| d.arn.clone());
        if let Some(d) = &dead_letter_arn {
            if !matches_pattern(d, SQS_PATTERN) {
                errors.push(
                    d,
                    "target.deadLetterConfig.arn",
                    &format!("Member must satisfy regular expression pattern: {SQS_PATTERN}"),
                );
            }
        }
        let (arn, role) = (arn?, role?);
        let Some((function, qualifier)) = lambda_target(arn) else {
            errors.push_raw(&format!(
                "Value '{arn}' at 'target.arn' failed to satisfy constraint: Nimbus delivers to Lambda functions only: arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]"
            ));
            return None;
        };
        if let Some(kind) = t.other.keys().next() {
            errors.push_raw(&format!(
                "Target.{kind} is not supported: Nimbus delivers to Lambda functions only"
            ));
            return None;
        }
        Some(Target {
            arn: arn.to_string(),
            role_arn: role.to_string(),
            function,
            qualifier,
            input: t.input.clone(),
            retry: RetryPolicy {
                max_event_age_seconds: max_age.unwrap_or(DEFAULT_MAX_EVENT_AGE_SECONDS),
                max_retry_attempts: max_attempts.unwrap_or(DEFAULT_MAX_RETRY_ATTEMPTS),
            },
            dead_letter_arn,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

    fn place() -> Place<'static> {
        Place {
            region: "us-east-1",
            account: "000000000000",
            now_ms: NOW,
        }
    }

    fn request(body: Value) -> ScheduleRequest {
        serde_json::from_value(body).expect("request")
    }

    fn basic(expression: &str) -> Value {
        json!({
            "ScheduleExpression": expression,
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": {
                "Arn": "arn:aws:lambda:us-east-1:000000000000:function:tick",
                "RoleArn": "arn:aws:iam::000000000000:role/scheduler",
            },
        })
    }

    #[test]
    fn a_minimal_request_gets_aws_defaults() {
        let s = request(basic("rate(5 minutes)"))
            .schedule("every5", place(), None)
            .expect("valid");
        assert_eq!(s.group, "default");
        assert_eq!(s.state, ScheduleState::Enabled);
        assert_eq!(s.target.retry, RetryPolicy::default());
        assert_eq!(s.target.function, "tick");
        assert_eq!(s.target.qualifier, "");
        let w = s.wire();
        assert_eq!(
            w["Arn"],
            "arn:aws:scheduler:us-east-1:000000000000:schedule/default/every5"
        );
        assert_eq!(w["ScheduleExpressionTimezone"], "UTC");
        assert_eq!(w["Target"]["RetryPolicy"]["MaximumRetryAttempts"], 185);
        assert_eq!(w["FlexibleTimeWindow"], json!({"Mode": "OFF"}));
        assert_eq!(w["CreationDate"], json!(NOW as f64 / 1000.0));
        assert!(w.get("StartDate").is_none());
        // A rate schedule starts at once.
        assert_eq!(s.first_due(NOW), Some(NOW));
        assert_eq!(s.due_after(NOW), Some(NOW + 300_000));
    }

    #[test]
    fn every_model_violation_is_reported_at_once() {
        let mut body = basic("rate(5 minutes)");
        body["State"] = json!("ON");
        body["Target"]["RetryPolicy"] =
            json!({"MaximumEventAgeInSeconds": 30, "MaximumRetryAttempts": 186});
        body["Target"]["RoleArn"] = json!("role");
        let e = request(body)
            .schedule("bad name", place(), None)
            .expect_err("invalid");
        assert_eq!(e.code, ErrorCode::Validation);
        assert!(
            e.message.starts_with("5 validation errors detected: "),
            "{}",
            e.message
        );
        for part in [
            "Value 'bad name' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [0-9a-zA-Z-_.]+",
            "Value 'ON' at 'state'",
            "Value '30' at 'target.retryPolicy.maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value greater than or equal to 60",
            "Value '186' at 'target.retryPolicy.maximumRetryAttempts'",
            "Value 'role' at 'target.roleArn'",
        ] {
            assert!(e.message.contains(part), "{part}: {}", e.message);
        }
        let e = request(json!({}))
            .schedule("x", place(), None)
            .expect_err("empty");
        assert!(
            e.message.contains("Value null at 'scheduleExpression'"),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("Value null at 'target'"),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("Value null at 'flexibleTimeWindow'"),
            "{}",
            e.message
        );
    }

    #[test]
    fn expressions_zones_windows_and_dates_are_checked() {
        let e = request(basic("rate(0 minutes)"))
            .schedule("x", place(), None)
            .expect_err("bad rate");
        assert_eq!(e.message, "Invalid Schedule Expression rate(0 minutes).");
        let mut body = basic("cron(0 9 * * ? *)");
        body["ScheduleExpressionTimezone"] = json!("Mars/Olympus");
        let e = request(body)
            .schedule("x", place(), None)
            .expect_err("zone");
        assert!(e.message.contains("Mars/Olympus"), "{}", e.message);
        let mut body = basic("cron(0 9 * * ? *)");
        body["FlexibleTimeWindow"] = json!({"Mode": "FLEXIBLE"});
        assert!(request(body).schedule("x", place(), None).is_err());
        let mut body = basic("cron(0 9 * * ? *)");
        body["StartDate"] = json!((NOW / 1000 + 7200) as f64);
        body["EndDate"] = json!((NOW / 1000 + 3600) as f64);
        let e = request(body)
            .schedule("x", place(), None)
            .expect_err("dates");
        assert_eq!(
            e.message,
            "The StartDate you specify must come before the EndDate."
        );
        let mut body = basic("rate(1 hour)");
        body["StartDate"] = json!((NOW / 1000 - 3600) as f64);
        let e = request(body)
            .schedule("x", place(), None)
            .expect_err("backdated");
        assert!(
            e.message.contains("earlier than 5 minutes ago"),
            "{}",
            e.message
        );
        let mut body = basic("rate(1 hour)");
        body["Target"]["Arn"] = json!("arn:aws:lambda:eu-west-1:000000000000:function:tick");
        let e = request(body)
            .schedule("x", place(), None)
            .expect_err("region");
        assert_eq!(
            e.message,
            "The target ARN provided does not match the current region us-east-1."
        );
        let mut body = basic("rate(1 hour)");
        body["Target"]["Input"] = json!(format!("\"{}\"", "x".repeat(1 << 20)));
        let e = request(body).schedule("x", place(), None).expect_err("big");
        assert!(e.message.contains("'target.input'"), "{}", e.message);
        let mut body = basic("rate(1 hour)");
        body["Target"]["Input"] = json!("{not json");
        let e = request(body)
            .schedule("x", place(), None)
            .expect_err("input");
        assert_eq!(e.message, "JSON syntax error in input for the target");
        let mut body = basic("cron(0 9 * * ? *)");
        body["Target"]["Arn"] = json!("arn:aws:sqs:us-east-1:000000000000:q");
        let e = request(body).schedule("x", place(), None).expect_err("sqs");
        assert!(e.message.contains("Lambda functions only"), "{}", e.message);
    }

    #[test]
    fn fire_times_follow_the_zone_the_window_and_the_state() {
        let mut body = basic("cron(30 9 * * ? *)");
        body["ScheduleExpressionTimezone"] = json!("America/New_York");
        body["FlexibleTimeWindow"] = json!({"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 10});
        let s = request(body)
            .schedule("nine", place(), None)
            .expect("valid");
        // 09:30 in New York on 2026-01-01 is 14:30 UTC.
        let due = s.first_due(NOW).expect("due");
        assert_eq!(due, NOW + (14 * 60 + 30) * 60_000);
        assert_eq!(s.fire_time(due, |_| 90_000), due + 90_000);
        assert_eq!(s.fire_time(due, |w| w + 5), due + 599_999);
        let off = Schedule {
            state: ScheduleState::Disabled,
            ..s.clone()
        };
        assert_eq!(off.first_due(NOW), None);
    }

    #[test]
    fn one_time_schedules_fire_once_and_inputs_get_context() {
        let mut body = basic("at(2026-01-01T00:10:00)");
        body["Target"]["Input"] = json!(
            r#"{"arn":"<aws.scheduler.schedule-arn>","at":"<aws.scheduler.scheduled-time>","n":<aws.scheduler.attempt-number>}"#
        );
        body["ActionAfterCompletion"] = json!("DELETE");
        let s = request(body)
            .schedule("once", place(), None)
            .expect("valid");
        let due = s.first_due(NOW).expect("due");
        assert_eq!(due, NOW + 600_000);
        assert_eq!(s.due_after(due), None);
        let p: Value = serde_json::from_slice(&s.payload(due, "e1", 1)).expect("json");
        assert_eq!(
            p,
            json!({"arn": "arn:aws:scheduler:us-east-1:000000000000:schedule/default/once", "at": "2026-01-01T00:10:00Z", "n": 1})
        );
        let plain = request(basic("rate(1 hour)"))
            .schedule("p", place(), None)
            .expect("valid");
        let p: Value = serde_json::from_slice(&plain.payload(NOW, "e", 1)).expect("json");
        assert_eq!(p["detail-type"], "Scheduled Event");
        assert_eq!(p["source"], "aws.scheduler");
        assert_eq!(p["detail"], "{}");
        assert_eq!(p["time"], "2026-01-01T00:00:00Z");
        assert_eq!(
            p["resources"][0],
            "arn:aws:scheduler:us-east-1:000000000000:schedule/default/p"
        );
    }
}
