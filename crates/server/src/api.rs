//! The Lambda REST API: one module per operation, named after it, and the helpers they share.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nimbus_model::{function_arn, Function, FunctionRef, LambdaError, NameShape};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::request::Ctx;

pub(crate) mod add_permission;
pub(crate) mod code_location;
pub(crate) mod create_alias;
pub(crate) mod create_event_source_mapping;
pub(crate) mod create_function;
pub(crate) mod create_function_url_config;
pub(crate) mod delete_alias;
pub(crate) mod delete_event_source_mapping;
pub(crate) mod delete_function;
pub(crate) mod delete_function_concurrency;
pub(crate) mod delete_function_event_invoke_config;
pub(crate) mod delete_function_url_config;
pub(crate) mod delete_provisioned_concurrency_config;
pub(crate) mod function_recursion_config;
pub(crate) mod get_account_settings;
pub(crate) mod get_alias;
pub(crate) mod get_event_source_mapping;
pub(crate) mod get_function;
pub(crate) mod get_function_concurrency;
pub(crate) mod get_function_configuration;
pub(crate) mod get_function_event_invoke_config;
pub(crate) mod get_function_url_config;
pub(crate) mod get_policy;
pub(crate) mod get_provisioned_concurrency_config;
pub(crate) mod invoke;
pub(crate) mod invoke_async;
pub(crate) mod invoke_with_response_stream;
pub(crate) mod list_aliases;
pub(crate) mod list_event_source_mappings;
pub(crate) mod list_function_event_invoke_configs;
pub(crate) mod list_function_url_configs;
pub(crate) mod list_functions;
pub(crate) mod list_tags;
pub(crate) mod list_versions_by_function;
pub(crate) mod publish_version;
pub(crate) mod put_function_concurrency;
pub(crate) mod put_function_event_invoke_config;
pub(crate) mod put_provisioned_concurrency_config;
pub(crate) mod remove_permission;
pub(crate) mod sts;
pub(crate) mod tag_resource;
pub(crate) mod untag_resource;
pub(crate) mod update_alias;
pub(crate) mod update_event_source_mapping;
pub(crate) mod update_function_code;
pub(crate) mod update_function_configuration;
pub(crate) mod update_function_event_invoke_config;
pub(crate) mod update_function_url_config;

/// Parses a JSON request body; an empty body reads as `{}`.
pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| {
        LambdaError::new(
            nimbus_model::ErrorCode::InvalidRequestContent,
            format!("Could not parse request body into json: {e}"),
        )
        .into()
    })
}

/// Bodies larger than this are parsed and decoded on the blocking pool: a 50 MB package takes
/// milliseconds, which the event loop owes to every other request.
const OFF_LOOP_BYTES: usize = 64 * 1024;

/// [`parse_json`], off the event loop for large bodies.
pub(crate) async fn parse_json_async<T: DeserializeOwned + Send + 'static>(
    body: axum::body::Bytes,
) -> ApiResult<T> {
    if body.len() <= OFF_LOOP_BYTES {
        return parse_json(&body);
    }
    tokio::task::spawn_blocking(move || parse_json(&body))
        .await
        .map_err(crate::error::ApiError::internal)?
}

/// A JSON response with `status`.
pub(crate) fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    (status, axum::Json(body)).into_response()
}

/// Decoded query parameters (`+` is a space, as for the signature), in order, repeated keys
/// kept. Behind the middleware the query is already canonical ([`crate::target`]): sorted, so
/// the order a client sent cannot change which of repeated values a handler takes.
pub(crate) fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The first value of query parameter `key`.
pub(crate) fn query_param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A function reference from a path, checked against the caller's region and our account, with
/// the `Qualifier` query parameter merged in.
pub(crate) fn function_ref(
    app: &App,
    ctx: &Ctx,
    name: &str,
    shape: NameShape,
    qualifier: Option<&str>,
) -> ApiResult<FunctionRef> {
    let r = FunctionRef::parse(name, shape)?;
    r.check_scope(&ctx.region, &app.account)?;
    Ok(r.with_qualifier(qualifier)?)
}

/// The function an operation that takes no version or alias names (Lambda's message for a
/// qualified one).
pub(crate) fn unqualified_ref(app: &App, ctx: &Ctx, name: &str) -> ApiResult<FunctionRef> {
    let r = function_ref(app, ctx, name, NameShape::Create, None)?;
    if r.qualifier.is_some() {
        return Err(LambdaError::invalid_parameter(
            "This operation is permitted on Lambda functions only. Aliases and versions do not support this operation. Please specify either a function name or an unqualified function ARN.",
        )
        .into());
    }
    Ok(r)
}

/// The function a `{FunctionName}` path segment and its `?Qualifier=` name (the
/// `NamespacedFunctionName` shape of Get*, Delete* and Invoke).
pub(crate) fn qualified_ref(
    app: &App,
    ctx: &Ctx,
    name: &str,
    query: Option<&str>,
) -> ApiResult<FunctionRef> {
    let q = query_pairs(query);
    function_ref(
        app,
        ctx,
        name,
        NameShape::Namespaced,
        query_param(&q, "Qualifier"),
    )
}

/// Page markers: opaque to clients, base64 of what the listing resumes after.
const MARKER: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The marker of a page that ends at `last`.
pub(crate) fn encode_marker(last: &str) -> String {
    base64::Engine::encode(&MARKER, last.as_bytes())
}

/// The `Marker` query parameter of `operation`'s listing, decoded (`None`: the first page).
pub(crate) fn decode_marker(
    pairs: &[(String, String)],
    operation: &str,
) -> ApiResult<Option<String>> {
    match query_param(pairs, "Marker").filter(|m| !m.is_empty()) {
        None => Ok(None),
        Some(m) => base64::Engine::decode(&MARKER, m)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .map(Some)
            .ok_or_else(|| {
                LambdaError::invalid_parameter(format!(
                    "Invalid Marker: it must be a NextMarker returned by {operation}."
                ))
                .into()
            }),
    }
}

/// Checks that the function `r` names exists (404 naming the function) and, if `r` is
/// qualified, its version or alias (404 naming the qualified ARN).
pub(crate) async fn ensure_exists(app: &App, ctx: &Ctx, r: &FunctionRef) -> ApiResult<()> {
    match existence(app, r).await? {
        None => Err(not_found(app, ctx, &unqualified(r))),
        Some(false) => Err(not_found(app, ctx, r)),
        Some(true) => Ok(()),
    }
}

/// What of `r` exists: `None`, no function; `Some(false)`, the function but not the version
/// or alias `r` names; `Some(true)`, both.
pub(crate) async fn existence(app: &App, r: &FunctionRef) -> ApiResult<Option<bool>> {
    let Some(latest) = app.store.get_function(&r.name).await? else {
        return Ok(None);
    };
    Ok(Some(
        version_record(app, &latest, r.qualifier.as_deref())
            .await?
            .is_some(),
    ))
}

/// The record `qualifier` of function `latest` names: `$LATEST` itself, a published version,
/// or the version an alias routes to first; `None` if it is not there.
pub(crate) async fn version_record(
    app: &App,
    latest: &Function,
    qualifier: Option<&str>,
) -> Result<Option<Function>, nimbus_store::StoreError> {
    let name = &latest.name;
    Ok(match Qualifier::of(qualifier) {
        Qualifier::Latest => Some(latest.clone()),
        Qualifier::Version(n) => app.store.get_version(name, n).await?,
        Qualifier::Alias(a) => match app.store.get_alias(name, a).await? {
            None => None,
            Some(alias) => match Qualifier::of(Some(&alias.function_version)) {
                Qualifier::Version(n) => app.store.get_version(name, n).await?,
                _ => Some(latest.clone()),
            },
        },
    })
}

/// `r` without its qualifier: the function itself.
pub(crate) fn unqualified(r: &FunctionRef) -> FunctionRef {
    FunctionRef {
        qualifier: None,
        ..r.clone()
    }
}

/// `Function not found: <arn>[:<qualifier>]`.
pub(crate) fn not_found(app: &App, ctx: &Ctx, r: &FunctionRef) -> ApiError {
    let mut arn = function_arn(&ctx.region, &app.account, &r.name);
    if let Some(q) = &r.qualifier {
        arn.push(':');
        arn.push_str(q);
    }
    LambdaError::not_found(format!("Function not found: {arn}")).into()
}

/// What a qualifier names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Qualifier<'a> {
    /// None, or `$LATEST`.
    Latest,
    /// A published version's number.
    Version(u32),
    /// Anything else: an alias's name (a number too large for a version is no version).
    Alias(&'a str),
}

impl<'a> Qualifier<'a> {
    pub(crate) fn of(q: Option<&'a str>) -> Self {
        match q {
            None | Some("$LATEST") => Self::Latest,
            Some(q) if !q.is_empty() && q.bytes().all(|b| b.is_ascii_digit()) => {
                q.parse().map_or(Self::Alias(q), Self::Version)
            }
            Some(q) => Self::Alias(q),
        }
    }
}

/// Loads the `$LATEST` function a reference names. Only `$LATEST` is found: any other
/// qualifier is not there (see [`load_qualified`] for operations that take versions).
pub(crate) async fn load_latest(app: &App, ctx: &Ctx, r: &FunctionRef) -> ApiResult<Function> {
    if r.qualifier.as_deref().is_some_and(|q| q != "$LATEST") {
        return Err(not_found(app, ctx, r));
    }
    app.store
        .get_function(&r.name)
        .await?
        .ok_or_else(|| not_found(app, ctx, r))
}

/// The function a reference names and, for a qualified one, the version it names: `$LATEST`
/// and that record again, or `$LATEST` and the published version.
pub(crate) async fn load_qualified(
    app: &App,
    ctx: &Ctx,
    r: &FunctionRef,
) -> ApiResult<(Function, Function)> {
    let latest = app
        .store
        .get_function(&r.name)
        .await?
        .ok_or_else(|| not_found(app, ctx, r))?;
    let f = version_record(app, &latest, r.qualifier.as_deref())
        .await?
        .ok_or_else(|| not_found(app, ctx, r))?;
    Ok((latest, f))
}

/// The configuration of `f` as the reference `r` asked for it: through an alias, the version
/// it routes to, its ARN qualified with the alias.
pub(crate) fn configuration_for(
    app: &App,
    ctx: &Ctx,
    r: &FunctionRef,
    f: &Function,
) -> nimbus_model::FunctionConfiguration {
    let mut c = f.configuration_as(&ctx.region, &app.account, f.version);
    if let Qualifier::Alias(a) = Qualifier::of(r.qualifier.as_deref()) {
        c.function_arn = format!("{}:{a}", function_arn(&ctx.region, &app.account, &r.name));
    }
    c
}

/// `Tags` member of GetFunction: present only when there are some.
pub(crate) fn tags_member(tags: &BTreeMap<String, String>) -> Option<&BTreeMap<String, String>> {
    (!tags.is_empty()).then_some(tags)
}
