//! `ApiError`: every failure of a request, and how it is written on the wire.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use nimbus_model::{ErrorCode, LambdaError};
use nimbus_store::{CodeError, StoreError};

/// A request's failure.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// An error Lambda itself would give, with its exact type and message.
    #[error(transparent)]
    Lambda(#[from] LambdaError),
    /// Our own failure: the caller gets a generic ServiceException; the detail is logged.
    #[error("internal: {0}")]
    Internal(String),
}

/// The detail of an internal error, carried to the logging middleware as a response extension.
#[derive(Debug, Clone)]
pub(crate) struct InternalDetail(pub(crate) String);

impl ApiError {
    pub(crate) fn internal(e: impl std::fmt::Display) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::internal(format!("store: {e}: {:?}", std::error::Error::source(&e)))
    }
}

/// AWS compat: how Lambda words the code-package failures it knows (spec §5b #18-20); the ones
/// it has no recorded wording for start with its corrupt-zip sentence and say what was wrong.
impl From<CodeError> for ApiError {
    fn from(e: CodeError) -> Self {
        const UNZIP: &str =
            "Could not unzip uploaded file. Please check your file, then try to upload again.";
        let err = |code, msg: String| Self::Lambda(LambdaError::new(code, msg));
        match e {
            CodeError::ZippedTooLarge(_) => err(
                ErrorCode::RequestEntityTooLarge,
                "Zipped size must be smaller than 52428800 bytes".into(),
            ),
            CodeError::UnzippedTooLarge => err(
                ErrorCode::InvalidParameterValue,
                "Unzipped size must be smaller than 262144000 bytes".into(),
            ),
            CodeError::Corrupt(_) => err(ErrorCode::InvalidParameterValue, UNZIP.into()),
            CodeError::TooManyEntries(n) => err(
                ErrorCode::InvalidParameterValue,
                format!(
                    "{UNZIP} The archive has {n} entries; at most {} are allowed.",
                    nimbus_store::code::MAX_ENTRIES
                ),
            ),
            CodeError::Clash(name) => err(
                ErrorCode::InvalidParameterValue,
                format!("{UNZIP} Entry '{name}' clashes with another entry of the same path."),
            ),
            CodeError::TreeTooLarge(what) => err(
                ErrorCode::InvalidParameterValue,
                format!("{UNZIP} {what}"),
            ),
            CodeError::UnsafePath(name) => err(
                ErrorCode::InvalidParameterValue,
                format!("{UNZIP} Entry '{name}' would be written outside the function's directory."),
            ),
            CodeError::UnsafeSymlink { entry, target } => err(
                ErrorCode::InvalidParameterValue,
                format!("{UNZIP} Symbolic link '{entry}' -> '{target}' leaves the function's directory."),
            ),
            e @ CodeError::Io { .. } => Self::internal(format!(
                "code store: {e}: {:?}",
                std::error::Error::source(&e)
            )),
        }
    }
}

/// Writes an AWS error body: `x-amzn-ErrorType`, and `{"Type": ..., "message"|"Message": ...}`.
pub(crate) fn error_response(code: ErrorCode, message: &str) -> Response {
    error_response_with_reason(code, message, None)
}

/// As [`error_response`], with TooManyRequestsException's `Reason` and `Retry-After`.
pub(crate) fn error_response_with_reason(
    code: ErrorCode,
    message: &str,
    reason: Option<&str>,
) -> Response {
    let mut body = serde_json::Map::new();
    if let Some(fault) = code.fault() {
        body.insert("Type".into(), fault.into());
    }
    if !message.is_empty() {
        body.insert(code.message_member().into(), message.into());
    }
    if let Some(r) = reason {
        body.insert("Reason".into(), r.into());
    }
    let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut resp = (status, axum::Json(serde_json::Value::Object(body))).into_response();
    resp.headers_mut().insert(
        "x-amzn-ErrorType",
        HeaderValue::from_static(code.type_name()),
    );
    if reason.is_some() {
        resp.headers_mut()
            .insert("Retry-After", HeaderValue::from_static("1"));
    }
    resp
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::Lambda(e) => error_response_with_reason(e.code, &e.message, e.reason),
            Self::Internal(detail) => {
                let mut resp = error_response(
                    ErrorCode::Service,
                    "An internal error occurred. The server's log has the details.",
                );
                resp.extensions_mut().insert(InternalDetail(detail));
                resp
            }
        }
    }
}

/// Result of an API handler.
pub(crate) type ApiResult<T> = Result<T, ApiError>;
