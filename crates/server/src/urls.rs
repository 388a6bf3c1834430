//! Function URLs as clients reach them: a request found by the URL id in its host name
//! (`<id>.lambda-url.<region>.localhost`) or its path (`/lambda-url/<id>/...`), authenticated
//! as the URL says (SigV4 for `AWS_IAM`, the resource policy for `NONE`), answered by CORS
//! itself for preflights, turned into a payload format 2.0 event, invoked through the pipeline
//! and its result mapped back to an HTTP response.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::{to_bytes, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine as _;
use nimbus_engine::{
    InvocationOutcome, InvocationRequest, InvocationType, InvokeError, LogType, RequestId,
    ResolveError,
};
use nimbus_model::policy::Statement;
use nimbus_model::url::{is_url_id, AuthType, CorsVerdict, FunctionUrlConfig, InvokeMode};
use nimbus_model::ErrorCode;
use serde_json::{json, Map, Value};

use crate::app::App;
use crate::auth;
use crate::sessions::Principal;

/// AWS compat: the most a function URL request may carry (the synchronous payload limit).
const MAX_REQUEST_BYTES: usize = crate::api::invoke::MAX_PAYLOAD_BYTES;

/// How long a client may take to send its body.
const BODY_TIMEOUT: Duration = Duration::from_secs(120);

/// What a URL request needs of the store, kept in memory: the configuration by id and whether
/// its policy makes it public. Any write that could change either (a URL's configuration, a
/// policy, an alias's or function's deletion) clears it whole, and a read that raced such a
/// write is not kept; so a change takes effect at the next request. Ids no URL has are never
/// kept (random ids cannot grow it), and it holds at most `MAX_CACHED` URLs.
#[derive(Default)]
pub(crate) struct UrlCache {
    entries: std::sync::RwLock<std::collections::HashMap<String, Arc<CachedUrl>>>,
    generation: std::sync::atomic::AtomicU64,
}

/// One URL as requests see it.
pub(crate) struct CachedUrl {
    config: FunctionUrlConfig,
    /// For `NONE`: whether the resource policy lets everyone in.
    public: bool,
}

const MAX_CACHED: usize = 10_000;

impl UrlCache {
    /// Forgets everything (after a write that may change what a URL does).
    pub(crate) fn clear(&self) {
        use std::sync::atomic::Ordering;
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut e) = self.entries.write() {
            e.clear();
        }
    }

    fn get(&self, id: &str) -> Option<Arc<CachedUrl>> {
        self.entries.read().ok()?.get(id).cloned()
    }

    fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Keeps `url`, read since `generation`, unless a write came in between.
    fn keep(&self, generation: u64, url: Arc<CachedUrl>) {
        let Ok(mut e) = self.entries.write() else {
            return;
        };
        // Checked under the lock `clear` takes after bumping the generation.
        if self.generation() != generation {
            return;
        }
        if e.len() >= MAX_CACHED {
            e.clear();
        }
        e.insert(url.config.url_id.clone(), url);
    }
}

/// The URL with id `id`, from the cache or the store.
async fn lookup(app: &App, id: &str) -> Result<Option<Arc<CachedUrl>>, nimbus_store::StoreError> {
    if let Some(u) = app.url_cache.get(id) {
        return Ok(Some(u));
    }
    let generation = app.url_cache.generation();
    let Some(config) = app.urls.get_url_by_id(id).await? else {
        return Ok(None);
    };
    let public = match config.auth_type {
        AuthType::None => public_allowed(app, &config).await?,
        AuthType::AwsIam => false,
    };
    let url = Arc::new(CachedUrl { config, public });
    app.url_cache.keep(generation, Arc::clone(&url));
    Ok(Some(url))
}

/// The router of the URL listener: every request is a function URL's.
pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .fallback(|State(app): State<Arc<App>>, req: Request| async move { serve(&app, req).await })
        .with_state(app)
}

/// The API's router, also serving function URLs (`function_urls.listen = "api"`): a request
/// whose host name or path names a URL is the URL's, everything else the API's.
pub(crate) fn sharing(app: Arc<App>, api: Router) -> Router {
    api.layer(axum::middleware::from_fn_with_state(
        app,
        |State(app): State<Arc<App>>, req: Request, next: Next| async move {
            if target(&req).is_some() {
                serve(&app, req).await
            } else {
                next.run(req).await
            }
        },
    ))
}

/// The URL id a request names and the path it asks of the function.
fn target(req: &Request) -> Option<(String, String)> {
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().host())
        .unwrap_or("");
    let first = host.split(['.', ':']).next().unwrap_or("");
    let path = req.uri().path();
    if is_url_id(first) && host.contains('.') {
        return Some((first.to_string(), path.to_string()));
    }
    let rest = path.strip_prefix("/lambda-url/")?;
    let (id, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    is_url_id(id).then(|| (id.to_string(), tail.to_string()))
}

/// An answer of the URL itself (not the function's): `{"Message": ...}` with `status`.
fn message(status: StatusCode, text: &str, request_id: &str) -> Response {
    let mut resp = message_plain(status, text);
    set(resp.headers_mut(), "x-amzn-RequestId", request_id);
    resp
}

/// AWS compat: what a function URL says to a caller it does not let in.
const FORBIDDEN: &str = "Forbidden. For troubleshooting Function URL authorization issues, see: https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html";

/// 403 AccessDeniedException: `{"Message": <text>}`, or `{"Message": null}` for a URL that
/// does not exist (AWS compat: the URL id is not confirmed either way).
fn denied(text: Option<&str>, request_id: &str) -> Response {
    let mut resp = (
        StatusCode::FORBIDDEN,
        axum::Json(json!({ "Message": text })),
    )
        .into_response();
    set(resp.headers_mut(), "x-amzn-RequestId", request_id);
    set(
        resp.headers_mut(),
        "x-amzn-ErrorType",
        "AccessDeniedException",
    );
    resp
}

fn set(h: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        h.insert(n, v);
    }
}

fn append(h: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        h.append(n, v);
    }
}

/// One function URL request, start to end.
async fn serve(app: &App, req: Request) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let Some((id, raw_path)) = target(&req) else {
        return denied(None, &request_id);
    };
    let url = match lookup(app, &id).await {
        Ok(Some(u)) => u,
        Ok(None) => return denied(None, &request_id),
        Err(e) => {
            tracing::error!(error = %e, "read function url");
            return message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
                &request_id,
            );
        }
    };
    let span = tracing::info_span!("function_url", request_id = %request_id, function = %url.config.function);
    tracing::Instrument::instrument(handle(app, url, raw_path, req, &request_id), span).await
}

async fn handle(
    app: &App,
    cached: Arc<CachedUrl>,
    raw_path: String,
    req: Request,
    request_id: &str,
) -> Response {
    let url = &cached.config;
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let (parts, body) = req.into_parts();
    let too_large = || {
        message(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("Request must be smaller than {MAX_REQUEST_BYTES} bytes for the InvokeFunction operation"),
            request_id,
        )
    };
    let declared = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_REQUEST_BYTES as u64) {
        return too_large();
    }
    let body = match tokio::time::timeout(BODY_TIMEOUT, to_bytes(body, MAX_REQUEST_BYTES)).await {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => return too_large(),
        Err(_) => return message(StatusCode::REQUEST_TIMEOUT, "Request Timeout", request_id),
    };

    // Who may call it.
    let caller = match url.auth_type {
        AuthType::AwsIam => {
            let keys = auth::Keys {
                root: &app.keys,
                sessions: &app.sessions,
            };
            let pq = parts
                .uri
                .path_and_query()
                .map_or_else(|| parts.uri.path().to_string(), |p| p.as_str().to_string());
            let verified = auth::precheck(&keys, &parts.headers, SystemTime::now(), "lambda")
                .and_then(|pre| {
                    auth::verify_signature(&pre, parts.method.as_str(), &pq, &parts.headers, &body)
                });
            match verified {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::info!(reason = %e.message, "function url request refused");
                    return denied(Some(FORBIDDEN), request_id);
                }
            }
        }
        AuthType::None => {
            if !cached.public {
                tracing::info!("function url request refused: the resource policy does not let everyone invoke it through its URL");
                return denied(Some(FORBIDDEN), request_id);
            }
            None
        }
    };

    // CORS, before the function sees anything.
    let header = |n: &str| parts.headers.get(n).and_then(|v| v.to_str().ok());
    let cors = url.cors.as_ref().map(|c| {
        c.verdict(
            parts.method.as_str(),
            header("origin"),
            header("access-control-request-method"),
            header("access-control-request-headers"),
        )
    });
    let cors_headers = match cors {
        Some(CorsVerdict::Preflight(h)) => {
            let mut resp = StatusCode::OK.into_response();
            set(resp.headers_mut(), "content-type", "application/json");
            for (k, v) in &h {
                set(resp.headers_mut(), k, v);
            }
            set(resp.headers_mut(), "x-amzn-RequestId", request_id);
            return resp;
        }
        Some(CorsVerdict::Actual(h)) => h,
        Some(CorsVerdict::None) | None => Vec::new(),
    };

    let trace_id = header("x-amzn-trace-id").map_or_else(new_trace_id, str::to_string);
    let event = event(
        app,
        url,
        &EventInput {
            port: app.url_port,
            trace_id: &trace_id,
            method: parts.method.as_str(),
            raw_path: &raw_path,
            raw_query: parts.uri.query().unwrap_or(""),
            headers: &parts.headers,
            body: &body,
            peer,
            request_id,
            caller: caller.as_ref().map(|c| &c.principal),
            access_key: caller.as_ref().map(|_| {
                header("authorization")
                    .and_then(|a| a.split("Credential=").nth(1))
                    .and_then(|c| c.split('/').next())
                    .unwrap_or("")
                    .to_string()
            }),
        },
    );
    let payload = Bytes::from(serde_json::to_vec(&event).unwrap_or_default());
    let invocation = InvocationRequest {
        function: url.function.clone(),
        qualifier: (!url.qualifier.is_empty()).then(|| url.qualifier.clone()),
        region: url.region.clone(),
        request_id: RequestId::new(request_id),
        payload,
        invocation_type: InvocationType::RequestResponse,
        client_context: None,
        log_type: LogType::None,
        trace_header: Some(trace_id.clone()),
        deadline: None,
        stream: None,
    };
    let mut resp = if url.invoke_mode == InvokeMode::ResponseStream {
        match crate::streaming::begin(app, invocation).await {
            // AWS compat: a function that does not stream, behind a streaming URL: its
            // payload is the body as it is (not read as an HTTP response).
            Ok(crate::streaming::Begun::Finished(outcome)) => {
                if outcome.function_error.is_some() {
                    internal_error()
                } else {
                    let mut resp = (StatusCode::OK, outcome.payload).into_response();
                    set(resp.headers_mut(), "content-type", "application/json");
                    resp
                }
            }
            Ok(crate::streaming::Begun::Streaming {
                content_type,
                parts,
                done,
                ..
            }) => streamed(content_type, parts, done).await,
            Err(e) => refusal(&e),
        }
    } else {
        match app.engine.invoke(invocation).await {
            Ok(outcome) => respond(outcome),
            Err(e) => refusal(&e),
        }
    };
    let h = resp.headers_mut();
    // AWS compat: the configuration's headers join the function's own (which may repeat
    // them), exposed headers merged into one list.
    for (k, v) in &cors_headers {
        if *k == "access-control-expose-headers" {
            let merged = match h.get(*k).and_then(|x| x.to_str().ok()) {
                Some(own) => format!("{own},{v}"),
                None => v.clone(),
            };
            set(h, k, &merged);
        } else {
            append(h, k, v);
        }
    }
    set(h, "x-amzn-RequestId", request_id);
    set(h, "X-Amzn-Trace-Id", &trace_id);
    resp
}

/// Whether the URL's resource policy lets anyone invoke it. AWS compat: since October 2025
/// (and for every account since November 2026) a public URL needs two grants to `*`:
/// `lambda:InvokeFunctionUrl` (for auth type `NONE`, if the statement says) and
/// `lambda:InvokeFunction` (through a function URL, if the statement says); `lambda:*` or
/// `*` grants both.
async fn public_allowed(
    app: &App,
    url: &FunctionUrlConfig,
) -> Result<bool, nimbus_store::StoreError> {
    let Some(policy) = app.store.get_policy(&url.function, &url.qualifier).await? else {
        return Ok(false);
    };
    let grants = |action: &str| policy.statements.iter().any(|s| grants_public(s, action));
    Ok(grants("lambda:InvokeFunctionUrl") && grants("lambda:InvokeFunction"))
}

fn grants_public(s: &Statement, action: &str) -> bool {
    let everyone = s.principal == json!("*") || s.principal == json!({ "AWS": "*" });
    let action_ok = s.action == action || s.action == "lambda:*" || s.action == "*";
    let c = s.condition.as_ref();
    let auth_type_ok = c
        .and_then(|c| c.string_equals.as_ref())
        .and_then(|e| e.function_url_auth_type.as_deref())
        .is_none_or(|t| t == "NONE");
    let via_url_ok = c
        .and_then(|c| c.bool.as_ref())
        .is_none_or(|b| b.invoked_via_function_url == "true");
    // Conditions a public request cannot meet (a source account or ARN, an organization).
    let other_conditions = c.is_some_and(|c| {
        c.arn_like.is_some()
            || c.string_equals.as_ref().is_some_and(|e| {
                e.source_account.is_some()
                    || e.event_source_token.is_some()
                    || e.principal_org_id.is_some()
            })
    });
    s.effect == "Allow" && everyone && action_ok && auth_type_ok && via_url_ok && !other_conditions
}

/// What the event is made of.
struct EventInput<'a> {
    method: &'a str,
    raw_path: &'a str,
    raw_query: &'a str,
    headers: &'a HeaderMap,
    body: &'a [u8],
    peer: Option<SocketAddr>,
    request_id: &'a str,
    caller: Option<&'a Principal>,
    access_key: Option<String>,
    /// The port the request came in on.
    port: u16,
    /// `X-Amzn-Trace-Id` as the function sees it (the caller's, or a new root).
    trace_id: &'a str,
}

/// A new X-Ray root: `Root=1-<8 hex of epoch seconds>-<24 hex>`.
fn new_trace_id() -> String {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("Root=1-{secs:08x}-{}", &random[..24])
}

/// Content types whose bodies reach the function as text; anything else is base64.
fn is_text(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return true;
    };
    let ct = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    ct.starts_with("text/")
        || ct.ends_with("+json")
        || ct.ends_with("+xml")
        || matches!(
            ct.as_str(),
            "application/json"
                | "application/javascript"
                | "application/xml"
                | "application/x-www-form-urlencoded"
                | "application/graphql"
                | "application/yaml"
                | "application/x-yaml"
        )
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// `time` as payload format 2.0 writes it: `12/Mar/2020:19:03:58 +0000`.
fn request_time(now: time::OffsetDateTime) -> String {
    let f = time::macros::format_description!(
        "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
    );
    now.format(&f).unwrap_or_default()
}

/// The payload format 2.0 event of a request.
fn event(app: &App, url: &FunctionUrlConfig, i: &EventInput<'_>) -> Value {
    let mut headers: Map<String, Value> = Map::new();
    let mut cookies: Vec<Value> = Vec::new();
    for (name, value) in i.headers {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match name.as_str() {
            // Hop-by-hop, and the caller's signature: not the function's to see.
            "connection" | "authorization" => continue,
            "cookie" => cookies.extend(
                v.split([';', ','])
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(|c| Value::String(c.to_string())),
            ),
            _ => {}
        }
        match headers.get_mut(name.as_str()) {
            Some(Value::String(s)) => {
                s.push(',');
                s.push_str(&v);
            }
            _ => {
                headers.insert(name.as_str().to_string(), Value::String(v));
            }
        }
    }
    // What the front end adds, as Lambda's does.
    let peer_ip = i.peer.map(|p| p.ip().to_string()).unwrap_or_default();
    for (name, value) in [
        ("x-forwarded-proto", "http".to_string()),
        ("x-forwarded-port", i.port.to_string()),
    ] {
        headers.insert(name.to_string(), Value::String(value));
    }
    if !headers.contains_key("x-forwarded-for") {
        headers.insert("x-forwarded-for".into(), Value::String(peer_ip.clone()));
    }
    headers
        .entry("x-amzn-trace-id")
        .or_insert_with(|| Value::String(i.trace_id.to_string()));
    let mut query: Map<String, Value> = Map::new();
    for pair in i.raw_query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (percent_decode(k), percent_decode(v));
        match query.get_mut(&k) {
            Some(Value::String(s)) => {
                s.push(',');
                s.push_str(&v);
            }
            _ => {
                query.insert(k, Value::String(v));
            }
        }
    }
    let host = i
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let domain = host.split(':').next().unwrap_or(host);
    let now = time::OffsetDateTime::now_utc();
    let user_agent = i
        .headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut context = json!({
        "accountId": if i.caller.is_some() { app.account.as_str() } else { "anonymous" },
        "apiId": url.url_id,
        "domainName": domain,
        "domainPrefix": url.url_id,
        "http": {
            "method": i.method,
            "path": percent_encoding::percent_decode_str(i.raw_path).decode_utf8_lossy(),
            "protocol": "HTTP/1.1",
            "sourceIp": peer_ip,
            "userAgent": user_agent,
        },
        "requestId": i.request_id,
        "routeKey": "$default",
        "stage": "$default",
        "time": request_time(now),
        "timeEpoch": i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0),
    });
    if let Some(p) = i.caller {
        let (user_arn, user_id) = match p {
            Principal::Root => (p.arn(&app.account), app.account.clone()),
            Principal::Role { function, .. } => (
                p.arn(&app.account),
                format!("{}:{function}", i.access_key.as_deref().unwrap_or("")),
            ),
        };
        context["authorizer"] = json!({
            "iam": {
                "accessKey": i.access_key.as_deref().unwrap_or(""),
                "accountId": app.account,
                "callerId": user_id,
                "cognitoIdentity": null,
                "principalOrgId": null,
                "userArn": user_arn,
                "userId": user_id,
            }
        });
    }
    let mut ev = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": i.raw_path,
        "rawQueryString": i.raw_query,
        "headers": headers,
        "requestContext": context,
        "isBase64Encoded": false,
    });
    if !cookies.is_empty() {
        ev["cookies"] = Value::Array(cookies);
    }
    if !query.is_empty() {
        ev["queryStringParameters"] = Value::Object(query);
    }
    if !i.body.is_empty() {
        let ct = i.headers.get("content-type").and_then(|v| v.to_str().ok());
        match std::str::from_utf8(i.body) {
            Ok(text) if is_text(ct) => ev["body"] = json!(text),
            _ => {
                ev["body"] = json!(base64::engine::general_purpose::STANDARD.encode(i.body));
                ev["isBase64Encoded"] = json!(true);
            }
        }
    }
    ev
}

/// The function's answer as the URL's response.
/// AWS compat: the content type of a streamed response that begins with an HTTP prelude
/// (`awslambda.HttpResponseStream.from`): JSON `{statusCode, headers, cookies}`, 8 NUL
/// bytes, then the body.
const HTTP_INTEGRATION: &str = "application/vnd.awslambda.http-integration-response";

/// The most a prelude may be before its 8 NULs.
const MAX_PRELUDE: usize = 64 * 1024;

/// A RESPONSE_STREAM URL's answer to a function that streams: the status and headers from
/// its prelude (or 200 and the stream's content type), then its bytes as they come. A failure
/// once the body has begun can only cut it short.
async fn streamed(
    content_type: Option<String>,
    mut parts: tokio::sync::mpsc::Receiver<nimbus_engine::StreamPart>,
    mut done: crate::streaming::Completion,
) -> Response {
    let mut outcome = None;
    let mut first = Bytes::new();
    let mut head = Response::new(axum::body::Body::empty());
    if content_type.as_deref() == Some(HTTP_INTEGRATION) {
        let mut prelude = Vec::new();
        let split = loop {
            if let Some(at) = prelude.windows(8).position(|w| w == [0u8; 8]) {
                break Some(at);
            }
            if prelude.len() > MAX_PRELUDE {
                break None;
            }
            match crate::streaming::next_chunk(&mut parts, &mut done, &mut outcome).await {
                Some(b) => prelude.extend_from_slice(&b),
                None => break None,
            }
        };
        let Some(at) = split else {
            return match outcome {
                // AWS compat: a stream typed as HTTP that ended without its delimiter (a
                // handler that wrote nothing, or only ended the stream): its bytes, 200.
                Some(Ok(o)) if o.function_error.is_none() => {
                    let mut resp = (StatusCode::OK, prelude).into_response();
                    set(
                        resp.headers_mut(),
                        "content-type",
                        "application/octet-stream",
                    );
                    resp
                }
                _ => internal_error(),
            };
        };
        let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(&prelude[..at]) else {
            return internal_error();
        };
        let status = match obj.get("statusCode") {
            None => Some(StatusCode::OK),
            Some(_) => status_of(&obj),
        };
        let Some(status) = status else {
            return internal_error();
        };
        *head.status_mut() = status;
        if !apply_headers(&obj, head.headers_mut()) {
            set(
                head.headers_mut(),
                "content-type",
                "application/octet-stream",
            );
        }
        first = Bytes::copy_from_slice(&prelude[at + 8..]);
    } else {
        set(
            head.headers_mut(),
            "content-type",
            content_type
                .as_deref()
                .unwrap_or("application/octet-stream"),
        );
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    tokio::spawn(async move {
        if !first.is_empty() && tx.send(first).await.is_err() {
            return;
        }
        while let Some(b) = crate::streaming::next_chunk(&mut parts, &mut done, &mut outcome).await
        {
            if tx.send(b).await.is_err() {
                // The client has gone: the function runs on, its answer unread.
                return;
            }
        }
        if let Some(Ok(o)) = &outcome {
            if o.function_error.is_some() {
                tracing::debug!(error_type = ?o.error_type, "a streamed URL response ended with an error");
            }
        }
    });
    let (parts_, _) = head.into_parts();
    Response::from_parts(
        parts_,
        axum::body::Body::new(crate::streaming::ChannelBody(rx)),
    )
}

/// A response's `statusCode`, if it is one (100-599).
fn status_of(obj: &Map<String, Value>) -> Option<StatusCode> {
    obj.get("statusCode")
        .and_then(|s| {
            s.as_u64()
                .or_else(|| s.as_str().and_then(|t| t.parse().ok()))
        })
        .and_then(|n| u16::try_from(n).ok())
        .filter(|n| (100..=599).contains(n))
        .and_then(|n| StatusCode::from_u16(n).ok())
}

/// A response's `headers` and `cookies` onto `h` (framing headers are the server's); whether
/// it set a content type.
fn apply_headers(obj: &Map<String, Value>, h: &mut HeaderMap) -> bool {
    let mut typed = false;
    if let Some(Value::Object(headers)) = obj.get("headers") {
        for (k, v) in headers {
            let v = match v {
                Value::String(s) => s.clone(),
                Value::Null => continue,
                other => other.to_string(),
            };
            // The framing of the response is ours: a function cannot change how long it is
            // or what the connection does next (a wrong Content-Length would desynchronize
            // the client's kept-alive connection).
            if is_framing(k) {
                continue;
            }
            typed |= k.eq_ignore_ascii_case("content-type");
            set(h, k, &v);
        }
    }
    if let Some(Value::Array(cookies)) = obj.get("cookies") {
        for c in cookies.iter().filter_map(Value::as_str) {
            append(h, "set-cookie", c);
        }
    }
    typed
}

fn respond(outcome: InvocationOutcome) -> Response {
    if outcome.function_error.is_some() {
        return internal_error();
    }
    let parsed: Option<Value> = serde_json::from_slice(&outcome.payload).ok();
    let Some(Value::Object(obj)) = parsed.as_ref().filter(|v| v.get("statusCode").is_some()) else {
        // Any other JSON (or none): 200, the payload as the body.
        let mut resp = (StatusCode::OK, outcome.payload).into_response();
        set(resp.headers_mut(), "content-type", "application/json");
        return resp;
    };
    let Some(status) = status_of(obj) else {
        return internal_error();
    };
    let body = match obj.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => {
            if obj.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) {
                match base64::engine::general_purpose::STANDARD.decode(s) {
                    Ok(b) => b,
                    Err(_) => return internal_error(),
                }
            } else {
                s.clone().into_bytes()
            }
        }
        Some(other) => other.to_string().into_bytes(),
    };
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    if !apply_headers(obj, h) {
        set(h, "content-type", "application/json");
    }
    resp
}

/// Headers that frame the HTTP exchange, which only the server sets.
fn is_framing(name: &str) -> bool {
    [
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "upgrade",
        "trailer",
        "te",
        "proxy-connection",
    ]
    .iter()
    .any(|f| name.eq_ignore_ascii_case(f))
}

/// `{"Message": <text>}` with `status` (the request id is set by whoever sends it).
fn message_plain(status: StatusCode, text: &str) -> Response {
    (status, axum::Json(json!({ "Message": text }))).into_response()
}

/// AWS compat: a function that failed or answered what cannot be an HTTP response: 502,
/// `Internal Server Error` as plain text, typed `application/json`.
fn internal_error() -> Response {
    let mut resp = (StatusCode::BAD_GATEWAY, "Internal Server Error").into_response();
    set(resp.headers_mut(), "content-type", "application/json");
    resp
}

/// What keeps the function from answering, as function URLs report it.
fn refusal(e: &InvokeError) -> Response {
    match e {
        InvokeError::Throttled(_) => message_plain(StatusCode::TOO_MANY_REQUESTS, "Rate Exceeded."),
        InvokeError::Resolve(ResolveError::Lambda(l)) if l.code == ErrorCode::ResourceNotFound => {
            message_plain(StatusCode::FORBIDDEN, FORBIDDEN)
        }
        other => {
            tracing::warn!(error = %other, "function url invocation failed");
            internal_error()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    #[test]
    fn text_types_stay_text() {
        for ct in [
            None,
            Some("text/plain"),
            Some("application/json; charset=utf-8"),
            Some("application/vnd.api+json"),
        ] {
            assert!(is_text(ct), "{ct:?}");
        }
        for ct in [
            "application/octet-stream",
            "image/png",
            "multipart/form-data; boundary=x",
        ] {
            assert!(!is_text(Some(ct)), "{ct}");
        }
    }

    #[test]
    fn request_time_is_the_clf_format() {
        let t = time::macros::datetime!(2020-03-12 19:03:58 UTC);
        assert_eq!(request_time(t), "12/Mar/2020:19:03:58 +0000");
    }

    fn req(host: &str, path: &str) -> Request {
        axum::http::Request::builder()
            .uri(path)
            .header("host", host)
            .body(Body::empty())
            .expect("request")
    }

    #[test]
    fn urls_are_found_by_host_or_path() {
        let id = "abcdefghijklmnopqrstuvwxyz012345";
        assert_eq!(
            target(&req(
                &format!("{id}.lambda-url.us-east-1.localhost:9001"),
                "/a/b?x=1"
            )),
            Some((id.to_string(), "/a/b".to_string()))
        );
        assert_eq!(
            target(&req("127.0.0.1:9001", &format!("/lambda-url/{id}/a/b"))),
            Some((id.to_string(), "/a/b".to_string()))
        );
        assert_eq!(
            target(&req("127.0.0.1:9001", &format!("/lambda-url/{id}"))),
            Some((id.to_string(), "/".to_string()))
        );
        assert_eq!(
            target(&req("127.0.0.1:9000", "/2015-03-31/functions")),
            None
        );
        assert_eq!(
            target(&req(id, "/")),
            None,
            "a bare id is no host name of ours"
        );
    }
}
