//! Amazon SQS on the same server: both of its wire protocols, decoded into one request shape
//! and dispatched to the operations in `sqs/`.
//!
//! - JSON (current SDKs): `POST /`, `X-Amz-Target: AmazonSQS.<Op>`, a JSON body; errors are
//!   `{"__type": "com.amazonaws.sqs#<Shape>", "message": ...}` with the query protocol's code
//!   in `x-amzn-query-error: <Code>;Sender`, which SDKs map back to the modeled exception.
//! - Query (older clients, the AWS CLI v2 before 2.13): a form body `Action=<Op>&...` posted
//!   to `/` or to the queue's URL path; XML answers in the 2012-11-05 namespace. The form is
//!   turned into the JSON protocol's request shape (`Attribute.1.Name`... becomes
//!   `Attributes`), so each operation is written once.
//!
//! Queues are stored through [`nimbus_store::QueueStore`]; long polls wait on a per-queue
//! [`tokio::sync::Notify`] that sends wake, never holding a store connection while they wait.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use nimbus_store::QueueStoreError;
use serde_json::{Map, Value};
use tokio::sync::Notify;

use crate::app::App;
use crate::request::Ctx;

pub(crate) mod admin;
pub(crate) mod attributes;
mod committer;
mod messages;
mod queues;
mod receipts;
mod wire;

pub(crate) use committer::Committer;
pub(crate) use messages::send_internal;
pub(crate) use nimbus_store::queues::MessageAttributeValue;
pub(crate) use queues::Purges;
pub(crate) use receipts::encode_handle;

/// AWS compat: the namespace of SQS's query-protocol answers.
pub(crate) const XMLNS: &str = "http://queue.amazonaws.com/doc/2012-11-05/";

/// The error codes SQS answers with (the JSON protocol's shape names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SqsErrorCode {
    QueueDoesNotExist,
    QueueNameExists,
    InvalidAttributeName,
    InvalidAttributeValue,
    InvalidParameterValue,
    MissingParameter,
    ReceiptHandleIsInvalid,
    MessageNotInflight,
    EmptyBatchRequest,
    TooManyEntriesInBatchRequest,
    BatchEntryIdsNotDistinct,
    InvalidBatchEntryId,
    BatchRequestTooLong,
    InvalidMessageContents,
    PurgeQueueInProgress,
    InvalidAction,
    UnsupportedOperation,
    InvalidClientTokenId,
    SignatureDoesNotMatch,
    IncompleteSignature,
    MissingAuthenticationToken,
    ExpiredToken,
    RequestTooLarge,
    Internal,
}

impl SqsErrorCode {
    /// The JSON `__type`, the query protocol's code, and the HTTP status.
    pub(crate) fn shape(self) -> (&'static str, &'static str, u16) {
        use SqsErrorCode as C;
        match self {
            C::QueueDoesNotExist => (
                "com.amazonaws.sqs#QueueDoesNotExist",
                "AWS.SimpleQueueService.NonExistentQueue",
                400,
            ),
            C::QueueNameExists => (
                "com.amazonaws.sqs#QueueNameExists",
                "QueueAlreadyExists",
                400,
            ),
            C::InvalidAttributeName => (
                "com.amazonaws.sqs#InvalidAttributeName",
                "InvalidAttributeName",
                400,
            ),
            C::InvalidAttributeValue => (
                "com.amazonaws.sqs#InvalidAttributeValue",
                "InvalidAttributeValue",
                400,
            ),
            C::InvalidParameterValue => (
                "com.amazonaws.sqs#InvalidParameterValueException",
                "InvalidParameterValue",
                400,
            ),
            C::MissingParameter => (
                "com.amazonaws.sqs#MissingRequiredParameterException",
                "MissingParameter",
                400,
            ),
            C::ReceiptHandleIsInvalid => (
                "com.amazonaws.sqs#ReceiptHandleIsInvalid",
                "ReceiptHandleIsInvalid",
                400,
            ),
            C::MessageNotInflight => (
                "com.amazonaws.sqs#MessageNotInflight",
                "AWS.SimpleQueueService.MessageNotInflight",
                400,
            ),
            C::EmptyBatchRequest => (
                "com.amazonaws.sqs#EmptyBatchRequest",
                "AWS.SimpleQueueService.EmptyBatchRequest",
                400,
            ),
            C::TooManyEntriesInBatchRequest => (
                "com.amazonaws.sqs#TooManyEntriesInBatchRequest",
                "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
                400,
            ),
            C::BatchEntryIdsNotDistinct => (
                "com.amazonaws.sqs#BatchEntryIdsNotDistinct",
                "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
                400,
            ),
            C::InvalidBatchEntryId => (
                "com.amazonaws.sqs#InvalidBatchEntryId",
                "AWS.SimpleQueueService.InvalidBatchEntryId",
                400,
            ),
            C::BatchRequestTooLong => (
                "com.amazonaws.sqs#BatchRequestTooLong",
                "AWS.SimpleQueueService.BatchRequestTooLong",
                400,
            ),
            C::InvalidMessageContents => (
                "com.amazonaws.sqs#InvalidMessageContents",
                "InvalidMessageContents",
                400,
            ),
            C::PurgeQueueInProgress => (
                "com.amazonaws.sqs#PurgeQueueInProgress",
                "AWS.SimpleQueueService.PurgeQueueInProgress",
                403,
            ),
            C::InvalidAction => ("com.amazonaws.sqs#InvalidAction", "InvalidAction", 400),
            C::UnsupportedOperation => (
                "com.amazonaws.sqs#UnsupportedOperation",
                "AWS.SimpleQueueService.UnsupportedOperation",
                400,
            ),
            C::InvalidClientTokenId => (
                "com.amazon.coral.service#InvalidClientTokenId",
                "InvalidClientTokenId",
                403,
            ),
            C::SignatureDoesNotMatch => (
                "com.amazon.coral.service#SignatureDoesNotMatch",
                "SignatureDoesNotMatch",
                403,
            ),
            C::IncompleteSignature => (
                "com.amazon.coral.service#IncompleteSignatureException",
                "IncompleteSignature",
                400,
            ),
            C::MissingAuthenticationToken => (
                "com.amazon.coral.service#MissingAuthenticationTokenException",
                "MissingAuthenticationToken",
                403,
            ),
            C::ExpiredToken => ("com.amazon.coral.service#ExpiredToken", "ExpiredToken", 403),
            C::RequestTooLarge => (
                "com.amazonaws.sqs#RequestEntityTooLarge",
                "RequestEntityTooLarge",
                413,
            ),
            C::Internal => ("com.amazonaws.sqs#InternalError", "InternalError", 500),
        }
    }
}

/// A failed SQS request (or batch entry), with AWS's code and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub(crate) struct SqsError {
    pub(crate) code: SqsErrorCode,
    pub(crate) message: String,
}

impl SqsError {
    pub(crate) fn new(code: SqsErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(SqsErrorCode::InvalidParameterValue, message)
    }

    pub(crate) fn missing(parameter: &str) -> Self {
        Self::new(
            SqsErrorCode::MissingParameter,
            format!("The request must contain the parameter {parameter}."),
        )
    }

    /// AWS compat: the wording of QueueDoesNotExist.
    pub(crate) fn no_queue() -> Self {
        Self::new(
            SqsErrorCode::QueueDoesNotExist,
            "The specified queue does not exist.",
        )
    }

    /// Our own failure; the detail is logged, the caller gets a generic message.
    pub(crate) fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(detail = %detail, "internal error");
        Self::new(
            SqsErrorCode::Internal,
            "An internal error occurred. The server's log has the details.",
        )
    }
}

impl From<QueueStoreError> for SqsError {
    fn from(e: QueueStoreError) -> Self {
        match e {
            QueueStoreError::QueueNotFound(_) => Self::no_queue(),
            QueueStoreError::Store(e) => {
                Self::internal(format!("store: {e}: {:?}", std::error::Error::source(&e)))
            }
        }
    }
}

pub(crate) type SqsResult<T> = Result<T, SqsError>;

/// The protocol a request came in, and its answer goes out in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    Json,
    Query,
}

/// Long polls waiting on queues: one `Notify` per queue someone waits on.
#[derive(Debug, Default)]
pub(crate) struct Waiters {
    queues: Mutex<HashMap<String, Arc<Notify>>>,
}

impl Waiters {
    /// The queue's `Notify`, made on first use.
    pub(crate) fn of(&self, queue: &str) -> Arc<Notify> {
        let mut map = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(map.entry(queue.to_string()).or_default())
    }

    /// Wakes every long poll of `queue` (its attributes changed, or many messages came back).
    pub(crate) fn wake_all(&self, queue: &str) {
        let map = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get(queue) {
            n.notify_waiters();
        }
    }

    /// Wakes up to `count` long polls of `queue`, one per message that became receivable (at
    /// most 10, what one receive takes): a send to a queue a thousand polls wait on wakes one
    /// of them, not a thousand receives that all but one find empty.
    pub(crate) fn wake(&self, queue: &str, count: usize) {
        let map = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get(queue) {
            for _ in 0..count.min(10) {
                n.notify_one();
            }
        }
    }

    /// Forgets a deleted queue (its waiters are woken, and find it gone).
    pub(crate) fn forget(&self, queue: &str) {
        let mut map = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.remove(queue) {
            n.notify_waiters();
        }
    }
}

/// A decoded request: the operation and its input in the JSON protocol's shape.
pub(crate) struct Input {
    pub(crate) fields: Map<String, Value>,
    /// The queue named by the request's path (query requests posted to a queue URL).
    pub(crate) path_queue: Option<String>,
}

impl Input {
    /// A string member; `None` when absent.
    pub(crate) fn str(&self, name: &str) -> SqsResult<Option<&str>> {
        str_member(&self.fields, name)
    }

    /// A string member that must be there and not be empty.
    pub(crate) fn required(&self, name: &str) -> SqsResult<&str> {
        match self.str(name)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(SqsError::missing(name)),
        }
    }

    /// An integer member (a number, or in the query protocol a string of one).
    pub(crate) fn int(&self, name: &str) -> SqsResult<Option<i64>> {
        int_member(&self.fields, name)
    }

    /// A list of strings.
    pub(crate) fn strings(&self, name: &str) -> SqsResult<Vec<String>> {
        match self.fields.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(SqsError::invalid(format!(
                        "Value for parameter {name} is invalid. Reason: must be a list of strings."
                    ))),
                })
                .collect(),
            Some(_) => Err(SqsError::invalid(format!(
                "Value for parameter {name} is invalid. Reason: must be a list of strings."
            ))),
        }
    }

    /// A map of strings to strings.
    pub(crate) fn string_map(&self, name: &str) -> SqsResult<BTreeMap<String, String>> {
        string_map_member(&self.fields, name)
    }
}

pub(crate) fn str_member<'a>(m: &'a Map<String, Value>, name: &str) -> SqsResult<Option<&'a str>> {
    match m.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(SqsError::invalid(format!(
            "Value for parameter {name} is invalid. Reason: must be a string."
        ))),
    }
}

pub(crate) fn int_member(m: &Map<String, Value>, name: &str) -> SqsResult<Option<i64>> {
    match m.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| {
            SqsError::invalid(format!(
                "Value {n} for parameter {name} is invalid. Reason: must be an integer."
            ))
        }),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| {
            SqsError::invalid(format!(
                "Value {s} for parameter {name} is invalid. Reason: must be an integer."
            ))
        }),
        Some(v) => Err(SqsError::invalid(format!(
            "Value {v} for parameter {name} is invalid. Reason: must be an integer."
        ))),
    }
}

pub(crate) fn string_map_member(
    m: &Map<String, Value>,
    name: &str,
) -> SqsResult<BTreeMap<String, String>> {
    match m.get(name) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(o)) => o
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                // A number or a flag where the model wants a string: its text.
                Value::Number(_) | Value::Bool(_) => Ok((k.clone(), v.to_string())),
                _ => Err(SqsError::invalid(format!(
                    "Value for parameter {name} is invalid. Reason: the value of {k} must be a string."
                ))),
            })
            .collect(),
        Some(_) => Err(SqsError::invalid(format!(
            "Value for parameter {name} is invalid. Reason: must be a map."
        ))),
    }
}

/// The queue a request names: its `QueueUrl` (or the path it was posted to), which must be
/// ours: `<scheme>://<any host>/<our account>/<name>`.
pub(crate) fn queue_name(app: &App, input: &Input) -> SqsResult<String> {
    let url = match input.str("QueueUrl")? {
        Some(u) if !u.is_empty() => u.to_string(),
        _ => match &input.path_queue {
            Some(name) => return Ok(name.clone()),
            None => return Err(SqsError::missing("QueueUrl")),
        },
    };
    let path = match url.split_once("://") {
        Some((_, rest)) => rest.split_once('/').map(|(_, p)| p).unwrap_or(""),
        None => url.trim_start_matches('/'),
    };
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    match parts.as_slice() {
        [account, name] if *account == app.account && !name.is_empty() => Ok(name.to_string()),
        _ => Err(SqsError::no_queue()),
    }
}

/// The URL of queue `name`, on the host the client reached us by.
pub(crate) fn queue_url(app: &App, ctx: &Ctx, name: &str) -> String {
    format!("http://{}/{}/{name}", ctx.host, app.account)
}

/// The ARN of queue `name` in the caller's region.
pub(crate) fn queue_arn(app: &App, region: &str, name: &str) -> String {
    format!("arn:aws:sqs:{region}:{}:{name}", app.account)
}

/// The queue an ARN names, if it is one of ours.
pub(crate) fn queue_of_arn<'a>(app: &App, arn: &'a str) -> Option<&'a str> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(_partition), Some("sqs"), Some(_region), Some(account), Some(name)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    (account == app.account && !name.is_empty()).then_some(name)
}

/// The queue a query request's path names (`/<account>/<name>`), if it is shaped like one.
pub(crate) fn path_queue(app: &App, path: &str) -> Option<String> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        [account, name] if *account == app.account && !name.is_empty() => Some(name.to_string()),
        _ => None,
    }
}

/// Whether a request's headers and path make it an SQS request: a JSON target of SQS, or a
/// query request posted to a queue's URL path or to `/` signed for `sqs`.
pub(crate) fn is_sqs(headers: &HeaderMap, path: &str) -> bool {
    if headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("AmazonSQS."))
    {
        return true;
    }
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    if let [account, name] = parts.as_slice() {
        if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) && !name.is_empty() {
            return true;
        }
    }
    path == "/"
        && headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|a| a.split("Credential=").nth(1))
            .and_then(|c| c.split([',', ' ']).next())
            .is_some_and(|c| c.split('/').nth(3) == Some("sqs"))
}

/// The largest SQS request body we read: a batch of ten messages of 256 KiB in total, in the
/// query protocol's percent-encoding (three bytes per byte at worst) or JSON's escapes (six
/// for a control character), with room for attributes.
pub(crate) const MAX_REQUEST_BYTES: usize = 2 * 1024 * 1024;

/// An SQS request (after the middleware verified it).
pub(crate) async fn handle(
    app: Arc<App>,
    ctx: Ctx,
    headers: HeaderMap,
    path: String,
    body: Bytes,
) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix("AmazonSQS."))
        .map(str::to_string);
    let (protocol, decoded) = match target {
        Some(op) => (Protocol::Json, wire::decode_json(&body).map(|f| (op, f))),
        None => (Protocol::Query, wire::decode_query(&body)),
    };
    let (op, fields) = match decoded {
        Ok(d) => d,
        Err(e) => return wire::error(protocol, &e, &ctx.request_id),
    };
    let input = Input {
        fields,
        path_queue: path_queue(&app, &path),
    };
    match dispatch(&app, &ctx, &op, &input).await {
        Ok(out) => wire::success(protocol, &op, out, &ctx.request_id),
        Err(e) => wire::error(protocol, &e, &ctx.request_id),
    }
}

async fn dispatch(app: &App, ctx: &Ctx, op: &str, input: &Input) -> SqsResult<Map<String, Value>> {
    match op {
        "CreateQueue" => queues::create_queue(app, ctx, input).await,
        "DeleteQueue" => queues::delete_queue(app, input).await,
        "ListQueues" => queues::list_queues(app, ctx, input).await,
        "GetQueueUrl" => queues::get_queue_url(app, ctx, input).await,
        "GetQueueAttributes" => queues::get_queue_attributes(app, ctx, input).await,
        "SetQueueAttributes" => queues::set_queue_attributes(app, input).await,
        "PurgeQueue" => queues::purge_queue(app, input).await,
        "TagQueue" => queues::tag_queue(app, input).await,
        "UntagQueue" => queues::untag_queue(app, input).await,
        "ListQueueTags" => queues::list_queue_tags(app, input).await,
        "ListDeadLetterSourceQueues" => {
            queues::list_dead_letter_source_queues(app, ctx, input).await
        }
        "SendMessage" => messages::send_message(app, ctx, input).await,
        "SendMessageBatch" => messages::send_message_batch(app, ctx, input).await,
        "ReceiveMessage" => receipts::receive_message(app, ctx, input).await,
        "DeleteMessage" => receipts::delete_message(app, input).await,
        "DeleteMessageBatch" => receipts::delete_message_batch(app, input).await,
        "ChangeMessageVisibility" => receipts::change_message_visibility(app, input).await,
        "ChangeMessageVisibilityBatch" => {
            receipts::change_message_visibility_batch(app, input).await
        }
        "AddPermission"
        | "RemovePermission"
        | "StartMessageMoveTask"
        | "CancelMessageMoveTask"
        | "ListMessageMoveTasks" => Err(SqsError::new(
            SqsErrorCode::UnsupportedOperation,
            format!("Nimbus does not support the {op} operation."),
        )),
        "" => Err(SqsError::new(
            SqsErrorCode::MissingParameter,
            "The request must contain the parameter Action.",
        )),
        other => Err(SqsError::new(
            SqsErrorCode::InvalidAction,
            format!("The action {other} is not valid for this endpoint."),
        )),
    }
}

/// A refusal of the request middleware (signature, credentials), in the protocol the request
/// came in.
pub(crate) fn refusal(
    e: &nimbus_model::LambdaError,
    headers: &HeaderMap,
    request_id: &str,
) -> Response {
    use nimbus_model::ErrorCode as E;
    let code = match e.code {
        E::UnrecognizedClient => SqsErrorCode::InvalidClientTokenId,
        E::ExpiredToken => SqsErrorCode::ExpiredToken,
        E::InvalidSignature => SqsErrorCode::SignatureDoesNotMatch,
        E::IncompleteSignature => SqsErrorCode::IncompleteSignature,
        E::MissingAuthenticationToken => SqsErrorCode::MissingAuthenticationToken,
        E::RequestEntityTooLarge => SqsErrorCode::RequestTooLarge,
        _ => SqsErrorCode::InvalidParameterValue,
    };
    let protocol = if headers.contains_key("x-amz-target") {
        Protocol::Json
    } else {
        Protocol::Query
    };
    wire::error(
        protocol,
        &SqsError::new(code, e.message.clone()),
        request_id,
    )
}

/// Sets a header, when the value is one.
pub(crate) fn with_header(mut resp: Response, name: &'static str, value: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
    resp
}

pub(crate) fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST)
}

/// Responds with `body` and `content_type`.
pub(crate) fn respond(code: u16, content_type: &'static str, body: String) -> Response {
    (
        status(code),
        [(axum::http::header::CONTENT_TYPE, content_type)],
        body,
    )
        .into_response()
}
