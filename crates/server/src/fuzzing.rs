//! Entry points for the fuzz targets under `fuzz/` (cargo feature `fuzzing`, never in a
//! release build): the request edge as a hostile client reaches it, with the properties that
//! must hold for any input checked as assertions, so that a violation is a crash the fuzzer
//! reports.

use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use crate::auth::{self, Credentials, Keys};
use crate::sessions::Sessions;
use crate::target;

const KEY_ID: &str = "AKIDFUZZFUZZFUZZFUZZ";
const SECRET: &str = "fuzz/secret/key/that/is/forty/characters";

fn keys_for<'a>(root: &'a [Credentials], sessions: &'a Sessions) -> Keys<'a> {
    Keys { root, sessions }
}

/// One request from `data`: a method line, a target line, header lines (`name: value`), an
/// empty line, the body.
fn request(data: &[u8]) -> Option<(String, String, HeaderMap, Vec<u8>)> {
    let text = String::from_utf8_lossy(data);
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut lines = head.split('\n');
    let method = lines.next()?.trim().to_string();
    let target = lines.next()?.trim().to_string();
    let mut headers = HeaderMap::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_str(value.trim()),
        ) else {
            continue;
        };
        headers.append(name, value);
    }
    Some((method, target, headers, body.as_bytes().to_vec()))
}

/// The signature check and the one reading of a target, over an arbitrary request:
/// - nothing panics, whatever the headers, target and body;
/// - the canonical target is a fixed point (reading it again changes nothing);
/// - the verdict over the canonical target is the verdict over the target as sent, so the
///   router's reading never accepts what the signature did not cover, nor refuses what it did;
/// - the same request signed correctly verifies over the canonical target.
pub fn sigv4(data: &[u8]) {
    let Some((method, raw, mut headers, body)) = request(data) else {
        return;
    };
    if !raw.starts_with('/') || method.is_empty() {
        return;
    }
    let Ok(uri) = raw.parse::<axum::http::Uri>() else {
        return;
    };
    let canonical = target::canonical(uri.path(), uri.query());
    if let Ok(c) = canonical.parse::<axum::http::Uri>() {
        assert_eq!(
            target::canonical(c.path(), c.query()),
            canonical,
            "the canonical target of {raw:?} is no fixed point"
        );
    } else {
        // The middleware refuses such a target with a 400; nothing to compare.
        return;
    }
    let root = [Credentials {
        access_key_id: KEY_ID.into(),
        secret_access_key: SECRET.into(),
    }];
    let sessions = Sessions::new(Duration::from_secs(60));
    let keys = keys_for(&root, &sessions);
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_780_000_000);
    let verdict = |headers: &HeaderMap, pq: &str| {
        auth::precheck(&keys, headers, now, "lambda")
            .and_then(|pre| auth::verify_signature(&pre, &method, pq, headers, &body))
            .is_ok()
    };
    assert_eq!(
        verdict(&headers, &raw),
        verdict(&headers, &canonical),
        "{raw:?} and its canonical {canonical:?} verify differently"
    );

    // Signed for real, by the same signer the SDKs use, over the target as sent.
    headers.remove("authorization");
    headers.remove("x-amz-date");
    headers.remove("x-amz-security-token");
    headers.insert("host", HeaderValue::from_static("127.0.0.1:9000"));
    let signed_headers: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let pairs: Vec<(&str, &str)> = signed_headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let url = format!("http://127.0.0.1:9000{raw}");
    let Ok(signature) =
        auth::sign_request(&root[0], "us-east-1", &method, &url, &pairs, &body, now)
    else {
        return;
    };
    for (k, v) in signature {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            headers.insert(k, v);
        }
    }
    if auth::precheck(&keys, &headers, now, "lambda").is_err() {
        // A header the signer left unsigned that must be signed (X-Amz-Invocation-Type...):
        // refusing it is right.
        return;
    }
    assert!(
        verdict(&headers, &canonical),
        "a request signed over {raw:?} fails over its canonical {canonical:?}"
    );
}
