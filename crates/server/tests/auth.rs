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
