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

/// The link's MAC, over the function, its version, the package and the expiry: a link of one
/// function never downloads another's code, even a package they share.
fn token(key: &[u8; 32], function: &str, version: &str, sha: &str, expires: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any size");
    for part in [function, version, sha, &expires.to_string()] {
        mac.update(&(part.len() as u64).to_le_bytes());
        mac.update(part.as_bytes());
    }
    hex::encode(mac.finalize().into_bytes())
}

/// A download URL for the package of `f` (`$LATEST` or a published version) that expires
/// after the configured time.
pub(crate) fn location_url(app: &App, ctx: &Ctx, f: &nimbus_model::Function) -> String {
    let expires = now_ms() / 1000 + i64::try_from(app.code_url_ttl_seconds).unwrap_or(600);
    let (name, sha) = (&f.name, &f.code.sha256_hex);
    let version = f
        .version
        .map_or_else(|| "$LATEST".to_string(), |n| n.to_string());
    format!(
        "http://{}/_nimbus/code/{sha}?function={name}&version={}&expires={expires}&token={}",
        ctx.host,
        percent_encoding::utf8_percent_encode(&version, percent_encoding::NON_ALPHANUMERIC),
        token(&app.url_key, name, &version, sha, expires)
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
    let function = query_param(&q, "function").unwrap_or("");
    let version = query_param(&q, "version").unwrap_or("");
    let expected = token(&app.url_key, function, version, &sha, expires);
    let valid =
        given.len() == expected.len() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()));
    if !valid || expires < now_ms() / 1000 {
        return Err(denied());
    }
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(denied());
    }
    // AWS compat: the code of a function or version deleted or updated since is gone with it.
    let current = match crate::api::Qualifier::of(Some(version)) {
        crate::api::Qualifier::Latest => app.store.get_function(function).await?,
        crate::api::Qualifier::Version(n) => app.store.get_version(function, n).await?,
        crate::api::Qualifier::Alias(_) => None,
    };
    if current.is_none_or(|f| f.code.sha256_hex != sha) {
        return Err(LambdaError::not_found("The resource you requested does not exist.").into());
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
    fn token_binds_function_version_package_and_expiry() {
        let key = [7u8; 32];
        let t = token(&key, "f", "$LATEST", "abc", 100);
        assert_eq!(t, token(&key, "f", "$LATEST", "abc", 100));
        assert_ne!(t, token(&key, "g", "$LATEST", "abc", 100));
        assert_ne!(t, token(&key, "f", "1", "abc", 100));
        assert_ne!(t, token(&key, "f", "$LATEST", "abd", 100));
        assert_ne!(t, token(&key, "f", "$LATEST", "abc", 101));
        assert_ne!(t, token(&[8u8; 32], "f", "$LATEST", "abc", 100));
        // Lengths are part of the MAC: moving bytes between fields changes it.
        assert_ne!(
            token(&key, "fa", "b", "c", 1),
            token(&key, "f", "ab", "c", 1)
        );
    }
}
