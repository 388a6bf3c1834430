//! What happens to every request before its handler: a request id, the body read within
//! Lambda's size limit, SigV4 verification; and after: the request id header and error logging.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use nimbus_model::limits::MAX_CODE_REQUEST_BYTES;
use nimbus_model::ErrorCode;
use tracing::Instrument;

use crate::app::App;
use crate::auth;
use crate::error::{error_response, ApiError, InternalDetail};
use crate::sessions::Principal;

/// The verified caller, for handlers.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub(crate) region: String,
    /// The request's id, also the invocation id of an Invoke.
    pub(crate) request_id: String,
    /// `Host` as the client sent it, for URLs that point back at this server.
    pub(crate) host: String,
    /// Who signed the request.
    pub(crate) principal: Principal,
}

/// The service a request belongs to, which the signature's scope must name: SQS's (its JSON
/// target, a queue URL's path, or `/` signed for `sqs`), STS's query protocol on `/`, and
/// everything else Lambda's. The scope only picks between the services of `/`; the signature
/// is verified for the service picked, as for every other request.
fn service_of(headers: &axum::http::HeaderMap, path: &str) -> &'static str {
    if crate::sqs::is_sqs(headers, path) {
        "sqs"
    } else if path == "/" && crate::cwlogs::is_logs(headers) {
        "logs"
    } else if crate::scheduler::api::is_scheduler(path) {
        "scheduler"
    } else if path == "/" {
        "sts"
    } else {
        "lambda"
    }
}

/// The service the middleware decided a request is for (an extension, for `POST /`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Service(pub(crate) &'static str);

/// The Lambda operation a request is for, as AWS names it (for messages and logs).
pub(crate) fn operation_name(method: &Method, path: &str) -> &'static str {
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    match (method.as_str(), parts.as_slice()) {
        ("POST", ["", "2015-03-31", "functions"]) => "CreateFunction",
        ("GET", ["", "2015-03-31", "functions"]) => "ListFunctions",
        ("GET", ["", "2015-03-31", "functions", _]) => "GetFunction",
        ("DELETE", ["", "2015-03-31", "functions", _]) => "DeleteFunction",
        ("GET", ["", "2015-03-31", "functions", _, "configuration"]) => "GetFunctionConfiguration",
        ("PUT", ["", "2015-03-31", "functions", _, "configuration"]) => {
            "UpdateFunctionConfiguration"
        }
        ("PUT", ["", "2015-03-31", "functions", _, "code"]) => "UpdateFunctionCode",
        ("POST", ["", "2015-03-31", "functions", _, "invocations"]) => "Invoke",
        ("GET", ["", "2016-08-19", "account-settings"]) => "GetAccountSettings",
        ("PUT", ["", "2017-10-31", "functions", _, "concurrency"]) => "PutFunctionConcurrency",
        ("DELETE", ["", "2017-10-31", "functions", _, "concurrency"]) => {
            "DeleteFunctionConcurrency"
        }
        ("GET", ["", "2019-09-30", "functions", _, "concurrency"]) => "GetFunctionConcurrency",
        ("POST", ["", "2017-03-31", "tags", _]) => "TagResource",
        ("DELETE", ["", "2017-03-31", "tags", _]) => "UntagResource",
        ("GET", ["", "2017-03-31", "tags", _]) => "ListTags",
        ("POST", [""]) => "STS",
        ("POST", ["", "schedules", _]) => "CreateSchedule",
        ("GET", ["", "schedules", _]) => "GetSchedule",
        ("PUT", ["", "schedules", _]) => "UpdateSchedule",
        ("DELETE", ["", "schedules", _]) => "DeleteSchedule",
        ("GET", ["", "schedules"]) => "ListSchedules",
        ("POST", ["", "schedule-groups", _]) => "CreateScheduleGroup",
        ("GET", ["", "schedule-groups", _]) => "GetScheduleGroup",
        ("DELETE", ["", "schedule-groups", _]) => "DeleteScheduleGroup",
        ("GET", ["", "schedule-groups"]) => "ListScheduleGroups",
        ("POST", ["", "tags", _]) => "TagResource",
        ("DELETE", ["", "tags", _]) => "UntagResource",
        ("GET", ["", "tags", _]) => "ListTagsForResource",
        ("POST", ["", "2015-03-31", "functions", _, "versions"]) => "PublishVersion",
        ("GET", ["", "2015-03-31", "functions", _, "versions"]) => "ListVersionsByFunction",
        ("POST", ["", "2015-03-31", "functions", _, "aliases"]) => "CreateAlias",
        ("GET", ["", "2015-03-31", "functions", _, "aliases"]) => "ListAliases",
        ("GET", ["", "2015-03-31", "functions", _, "aliases", _]) => "GetAlias",
        ("PUT", ["", "2015-03-31", "functions", _, "aliases", _]) => "UpdateAlias",
        ("DELETE", ["", "2015-03-31", "functions", _, "aliases", _]) => "DeleteAlias",
        ("PUT", ["", "2019-09-30", "functions", _, "provisioned-concurrency"]) => {
            "PutProvisionedConcurrencyConfig"
        }
        ("GET", ["", "2019-09-30", "functions", _, "provisioned-concurrency"]) => {
            "GetProvisionedConcurrencyConfig"
        }
        ("DELETE", ["", "2019-09-30", "functions", _, "provisioned-concurrency"]) => {
            "DeleteProvisionedConcurrencyConfig"
        }
        ("PUT", ["", "2024-08-31", "functions", _, "recursion-config"]) => {
            "PutFunctionRecursionConfig"
        }
        ("GET", ["", "2024-08-31", "functions", _, "recursion-config"]) => {
            "GetFunctionRecursionConfig"
        }
        ("POST", ["", "2015-03-31", "functions", _, "policy"]) => "AddPermission",
        ("GET", ["", "2015-03-31", "functions", _, "policy"]) => "GetPolicy",
        ("DELETE", ["", "2015-03-31", "functions", _, "policy", _]) => "RemovePermission",
        // Lambda's other operations (answered UnknownOperationException, named).
        ("POST", ["", "2021-11-15", "functions", _, "response-streaming-invocations"]) => {
            "InvokeWithResponseStream"
        }
        ("POST", ["", "2014-11-13", "functions", _, "invoke-async"]) => "InvokeAsync",
        ("PUT", ["", "2019-09-25", "functions", _, "event-invoke-config"]) => {
            "PutFunctionEventInvokeConfig"
        }
        ("POST", ["", "2019-09-25", "functions", _, "event-invoke-config"]) => {
            "UpdateFunctionEventInvokeConfig"
        }
        ("GET", ["", "2019-09-25", "functions", _, "event-invoke-config"]) => {
            "GetFunctionEventInvokeConfig"
        }
        ("DELETE", ["", "2019-09-25", "functions", _, "event-invoke-config"]) => {
            "DeleteFunctionEventInvokeConfig"
        }
        ("GET", ["", "2019-09-25", "functions", _, "event-invoke-config", "list"]) => {
            "ListFunctionEventInvokeConfigs"
        }
        ("POST", ["", "2015-03-31", "event-source-mappings"]) => "CreateEventSourceMapping",
        ("GET", ["", "2015-03-31", "event-source-mappings"]) => "ListEventSourceMappings",
        ("GET", ["", "2015-03-31", "event-source-mappings", _]) => "GetEventSourceMapping",
        ("PUT", ["", "2015-03-31", "event-source-mappings", _]) => "UpdateEventSourceMapping",
        ("DELETE", ["", "2015-03-31", "event-source-mappings", _]) => "DeleteEventSourceMapping",
        ("POST", ["", "2021-10-31", "functions", _, "url"]) => "CreateFunctionUrlConfig",
        ("GET", ["", "2021-10-31", "functions", _, "url"]) => "GetFunctionUrlConfig",
        ("PUT", ["", "2021-10-31", "functions", _, "url"]) => "UpdateFunctionUrlConfig",
        ("DELETE", ["", "2021-10-31", "functions", _, "url"]) => "DeleteFunctionUrlConfig",
        ("GET", ["", "2021-10-31", "functions", _, "urls"]) => "ListFunctionUrlConfigs",
        ("POST", ["", "2018-10-31", "layers", _, "versions"]) => "PublishLayerVersion",
        ("GET", ["", "2018-10-31", "layers", _, "versions"]) => "ListLayerVersions",
        ("GET", ["", "2018-10-31", "layers", _, "versions", _]) => "GetLayerVersion",
        ("DELETE", ["", "2018-10-31", "layers", _, "versions", _]) => "DeleteLayerVersion",
        ("GET", ["", "2018-10-31", "layers"]) => "ListLayers",
        ("PUT", ["", "2021-07-20", "functions", _, "runtime-management-config"]) => {
            "PutRuntimeManagementConfig"
        }
        ("GET", ["", "2021-07-20", "functions", _, "runtime-management-config"]) => {
            "GetRuntimeManagementConfig"
        }
        (_, ["", "2020-04-22", "code-signing-configs", ..])
        | (_, ["", "2020-06-30", "functions", _, "code-signing-config"]) => "CodeSigning",
        _ => "Unknown",
    }
}

/// How long a request's body may take to arrive once its headers have.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// The most an oversize body is read (and discarded) after its refusal.
const MAX_DISCARD: u64 = 2 * MAX_CODE_REQUEST_BYTES as u64;

/// AWS compat: the largest request body of each operation, and the name the message uses.
fn body_limit(op: &'static str) -> (usize, &'static str) {
    match op {
        "CreateFunction" | "UpdateFunctionCode" => (MAX_CODE_REQUEST_BYTES, op),
        "Invoke" => (crate::api::invoke::MAX_PAYLOAD_BYTES, "InvokeFunction"),
        "InvokeWithResponseStream" => (crate::api::invoke::MAX_PAYLOAD_BYTES, op),
        "SQS" => (crate::sqs::MAX_REQUEST_BYTES, op),
        "Logs" => (crate::cwlogs::MAX_REQUEST_BYTES, op),
        // Configuration, tags and the like: small JSON documents.
        _ => (1 << 20, op),
    }
}

/// A refused request: 403 in AWS's shape (the service's: Lambda's JSON or STS's XML), logged
/// at debug without the request's credentials, and at most a few times a second, so that a
/// flood of them floods no log.
fn refused(
    e: nimbus_model::LambdaError,
    request_id: &str,
    service: &str,
    headers: &axum::http::HeaderMap,
) -> Response {
    use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
    static WINDOW: AtomicI64 = AtomicI64::new(0);
    static IN_WINDOW: AtomicU32 = AtomicU32::new(0);
    let now = crate::app::now_ms() / 1000;
    if WINDOW.swap(now, Ordering::Relaxed) != now {
        IN_WINDOW.store(0, Ordering::Relaxed);
    }
    if IN_WINDOW.fetch_add(1, Ordering::Relaxed) < 5 {
        tracing::debug!(error_type = e.code.type_name(), "request refused");
    }
    if service == "sts" {
        return with_request_id(crate::api::sts::refusal(&e, request_id), request_id);
    }
    if service == "sqs" {
        return with_request_id(crate::sqs::refusal(&e, headers, request_id), request_id);
    }
    with_request_id(ApiError::from(e).into_response(), request_id)
}

fn with_request_id(mut resp: Response, id: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(id) {
        resp.headers_mut().insert("x-amzn-RequestId", v);
    }
    resp
}

/// Middleware for the Lambda API routes.
pub(crate) async fn authenticate(
    State(app): State<Arc<App>>,
    req: Request,
    next: Next,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    // From here on, the signature check, the router and the handlers read one target.
    let req = match with_canonical_target(req) {
        Ok(r) => r,
        Err(e) => return with_request_id(e.into_response(), &request_id),
    };
    let op = match service_of(req.headers(), req.uri().path()) {
        "sqs" => "SQS",
        "logs" => "Logs",
        _ => operation_name(req.method(), req.uri().path()),
    };
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        op,
        principal = tracing::field::Empty
    );
    authenticated(app, req, next, request_id, op)
        .instrument(span)
        .await
}

/// `req` with its target rewritten to the form its signature covers ([`crate::target`]).
fn with_canonical_target(req: Request) -> Result<Request, ApiError> {
    let target = crate::target::canonical(req.uri().path(), req.uri().query());
    if req.uri().path_and_query().map(|p| p.as_str()) == Some(target.as_str()) {
        return Ok(req);
    }
    let (mut parts, body) = req.into_parts();
    let mut uri = std::mem::take(&mut parts.uri).into_parts();
    uri.path_and_query = Some(target.parse().map_err(|_| {
        ApiError::from(nimbus_model::LambdaError::new(
            ErrorCode::InvalidParameterValue,
            "The request's path or query is not a valid URI.",
        ))
    })?);
    parts.uri = axum::http::Uri::from_parts(uri).map_err(ApiError::internal)?;
    Ok(Request::from_parts(parts, body))
}

/// The middleware's work, within the request's span (so every line the handler logs, across
/// its awaits, carries the request id and operation).
async fn authenticated(
    app: Arc<App>,
    req: Request,
    next: Next,
    request_id: String,
    op: &'static str,
) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let (mut parts, body) = req.into_parts();
    let service = service_of(&parts.headers, &path);
    // Who is asking is decided from the headers, before a byte of the body is read.
    let keys = auth::Keys {
        root: &app.keys,
        sessions: &app.sessions,
    };
    let pre = match auth::precheck(&keys, &parts.headers, SystemTime::now(), service) {
        Ok(p) => p,
        Err(e) => return refused(e, &request_id, service, &parts.headers),
    };
    let (limit, name) = body_limit(op);
    let too_large = || {
        let msg = format!("Request must be smaller than {limit} bytes for the {name} operation");
        if service == "sqs" {
            let e = nimbus_model::LambdaError::new(ErrorCode::RequestEntityTooLarge, msg);
            return refused(e, &request_id, service, &parts.headers);
        }
        with_request_id(
            error_response(ErrorCode::RequestEntityTooLarge, &msg),
            &request_id,
        )
    };
    let declared = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared.filter(|n| *n > limit as u64) {
        // An authenticated client gets its answer before it sends the body; what it sends
        // anyway is read and discarded (never buffered), within a bound, so that it can read
        // the answer rather than a broken connection.
        if n <= MAX_DISCARD {
            tokio::spawn(async move {
                use http_body_util::BodyExt;
                let mut body = body;
                let _ = tokio::time::timeout(BODY_TIMEOUT, async {
                    while let Some(Ok(_)) = body.frame().await {}
                })
                .await;
            });
        }
        return too_large();
    }
    let bytes = match tokio::time::timeout(BODY_TIMEOUT, to_bytes(body, limit)).await {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => return too_large(),
        Err(_) => {
            return with_request_id(
                error_response(
                    ErrorCode::InvalidParameterValue,
                    "The request body did not arrive in time.",
                ),
                &request_id,
            )
        }
    };
    let pq = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| path.clone());
    // Hashing a large body takes milliseconds: off the event loop.
    let verified = if bytes.len() > 64 * 1024 {
        let (headers, body) = (parts.headers.clone(), bytes.clone());
        match tokio::task::spawn_blocking(move || {
            auth::verify_signature(&pre, method.as_str(), &pq, &headers, &body)
        })
        .await
        {
            Ok(v) => v,
            Err(e) => return with_request_id(ApiError::internal(e).into_response(), &request_id),
        }
    } else {
        auth::verify_signature(&pre, method.as_str(), &pq, &parts.headers, &bytes)
    };
    let caller = match verified {
        Ok(c) => c,
        Err(e) => return refused(e, &request_id, service, &parts.headers),
    };
    // Every line of the request says who made it (a function's calls name its role).
    if let Principal::Role { .. } = caller.principal {
        tracing::Span::current().record(
            "principal",
            tracing::field::display(caller.principal.arn(&app.account)),
        );
        // Nimbus's own operator routes are not AWS APIs a role could be granted: a function's
        // credentials never reach them (another function's logs, queues' contents, costs).
        if path.starts_with("/_nimbus/") {
            let e = nimbus_model::LambdaError::new(
                ErrorCode::AccessDenied,
                format!(
                    "User: {} is not authorized to perform: {} (Nimbus's operator routes take the account's own credentials only)",
                    caller.principal.arn(&app.account),
                    path
                ),
            );
            return with_request_id(ApiError::from(e).into_response(), &request_id);
        }
    }
    let host = parts
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    parts.extensions.insert(Service(service));
    parts.extensions.insert(Ctx {
        region: caller.region,
        request_id: request_id.clone(),
        host,
        principal: caller.principal,
    });
    let resp = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    if let Some(InternalDetail(detail)) = resp.extensions().get::<InternalDetail>() {
        tracing::error!(detail = %detail, "internal error");
    } else if !resp.status().is_success() {
        tracing::info!(status = resp.status().as_u16(), "request failed");
    } else {
        tracing::debug!(status = resp.status().as_u16(), "request done");
    }
    with_request_id(resp, &request_id)
}
