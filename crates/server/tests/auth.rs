//! SigV4 on every request: bad credentials get AWS's 403s and change nothing.

mod support;

use std::time::{Duration, SystemTime};

use nimbus_server::Credentials;
use support::{create_body, creds, hello_zip, TestServer};

fn create_as(s: &TestServer, c: &Credentials, at: SystemTime) -> support::Resp {
    let body = serde_json::to_vec(&create_body("f", &hello_zip())).expect("json");
    s.call_as(c, at, "POST", "/2015-03-31/functions", &body)
}

#[test]
fn wrong_secret() {
    let s = TestServer::start();
    let c = Credentials {
        secret_access_key: "not-the-secret-at-all-0123456789abcdefgh".into(),
        ..creds()
    };
    create_as(&s, &c, SystemTime::now()).assert_error(
        403,
        "InvalidSignatureException",
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
    );
    assert_eq!(s.function_count(), 0);
}

#[test]
fn unknown_key_id() {
    let s = TestServer::start();
    let c = Credentials {
        access_key_id: "NKIAUNKNOWNUNKNOWN00".into(),
        ..creds()
    };
    create_as(&s, &c, SystemTime::now()).assert_error(
        403,
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    );
    assert_eq!(s.function_count(), 0);
}

#[test]
fn twenty_minute_old_signature() {
    let s = TestServer::start();
    let r = create_as(
        &s,
        &creds(),
        SystemTime::now() - Duration::from_secs(20 * 60),
    );
    assert_eq!(
        (r.status, r.error_type.as_deref()),
        (403, Some("InvalidSignatureException"))
    );
    assert!(r.message().starts_with("Signature expired: "), "{}", r.body);
    assert!(r.message().ends_with(" - 15 min.)"), "{}", r.body);
    assert_eq!(s.function_count(), 0);
}

#[test]
fn missing_authentication() {
    let s = TestServer::start();
    let (status, body) = s.unsigned_get("/2015-03-31/functions");
    assert_eq!(status, 403);
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(v["message"], "Missing Authentication Token");
}

#[test]
fn health_needs_no_signature() {
    let s = TestServer::start();
    let (status, _) = s.unsigned_get("/health");
    assert_eq!(status, 200);
}

#[test]
fn any_region_from_the_credential_scope() {
    let s = TestServer::start();
    s.create("f", &hello_zip());
    // The ARN follows the region the client signed for.
    let url = s.url("/2015-03-31/functions/f/configuration");
    let host = s.addr.to_string();
    let signed = nimbus_server::auth::sign_request(
        &creds(),
        "eu-central-1",
        "GET",
        &url,
        &[("host", &host)],
        b"",
        SystemTime::now(),
    )
    .expect("sign");
    let mut req = reqwest::blocking::Client::new().get(&url);
    for (k, v) in signed {
        req = req.header(k, v);
    }
    let v: serde_json::Value =
        serde_json::from_slice(&req.send().expect("send").bytes().expect("body")).expect("json");
    assert_eq!(
        v["FunctionArn"],
        "arn:aws:lambda:eu-central-1:000000000000:function:f"
    );
}

/// Sends a request signed for `signed_for` to `sent_to`, a target SigV4 cannot tell apart.
fn replay(s: &TestServer, signed_for: &str, sent_to: &str) -> (u16, serde_json::Value) {
    let host = s.addr.to_string();
    let signed = nimbus_server::auth::sign_request(
        &creds(),
        "us-east-1",
        "GET",
        &s.url(signed_for),
        &[("host", &host)],
        b"",
        SystemTime::now(),
    )
    .expect("sign");
    let mut req = reqwest::blocking::Client::new().get(s.url(sent_to));
    for (k, v) in signed {
        req = req.header(k, v);
    }
    let resp = req.send().expect("send");
    let status = resp.status().as_u16();
    let v = serde_json::from_slice(&resp.bytes().expect("body")).expect("json");
    (status, v)
}

/// The signature covers sorted, decoded query pairs, not the bytes: a replay that reorders
/// repeated parameters or spells a space as `+` passes the check, and must then mean exactly
/// what the signer signed.
#[test]
fn a_replayed_target_reads_as_it_was_signed() {
    let s = TestServer::start();
    for name in ["f1", "f2", "f3"] {
        s.create(name, &hello_zip());
    }
    let listed = |v: &serde_json::Value| v["Functions"].as_array().map(Vec::len);
    let signed = "/2015-03-31/functions/?MaxItems=1&MaxItems=2";
    let (status, as_signed) = replay(&s, signed, signed);
    assert_eq!(status, 200, "{as_signed}");
    let (status, reordered) = replay(&s, signed, "/2015-03-31/functions/?MaxItems=2&MaxItems=1");
    assert_eq!(status, 200, "{reordered}");
    assert_eq!(listed(&as_signed), listed(&reordered));
    assert_eq!(listed(&as_signed), Some(1));

    // `+` is a space to the signer, so it is one to the handler.
    let signed = "/2015-03-31/functions/f1?Qualifier=a%20b";
    let (s1, spaced) = replay(&s, signed, signed);
    let (s2, plussed) = replay(&s, signed, "/2015-03-31/functions/f1?Qualifier=a+b");
    assert_eq!((s1, s2), (400, 400));
    assert_eq!(spaced, plussed);
    assert!(spaced.to_string().contains("a b"), "{spaced}");
}
