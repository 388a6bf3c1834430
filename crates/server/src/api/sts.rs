//! STS, as much of it as functions need to know who they are: `GetCallerIdentity`
//! (`POST /`, AWS's query protocol: a form body in, XML out). An SDK pointed at Nimbus by
//! `AWS_ENDPOINT_URL` sends it here; the answer names the principal the signature proved
//! (the root account, or a function's assumed role).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use nimbus_model::{ErrorCode, LambdaError};
use sha2::{Digest, Sha256};

use crate::app::App;
use crate::request::Ctx;
use crate::sessions::Principal;

/// AWS compat: the namespace of STS's 2011-06-15 API.
const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// The value of `name` in a form body, decoded.
fn form_value(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(&s.replace('+', " "))
                .decode_utf8()
                .ok()
                .map(|c| c.into_owned())
        };
        (decode(k)? == name).then(|| decode(v)).flatten()
    })
}

/// Text for XML element content.
fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn xml(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/xml")], body).into_response()
}

/// AWS compat: an STS error, in the query protocol's XML.
pub(crate) fn error(status: StatusCode, code: &str, message: &str, request_id: &str) -> Response {
    let fault = if status.is_server_error() {
        "Receiver"
    } else {
        "Sender"
    };
    xml(
        status,
        format!(
            "<ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>{fault}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
            xml_escape(code),
            xml_escape(message),
            xml_escape(request_id)
        ),
    )
}

/// A refusal of the request middleware, as STS words it.
pub(crate) fn refusal(e: &LambdaError, request_id: &str) -> Response {
    let code = match e.code {
        ErrorCode::UnrecognizedClient => "InvalidClientTokenId",
        ErrorCode::ExpiredToken => "ExpiredToken",
        ErrorCode::InvalidSignature => "SignatureDoesNotMatch",
        ErrorCode::IncompleteSignature => "IncompleteSignature",
        ErrorCode::MissingAuthenticationToken => "MissingAuthenticationToken",
        other => other.type_name().trim_end_matches("Exception"),
    };
    let status = StatusCode::from_u16(e.code.status()).unwrap_or(StatusCode::BAD_REQUEST);
    error(status, code, &e.message, request_id)
}

/// AWS compat: a role session's UserId is the role's unique id (`AROA…`) and the session name.
pub(crate) fn user_id(principal: &Principal, account: &str) -> String {
    match principal {
        Principal::Root => account.to_string(),
        Principal::Role { role_arn, function } => {
            const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
            let digest = Sha256::digest(role_arn.as_bytes());
            let id: String = digest
                .iter()
                .take(17)
                .map(|b| char::from(UPPER[usize::from(*b) % UPPER.len()]))
                .collect();
            format!("AROA{id}:{function}")
        }
    }
}

/// `POST /` with `Action=…`.
pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Extension(ctx): Extension<Ctx>,
    body: Bytes,
) -> Response {
    let action = form_value(&body, "Action").unwrap_or_default();
    match action.as_str() {
        "GetCallerIdentity" => {
            let account = &app.account;
            xml(
                StatusCode::OK,
                format!(
                    "<GetCallerIdentityResponse xmlns=\"{XMLNS}\"><GetCallerIdentityResult><Arn>{}</Arn><UserId>{}</UserId><Account>{}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></GetCallerIdentityResponse>",
                    xml_escape(&ctx.principal.arn(account)),
                    xml_escape(&user_id(&ctx.principal, account)),
                    xml_escape(account),
                    xml_escape(&ctx.request_id)
                ),
            )
        }
        "" => error(
            StatusCode::BAD_REQUEST,
            "MissingAction",
            "Missing Action",
            &ctx.request_id,
        ),
        other => error(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            &format!("Could not find operation {other} for version 2011-06-15"),
            &ctx.request_id,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_are_decoded() {
        let body = b"Version=2011-06-15&Action=GetCallerIdentity&X=a+b%2Fc";
        assert_eq!(
            form_value(body, "Action").as_deref(),
            Some("GetCallerIdentity")
        );
        assert_eq!(form_value(body, "X").as_deref(), Some("a b/c"));
        assert_eq!(form_value(body, "Missing"), None);
        assert_eq!(form_value(b"\xff\xfe", "Action"), None);
    }

    #[test]
    fn role_user_ids_are_stable_per_role() {
        let p = |role: &str, f: &str| Principal::Role {
            role_arn: role.into(),
            function: f.into(),
        };
        let a = user_id(&p("arn:aws:iam::1:role/a", "f"), "1");
        assert!(a.starts_with("AROA") && a.ends_with(":f"), "{a}");
        assert_eq!(a.len(), 4 + 17 + 2);
        assert_eq!(a, user_id(&p("arn:aws:iam::1:role/a", "f"), "1"));
        assert_ne!(
            a.split(':').next(),
            user_id(&p("arn:aws:iam::1:role/b", "f"), "1")
                .split(':')
                .next()
        );
        assert_eq!(user_id(&Principal::Root, "123"), "123");
    }

    #[tokio::test]
    async fn errors_escape_what_they_quote() {
        let r = error(StatusCode::BAD_REQUEST, "InvalidAction", "no <op>&", "rid");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let body = axum::body::to_bytes(r.into_body(), 1 << 16)
            .await
            .expect("body");
        let text = String::from_utf8(body.to_vec()).expect("utf-8");
        assert!(
            text.contains("<Type>Sender</Type><Code>InvalidAction</Code><Message>no &lt;op&gt;&amp;</Message>"),
            "{text}"
        );
    }
}
