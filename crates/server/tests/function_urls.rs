//! Function URLs: the configuration operations with AWS's validation and messages, and the URLs
//! themselves, reached by host name and by path with a plain HTTP client: the payload format
//! 2.0 event, response mapping, AWS_IAM and NONE authorization, CORS and error statuses.

mod support;

use std::time::SystemTime;

use nimbus_server::auth::sign_request;
use serde_json::{json, Value};
use support::{creds, zip_of, Resp, TestServer, ACCOUNT, REGION};

const ECHO: &[u8] = br#"
import json

def handler(event, context):
    if event.get("rawPath") == "/fail":
        raise RuntimeError("boom")
    if event.get("rawPath") == "/plain":
        return {"just": "json"}
    if event.get("rawPath") == "/binary":
        return {"statusCode": 200, "headers": {"content-type": "image/png",
                "Content-Length": "9999", "transfer-encoding": "chunked", "connection": "close"},
                "body": "AAECAwQ=", "isBase64Encoded": True}
    return {
        "statusCode": 201,
        "headers": {"x-echo": "yes", "content-type": "application/json"},
        "cookies": ["a=1; Path=/", "b=2; HttpOnly"],
        "body": json.dumps(event),
    }
"#;

fn echo(s: &TestServer, name: &str) {
    s.create(name, &zip_of(&[("app.py", ECHO)]));
}

fn create_url(s: &TestServer, target: &str, body: &Value) -> Resp {
    let (name, query) = target.split_once('?').unwrap_or((target, ""));
    let q = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    s.call_json(
        "POST",
        &format!("/2021-10-31/functions/{name}/url{q}"),
        body,
    )
}

const FORBIDDEN: &str = "Forbidden. For troubleshooting Function URL authorization issues, see: https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html";

/// The two statements a public URL needs since October 2025.
fn allow_public(s: &TestServer, name: &str) {
    allow_url_only(s, name);
    allow_invoke(s, name);
}

fn allow_invoke(s: &TestServer, name: &str) {
    let r = s.call_json(
        "POST",
        &format!("/2015-03-31/functions/{name}/policy"),
        &json!({ "StatementId": "invoke", "Action": "lambda:InvokeFunction", "Principal": "*", "InvokedViaFunctionUrl": true }),
    );
    assert_eq!(r.status, 201, "{}", r.body);
}

fn allow_url_only(s: &TestServer, name: &str) {
    let r = s.call_json(
        "POST",
        &format!("/2015-03-31/functions/{name}/policy"),
        &json!({ "StatementId": "public", "Action": "lambda:InvokeFunctionUrl", "Principal": "*", "FunctionUrlAuthType": "NONE" }),
    );
    assert_eq!(r.status, 201, "{}", r.body);
}

#[track_caller]
fn assert_denied(r: &Http, message: Value) {
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-amzn-errortype"), Some("AccessDeniedException"));
    assert_eq!(r.json(), json!({ "Message": message }));
}

/// The id in a URL the API returned.
fn url_id(url: &str) -> String {
    url.trim_start_matches("http://")
        .split('.')
        .next()
        .expect("id")
        .to_string()
}

struct Http {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Http {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

fn send(req: reqwest::blocking::RequestBuilder) -> Http {
    let r = req.send().expect("request");
    Http {
        status: r.status().as_u16(),
        headers: r.headers().clone(),
        body: r.bytes().expect("body").to_vec(),
    }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

#[test]
fn url_configurations_follow_lambdas_rules() {
    let s = TestServer::start();
    echo(&s, "f");
    let port = s.url_addr.expect("urls are served").port();
    let fa = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:f");

    create_url(&s, "f", &json!({})).assert_error(
        400,
        "ValidationException",
        "1 validation error detected: Value null at 'authType' failed to satisfy constraint: Member must not be null",
    );
    create_url(&s, "f?Qualifier=1", &json!({ "AuthType": "NONE" })).assert_error(
        400,
        "ValidationException",
        "1 validation error detected: Value '1' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: ((?!^\\d+$)^[0-9a-zA-Z-_]+$)",
    );
    create_url(&s, "f?Qualifier=live", &json!({ "AuthType": "NONE" })).assert_error(
        404,
        "ResourceNotFoundException",
        &format!("Function not found: {fa}:live"),
    );
    create_url(&s, "nope", &json!({ "AuthType": "NONE" })).assert_error(
        404,
        "ResourceNotFoundException",
        &format!("Function not found: arn:aws:lambda:{REGION}:{ACCOUNT}:function:nope"),
    );

    let r = create_url(
        &s,
        "f",
        &json!({ "AuthType": "AWS_IAM", "Cors": { "AllowOrigins": ["https://a.example"], "MaxAge": 60 } }),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let url = r.body["FunctionUrl"].as_str().expect("url").to_string();
    let id = url_id(&url);
    assert_eq!(
        url,
        format!("http://{id}.lambda-url.{REGION}.localhost:{port}/")
    );
    assert_eq!(id.len(), 32);
    assert_eq!(r.body["FunctionArn"], fa);
    assert_eq!(r.body["AuthType"], "AWS_IAM");
    assert!(r.body.get("InvokeMode").is_none(), "echoed only when given");
    assert_eq!(
        r.body["Cors"],
        json!({ "AllowOrigins": ["https://a.example"], "MaxAge": 60 })
    );
    assert!(r.body.get("LastModifiedTime").is_none());
    create_url(&s, "f", &json!({ "AuthType": "NONE" })).assert_error(
        409,
        "ResourceConflictException",
        &format!("Failed to create function url config for [functionArn = {fa}]. Error message:  FunctionUrlConfig exists for this Lambda function"),
    );

    let got = s.call("GET", "/2021-10-31/functions/f/url", b"");
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.body["FunctionUrl"], url);
    assert_eq!(got.body["CreationTime"], r.body["CreationTime"]);
    assert!(got.body["LastModifiedTime"].is_string());
    assert_eq!(got.body["InvokeMode"], "BUFFERED");

    // An update keeps what it does not name; a Cors given replaces the old one whole.
    let up = s.call_json(
        "PUT",
        "/2021-10-31/functions/f/url",
        &json!({ "Cors": { "AllowMethods": ["GET"] } }),
    );
    assert_eq!(up.status, 200, "{}", up.body);
    assert_eq!(up.body["AuthType"], "AWS_IAM");
    assert_eq!(up.body["Cors"], json!({ "AllowMethods": ["GET"] }));
    assert_eq!(up.body["FunctionUrl"], url);
    s.call_json(
        "PUT",
        "/2021-10-31/functions/f/url",
        &json!({ "AuthType": "OPEN" }),
    )
    .assert_error(
        400,
        "ValidationException",
        "1 validation error detected: Value 'OPEN' at 'authType' failed to satisfy constraint: Member must satisfy enum value set: [AWS_IAM, NONE]",
    );

    // An alias's URL, and the listing in pages.
    let v = s.call_json("POST", "/2015-03-31/functions/f/versions", &json!({}));
    assert_eq!(v.status, 201, "{}", v.body);
    for alias in ["live", "beta"] {
        let a = s.call_json(
            "POST",
            "/2015-03-31/functions/f/aliases",
            &json!({ "Name": alias, "FunctionVersion": "1" }),
        );
        assert_eq!(a.status, 201, "{}", a.body);
        let r = create_url(
            &s,
            &format!("f?Qualifier={alias}"),
            &json!({ "AuthType": "NONE" }),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.body["FunctionArn"], format!("{fa}:{alias}"));
    }
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let q = marker
            .as_ref()
            .map_or(String::new(), |m| format!("&Marker={m}"));
        let page = s.call(
            "GET",
            &format!("/2021-10-31/functions/f/urls?MaxItems=1{q}"),
            b"",
        );
        assert_eq!(page.status, 200, "{}", page.body);
        for c in page.body["FunctionUrlConfigs"].as_array().expect("list") {
            seen.push(c["FunctionArn"].as_str().expect("arn").to_string());
        }
        match page.body["NextMarker"].as_str() {
            Some(m) => marker = Some(m.to_string()),
            None => break,
        }
    }
    assert_eq!(
        seen,
        [fa.clone(), format!("{fa}:beta"), format!("{fa}:live")]
    );
    s.call("GET", "/2021-10-31/functions/f/urls?MaxItems=51", b"")
        .assert_error(
            400,
            "ValidationException",
            "1 validation error detected: Value '51' at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to 50",
        );
    s.call("GET", "/2021-10-31/functions/nope/urls", b"")
        .assert_error(404, "ResourceNotFoundException", "Function does not exist");

    // Deleting the alias takes its URL; deleting a URL twice is a 404.
    assert_eq!(
        s.call("DELETE", "/2015-03-31/functions/f/aliases/beta", b"")
            .status,
        204
    );
    s.call("GET", "/2021-10-31/functions/f/url?Qualifier=beta", b"")
        .assert_error(
            404,
            "ResourceNotFoundException",
            "The resource you requested does not exist.",
        );
    assert_eq!(
        s.call("DELETE", "/2021-10-31/functions/f/url?Qualifier=live", b"")
            .status,
        204
    );
    s.call("DELETE", "/2021-10-31/functions/f/url?Qualifier=live", b"")
        .assert_error(
            404,
            "ResourceNotFoundException",
            "The resource you requested does not exist.",
        );
    // The function's deletion takes the rest, and its URL stops answering.
    assert_eq!(s.call("DELETE", "/2015-03-31/functions/f", b"").status, 204);
    let gone = send(client().get(format!(
        "http://{}/lambda-url/{id}/",
        s.url_addr.expect("urls")
    )));
    assert_denied(&gone, Value::Null);
}

#[test]
fn a_public_url_serves_the_20_event_by_host_and_by_path() {
    let s = TestServer::start();
    echo(&s, "web");
    let r = create_url(&s, "web", &json!({ "AuthType": "NONE" }));
    assert_eq!(r.status, 201, "{}", r.body);
    let url = r.body["FunctionUrl"].as_str().expect("url").to_string();
    let id = url_id(&url);
    let addr = s.url_addr.expect("urls");
    let http = client();

    // NONE without the statements that let everyone in: 403; InvokeFunctionUrl alone is not
    // enough since October 2025.
    let denied = send(http.get(format!("http://{addr}/lambda-url/{id}/")));
    assert_denied(&denied, json!(FORBIDDEN));
    allow_url_only(&s, "web");
    let denied = send(http.get(format!("http://{addr}/lambda-url/{id}/")));
    assert_denied(&denied, json!(FORBIDDEN));
    let r = s.call_json(
        "POST",
        "/2015-03-31/functions/web/policy",
        &json!({ "StatementId": "invoke", "Action": "lambda:InvokeFunction", "Principal": "*", "InvokedViaFunctionUrl": true }),
    );
    assert_eq!(r.status, 201, "{}", r.body);

    // By host name (the name sent, the connection to loopback, as *.localhost resolves).
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let by_host = send(
        http.get(format!(
            "http://{addr}/items/42?color=red&size=m&color=blue&q=a%20b"
        ))
        .header("host", host)
        .header("cookie", "session=abc; theme=dark")
        .header("x-multi", "one")
        .header("User-Agent", "nimbus-test/1"),
    );
    assert_eq!(
        by_host.status,
        201,
        "{}",
        String::from_utf8_lossy(&by_host.body)
    );
    assert_eq!(by_host.header("x-echo"), Some("yes"));
    let cookies: Vec<&str> = by_host
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert_eq!(cookies, ["a=1; Path=/", "b=2; HttpOnly"]);
    assert!(by_host.header("x-amzn-requestid").is_some());
    let ev = by_host.json();
    assert_eq!(ev["version"], "2.0");
    assert_eq!(ev["routeKey"], "$default");
    assert_eq!(ev["rawPath"], "/items/42");
    assert_eq!(ev["rawQueryString"], "color=red&size=m&color=blue&q=a%20b");
    assert_eq!(
        ev["queryStringParameters"],
        json!({ "color": "red,blue", "size": "m", "q": "a b" })
    );
    assert_eq!(ev["cookies"], json!(["session=abc", "theme=dark"]));
    assert_eq!(ev["headers"]["cookie"], "session=abc; theme=dark");
    assert_eq!(ev["headers"]["x-forwarded-for"], "127.0.0.1");
    assert_eq!(ev["headers"]["x-forwarded-proto"], "http");
    assert!(ev["headers"]["x-amzn-trace-id"]
        .as_str()
        .is_some_and(|t| t.starts_with("Root=1-")));
    assert_eq!(ev["headers"]["x-multi"], "one");
    assert_eq!(ev["headers"]["host"], host);
    assert_eq!(ev["isBase64Encoded"], false);
    assert!(ev.get("body").is_none());
    let rc = &ev["requestContext"];
    assert_eq!(rc["accountId"], "anonymous");
    assert_eq!(rc["apiId"], id);
    assert_eq!(rc["domainPrefix"], id);
    assert_eq!(rc["domainName"], host.split(':').next().expect("name"));
    assert_eq!(rc["http"]["method"], "GET");
    assert_eq!(rc["http"]["path"], "/items/42");
    assert_eq!(rc["http"]["protocol"], "HTTP/1.1");
    assert_eq!(rc["http"]["sourceIp"], "127.0.0.1");
    assert_eq!(rc["http"]["userAgent"], "nimbus-test/1");
    assert_eq!(rc["routeKey"], "$default");
    assert_eq!(rc["stage"], "$default");
    assert_eq!(
        rc["requestId"],
        by_host.header("x-amzn-requestid").expect("id")
    );
    assert!(rc["timeEpoch"].as_i64().expect("epoch ms") > 1_700_000_000_000);
    assert!(rc.get("authorizer").is_none());

    // By path: the rest of the path is the function's; a binary body arrives base64.
    let binary: Vec<u8> = (0u8..=255).collect();
    let by_path = send(
        http.post(format!("http://{addr}/lambda-url/{id}/upload"))
            .header("content-type", "application/octet-stream")
            .body(binary.clone()),
    );
    assert_eq!(by_path.status, 201);
    let ev = by_path.json();
    assert_eq!(ev["rawPath"], "/upload");
    assert_eq!(ev["requestContext"]["http"]["method"], "POST");
    assert_eq!(ev["isBase64Encoded"], true);
    let decoded = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        ev["body"].as_str().expect("body"),
    )
    .expect("base64");
    assert_eq!(decoded, binary);
    let text = send(
        http.post(format!("http://{addr}/lambda-url/{id}/form"))
            .header("content-type", "application/json")
            .body(r#"{"k":"v"}"#),
    );
    assert_eq!(text.json()["body"], r#"{"k":"v"}"#);
    assert_eq!(text.json()["isBase64Encoded"], false);

    // Response mapping: any JSON without statusCode is a 200 of that JSON; a base64 body is
    // decoded; a function error is a 502.
    let plain = send(http.get(format!("http://{addr}/lambda-url/{id}/plain")));
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("content-type"), Some("application/json"));
    assert_eq!(plain.json(), json!({ "just": "json" }));
    let png = send(http.get(format!("http://{addr}/lambda-url/{id}/binary")));
    assert_eq!(
        (png.status, png.body.as_slice()),
        (200, &[0u8, 1, 2, 3, 4][..])
    );
    assert_eq!(png.header("content-type"), Some("image/png"));
    // The function cannot frame the response: its Content-Length and friends are dropped,
    // and the kept-alive connection still works for the next request.
    assert_eq!(png.header("content-length"), Some("5"));
    assert_eq!(png.header("transfer-encoding"), None);
    let again = send(http.get(format!("http://{addr}/lambda-url/{id}/plain")));
    assert_eq!(again.status, 200);
    let failed = send(http.get(format!("http://{addr}/lambda-url/{id}/fail")));
    assert_eq!(failed.status, 502);
    assert_eq!(failed.body, b"Internal Server Error");
    // Encoded paths reach the function as sent, decoded in requestContext.http.path.
    let encoded = send(http.get(format!("http://{addr}/lambda-url/{id}/a%2Fb/space%20here")));
    assert_eq!(encoded.json()["rawPath"], "/a%2Fb/space%20here");
    assert_eq!(
        encoded.json()["requestContext"]["http"]["path"],
        "/a/b/space here"
    );

    // An id no URL has, and a path naming none: 403 with a null message, as AWS.
    let unknown = send(http.get(format!("http://{addr}/lambda-url/{}/", "z".repeat(32))));
    assert_denied(&unknown, Value::Null);
    let nothing = send(http.get(format!("http://{addr}/")));
    assert_denied(&nothing, Value::Null);
    // The URL listener is no API: Lambda's operations are not served there.
    let api = send(http.get(format!("http://{addr}/2015-03-31/functions")));
    assert_eq!(api.status, 403);

    // Changes take effect at the next request: a permission removed, then the URL deleted.
    assert_eq!(
        send(http.get(format!("http://{addr}/lambda-url/{id}/plain"))).status,
        200
    );
    let r = s.call("DELETE", "/2015-03-31/functions/web/policy/invoke", b"");
    assert_eq!(r.status, 204, "{}", r.body);
    let revoked = send(http.get(format!("http://{addr}/lambda-url/{id}/plain")));
    assert_denied(&revoked, json!(FORBIDDEN));
    allow_invoke(&s, "web");
    assert_eq!(
        send(http.get(format!("http://{addr}/lambda-url/{id}/plain"))).status,
        200
    );
    assert_eq!(
        s.call("DELETE", "/2021-10-31/functions/web/url", b"")
            .status,
        204
    );
    let deleted = send(http.get(format!("http://{addr}/lambda-url/{id}/plain")));
    assert_denied(&deleted, Value::Null);
}

#[test]
fn an_aws_iam_url_takes_only_signed_requests() {
    let s = TestServer::start();
    echo(&s, "private");
    let r = create_url(&s, "private", &json!({ "AuthType": "AWS_IAM" }));
    assert_eq!(r.status, 201, "{}", r.body);
    let id = url_id(r.body["FunctionUrl"].as_str().expect("url"));
    let addr = s.url_addr.expect("urls");
    let target = format!("http://{addr}/lambda-url/{id}/me?x=1");
    let http = client();

    let unsigned = send(http.get(&target));
    assert_denied(&unsigned, json!(FORBIDDEN));

    let host = addr.to_string();
    let body = br#"{"signed":true}"#;
    let sign = |secret: &str| {
        let mut c = creds();
        c.secret_access_key = secret.to_string();
        sign_request(
            &c,
            REGION,
            "POST",
            &target,
            &[("host", &host)],
            body,
            SystemTime::now(),
        )
        .expect("sign")
    };
    let mut req = http.post(&target).body(body.to_vec());
    for (k, v) in sign("wrong-secret-wrong-secret-wrong-secret00") {
        req = req.header(k, v);
    }
    assert_eq!(send(req).status, 403, "a bad signature");

    let mut req = http.post(&target).body(body.to_vec());
    for (k, v) in sign(&creds().secret_access_key) {
        req = req.header(k, v);
    }
    let ok = send(req);
    assert_eq!(ok.status, 201, "{}", String::from_utf8_lossy(&ok.body));
    let ev = ok.json();
    assert_eq!(ev["body"], r#"{"signed":true}"#);
    let iam = &ev["requestContext"]["authorizer"]["iam"];
    assert_eq!(iam["accessKey"], creds().access_key_id);
    assert_eq!(iam["accountId"], ACCOUNT);
    assert_eq!(iam["userArn"], format!("arn:aws:iam::{ACCOUNT}:root"));
    assert_eq!(ev["requestContext"]["accountId"], ACCOUNT);
    assert!(
        ev["headers"].get("authorization").is_none(),
        "the signature is not passed on"
    );
}

#[test]
fn cors_preflights_are_answered_as_configured() {
    let s = TestServer::start();
    echo(&s, "api");
    let r = create_url(
        &s,
        "api",
        &json!({ "AuthType": "NONE", "Cors": {
            "AllowOrigins": ["https://app.example"], "AllowMethods": ["GET", "POST"],
            "AllowHeaders": ["content-type", "x-custom"], "ExposeHeaders": ["x-echo"],
            "AllowCredentials": true, "MaxAge": 600,
        } }),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    allow_public(&s, "api");
    let id = url_id(r.body["FunctionUrl"].as_str().expect("url"));
    let addr = s.url_addr.expect("urls");
    let http = client();
    let target = format!("http://{addr}/lambda-url/{id}/things");

    let pre = send(
        http.request(reqwest::Method::OPTIONS, &target)
            .header("origin", "https://app.example")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "Content-Type"),
    );
    assert_eq!(pre.status, 200);
    assert_eq!(
        pre.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(pre.header("access-control-allow-methods"), Some("GET,POST"));
    assert_eq!(
        pre.header("access-control-allow-headers"),
        Some("content-type,x-custom")
    );
    assert_eq!(pre.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(pre.header("access-control-max-age"), Some("600"));
    assert!(pre.body.is_empty(), "the function is not invoked");

    let refused = send(
        http.request(reqwest::Method::OPTIONS, &target)
            .header("origin", "https://evil.example")
            .header("access-control-request-method", "POST"),
    );
    assert_eq!(refused.status, 200);
    assert_eq!(refused.header("access-control-allow-origin"), None);

    let actual = send(http.get(&target).header("origin", "https://app.example"));
    assert_eq!(actual.status, 201);
    assert_eq!(
        actual.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(
        actual.header("access-control-expose-headers"),
        Some("x-echo")
    );
    let other = send(http.get(&target).header("origin", "https://evil.example"));
    assert_eq!(other.status, 201);
    assert_eq!(other.header("access-control-allow-origin"), None);
}

#[test]
fn urls_can_share_the_api_listener() {
    let s = TestServer::start_with(tempfile::tempdir().expect("tempdir"), |c| {
        c.function_urls.listen = nimbus_server::config::UrlListen::Api;
    });
    assert_eq!(s.url_addr, Some(s.addr));
    echo(&s, "shared");
    let r = create_url(&s, "shared", &json!({ "AuthType": "NONE" }));
    assert_eq!(r.status, 201, "{}", r.body);
    allow_public(&s, "shared");
    let url = r.body["FunctionUrl"].as_str().expect("url").to_string();
    assert!(url.ends_with(&format!(":{}/", s.addr.port())), "{url}");
    let id = url_id(&url);
    let http = client();
    let by_path = send(http.get(format!("http://{}/lambda-url/{id}/x", s.addr)));
    assert_eq!(by_path.status, 201);
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let by_host = send(
        http.get(format!("http://{}/y", s.addr))
            .header("host", host),
    );
    assert_eq!(by_host.json()["rawPath"], "/y");
    // The API still answers on the same port.
    assert_eq!(s.call("GET", "/2015-03-31/functions", b"").status, 200);
}
