//! EventBridge Scheduler's API (rest-json, signing name `scheduler`), on the server's own
//! listener: `aws scheduler --endpoint-url` and `boto3.client("scheduler")` work as against
//! AWS. Schedules, schedule groups (the `default` one always there) and group tags.
//!
//! AWS compat: errors carry `Message` (capital M) and their type in `x-amzn-ErrorType`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use nimbus_model::scheduler::{
    group_arn, validate_name, Place, ScheduleGroup, ScheduleRequest, ScheduleState, DEFAULT_GROUP,
};
use nimbus_model::{ErrorCode, LambdaError, ValidationErrors};
use nimbus_store::StoreError;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::{query_pairs, query_param};
use crate::app::App;
use crate::error::{ApiError, InternalDetail};
use crate::request::Ctx;

/// Whether `path` is one of Scheduler's (its requests are signed for `scheduler`).
pub(crate) fn is_scheduler(path: &str) -> bool {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    matches!(first, "schedules" | "schedule-groups" | "tags")
}

/// An error in Scheduler's shape.
pub(crate) struct SchedulerError(ApiError);

impl<E: Into<ApiError>> From<E> for SchedulerError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for SchedulerError {
    fn into_response(self) -> Response {
        let (status, kind, message, detail) = match self.0 {
            ApiError::Lambda(e) => (e.code.status(), e.code.type_name(), e.message, None),
            ApiError::Internal(d) => (
                500,
                "InternalServerException",
                "Unexpected error occurred while processing the request".to_string(),
                Some(d),
            ),
        };
        let mut resp = (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            axum::Json(json!({ "Message": message })),
        )
            .into_response();
        resp.headers_mut()
            .insert("x-amzn-ErrorType", HeaderValue::from_static(kind));
        if let Some(d) = detail {
            resp.extensions_mut().insert(InternalDetail(d));
        }
        resp
    }
}

type Result<T> = std::result::Result<T, SchedulerError>;

fn ok(body: Value) -> Response {
    (StatusCode::OK, axum::Json(body)).into_response()
}

fn err(code: ErrorCode, message: String) -> SchedulerError {
    SchedulerError(LambdaError::new(code, message).into())
}

fn no_schedule(name: &str) -> SchedulerError {
    err(
        ErrorCode::ResourceNotFound,
        format!("Schedule {name} does not exist."),
    )
}

fn no_group(name: &str) -> SchedulerError {
    err(
        ErrorCode::ResourceNotFound,
        format!("Schedule group {name} does not exist."),
    )
}

fn default_group_refused() -> SchedulerError {
    err(
        ErrorCode::Validation,
        format!("This operation cannot be performed on schedule group {DEFAULT_GROUP}."),
    )
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| {
        err(
            ErrorCode::Validation,
            format!("Could not parse the request body: {e}"),
        )
    })
}

fn group_query(query: Option<&str>, key: &str) -> Result<String> {
    let pairs = query_pairs(query);
    let group = query_param(&pairs, key)
        .unwrap_or(DEFAULT_GROUP)
        .to_string();
    validate_name(&group, "groupName")?;
    Ok(group)
}

fn place<'a>(app: &'a App, ctx: &'a Ctx) -> Place<'a> {
    Place {
        region: &ctx.region,
        account: &app.account,
        now_ms: app.scheduler.clock.now_ms(),
    }
}

async fn require_group(app: &App, group: &str) -> Result<()> {
    match app.schedules.get_group(group).await? {
        Some(_) => Ok(()),
        None => Err(no_group(group)),
    }
}

/// CreateSchedule: `POST /schedules/{Name}`.
pub(crate) async fn create_schedule(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let req: ScheduleRequest = parse(&body)?;
    let s = req.schedule(&name, place(&app, &ctx), None)?;
    require_group(&app, &s.group).await?;
    // From the very instant it was made at (a rate schedule's first time).
    let due = super::first_due(&s, s.modified_ms);
    match app.schedules.create_schedule(&s, due).await {
        Ok(()) => {}
        Err(StoreError::AlreadyExists(_)) => {
            return Err(err(
                ErrorCode::Conflict,
                format!("Schedule {name} already exists."),
            ))
        }
        Err(StoreError::NotFound(_)) => return Err(no_group(&s.group)),
        Err(e) => return Err(e.into()),
    }
    app.scheduler.changed();
    Ok(ok(json!({ "ScheduleArn": s.arn() })))
}

/// UpdateSchedule: `PUT /schedules/{Name}`; the schedule is replaced whole (what the request
/// leaves out takes its default), and its next time computed afresh.
pub(crate) async fn update_schedule(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let req: ScheduleRequest = parse(&body)?;
    let group = req.group_name.as_deref().unwrap_or(DEFAULT_GROUP);
    validate_name(group, "groupName")?;
    let Some((old, _)) = app.schedules.get_schedule(group, &name).await? else {
        require_group(&app, group).await?;
        return Err(no_schedule(&name));
    };
    let s = req.schedule(&name, place(&app, &ctx), Some(&old))?;
    let due = super::first_due(&s, s.modified_ms);
    match app.schedules.update_schedule(&s, due).await {
        Ok(()) => {}
        Err(StoreError::NotFound(_)) => return Err(no_schedule(&name)),
        Err(e) => return Err(e.into()),
    }
    app.scheduler.changed();
    Ok(ok(json!({ "ScheduleArn": s.arn() })))
}

/// GetSchedule: `GET /schedules/{Name}?groupName=`.
pub(crate) async fn get_schedule(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response> {
    validate_name(&name, "name")?;
    let group = group_query(query.as_deref(), "groupName")?;
    match app.schedules.get_schedule(&group, &name).await? {
        Some((s, _)) => Ok(ok(s.wire())),
        None => {
            require_group(&app, &group).await?;
            Err(no_schedule(&name))
        }
    }
}

/// DeleteSchedule: `DELETE /schedules/{Name}?groupName=`.
pub(crate) async fn delete_schedule(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response> {
    validate_name(&name, "name")?;
    let group = group_query(query.as_deref(), "groupName")?;
    if !app.schedules.delete_schedule(&group, &name).await? {
        require_group(&app, &group).await?;
        return Err(no_schedule(&name));
    }
    app.scheduler.changed();
    Ok(ok(json!({})))
}

/// A page marker: what the listing resumes after.
fn marker(pairs: &[(String, String)]) -> Result<Option<String>> {
    match query_param(pairs, "NextToken").filter(|m| !m.is_empty()) {
        None => Ok(None),
        Some(m) => base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, m)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .map(Some)
            .ok_or_else(|| err(ErrorCode::Validation, "Invalid NextToken".into())),
    }
}

fn next_token(last: &str) -> String {
    base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        last.as_bytes(),
    )
}

/// MaxResults (1–100, default 100).
fn max_results(pairs: &[(String, String)]) -> Result<usize> {
    let Some(v) = query_param(pairs, "MaxResults") else {
        return Ok(100);
    };
    match v.parse::<i64>() {
        Ok(n) if (1..=100).contains(&n) => Ok(n as usize),
        _ => {
            let mut e = ValidationErrors::default();
            e.push(
                v,
                "maxResults",
                "Member must have value less than or equal to 100 and greater than or equal to 1",
            );
            e.finish()?;
            Ok(100)
        }
    }
}

/// ListSchedules: `GET /schedules?ScheduleGroup=&NamePrefix=&State=&MaxResults=&NextToken=`;
/// every group's when none is named.
pub(crate) async fn list_schedules(
    State(app): State<Arc<App>>,
    RawQuery(query): RawQuery,
) -> Result<Response> {
    let pairs = query_pairs(query.as_deref());
    let group = query_param(&pairs, "ScheduleGroup");
    if let Some(g) = group {
        validate_name(g, "groupName")?;
    }
    let prefix = query_param(&pairs, "NamePrefix");
    if let Some(p) = prefix {
        validate_name(p, "namePrefix")?;
    }
    let state = match query_param(&pairs, "State") {
        None => None,
        Some(s) => Some(ScheduleState::parse(s).ok_or_else(|| {
            err(
                ErrorCode::Validation,
                format!("1 validation error detected: Value '{s}' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED]"),
            )
        })?),
    };
    let limit = max_results(&pairs)?;
    let after = marker(&pairs)?;
    let after = after.as_deref().and_then(|m| m.split_once('/'));
    if let Some(g) = group {
        require_group(&app, g).await?;
    }
    let mut page = app
        .schedules
        .list_schedules(group, prefix, state, after, limit + 1)
        .await?;
    let more = page.len() > limit;
    page.truncate(limit);
    let mut out = json!({ "Schedules": page.iter().map(|s| s.summary()).collect::<Vec<_>>() });
    if let (true, Some(last)) = (more, page.last()) {
        out["NextToken"] = json!(next_token(&format!("{}/{}", last.group, last.name)));
    }
    Ok(ok(out))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagItem {
    key: Option<String>,
    value: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GroupRequest {
    tags: Option<Vec<TagItem>>,
    #[allow(dead_code)]
    client_token: Option<String>,
}

fn tags_of(items: &[TagItem]) -> Result<BTreeMap<String, String>> {
    let mut errors = ValidationErrors::default();
    if items.len() > 200 {
        errors.push_raw("Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 200");
    }
    let mut out = BTreeMap::new();
    for (i, t) in items.iter().enumerate() {
        let n = i + 1;
        match (&t.key, &t.value) {
            (Some(k), Some(v)) => {
                if k.is_empty() || k.chars().count() > 128 {
                    errors.push(k, &format!("tags.{n}.member.key"), "Member must have length less than or equal to 128 and greater than or equal to 1");
                }
                if v.is_empty() || v.chars().count() > 256 {
                    errors.push(v, &format!("tags.{n}.member.value"), "Member must have length less than or equal to 256 and greater than or equal to 1");
                }
                out.insert(k.clone(), v.clone());
            }
            (None, _) => errors.push_null(&format!("tags.{n}.member.key")),
            (_, None) => errors.push_null(&format!("tags.{n}.member.value")),
        }
    }
    errors.finish()?;
    Ok(out)
}

fn tag_list(tags: &BTreeMap<String, String>) -> Value {
    Value::Array(
        tags.iter()
            .map(|(k, v)| json!({ "Key": k, "Value": v }))
            .collect(),
    )
}

/// CreateScheduleGroup: `POST /schedule-groups/{Name}`.
pub(crate) async fn create_group(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response> {
    validate_name(&name, "name")?;
    let req: GroupRequest = parse(&body)?;
    let tags = tags_of(req.tags.as_deref().unwrap_or_default())?;
    if name == DEFAULT_GROUP {
        return Err(default_group_refused());
    }
    let now = app.scheduler.clock.now_ms();
    let g = ScheduleGroup {
        name: name.clone(),
        region: ctx.region.clone(),
        account: app.account.clone(),
        created_ms: now,
        modified_ms: now,
        tags,
    };
    match app.schedules.create_group(&g).await {
        Ok(()) => Ok(ok(json!({ "ScheduleGroupArn": g.arn() }))),
        Err(StoreError::AlreadyExists(_)) => Err(err(
            ErrorCode::Conflict,
            format!("Schedule group {name} already exists."),
        )),
        Err(e) => Err(e.into()),
    }
}

/// A group as `ctx` sees it: the default group, every region's, in the caller's.
fn shown(mut g: ScheduleGroup, ctx: &Ctx) -> Value {
    if g.region.is_empty() {
        g.region.clone_from(&ctx.region);
    }
    g.wire()
}

/// GetScheduleGroup: `GET /schedule-groups/{Name}`.
pub(crate) async fn get_group(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
) -> Result<Response> {
    validate_name(&name, "name")?;
    match app.schedules.get_group(&name).await? {
        Some(g) => Ok(ok(shown(g, &ctx))),
        None => Err(no_group(&name)),
    }
}

/// DeleteScheduleGroup: `DELETE /schedule-groups/{Name}`; its schedules go with it, at once.
pub(crate) async fn delete_group(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
) -> Result<Response> {
    validate_name(&name, "name")?;
    if name == DEFAULT_GROUP {
        return Err(default_group_refused());
    }
    if !app.schedules.delete_group(&name).await? {
        return Err(no_group(&name));
    }
    app.scheduler.changed();
    Ok(ok(json!({})))
}

/// ListScheduleGroups: `GET /schedule-groups?NamePrefix=&MaxResults=&NextToken=`.
pub(crate) async fn list_groups(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    RawQuery(query): RawQuery,
) -> Result<Response> {
    let pairs = query_pairs(query.as_deref());
    let prefix = query_param(&pairs, "NamePrefix");
    if let Some(p) = prefix {
        validate_name(p, "namePrefix")?;
    }
    let limit = max_results(&pairs)?;
    let after = marker(&pairs)?;
    let mut page = app
        .schedules
        .list_groups(prefix, after.as_deref(), limit + 1)
        .await?;
    let more = page.len() > limit;
    page.truncate(limit);
    let last = page.last().map(|g| g.name.clone());
    let mut out = json!({
        "ScheduleGroups": page.into_iter().map(|g| shown(g, &ctx)).collect::<Vec<_>>()
    });
    if let (true, Some(last)) = (more, last) {
        out["NextToken"] = json!(next_token(&last));
    }
    Ok(ok(out))
}

/// The group a tagging request's ARN names (schedule groups are the only taggable kind).
async fn tagged_group(app: &App, ctx: &Ctx, arn: &str) -> Result<ScheduleGroup> {
    let name = arn
        .rsplit_once(":schedule-group/")
        .map(|(_, n)| n)
        .filter(|n| group_arn(&ctx.region, &app.account, n) == arn)
        .ok_or_else(|| {
            err(
                ErrorCode::Validation,
                format!("1 validation error detected: Value '{arn}' at 'resourceArn' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:aws[a-z-]*:scheduler:[a-z0-9\\-]+:\\d{{12}}:schedule-group\\/[0-9a-zA-Z-_.]+"),
            )
        })?;
    app.schedules
        .get_group(name)
        .await?
        .ok_or_else(|| no_group(name))
}

/// Stores a group's new tags (it may have been deleted meanwhile).
async fn save_tags(app: &App, g: &ScheduleGroup) -> Result<Response> {
    match app.schedules.update_group(g).await {
        Ok(()) => Ok(ok(json!({}))),
        Err(StoreError::NotFound(_)) => Err(no_group(&g.name)),
        Err(e) => Err(e.into()),
    }
}

/// TagResource: `POST /tags/{ResourceArn}`.
pub(crate) async fn tag_resource(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(arn): Path<String>,
    body: Bytes,
) -> Result<Response> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Req {
        tags: Option<Vec<TagItem>>,
    }
    let req: Req = parse(&body)?;
    let Some(items) = req.tags else {
        return Err(err(
            ErrorCode::Validation,
            "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null".into(),
        ));
    };
    let add = tags_of(&items)?;
    let mut g = tagged_group(&app, &ctx, &arn).await?;
    g.tags.extend(add);
    if g.tags.len() > 200 {
        return Err(err(
            ErrorCode::Validation,
            "A schedule group can have at most 200 tags.".into(),
        ));
    }
    save_tags(&app, &g).await
}

/// UntagResource: `DELETE /tags/{ResourceArn}?TagKeys=...`.
pub(crate) async fn untag_resource(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(arn): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response> {
    let pairs = query_pairs(query.as_deref());
    let mut g = tagged_group(&app, &ctx, &arn).await?;
    for (k, v) in &pairs {
        if k == "TagKeys" {
            g.tags.remove(v);
        }
    }
    save_tags(&app, &g).await
}

/// ListTagsForResource: `GET /tags/{ResourceArn}`.
pub(crate) async fn list_tags(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(arn): Path<String>,
) -> Result<Response> {
    let g = tagged_group(&app, &ctx, &arn).await?;
    Ok(ok(json!({ "Tags": tag_list(&g.tags) })))
}
