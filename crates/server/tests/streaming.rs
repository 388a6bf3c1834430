//! Response streaming against the real server (process launcher, Nimbus's Node.js runtime):
//! InvokeWithResponseStream's event stream and RESPONSE_STREAM function URLs deliver a
//! function's first bytes while it is still running. The functions here wait, after their
//! first write, for a file the test makes only once it has read those bytes: were the response
//! buffered, the test would never see them and the function would time out.

mod support;

use std::io::Read;
use std::path::Path;

use serde_json::{json, Value};
use support::{create_body, zip_of, TestServer};

/// Writes `first`, waits for `$GO`, writes `second`, ends; or, asked to, fails after `first`.
const STREAMER: &str = r#"
const fs = require('fs');
const waitFor = (file) => new Promise((resolve) => {
  const poll = () => (fs.existsSync(file) ? resolve() : setTimeout(poll, 10));
  poll();
});
exports.handler = awslambda.streamifyResponse(async (event, responseStream, context) => {
  if (event.http) {
    responseStream = awslambda.HttpResponseStream.from(responseStream, {
      statusCode: 201,
      headers: { 'x-streamed': 'yes', 'content-type': 'text/plain' },
      cookies: ['s=1; Path=/'],
    });
  } else {
    responseStream.setContentType('text/plain');
  }
  responseStream.write('first ');
  if (event.fail) throw new Error('broke after the first chunk');
  await waitFor(process.env.GO);
  responseStream.write('second');
  responseStream.end();
});
"#;

fn streamer(s: &TestServer, name: &str, go: &Path) {
    let mut body = create_body(name, &zip_of(&[("index.js", STREAMER.as_bytes())]));
    body["Runtime"] = json!("nodejs20.x");
    body["Handler"] = json!("index.handler");
    body["Timeout"] = json!(20);
    body["Environment"] = json!({ "Variables": { "GO": go.to_str().expect("utf-8") } });
    let r = s.call_json("POST", "/2015-03-31/functions", &body);
    assert_eq!(r.status, 201, "{}", r.body);
    s.wait_active(name);
}

/// An event-stream message's headers and payload.
type Message = (Vec<(String, String)>, Vec<u8>);

/// One event-stream message (CRCs checked).
fn read_message(r: &mut impl Read) -> Option<Message> {
    let mut prelude = [0u8; 12];
    if r.read_exact(&mut prelude).is_err() {
        return None;
    }
    let total = u32::from_be_bytes(prelude[0..4].try_into().expect("4")) as usize;
    let hlen = u32::from_be_bytes(prelude[4..8].try_into().expect("4")) as usize;
    let mut rest = vec![0u8; total - 12];
    r.read_exact(&mut rest).expect("the rest of the message");
    let mut whole = prelude.to_vec();
    whole.extend_from_slice(&rest);
    assert_eq!(
        u32::from_be_bytes(whole[total - 4..].try_into().expect("4")),
        crc32(&whole[..total - 4]),
        "message CRC"
    );
    let mut headers = Vec::new();
    let mut i = 12;
    while i < 12 + hlen {
        let n = whole[i] as usize;
        let name = String::from_utf8(whole[i + 1..i + 1 + n].to_vec()).expect("name");
        i += 1 + n;
        assert_eq!(whole[i], 7, "string header");
        let len = u16::from_be_bytes([whole[i + 1], whole[i + 2]]) as usize;
        let value = String::from_utf8(whole[i + 3..i + 3 + len].to_vec()).expect("value");
        i += 3 + len;
        headers.push((name, value));
    }
    Some((headers, whole[12 + hlen..total - 4].to_vec()))
}

/// CRC-32 (IEEE), written out here independently of the server's.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn event_type(headers: &[(String, String)]) -> &str {
    headers
        .iter()
        .find(|(k, _)| k == ":event-type")
        .map_or("", |(_, v)| v.as_str())
}

fn stream_invoke(s: &TestServer, name: &str, payload: &Value) -> reqwest::blocking::Response {
    s.call_unread(
        "POST",
        &format!("/2021-11-15/functions/{name}/response-streaming-invocations"),
        &serde_json::to_vec(payload).expect("json"),
        &[],
    )
}

#[test]
fn invoke_with_response_stream_delivers_chunks_as_the_function_writes_them() {
    let s = TestServer::start();
    let go = s.dir.path().join("go");
    streamer(&s, "streamer", &go);
    let mut resp = stream_invoke(&s, "streamer", &json!({}));
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/vnd.amazon.eventstream"
    );
    assert_eq!(resp.headers()["x-amz-executed-version"], "$LATEST");
    let (h, first) = read_message(&mut resp).expect("a first message");
    assert_eq!(event_type(&h), "PayloadChunk");
    assert_eq!(first, b"first ");
    // Only now may the function go on.
    std::fs::write(&go, "").expect("go");
    let mut body = Vec::new();
    let complete = loop {
        let (h, payload) = read_message(&mut resp).expect("more messages");
        match event_type(&h) {
            "PayloadChunk" => body.extend_from_slice(&payload),
            "InvokeComplete" => break payload,
            other => panic!("unexpected event {other}"),
        }
    };
    assert_eq!(body, b"second");
    let complete: Value = serde_json::from_slice(&complete).expect("json");
    assert!(complete.get("ErrorCode").is_none(), "{complete}");
    assert!(
        read_message(&mut resp).is_none(),
        "nothing after InvokeComplete"
    );

    // An error after the first chunk: the chunk stays, InvokeComplete names the error.
    let mut resp = stream_invoke(&s, "streamer", &json!({ "fail": true }));
    let (h, first) = read_message(&mut resp).expect("a chunk");
    assert_eq!(
        (event_type(&h), first.as_slice()),
        ("PayloadChunk", &b"first "[..])
    );
    let (h, complete) = read_message(&mut resp).expect("complete");
    assert_eq!(event_type(&h), "InvokeComplete");
    let complete: Value = serde_json::from_slice(&complete).expect("json");
    assert_eq!(complete["ErrorCode"], "Error", "{complete}");
    assert_eq!(complete["ErrorDetails"], "broke after the first chunk");

    // Invoke (buffered) gets the whole stream at once.
    let r = s.call_json(
        "POST",
        "/2015-03-31/functions/streamer/invocations",
        &json!({}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.raw, b"first second");
}

#[test]
fn invoke_with_response_stream_names_the_runtimes_content_type() {
    let s = TestServer::start();
    let go = s.dir.path().join("go");
    std::fs::write(&go, "").expect("go");
    streamer(&s, "typed", &go);
    let resp = stream_invoke(&s, "typed", &json!({}));
    assert_eq!(resp.headers()["x-amzn-remapped-content-type"], "text/plain");
}

#[test]
fn a_function_that_does_not_stream_answers_in_one_chunk() {
    let s = TestServer::start();
    s.create("plain", &support::hello_zip());
    let mut resp = stream_invoke(&s, "plain", &json!({ "a": 1 }));
    assert_eq!(resp.status(), 200);
    let (h, payload) = read_message(&mut resp).expect("chunk");
    assert_eq!(event_type(&h), "PayloadChunk");
    assert_eq!(
        serde_json::from_slice::<Value>(&payload).expect("json"),
        json!({ "a": 1 })
    );
    let (h, _) = read_message(&mut resp).expect("complete");
    assert_eq!(event_type(&h), "InvokeComplete");
    // Event is not a streaming invocation type.
    let r = s.call_with_headers(
        "POST",
        "/2021-11-15/functions/plain/response-streaming-invocations",
        b"{}",
        &[("x-amz-invocation-type", "Event")],
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let r = s.call_with_headers(
        "POST",
        "/2021-11-15/functions/plain/response-streaming-invocations",
        b"{}",
        &[("x-amz-invocation-type", "DryRun")],
    );
    assert_eq!(r.status, 204);
    let r = s.call_json(
        "POST",
        "/2021-11-15/functions/nope/response-streaming-invocations",
        &json!({}),
    );
    assert_eq!(r.status, 404, "{}", r.body);
}

#[test]
fn a_streaming_url_delivers_its_first_bytes_before_the_handler_finishes() {
    let s = TestServer::start();
    let go = s.dir.path().join("go");
    streamer(&s, "web", &go);
    let r = s.call_json(
        "POST",
        "/2021-10-31/functions/web/url",
        &json!({ "AuthType": "NONE", "InvokeMode": "RESPONSE_STREAM" }),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    for (sid, action, extra) in [
        (
            "url",
            "lambda:InvokeFunctionUrl",
            json!({ "FunctionUrlAuthType": "NONE" }),
        ),
        (
            "invoke",
            "lambda:InvokeFunction",
            json!({ "InvokedViaFunctionUrl": true }),
        ),
    ] {
        let mut body = json!({ "StatementId": sid, "Action": action, "Principal": "*" });
        for (k, v) in extra.as_object().expect("object") {
            body[k] = v.clone();
        }
        let r = s.call_json("POST", "/2015-03-31/functions/web/policy", &body);
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let id = r.body["FunctionUrl"]
        .as_str()
        .expect("url")
        .trim_start_matches("http://")
        .split('.')
        .next()
        .expect("id")
        .to_string();
    let addr = s.url_addr.expect("urls are served");
    let http = reqwest::blocking::Client::new();
    // A URL event has no top-level `http`: the plain stream, typed text/plain.
    let mut resp = http
        .post(format!("http://{addr}/lambda-url/{id}/"))
        .body("x")
        .send()
        .expect("request");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/plain");
    let mut first = [0u8; 6];
    resp.read_exact(&mut first).expect("first bytes");
    assert_eq!(&first, b"first ");
    std::fs::write(&go, "").expect("go");
    let mut rest = String::new();
    resp.read_to_string(&mut rest).expect("rest");
    assert_eq!(rest, "second");
}

/// The HTTP prelude of `awslambda.HttpResponseStream.from` sets the URL's status, headers
/// and cookies.
#[test]
fn a_streaming_url_takes_status_headers_and_cookies_from_the_prelude() {
    let s = TestServer::start();
    let go = s.dir.path().join("go");
    std::fs::write(&go, "").expect("go");
    let code = STREAMER.replace("if (event.http)", "if (true)");
    let mut body = create_body("prelude", &zip_of(&[("index.js", code.as_bytes())]));
    body["Runtime"] = json!("nodejs20.x");
    body["Handler"] = json!("index.handler");
    body["Environment"] = json!({ "Variables": { "GO": go.to_str().expect("utf-8") } });
    assert_eq!(
        s.call_json("POST", "/2015-03-31/functions", &body).status,
        201
    );
    s.wait_active("prelude");
    let r = s.call_json(
        "POST",
        "/2021-10-31/functions/prelude/url",
        &json!({ "AuthType": "AWS_IAM", "InvokeMode": "RESPONSE_STREAM" }),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let url = r.body["FunctionUrl"].as_str().expect("url").to_string();
    let id = url
        .trim_start_matches("http://")
        .split('.')
        .next()
        .expect("id")
        .to_string();
    let addr = s.url_addr.expect("urls");
    let target = format!("http://{addr}/lambda-url/{id}/");
    let host = addr.to_string();
    let signed = nimbus_server::auth::sign_request(
        &support::creds(),
        support::REGION,
        "GET",
        &target,
        &[("host", host.as_str())],
        b"",
        std::time::SystemTime::now(),
    )
    .expect("sign");
    let mut req = reqwest::blocking::Client::new().get(&target);
    for (k, v) in signed {
        req = req.header(k, v);
    }
    let resp = req.send().expect("request");
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.headers()["x-streamed"], "yes");
    assert_eq!(resp.headers()["content-type"], "text/plain");
    assert_eq!(resp.headers()["set-cookie"], "s=1; Path=/");
    assert_eq!(resp.text().expect("body"), "first second");
}
