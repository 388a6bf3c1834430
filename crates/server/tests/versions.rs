//! Published versions: PublishVersion, ListVersionsByFunction, qualifiers on Get*, Invoke and
//! DeleteFunction, `Publish: true`. Messages are AWS's (spec/lambda-compat.md §5b #1, #8, #28,
//! #29).

mod support;

use base64::Engine;
use serde_json::{json, Value};
use support::{zip_of, TestServer, ACCOUNT, REGION};

fn code(tag: &str) -> Vec<u8> {
    let src = format!(
        "import os\ndef handler(event, context):\n    return {{'code': '{tag}', 'arn': context.invoked_function_arn, 'version': os.environ['AWS_LAMBDA_FUNCTION_VERSION']}}\n"
    );
    zip_of(&[("app.py", src.as_bytes())])
}

fn b64(zip: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(zip)
}

fn update_code(s: &TestServer, name: &str, zip: &[u8], publish: bool) -> support::Resp {
    let r = s.call_json(
        "PUT",
        &format!("/2015-03-31/functions/{name}/code"),
        &json!({ "ZipFile": b64(zip), "Publish": publish }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    s.wait_active(name);
    r
}

fn publish(s: &TestServer, name: &str, body: Value) -> support::Resp {
    s.call_json(
        "POST",
        &format!("/2015-03-31/functions/{name}/versions"),
        &body,
    )
}

fn arn(name: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")
}

#[test]
fn published_versions_keep_their_code_and_configuration() {
    let s = TestServer::start();
    s.create("f", &code("one"));
    let v1 = publish(&s, "f", json!({ "Description": "first" }));
    assert_eq!(v1.status, 201, "{}", v1.body);
    assert_eq!(v1.body["Version"], "1");
    assert_eq!(v1.body["FunctionArn"], format!("{}:1", arn("f")));
    assert_eq!(v1.body["Description"], "first");
    assert_eq!(v1.body["State"], "Active");
    // Nothing changed since: the same version again, not a new one.
    let again = publish(&s, "f", json!({}));
    assert_eq!((again.status, &again.body["Version"]), (201, &json!("1")));

    // $LATEST moves on; version 1 does not.
    update_code(&s, "f", &code("two"), false);
    let r = s.call_json(
        "PUT",
        "/2015-03-31/functions/f/configuration",
        &json!({ "MemorySize": 256 }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    s.wait_active("f");
    let v2 = publish(&s, "f", json!({}));
    assert_eq!(v2.body["Version"], "2", "{}", v2.body);
    assert_eq!(v2.body["MemorySize"], 256);
    assert_ne!(v2.body["CodeSha256"], v1.body["CodeSha256"]);

    let (status, version, body) = s.invoke_at("f?Qualifier=1", &json!({}));
    assert_eq!((status, version.as_deref()), (200, Some("1")));
    assert_eq!(
        body,
        json!({ "code": "one", "arn": format!("{}:1", arn("f")), "version": "1" })
    );
    let (_, version, body) = s.invoke_at(&format!("{}:2", arn("f")), &json!({}));
    assert_eq!(version.as_deref(), Some("2"));
    assert_eq!(body["code"], "two");
    let (_, version, body) = s.invoke_at("f", &json!({}));
    assert_eq!(version.as_deref(), Some("$LATEST"));
    assert_eq!(body["version"], "$LATEST");
    let (status, _, body) = s.invoke_at("f?Qualifier=7", &json!({}));
    assert_eq!(status, 404);
    assert_eq!(
        body["Message"],
        format!("Function not found: {}:7", arn("f"))
    );

    // GetFunction and GetFunctionConfiguration of a version; its code downloads.
    let g = s.call("GET", "/2015-03-31/functions/f?Qualifier=1", b"");
    assert_eq!(g.body["Configuration"]["Version"], "1");
    assert_eq!(g.body["Configuration"]["MemorySize"], 128);
    assert_eq!(g.body["Configuration"]["Description"], "first");
    let location = g.body["Code"]["Location"].as_str().expect("location");
    let path = location.split_once(&s.addr.to_string()).expect("ours").1;
    let (status, zip) = s.unsigned_get(path);
    assert_eq!((status, zip), (200, code("one")));
    let c = s.call("GET", "/2015-03-31/functions/f:2/configuration", b"");
    assert_eq!(c.body["Version"], "2");
    s.call(
        "GET",
        "/2015-03-31/functions/f/configuration?Qualifier=3",
        b"",
    )
    .assert_error(
        404,
        "ResourceNotFoundException",
        &format!("Function not found: {}:3", arn("f")),
    );

    // $LATEST first, then by number; pages of MaxItems.
    let l = s.call("GET", "/2015-03-31/functions/f/versions", b"");
    let versions: Vec<&str> = l.body["Versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| v["Version"].as_str().expect("v"))
        .collect();
    assert_eq!(versions, ["$LATEST", "1", "2"]);
    assert!(l.body.get("NextMarker").is_none());
    let p1 = s.call("GET", "/2015-03-31/functions/f/versions?MaxItems=2", b"");
    assert_eq!(p1.body["Versions"].as_array().map(Vec::len), Some(2));
    let marker = p1.body["NextMarker"].as_str().expect("marker");
    let p2 = s.call(
        "GET",
        &format!("/2015-03-31/functions/f/versions?MaxItems=2&Marker={marker}"),
        b"",
    );
    assert_eq!(p2.body["Versions"][0]["Version"], "2");
    assert!(p2.body.get("NextMarker").is_none());
}

#[test]
fn publishing_checks_its_preconditions() {
    let s = TestServer::start();
    s.create("f", &code("one"));
    let latest = s.call("GET", "/2015-03-31/functions/f", b"");
    let sha = latest.body["Configuration"]["CodeSha256"]
        .as_str()
        .expect("sha")
        .to_string();
    publish(&s, "f", json!({ "CodeSha256": "abc" })).assert_error(
        400,
        "InvalidParameterValueException",
        &format!("CodeSHA256 (abc) is different from current CodeSHA256 in $LATEST ({sha}). Please try again with the CodeSHA256 in $LATEST."),
    );
    publish(&s, "f", json!({ "RevisionId": "nope" })).assert_error(
        412,
        "PreconditionFailedException",
        "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
    );
    publish(&s, "nope", json!({})).assert_error(
        404,
        "ResourceNotFoundException",
        &format!("Function not found: {}", arn("nope")),
    );
    let rev = latest.body["Configuration"]["RevisionId"].clone();
    let ok = publish(&s, "f", json!({ "CodeSha256": sha, "RevisionId": rev }));
    assert_eq!(ok.status, 201, "{}", ok.body);
    // Publishing leaves $LATEST's RevisionId as it was.
    let after = s.call("GET", "/2015-03-31/functions/f", b"");
    assert_eq!(after.body["Configuration"]["RevisionId"], rev);
    let l = s.call("GET", "/2015-03-31/functions/f/versions", b"");
    assert_eq!(l.body["Versions"].as_array().map(Vec::len), Some(2));
}

#[test]
fn versions_are_deleted_one_by_one_and_numbers_never_come_back() {
    let s = TestServer::start();
    s.create("f", &code("one"));
    assert_eq!(publish(&s, "f", json!({})).body["Version"], "1");
    update_code(&s, "f", &code("two"), false);
    // The package of version 1 stays while the version does, though $LATEST moved on.
    let pkgs = s.data_dir().join("code/pkgs");
    let count = || std::fs::read_dir(&pkgs).map_or(0, |d| d.count());
    assert_eq!(count(), 2);
    s.call("DELETE", "/2015-03-31/functions/f?Qualifier=$LATEST", b"")
        .assert_error(
            400,
            "InvalidParameterValueException",
            "$LATEST version cannot be deleted without deleting the function.",
        );
    let r = s.call("DELETE", "/2015-03-31/functions/f?Qualifier=1", b"");
    assert_eq!(r.status, 204);
    // AWS compat: deleting a version that is not there is no error.
    assert_eq!(
        s.call("DELETE", "/2015-03-31/functions/f?Qualifier=1", b"")
            .status,
        204
    );
    s.call("DELETE", "/2015-03-31/functions/nope?Qualifier=1", b"")
        .assert_error(
            404,
            "ResourceNotFoundException",
            &format!("Function not found: {}:1", arn("nope")),
        );
    s.call("GET", "/2015-03-31/functions/f?Qualifier=1", b"")
        .assert_error(
            404,
            "ResourceNotFoundException",
            &format!("Function not found: {}:1", arn("f")),
        );
    assert_eq!(count(), 1, "version 1's package went with it");
    assert_eq!(publish(&s, "f", json!({})).body["Version"], "2");
    // The function goes with all its versions.
    assert_eq!(s.call("DELETE", "/2015-03-31/functions/f", b"").status, 204);
    assert_eq!(count(), 0);
}

#[test]
fn publish_true_publishes_with_the_create_or_update() {
    let s = TestServer::start();
    let mut body = support::create_body("p", &code("one"));
    body["Publish"] = json!(true);
    let r = s.call_json("POST", "/2015-03-31/functions", &body);
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["Version"], "1");
    assert_eq!(r.body["FunctionArn"], format!("{}:1", arn("p")));
    s.wait_active("p");
    let u = update_code(&s, "p", &code("two"), true);
    assert_eq!(u.body["Version"], "2", "{}", u.body);
    // The same code again, published: nothing changed, so version 2 again.
    let u = update_code(&s, "p", &code("two"), true);
    assert_eq!(u.body["Version"], "2");
    let (_, version, body) = s.invoke_at("p?Qualifier=1", &json!({}));
    assert_eq!(
        (version.as_deref(), &body["code"]),
        (Some("1"), &json!("one"))
    );
}

#[test]
fn list_functions_with_all_versions_pages_through_every_version() {
    let s = TestServer::start();
    s.create("f", &code("one"));
    assert_eq!(publish(&s, "f", json!({})).status, 201);
    update_code(&s, "f", &code("two"), true);
    s.create("g", &code("g"));
    let page = |q: &str| {
        s.call(
            "GET",
            &format!("/2015-03-31/functions?FunctionVersion=ALL{q}"),
            b"",
        )
    };
    let arns = |v: &Value| -> Vec<String> {
        v["Functions"]
            .as_array()
            .expect("functions")
            .iter()
            .map(|f| f["FunctionArn"].as_str().expect("arn").to_string())
            .collect()
    };
    let all = page("");
    assert_eq!(
        arns(&all.body),
        [
            arn("f"),
            format!("{}:1", arn("f")),
            format!("{}:2", arn("f")),
            arn("g")
        ]
    );
    let p1 = page("&MaxItems=2");
    assert_eq!(arns(&p1.body), [arn("f"), format!("{}:1", arn("f"))]);
    let marker = p1.body["NextMarker"].as_str().expect("marker").to_string();
    let p2 = page(&format!("&MaxItems=2&Marker={marker}"));
    assert_eq!(arns(&p2.body), [format!("{}:2", arn("f")), arn("g")]);
    assert!(p2.body.get("NextMarker").is_none(), "{}", p2.body);
    // Without ALL: $LATEST only.
    let latest = s.call("GET", "/2015-03-31/functions", b"");
    assert_eq!(arns(&latest.body), [arn("f"), arn("g")]);
    // The account's code size counts every version's package.
    let settings = s.call("GET", "/2016-08-19/account-settings", b"");
    let sizes: u64 = all.body["Functions"]
        .as_array()
        .expect("functions")
        .iter()
        .map(|f| f["CodeSize"].as_u64().expect("size"))
        .sum();
    assert_eq!(settings.body["AccountUsage"]["TotalCodeSize"], sizes);
}
