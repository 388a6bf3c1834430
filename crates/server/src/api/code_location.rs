//! GetFunction's `Code.Location`: a URL on this server that downloads the function's zip, valid
//! for a limited time and protected by an HMAC token instead of SigV4 (like a presigned S3 URL).

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use nimbus_model::{ErrorCode, LambdaError};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::api::{query_pairs, query_param};
use crate::app::{now_ms, App};
use crate::error::ApiResult;
use crate::request::Ctx;

fn token(key: &[u8; 32], sha: &str, expires: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any size");
    mac.update(sha.as_bytes());
    mac.update(b"\n");
    mac.update(expires.to_string().as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A download URL for package `sha` that expires after the configured time.
pub(crate) fn location_url(app: &App, ctx: &Ctx, name: &str, sha: &str) -> String {
    let expires = now_ms() / 1000 + i64::try_from(app.code_url_ttl_seconds).unwrap_or(600);
    format!(
        "http://{}/_nimbus/code/{sha}?function={name}&expires={expires}&token={}",
        ctx.host,
        token(&app.url_key, sha, expires)
    )
}

fn denied() -> crate::error::ApiError {
    LambdaError::new(
        ErrorCode::AccessDenied,
        "The code download link is invalid or has expired.",
    )
    .into()
}

/// `GET /_nimbus/code/{sha}?expires=..&token=..`.
pub(crate) async fn download(
    State(app): State<Arc<App>>,
    Path(sha): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let q = query_pairs(query.as_deref());
    let expires: i64 = query_param(&q, "expires")
        .and_then(|e| e.parse().ok())
        .ok_or_else(denied)?;
    let given = query_param(&q, "token").unwrap_or("");
    let expected = token(&app.url_key, &sha, expires);
    let valid =
        given.len() == expected.len() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()));
    if !valid || expires < now_ms() / 1000 {
        return Err(denied());
    }
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(denied());
    }
    let bytes = match tokio::fs::read(app.code.zip_path(&sha)).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(LambdaError::not_found("The resource you requested does not exist.").into())
        }
        Err(e) => return Err(crate::error::ApiError::internal(e)),
    };
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/zip")],
        bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_binds_package_and_expiry() {
        let key = [7u8; 32];
        let t = token(&key, "abc", 100);
        assert_eq!(t, token(&key, "abc", 100));
        assert_ne!(t, token(&key, "abd", 100));
        assert_ne!(t, token(&key, "abc", 101));
        assert_ne!(t, token(&[8u8; 32], "abc", 100));
    }
}
