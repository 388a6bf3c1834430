//! CreateFunctionUrlConfig: `POST /2021-10-31/functions/{FunctionName}/url`, and what the
//! function URL operations share.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use nimbus_model::url::{check_qualifier, FunctionUrlConfig, UrlConfigRequest, URL_ID_LEN};
use nimbus_model::{function_arn, FunctionRef, LambdaError, NameShape};
use nimbus_store::StoreError;
use rand::Rng;
use serde_json::json;

use crate::api::{ensure_exists, function_ref, json, parse_json, query_pairs, query_param};
use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::request::Ctx;

/// The function and qualifier (an alias, or none) a URL operation names, the qualifier
/// checked as URLs constrain it: never `$LATEST` nor a version number.
pub(crate) fn url_ref(
    app: &App,
    ctx: &Ctx,
    name: &str,
    query: Option<&str>,
) -> ApiResult<FunctionRef> {
    let q = query_pairs(query);
    let given = query_param(&q, "Qualifier");
    if let Some(q) = given {
        check_qualifier(q)?;
    }
    let r = function_ref(app, ctx, name, NameShape::Namespaced, given)?;
    // A qualifier in the name (`name:alias`) meets the same rule.
    if let Some(q) = r.qualifier.as_deref() {
        check_qualifier(q)?;
    }
    Ok(r)
}

/// The ARN a URL configuration names: the function's, qualified with its alias.
pub(crate) fn url_function_arn(app: &App, region: &str, u: &FunctionUrlConfig) -> String {
    let mut arn = function_arn(region, &app.account, &u.function);
    if !u.qualifier.is_empty() {
        arn.push(':');
        arn.push_str(&u.qualifier);
    }
    arn
}

/// AWS compat: a URL configuration that is not there.
pub(crate) fn url_missing() -> ApiError {
    LambdaError::not_found("The resource you requested does not exist.").into()
}

/// Now, as URL configurations carry times: ISO 8601 with microseconds, UTC.
pub(crate) fn url_time() -> String {
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    time::OffsetDateTime::now_utc()
        .format(&f)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000000Z".to_string())
}

fn new_url_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..URL_ID_LEN)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let req: UrlConfigRequest = parse_json(&body)?;
    let settings = req.settings(true)?;
    // AWS compat: Create echoes InvokeMode only when it was given.
    let mode_given = settings.invoke_mode.is_some();
    let r = url_ref(&app, &ctx, &name, query.as_deref())?;
    ensure_exists(&app, &ctx, &r).await?;
    let qualifier = r.qualifier.clone().unwrap_or_default();
    let now = url_time();
    let mut url = FunctionUrlConfig {
        function: r.name.clone(),
        qualifier,
        url_id: new_url_id(),
        region: ctx.region.clone(),
        auth_type: settings
            .auth_type
            .ok_or_else(|| LambdaError::required("authType"))?,
        cors: settings.cors,
        invoke_mode: settings.invoke_mode.unwrap_or_default(),
        creation_time: now.clone(),
        last_modified_time: now,
    };
    let arn = url_function_arn(&app, &ctx.region, &url);
    let exists = || -> ApiError {
        LambdaError::conflict(format!(
            "Failed to create function url config for [functionArn = {arn}]. Error message:  FunctionUrlConfig exists for this Lambda function"
        ))
        .into()
    };
    // A new id until one is free: 36^32 ids make a second round all but impossible.
    for _ in 0..8 {
        if app
            .urls
            .get_url(&url.function, &url.qualifier)
            .await?
            .is_some()
        {
            return Err(exists());
        }
        match app.urls.create_url(&url).await {
            Ok(()) => {
                let mut body = json!({
                    "FunctionUrl": app.url_of(&url),
                    "FunctionArn": arn,
                    "AuthType": url.auth_type.as_str(),
                    "CreationTime": url.creation_time,
                });
                if mode_given {
                    body["InvokeMode"] = json!(url.invoke_mode.as_str());
                }
                if let Some(c) = &url.cors {
                    body["Cors"] = json!(c);
                }
                return Ok(json(StatusCode::CREATED, &body));
            }
            Err(StoreError::AlreadyExists(_)) => url.url_id = new_url_id(),
            Err(StoreError::NotFound(_)) => {
                return Err(crate::api::not_found(&app, &ctx, &r));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::internal("no free function URL id in 8 draws"))
}
