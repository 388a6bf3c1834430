//! The CloudWatch Logs API (JSON 1.1 protocol, `X-Amz-Target: Logs_20140328.<Op>`, signing
//! name `logs`) over the logs Nimbus stores: DescribeLogGroups, DescribeLogStreams,
//! GetLogEvents and FilterLogEvents (what `aws logs tail [--follow]` and the SDKs read with),
//! and CreateLogStream, DeleteLogStream and PutLogEvents for logs of one's own.
//! Groups and streams are those functions write (`/aws/lambda/<name>`, Lambda's stream names);
//! events keep the server's retention (`log_retention_days`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use nimbus_model::log_filter::FilterPattern;
use nimbus_store::{EventQuery, StoreError, StreamOrder};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::app::App;
use crate::request::Ctx;

/// The `X-Amz-Target` prefix of the Logs API.
pub(crate) const TARGET_PREFIX: &str = "Logs_20140328.";

/// Whether a request is the Logs API's.
pub(crate) fn is_logs(headers: &HeaderMap) -> bool {
    headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with(TARGET_PREFIX))
}

/// The largest Logs request body: a PutLogEvents batch of 1,048,576 bytes of events, with
/// room for JSON's escapes.
pub(crate) const MAX_REQUEST_BYTES: usize = 8 << 20;

/// AWS compat: PutLogEvents' batch limit, counting each event's message bytes plus 26.
const MAX_BATCH_BYTES: usize = 1_048_576;
/// AWS compat: events in one PutLogEvents.
const MAX_BATCH_EVENTS: usize = 10_000;
/// AWS compat: how far back and ahead of now PutLogEvents takes events.
const TOO_OLD_MS: i64 = 14 * 86_400_000;
const TOO_NEW_MS: i64 = 2 * 3_600_000;
/// AWS compat: the longest time a PutLogEvents batch may span.
const MAX_SPAN_MS: i64 = 86_400_000;

/// Most events FilterLogEvents reads in one call (matching or not): a page may hold fewer
/// matches than asked, with a `nextToken` to go on, as AWS's do.
const SCAN_LIMIT: usize = 10_000;

struct LogsError {
    kind: &'static str,
    message: String,
}

type Result<T> = std::result::Result<T, LogsError>;

fn invalid(message: impl Into<String>) -> LogsError {
    LogsError {
        kind: "InvalidParameterException",
        message: message.into(),
    }
}

fn no_group() -> LogsError {
    LogsError {
        kind: "ResourceNotFoundException",
        message: "The specified log group does not exist.".into(),
    }
}

impl From<StoreError> for LogsError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "logs API store read");
        Self {
            kind: "ServiceUnavailableException",
            message: "The service cannot complete the request (see the server's log).".into(),
        }
    }
}

fn reply(status: StatusCode, body: &Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    resp
}

/// `POST /` with a Logs target.
pub(crate) async fn handle(app: Arc<App>, ctx: Ctx, headers: HeaderMap, body: Bytes) -> Response {
    let op = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix(TARGET_PREFIX))
        .unwrap_or("")
        .to_string();
    let input: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                return reply(
                    StatusCode::BAD_REQUEST,
                    &json!({ "__type": "SerializationException", "message": e.to_string() }),
                )
            }
        }
    };
    let result = match op.as_str() {
        "DescribeLogGroups" => describe_groups(&app, &ctx, input).await,
        "DescribeLogStreams" => describe_streams(&app, &ctx, input).await,
        "GetLogEvents" => get_events(&app, input).await,
        "FilterLogEvents" => filter_events(&app, input).await,
        "CreateLogGroup" => create_group(&app, input).await,
        "DeleteLogGroup" => delete_group(&app, input).await,
        "PutRetentionPolicy" => put_retention(&app, input).await,
        "DeleteRetentionPolicy" => delete_retention(&app, input).await,
        "CreateLogStream" => create_stream(&app, input).await,
        "DeleteLogStream" => delete_stream(&app, input).await,
        "PutLogEvents" => put_events(&app, input).await,
        other => Err(LogsError {
            kind: "UnknownOperationException",
            message: format!("Nimbus does not support the Logs operation {other} yet"),
        }),
    };
    match result {
        Ok(v) => reply(StatusCode::OK, &v),
        Err(e) => reply(
            StatusCode::BAD_REQUEST,
            &json!({ "__type": e.kind, "message": e.message }),
        ),
    }
}

fn parse<T: serde::de::DeserializeOwned>(v: Value) -> Result<T> {
    serde_json::from_value(v).map_err(|e| invalid(format!("Invalid request: {e}")))
}

fn limit(v: Option<i64>, max: i64, field: &str) -> Result<usize> {
    match v {
        None => Ok(usize::try_from(max).unwrap_or(usize::MAX)),
        Some(n) if (1..=max).contains(&n) => Ok(usize::try_from(n).unwrap_or(1)),
        Some(n) => Err(invalid(format!(
            "1 validation error detected: Value '{n}' at '{field}' failed to satisfy constraint: Member must have value less than or equal to {max} and greater than or equal to 1"
        ))),
    }
}

fn token_encode(s: &str) -> String {
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, s)
}

fn token_decode(t: &str) -> Result<String> {
    base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, t)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| invalid("The specified nextToken is invalid."))
}

fn group_arn(ctx: &Ctx, app: &App, name: &str) -> String {
    format!(
        "arn:aws:logs:{}:{}:log-group:{name}",
        ctx.region, app.account
    )
}

/// A group named by `logGroupName` or `logGroupIdentifier` (a name or an ARN).
fn group_of(name: Option<String>, identifier: Option<String>) -> Result<String> {
    match (name, identifier) {
        (Some(_), Some(_)) => Err(invalid(
            "LogGroupName and LogGroupIdentifier are mutually exclusive parameters.",
        )),
        (Some(n), None) => Ok(n),
        (None, Some(id)) => Ok(match id.split_once(":log-group:") {
            Some((_, rest)) => rest.trim_end_matches(":*").to_string(),
            None => id,
        }),
        (None, None) => Err(invalid(
            "1 validation error detected: Value null at 'logGroupName' failed to satisfy constraint: Member must not be null",
        )),
    }
}

async fn group_exists(app: &App, group: &str) -> Result<()> {
    let found = app.log_queries.log_groups(Some(group), None, 1).await?;
    if found.first().is_some_and(|g| g.name == group) {
        Ok(())
    } else {
        Err(no_group())
    }
}

/// AWS compat: the retention periods PutRetentionPolicy takes.
const RETENTION_DAYS: [u32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// A log group name as the model allows it: 1-512 of `[.-_/#A-Za-z0-9]`.
fn check_group_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 512
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_/#".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "1 validation error detected: Value '{name}' at 'logGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+"
        )))
    }
}

fn no_stream() -> LogsError {
    LogsError {
        kind: "ResourceNotFoundException",
        message: "The specified log stream does not exist.".into(),
    }
}

/// A log stream name as the model allows it: 1-512 characters, no `:` or `*`.
fn check_stream_name(name: Option<String>) -> Result<String> {
    let Some(name) = name else {
        return Err(invalid(
            "1 validation error detected: Value null at 'logStreamName' failed to satisfy constraint: Member must not be null",
        ));
    };
    if name.is_empty() || name.chars().count() > 512 {
        return Err(invalid(format!(
            "1 validation error detected: Value '{name}' at 'logStreamName' failed to satisfy constraint: Member must have length {}",
            if name.is_empty() { "greater than or equal to 1" } else { "less than or equal to 512" }
        )));
    }
    if name.contains([':', '*']) {
        return Err(invalid(format!(
            "1 validation error detected: Value '{name}' at 'logStreamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [^:*]*"
        )));
    }
    Ok(name)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StreamRequest {
    log_group_name: Option<String>,
    log_stream_name: Option<String>,
}

async fn create_stream(app: &App, input: Value) -> Result<Value> {
    let r: StreamRequest = parse(input)?;
    let group = group_of(r.log_group_name, None)?;
    check_group_name(&group)?;
    let stream = check_stream_name(r.log_stream_name)?;
    match app
        .log_queries
        .create_log_stream(&group, &stream, crate::app::now_ms())
        .await
    {
        Ok(()) => Ok(json!({})),
        Err(StoreError::NotFound(_)) => Err(no_group()),
        Err(StoreError::AlreadyExists(_)) => Err(LogsError {
            kind: "ResourceAlreadyExistsException",
            message: "The specified log stream already exists".into(),
        }),
        Err(e) => Err(e.into()),
    }
}

async fn delete_stream(app: &App, input: Value) -> Result<Value> {
    let r: StreamRequest = parse(input)?;
    let group = group_of(r.log_group_name, None)?;
    let stream = check_stream_name(r.log_stream_name)?;
    group_exists(app, &group).await?;
    if app.log_queries.delete_log_stream(&group, &stream).await? {
        Ok(json!({}))
    } else {
        Err(no_stream())
    }
}

#[derive(Deserialize)]
struct InputEvent {
    timestamp: Option<i64>,
    message: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PutEvents {
    log_group_name: Option<String>,
    log_stream_name: Option<String>,
    log_events: Option<Vec<InputEvent>>,
}

/// Which events of a batch (in time order) are outside what PutLogEvents takes, at `now_ms`
/// with `retention_days`: (too old: exclusive end, expired: exclusive end, too new: start).
fn rejected(times: &[i64], now_ms: i64, retention_days: Option<u32>) -> (usize, usize, usize) {
    let too_old = times.partition_point(|&t| t < now_ms - TOO_OLD_MS);
    let expired = retention_days.map_or(0, |d| {
        times.partition_point(|&t| t < now_ms - i64::from(d) * 86_400_000)
    });
    let too_new = times.partition_point(|&t| t <= now_ms + TOO_NEW_MS);
    (too_old, expired, too_new)
}

async fn put_events(app: &App, input: Value) -> Result<Value> {
    let r: PutEvents = parse(input)?;
    let group = group_of(r.log_group_name, None)?;
    let stream = check_stream_name(r.log_stream_name)?;
    let events = r.log_events.unwrap_or_default();
    if events.is_empty() || events.len() > MAX_BATCH_EVENTS {
        return Err(invalid(format!(
            "1 validation error detected: Value '[...]' at 'logEvents' failed to satisfy constraint: Member must have length {}",
            if events.is_empty() { "greater than or equal to 1" } else { "less than or equal to 10000" }
        )));
    }
    let mut times = Vec::with_capacity(events.len());
    let mut size = 0usize;
    for (i, e) in events.iter().enumerate() {
        let (Some(t), Some(m)) = (e.timestamp, e.message.as_deref()) else {
            let field = if e.timestamp.is_none() {
                "timestamp"
            } else {
                "message"
            };
            return Err(invalid(format!(
                "1 validation error detected: Value null at 'logEvents.{}.member.{field}' failed to satisfy constraint: Member must not be null",
                i + 1
            )));
        };
        if m.is_empty() {
            return Err(invalid(format!(
                "1 validation error detected: Value '' at 'logEvents.{}.member.message' failed to satisfy constraint: Member must have length greater than or equal to 1",
                i + 1
            )));
        }
        size = size.saturating_add(m.len() + 26);
        times.push(t);
    }
    if size > MAX_BATCH_BYTES {
        return Err(invalid(format!(
            "Upload too large: {size} bytes exceeds limit of {MAX_BATCH_BYTES}"
        )));
    }
    if times.windows(2).any(|w| w[1] < w[0]) {
        return Err(invalid(
            "Log events in a single PutLogEvents request must be in chronological order.",
        ));
    }
    if times[times.len() - 1].saturating_sub(times[0]) > MAX_SPAN_MS {
        return Err(invalid(
            "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.",
        ));
    }
    if app.log_queries.log_stream(&group, &stream).await?.is_none() {
        group_exists(app, &group).await?;
        return Err(no_stream());
    }
    let retention = app
        .log_queries
        .log_groups(Some(&group), None, 1)
        .await?
        .into_iter()
        .find(|g| g.name == group)
        .and_then(|g| g.retention_days)
        .or(Some(app.log_retention_days).filter(|d| *d > 0));
    let now = crate::app::now_ms();
    let (too_old, expired, too_new) = rejected(&times, now, retention);
    let from = too_old.max(expired);
    let records: Vec<nimbus_store::LogRecord> = events
        .into_iter()
        .enumerate()
        .filter(|(i, _)| (from..too_new).contains(i))
        .map(|(_, e)| nimbus_store::LogRecord {
            id: 0,
            group: group.clone(),
            stream: stream.clone(),
            timestamp_ms: e.timestamp.unwrap_or(0),
            message: e.message.unwrap_or_default(),
        })
        .collect();
    if !records.is_empty() {
        // Committed before the answer, as AWS acknowledges what it has stored.
        app.store.append_logs(&records).await?;
    }
    let mut out = json!({ "nextSequenceToken": format!("{:056}", now) });
    let mut info = serde_json::Map::new();
    if too_new < times.len() {
        info.insert("tooNewLogEventStartIndex".into(), json!(too_new));
    }
    if too_old > 0 {
        info.insert("tooOldLogEventEndIndex".into(), json!(too_old));
    }
    if expired > 0 {
        info.insert("expiredLogEventEndIndex".into(), json!(expired));
    }
    if !info.is_empty() {
        out["rejectedLogEventsInfo"] = Value::Object(info);
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupRequest {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    retention_in_days: Option<i64>,
}

async fn create_group(app: &App, input: Value) -> Result<Value> {
    let r: GroupRequest = parse(input)?;
    let name = group_of(r.log_group_name, None)?;
    check_group_name(&name)?;
    match app
        .log_queries
        .create_log_group(&name, crate::app::now_ms())
        .await
    {
        Ok(()) => Ok(json!({})),
        Err(StoreError::AlreadyExists(_)) => Err(LogsError {
            kind: "ResourceAlreadyExistsException",
            message: "The specified log group already exists".into(),
        }),
        Err(e) => Err(e.into()),
    }
}

async fn delete_group(app: &App, input: Value) -> Result<Value> {
    let r: GroupRequest = parse(input)?;
    let name = group_of(r.log_group_name, None)?;
    if app.log_queries.delete_log_group(&name).await? {
        Ok(json!({}))
    } else {
        Err(no_group())
    }
}

async fn set_retention(app: &App, name: &str, days: Option<u32>) -> Result<Value> {
    match app
        .log_queries
        .set_log_retention(name, days, crate::app::now_ms())
        .await
    {
        Ok(()) => Ok(json!({})),
        Err(StoreError::NotFound(_)) => Err(no_group()),
        Err(e) => Err(e.into()),
    }
}

async fn put_retention(app: &App, input: Value) -> Result<Value> {
    let r: GroupRequest = parse(input)?;
    let name = group_of(r.log_group_name, r.log_group_identifier)?;
    let days = r
        .retention_in_days
        .and_then(|d| u32::try_from(d).ok())
        .filter(|d| RETENTION_DAYS.contains(d))
        .ok_or_else(|| {
            let given = r
                .retention_in_days
                .map_or_else(|| "null".to_string(), |d| d.to_string());
            let set = RETENTION_DAYS.map(|d| d.to_string()).join(", ");
            invalid(format!(
                "1 validation error detected: Value '{given}' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set: [{set}]"
            ))
        })?;
    set_retention(app, &name, Some(days)).await
}

async fn delete_retention(app: &App, input: Value) -> Result<Value> {
    let r: GroupRequest = parse(input)?;
    let name = group_of(r.log_group_name, r.log_group_identifier)?;
    set_retention(app, &name, None).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeGroups {
    log_group_name_prefix: Option<String>,
    limit: Option<i64>,
    next_token: Option<String>,
}

async fn describe_groups(app: &App, ctx: &Ctx, input: Value) -> Result<Value> {
    let r: DescribeGroups = parse(input)?;
    let n = limit(r.limit, 50, "limit")?;
    let after = r.next_token.as_deref().map(token_decode).transpose()?;
    let mut page = app
        .log_queries
        .log_groups(r.log_group_name_prefix.as_deref(), after.as_deref(), n + 1)
        .await?;
    let more = page.len() > n;
    page.truncate(n);
    let groups: Vec<Value> = page
        .iter()
        .map(|g| {
            let arn = group_arn(ctx, app, &g.name);
            json!({
                "logGroupName": g.name,
                "creationTime": g.created_ms,
                "retentionInDays": g.retention_days.unwrap_or(app.log_retention_days),
                "metricFilterCount": 0,
                "arn": format!("{arn}:*"),
                "logGroupArn": arn,
                "storedBytes": g.bytes,
                "logGroupClass": "STANDARD",
            })
        })
        .collect();
    let mut out = json!({ "logGroups": groups });
    if let (true, Some(last)) = (more, page.last()) {
        out["nextToken"] = json!(token_encode(&last.name));
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeStreams {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_name_prefix: Option<String>,
    order_by: Option<String>,
    descending: Option<bool>,
    limit: Option<i64>,
    next_token: Option<String>,
}

async fn describe_streams(app: &App, ctx: &Ctx, input: Value) -> Result<Value> {
    let r: DescribeStreams = parse(input)?;
    let group = group_of(r.log_group_name, r.log_group_identifier)?;
    let n = limit(r.limit, 50, "limit")?;
    let order = match r.order_by.as_deref() {
        None | Some("LogStreamName") => StreamOrder::Name,
        Some("LastEventTime") => StreamOrder::LastEvent,
        Some(o) => {
            return Err(invalid(format!(
                "1 validation error detected: Value '{o}' at 'orderBy' failed to satisfy constraint: Member must satisfy enum value set: [LogStreamName, LastEventTime]"
            )))
        }
    };
    if order == StreamOrder::LastEvent && r.log_stream_name_prefix.is_some() {
        // AWS compat: the Logs API's refusal of the combination.
        return Err(invalid(
            "Cannot order by LastEventTime with a logStreamNamePrefix.",
        ));
    }
    group_exists(app, &group).await?;
    let offset = match r.next_token.as_deref() {
        None => 0,
        Some(t) => token_decode(t)?
            .parse::<usize>()
            .map_err(|_| invalid("The specified nextToken is invalid."))?,
    };
    let mut page = app
        .log_queries
        .log_streams(
            &group,
            r.log_stream_name_prefix.as_deref(),
            order,
            r.descending.unwrap_or(false),
            offset,
            n + 1,
        )
        .await?;
    let more = page.len() > n;
    page.truncate(n);
    let arn = group_arn(ctx, app, &group);
    let streams: Vec<Value> = page
        .iter()
        .map(|s| {
            let mut v = json!({
                "logStreamName": s.name,
                "creationTime": s.created_ms,
                "uploadSequenceToken": "1",
                "arn": format!("{arn}:log-stream:{}", s.name),
                "storedBytes": 0,
            });
            // AWS compat: a stream with no event yet has no event times.
            if !s.is_empty() {
                v["firstEventTimestamp"] = json!(s.first_ms);
                v["lastEventTimestamp"] = json!(s.last_ms);
                v["lastIngestionTime"] = json!(s.ingested_ms);
            }
            v
        })
        .collect();
    let mut out = json!({ "logStreams": streams });
    if more {
        out["nextToken"] = json!(token_encode(&(offset + n).to_string()));
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetEvents {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_name: Option<String>,
    start_time: Option<i64>,
    end_time: Option<i64>,
    next_token: Option<String>,
    limit: Option<i64>,
    start_from_head: Option<bool>,
}

/// GetLogEvents' tokens: `f/<id>` (what comes after event `id`) and `b/<id>` (what comes
/// before it), zero-padded as AWS's are long digit strings.
fn event_token(dir: char, id: i64) -> String {
    format!("{dir}/{id:056}")
}

async fn get_events(app: &App, input: Value) -> Result<Value> {
    let r: GetEvents = parse(input)?;
    let group = group_of(r.log_group_name, r.log_group_identifier)?;
    let Some(stream) = r.log_stream_name else {
        return Err(invalid(
            "1 validation error detected: Value null at 'logStreamName' failed to satisfy constraint: Member must not be null",
        ));
    };
    let n = limit(r.limit, 10_000, "limit")?;
    group_exists(app, &group).await?;
    let known = app
        .log_queries
        .log_streams(&group, Some(&stream), StreamOrder::Name, false, 0, 1)
        .await?;
    if known.first().is_none_or(|s| s.name != stream) {
        return Err(LogsError {
            kind: "ResourceNotFoundException",
            message: "The specified log stream does not exist.".into(),
        });
    }
    let mut q = EventQuery {
        streams: Some(vec![stream]),
        start_ms: r.start_time,
        end_ms: r.end_time,
        ..EventQuery::default()
    };
    let token = r.next_token.as_deref();
    let (forward_from, backward_from) = match token.map(|t| t.split_once('/')) {
        None => {
            q.newest = !r.start_from_head.unwrap_or(false);
            (None, None)
        }
        Some(Some(("f", id))) => {
            let id = id
                .parse::<i64>()
                .map_err(|_| invalid("The specified nextToken is invalid."))?;
            q.after_id = Some(id);
            (Some(id), None)
        }
        Some(Some(("b", id))) => {
            let id = id
                .parse::<i64>()
                .map_err(|_| invalid("The specified nextToken is invalid."))?;
            q.before_id = Some(id);
            q.newest = true;
            (None, Some(id))
        }
        Some(_) => return Err(invalid("The specified nextToken is invalid.")),
    };
    let events = app.log_queries.log_events(&group, &q, n).await?;
    // At the end in a direction, the token given comes back (the CLI and SDKs stop on it).
    let forward = events
        .last()
        .map(|e| e.id)
        .or(forward_from)
        .or(backward_from.map(|b| b - 1))
        .unwrap_or(0);
    let backward = events
        .first()
        .map(|e| e.id)
        .or(backward_from)
        .or(forward_from.map(|f| f + 1))
        .unwrap_or(0);
    Ok(json!({
        "events": events.iter().map(|e| json!({
            "timestamp": e.timestamp_ms,
            "message": e.message,
            "ingestionTime": e.timestamp_ms,
        })).collect::<Vec<_>>(),
        "nextForwardToken": event_token('f', forward),
        "nextBackwardToken": event_token('b', backward),
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FilterEvents {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_names: Option<Vec<String>>,
    log_stream_name_prefix: Option<String>,
    start_time: Option<i64>,
    end_time: Option<i64>,
    filter_pattern: Option<String>,
    next_token: Option<String>,
    limit: Option<i64>,
}

async fn filter_events(app: &App, input: Value) -> Result<Value> {
    let r: FilterEvents = parse(input)?;
    let group = group_of(r.log_group_name, r.log_group_identifier)?;
    if r.log_stream_names.is_some() && r.log_stream_name_prefix.is_some() {
        return Err(invalid(
            "logStreamNames and logStreamNamePrefix are mutually exclusive parameters.",
        ));
    }
    if r.log_stream_names
        .as_ref()
        .is_some_and(|n| n.is_empty() || n.len() > 100)
    {
        // AWS compat: the model's 1-100.
        return Err(invalid(
            "1 validation error detected: Value at 'logStreamNames' failed to satisfy constraint: Member must have length less than or equal to 100 and greater than or equal to 1",
        ));
    }
    let n = limit(r.limit, 10_000, "limit")?;
    let pattern = FilterPattern::parse(r.filter_pattern.as_deref().unwrap_or(""))
        .map_err(|e| invalid(e.to_string()))?;
    group_exists(app, &group).await?;
    let after_id = r
        .next_token
        .as_deref()
        .map(|t| {
            token_decode(t)?
                .parse::<i64>()
                .map_err(|_| invalid("The specified nextToken is invalid."))
        })
        .transpose()?;
    let q = EventQuery {
        streams: r.log_stream_names,
        stream_prefix: r.log_stream_name_prefix,
        start_ms: r.start_time,
        end_ms: r.end_time,
        after_id,
        ..EventQuery::default()
    };
    let scanned = app
        .log_queries
        .log_events(&group, &q, SCAN_LIMIT.max(n))
        .await?;
    let full = scanned.len() >= SCAN_LIMIT.max(n);
    let mut matched = Vec::new();
    let mut last_seen = None;
    for e in &scanned {
        last_seen = Some(e.id);
        if pattern.matches(&e.message) {
            matched.push(e);
            if matched.len() == n {
                break;
            }
        }
    }
    let more = full || (matched.len() == n && last_seen != scanned.last().map(|e| e.id));
    let mut out = json!({
        "events": matched.iter().map(|e| json!({
            "logStreamName": e.stream,
            "timestamp": e.timestamp_ms,
            "message": e.message,
            "ingestionTime": e.timestamp_ms,
            "eventId": format!("{:056}", e.id),
        })).collect::<Vec<_>>(),
        "searchedLogStreams": [],
    });
    if let (true, Some(id)) = (more, last_seen) {
        out["nextToken"] = json!(token_encode(&id.to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod put_tests {
    use super::*;

    #[test]
    fn rejected_events_are_counted_by_index() {
        let now = 100 * 86_400_000;
        let day = 86_400_000;
        let times = [
            now - 15 * day,
            now - 10 * day,
            now - day,
            now,
            now + 3 * 3_600_000,
        ];
        // No retention: only the 14-day and 2-hour bounds.
        assert_eq!(rejected(&times, now, None), (1, 0, 4));
        // A 7-day retention expires the 10-day-old event too.
        assert_eq!(rejected(&times, now, Some(7)), (1, 2, 4));
        assert_eq!(rejected(&[now], now, Some(1)), (0, 0, 1));
    }
}
