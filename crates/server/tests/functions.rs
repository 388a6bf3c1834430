//! The function lifecycle through the REST API: shapes, states, pagination, code locations.

mod support;

use base64::Engine;
use serde_json::{json, Value};
use support::{create_body, hello_zip, zip_of, TestServer};

fn b64(zip: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(zip)
}

#[test]
fn create_returns_pending_then_becomes_active() {
    let s = TestServer::start();
    let zip = hello_zip();
    let r = s.call_json("POST", "/2015-03-31/functions", &create_body("hello", &zip));
    assert_eq!(r.status, 201, "{}", r.body);
    let c = &r.body;
    assert_eq!(c["State"], "Pending");
    assert_eq!(c["StateReason"], "The function is being created.");
    assert_eq!(c["StateReasonCode"], "Creating");
    assert!(c.get("LastUpdateStatus").is_none());
    assert_eq!(
        c["FunctionArn"],
        "arn:aws:lambda:us-east-1:000000000000:function:hello"
    );
    assert_eq!(c["Version"], "$LATEST");
    assert_eq!(c["CodeSize"], zip.len());
    let sha = <sha2::Sha256 as sha2::Digest>::digest(&zip);
    assert_eq!(
        c["CodeSha256"],
        base64::engine::general_purpose::STANDARD.encode(sha)
    );
    assert_eq!(
        (c["Timeout"].as_u64(), c["MemorySize"].as_u64()),
        (Some(3), Some(128))
    );
    assert_eq!(c["EphemeralStorage"], json!({ "Size": 512 }));
    assert_eq!(c["Architectures"], json!(["x86_64"]));
    assert_eq!(c["PackageType"], "Zip");
    assert_eq!(c["TracingConfig"], json!({ "Mode": "PassThrough" }));
    assert_eq!(
        c["LoggingConfig"],
        json!({ "LogFormat": "Text", "LogGroup": "/aws/lambda/hello" })
    );
    assert!(c.get("Environment").is_none(), "absent unless given");
    let lm = c["LastModified"].as_str().expect("string");
    assert_eq!(lm.len(), "2024-05-01T12:00:00.000+0000".len());
    assert!(lm.ends_with("+0000"));
    let active = s.wait_active("hello");
    assert_ne!(
        active["RevisionId"], c["RevisionId"],
        "every change gets a new RevisionId"
    );
    assert!(active.get("StateReason").is_none());
}

#[test]
fn code_location_downloads_the_zip_and_is_protected() {
    let s = TestServer::start();
    let zip = hello_zip();
    s.create("dl", &zip);
    let r = s.call("GET", "/2015-03-31/functions/dl", b"");
    assert_eq!(r.body["Code"]["RepositoryType"], "S3");
    let location = r.body["Code"]["Location"]
        .as_str()
        .expect("location")
        .to_string();
    let path = location
        .splitn(4, '/')
        .nth(3)
        .map(|p| format!("/{p}"))
        .expect("path");
    let (status, bytes) = s.unsigned_get(&path);
    assert_eq!(status, 200);
    assert_eq!(bytes, zip);
    // A tampered token (same length, one digit changed), a changed expiry, or the link of
    // one function used for another is refused.
    let token_at = path.find("token=").expect("token") + "token=".len();
    let mut tampered = path.clone().into_bytes();
    tampered[token_at] = if tampered[token_at] == b'0' {
        b'1'
    } else {
        b'0'
    };
    let tampered = String::from_utf8(tampered).expect("utf8");
    assert_eq!(tampered.len(), path.len());
    assert_eq!(s.unsigned_get(&tampered).0, 403);
    let elsewhere = path.replace("function=", "function=x");
    assert_eq!(s.unsigned_get(&elsewhere).0, 403);
    let expires: i64 = path
        .split("expires=")
        .nth(1)
        .and_then(|r| r.split('&').next())
        .and_then(|e| e.parse().ok())
        .expect("expires");
    let extended = path.replace(
        &format!("expires={expires}"),
        &format!("expires={}", expires + 1000),
    );
    assert_eq!(s.unsigned_get(&extended).0, 403);
}

#[test]
fn list_pages_of_at_most_50() {
    let s = TestServer::start();
    for i in 0..55 {
        let r = s.call_json(
            "POST",
            "/2015-03-31/functions",
            &create_body(&format!("fn-{i:02}"), &hello_zip()),
        );
        assert_eq!(r.status, 201);
    }
    let first = s
        .call("GET", "/2015-03-31/functions?MaxItems=1000", b"")
        .body;
    assert_eq!(first["Functions"].as_array().map(Vec::len), Some(50));
    let marker = first["NextMarker"]
        .as_str()
        .expect("a second page")
        .to_string();
    let second = s
        .call(
            "GET",
            &format!("/2015-03-31/functions?Marker={marker}"),
            b"",
        )
        .body;
    let names: Vec<&str> = second["Functions"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|f| f["FunctionName"].as_str())
        .collect();
    assert_eq!(names, ["fn-50", "fn-51", "fn-52", "fn-53", "fn-54"]);
    assert!(second.get("NextMarker").is_none());
    let small = s.call("GET", "/2015-03-31/functions?MaxItems=2", b"").body;
    assert_eq!(small["Functions"].as_array().map(Vec::len), Some(2));
}

#[test]
fn update_code_and_configuration() {
    let s = TestServer::start();
    let first = s.create("u", &hello_zip());
    let old_sha = first["CodeSha256"].clone();
    let zip2 = zip_of(&[("app.py", b"def handler(e, c):\n    return 2\n")]);

    // A dry run checks and answers, but changes nothing.
    let dry = s.call_json(
        "PUT",
        "/2015-03-31/functions/u/code",
        &json!({ "ZipFile": b64(&zip2), "DryRun": true }),
    );
    assert_eq!(dry.status, 200, "{}", dry.body);
    assert_ne!(dry.body["CodeSha256"], old_sha);
    assert_eq!(s.wait_active("u")["CodeSha256"], old_sha);

    let r = s.call_json(
        "PUT",
        "/2015-03-31/functions/u/code",
        &json!({ "ZipFile": b64(&zip2) }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["LastUpdateStatus"], "InProgress");
    assert_eq!(r.body["LastUpdateStatusReasonCode"], "Creating");
    let after = s.wait_active("u");
    assert_ne!(after["CodeSha256"], old_sha);
    // The old package is gone once no function uses it.
    let old_hex = hex_of(&old_sha);
    for _ in 0..100 {
        if !s
            .data_dir()
            .join("code/zips")
            .join(format!("{old_hex}.zip"))
            .exists()
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(!s
        .data_dir()
        .join("code/zips")
        .join(format!("{old_hex}.zip"))
        .exists());

    let r = s.call_json(
        "PUT",
        "/2015-03-31/functions/u/configuration",
        &json!({
            "MemorySize": 1024, "Timeout": 30, "Description": "d",
            "Environment": { "Variables": { "STAGE": "prod" } },
            "EphemeralStorage": { "Size": 1024 },
            "RevisionId": after["RevisionId"],
        }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let c = s.wait_active("u");
    assert_eq!(
        (c["MemorySize"].as_u64(), c["Timeout"].as_u64()),
        (Some(1024), Some(30))
    );
    assert_eq!(
        c["Environment"],
        json!({ "Variables": { "STAGE": "prod" } })
    );
    assert_eq!(c["EphemeralStorage"], json!({ "Size": 1024 }));
    assert_eq!(c["Description"], "d");
    assert_eq!(c["Runtime"], "python3.12", "untouched settings stay");
}

fn hex_of(b64sha: &Value) -> String {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64sha.as_str().expect("sha"))
        .expect("base64");
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn tags_and_delete() {
    let s = TestServer::start();
    s.create("t", &hello_zip());
    let arn = "arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3At";
    let r = s.call_json(
        "POST",
        &format!("/2017-03-31/tags/{arn}"),
        &json!({ "Tags": { "team": "a", "env": "dev" } }),
    );
    assert_eq!(r.status, 204);
    assert_eq!(
        s.call("GET", &format!("/2017-03-31/tags/{arn}"), b"").body,
        json!({ "Tags": { "team": "a", "env": "dev" } })
    );
    assert_eq!(
        s.call("GET", "/2015-03-31/functions/t", b"").body["Tags"],
        json!({ "team": "a", "env": "dev" })
    );
    assert_eq!(
        s.call(
            "DELETE",
            &format!("/2017-03-31/tags/{arn}?tagKeys=team&tagKeys=nope"),
            b""
        )
        .status,
        204
    );
    assert_eq!(
        s.call("GET", &format!("/2017-03-31/tags/{arn}"), b"").body,
        json!({ "Tags": { "env": "dev" } })
    );

    let settings = s.call("GET", "/2016-08-19/account-settings", b"").body;
    assert_eq!(settings["AccountUsage"]["FunctionCount"], 1);
    assert_eq!(settings["AccountLimit"]["CodeSizeZipped"], 52_428_800);

    let r = s.call(
        "DELETE",
        "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3At",
        b"",
    );
    assert_eq!(r.status, 204);
    assert!(r.raw.is_empty());
    assert_eq!(s.call("GET", "/2015-03-31/functions/t", b"").status, 404);
    assert!(
        support::tree(&s.data_dir().join("code")).is_empty(),
        "package removed"
    );
}

#[test]
fn state_survives_a_restart() {
    let s = TestServer::start();
    s.create("keep", &hello_zip());
    let before = s
        .call("GET", "/2015-03-31/functions/keep/configuration", b"")
        .body;
    let dir = std::mem::replace(&mut { s }.dir, tempfile::tempdir().expect("tempdir"));
    let s2 = TestServer::start_in(dir);
    assert_eq!(
        s2.call("GET", "/2015-03-31/functions/keep/configuration", b"")
            .body,
        before
    );
}

/// AWS compat (as recorded on AWS): every single-function answer carries RuntimeVersionConfig,
/// list items do not, and INIT_START names the same runtime version ARN.
#[test]
fn the_runtime_version_is_shown_where_aws_shows_it() {
    let s = TestServer::start();
    let created = s.call_json(
        "POST",
        "/2015-03-31/functions",
        &create_body("rv", &hello_zip()),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let arn = created.body["RuntimeVersionConfig"]["RuntimeVersionArn"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", created.body))
        .to_string();
    let digest = arn
        .strip_prefix("arn:aws:lambda:us-east-1::runtime:")
        .expect("AWS's form");
    assert!(
        digest.len() == 64 && digest.chars().all(|c| c.is_ascii_hexdigit()),
        "{arn}"
    );
    s.wait_active("rv");
    let got = s.call("GET", "/2015-03-31/functions/rv", b"").body;
    assert_eq!(
        got["Configuration"]["RuntimeVersionConfig"]["RuntimeVersionArn"],
        arn
    );
    let published = s.call_json("POST", "/2015-03-31/functions/rv/versions", &json!({}));
    assert_eq!(
        published.body["RuntimeVersionConfig"]["RuntimeVersionArn"],
        arn
    );
    let listed = s.call("GET", "/2015-03-31/functions/", b"").body;
    assert!(
        listed["Functions"][0].get("RuntimeVersionConfig").is_none(),
        "{listed}"
    );
    let versions = s.call("GET", "/2015-03-31/functions/rv/versions", b"").body;
    assert!(
        versions["Versions"]
            .as_array()
            .expect("versions")
            .iter()
            .all(|v| v.get("RuntimeVersionConfig").is_none()),
        "{versions}"
    );
    // The cold start's INIT_START names the same version.
    let r = s.call_json("POST", "/2015-03-31/functions/rv/invocations", &json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let logs = s.call("GET", "/_nimbus/logs/rv", b"").body;
        let init = logs["Events"].as_array().and_then(|e| {
            e.iter()
                .filter_map(|e| e["Message"].as_str())
                .find(|m| m.starts_with("INIT_START "))
                .map(str::to_string)
        });
        if let Some(line) = init {
            assert!(
                line.contains(&format!("\tRuntime Version ARN: {arn}\t")),
                "{line}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no INIT_START: {logs}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
