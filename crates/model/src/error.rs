//! Lambda's error vocabulary: the type name, HTTP status and body shape of every error Nimbus returns.

use std::fmt;

/// An AWS error type that Nimbus can return, with its wire facts.
///
/// AWS compat: the status codes and the case of the message member come from the botocore
/// Lambda model and recorded AWS responses (spec/lambda-compat.md §5a).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// 400, modelled, `message`.
    InvalidParameterValue,
    /// 404, modelled, `Message`.
    ResourceNotFound,
    /// 409, modelled, `message`.
    ResourceConflict,
    /// 412, modelled, `message`.
    PreconditionFailed,
    /// 429, modelled, `message`.
    TooManyRequests,
    /// 500, modelled, `Message`.
    Service,
    /// 413, modelled (`RequestTooLargeException`), `message`.
    RequestTooLarge,
    /// 413, unmodelled (`RequestEntityTooLargeException`), `message`.
    RequestEntityTooLarge,
    /// 415, modelled, `message`.
    UnsupportedMediaType,
    /// 400, modelled, `message`.
    InvalidRequestContent,
    /// 400, unmodelled generic input-constraint failure, `message`.
    Validation,
    /// 403, unmodelled.
    AccessDenied,
    /// 403, auth: unknown access key id.
    UnrecognizedClient,
    /// 403, auth: session credentials past their expiry.
    ExpiredToken,
    /// 403, auth: bad or expired signature.
    InvalidSignature,
    /// 403, auth: an Authorization header that is not a complete SigV4 signature.
    IncompleteSignature,
    /// 403, auth: no credentials at all.
    MissingAuthenticationToken,
    /// 400, an operation or path Nimbus does not serve.
    UnknownOperation,
    /// 502, modelled, `Message`: the function's runtime cannot run here.
    InvalidRuntime,
    /// 400, modelled, `message`: a resource policy over its size limit.
    PolicyLengthExceeded,
    /// 404, modelled, `message`: no provisioned concurrency configuration.
    ProvisionedConcurrencyConfigNotFound,
    /// 409, EventBridge Scheduler's: the resource exists, or is changing.
    Conflict,
    /// 402, EventBridge Scheduler's: a quota reached.
    ServiceQuotaExceeded,
}

impl ErrorCode {
    /// The AWS error type, sent in `x-amzn-ErrorType` and `__type`.
    pub fn type_name(self) -> &'static str {
        match self {
            Self::InvalidParameterValue => "InvalidParameterValueException",
            Self::ResourceNotFound => "ResourceNotFoundException",
            Self::ResourceConflict => "ResourceConflictException",
            Self::PreconditionFailed => "PreconditionFailedException",
            Self::TooManyRequests => "TooManyRequestsException",
            Self::Service => "ServiceException",
            Self::RequestTooLarge => "RequestTooLargeException",
            Self::RequestEntityTooLarge => "RequestEntityTooLargeException",
            Self::UnsupportedMediaType => "UnsupportedMediaTypeException",
            Self::InvalidRequestContent => "InvalidRequestContentException",
            Self::Validation => "ValidationException",
            Self::AccessDenied => "AccessDeniedException",
            Self::UnrecognizedClient => "UnrecognizedClientException",
            Self::ExpiredToken => "ExpiredTokenException",
            Self::InvalidSignature => "InvalidSignatureException",
            Self::IncompleteSignature => "IncompleteSignatureException",
            Self::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            Self::UnknownOperation => "UnknownOperationException",
            Self::InvalidRuntime => "InvalidRuntimeException",
            Self::PolicyLengthExceeded => "PolicyLengthExceededException",
            Self::ProvisionedConcurrencyConfigNotFound => {
                "ProvisionedConcurrencyConfigNotFoundException"
            }
            Self::Conflict => "ConflictException",
            Self::ServiceQuotaExceeded => "ServiceQuotaExceededException",
        }
    }

    /// The HTTP status AWS answers with.
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidParameterValue
            | Self::InvalidRequestContent
            | Self::Validation
            | Self::PolicyLengthExceeded
            | Self::UnknownOperation => 400,
            Self::ResourceNotFound | Self::ProvisionedConcurrencyConfigNotFound => 404,
            Self::ResourceConflict | Self::Conflict => 409,
            Self::ServiceQuotaExceeded => 402,
            Self::PreconditionFailed => 412,
            Self::TooManyRequests => 429,
            Self::Service => 500,
            Self::RequestTooLarge | Self::RequestEntityTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::InvalidRuntime => 502,
            Self::AccessDenied
            | Self::UnrecognizedClient
            | Self::ExpiredToken
            | Self::InvalidSignature
            | Self::IncompleteSignature
            | Self::MissingAuthenticationToken => 403,
        }
    }

    /// The JSON member that carries the message: modelled Lambda errors use either `message` or
    /// `Message`, and botocore reads both.
    pub fn message_member(self) -> &'static str {
        match self {
            Self::ResourceNotFound | Self::Service | Self::InvalidRuntime => "Message",
            _ => "message",
        }
    }

    /// `"Type"` member of modelled Lambda errors: `User` for client faults, `Service` for ours.
    /// Unmodelled errors (validation, auth) carry none.
    pub fn fault(self) -> Option<&'static str> {
        match self {
            Self::Service => Some("Service"),
            Self::Validation
            | Self::RequestEntityTooLarge
            | Self::AccessDenied
            | Self::UnrecognizedClient
            | Self::ExpiredToken
            | Self::InvalidSignature
            | Self::IncompleteSignature
            | Self::MissingAuthenticationToken
            | Self::UnknownOperation => None,
            _ => Some("User"),
        }
    }
}

/// An error as Lambda reports it: a type and an exact message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LambdaError {
    /// The AWS error type.
    pub code: ErrorCode,
    /// The message, word for word as AWS writes it.
    pub message: String,
    /// `Reason` member (TooManyRequestsException).
    pub reason: Option<&'static str>,
}

impl fmt::Display for LambdaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.type_name(), self.message)
    }
}

impl LambdaError {
    /// An error of `code` with `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            reason: None,
        }
    }

    /// 429 TooManyRequestsException, `Rate Exceeded.`, with the `Reason` AWS gives.
    pub fn throttled(reason: &'static str) -> Self {
        Self {
            code: ErrorCode::TooManyRequests,
            message: "Rate Exceeded.".into(),
            reason: Some(reason),
        }
    }

    /// 400 InvalidParameterValueException.
    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParameterValue, message)
    }

    /// 404 ResourceNotFoundException.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ResourceNotFound, message)
    }

    /// 409 ResourceConflictException.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ResourceConflict, message)
    }

    /// 400 ValidationException for a required member left out (`null`), as AWS words it.
    pub fn required(field: &str) -> Self {
        Self::validation(format!("1 validation error detected: {}", null_at(field)))
    }

    /// 400 ValidationException.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Validation, message)
    }

    /// 412 for a RevisionId that is not the current one.
    pub fn stale_revision() -> Self {
        Self::new(
            ErrorCode::PreconditionFailed,
            "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
        )
    }
}

/// AWS's words for a `null` where `field` is required.
fn null_at(field: &str) -> String {
    format!("Value null at '{field}' failed to satisfy constraint: Member must not be null")
}

/// Collects model-constraint failures and renders them as AWS does:
/// `N validation error(s) detected: Value 'x' at 'field' failed to satisfy constraint: ...; ...`.
#[derive(Debug, Default)]
pub struct ValidationErrors {
    items: Vec<String>,
}

impl ValidationErrors {
    /// Records that `value` at `field` fails `constraint` (the text after `constraint: `).
    pub fn push(&mut self, value: &str, field: &str, constraint: &str) {
        self.items.push(format!(
            "Value '{value}' at '{field}' failed to satisfy constraint: {constraint}"
        ));
    }

    /// Records a `null` where a value is required.
    pub fn push_null(&mut self, field: &str) {
        self.items.push(null_at(field));
    }

    /// Records a failure already worded in full (used where AWS does not echo the value).
    pub fn push_raw(&mut self, text: &str) {
        self.items.push(text.to_string());
    }

    /// `Ok` when nothing was recorded, else a ValidationException listing every failure.
    pub fn finish(self) -> Result<(), LambdaError> {
        if self.items.is_empty() {
            return Ok(());
        }
        let n = self.items.len();
        let noun = if n == 1 { "error" } else { "errors" };
        Err(LambdaError::validation(format!(
            "{n} validation {noun} detected: {}",
            self.items.join("; ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_errors_count_and_join() {
        let mut v = ValidationErrors::default();
        assert!(ValidationErrors::default().finish().is_ok());
        v.push(
            "3000",
            "timeout",
            "Member must have value less than or equal to 900",
        );
        v.push(
            "1",
            "memorySize",
            "Member must have value greater than or equal to 128",
        );
        let e = v.finish().expect_err("two failures");
        assert_eq!(e.code, ErrorCode::Validation);
        assert_eq!(
            e.message,
            "2 validation errors detected: Value '3000' at 'timeout' failed to satisfy constraint: Member must have value less than or equal to 900; Value '1' at 'memorySize' failed to satisfy constraint: Member must have value greater than or equal to 128"
        );
    }

    #[test]
    fn message_member_case_follows_the_model() {
        assert_eq!(ErrorCode::ResourceNotFound.message_member(), "Message");
        assert_eq!(ErrorCode::InvalidParameterValue.message_member(), "message");
        assert_eq!(ErrorCode::Validation.fault(), None);
        assert_eq!(ErrorCode::ResourceConflict.status(), 409);
    }
}
