//! Aliases: Create/Get/Update/Delete/ListAliases, weighted routing on invoke, and the rules
//! between aliases and versions. Messages are AWS's (spec/lambda-compat.md §5b #1, #28, #34-37).

mod support;

use serde_json::{json, Value};
use support::{zip_of, TestServer, ACCOUNT, REGION};

fn code(tag: &str) -> Vec<u8> {
    let src = format!(
        "def handler(event, context):\n    return {{'code': '{tag}', 'arn': context.invoked_function_arn}}\n"
    );
    zip_of(&[("app.py", src.as_bytes())])
}

fn arn(name: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")
}

/// `f` with versions 1 and 2 (different code), `$LATEST` = version 2's.
fn two_versions(s: &TestServer) {
    s.create("f", &code("one"));
    assert_eq!(publish(s).body["Version"], "1");
    let r = s.call_json(
        "PUT",
        "/2015-03-31/functions/f/code",
        &json!({ "ZipFile": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, code("two")) }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    s.wait_active("f");
    assert_eq!(publish(s).body["Version"], "2");
}

fn publish(s: &TestServer) -> support::Resp {
    s.call_json("POST", "/2015-03-31/functions/f/versions", &json!({}))
}

fn create_alias(s: &TestServer, body: Value) -> support::Resp {
    s.call_json("POST", "/2015-03-31/functions/f/aliases", &body)
}

#[test]
fn an_alias_with_weights_splits_invocations_and_says_what_ran() {
    let s = TestServer::start();
    two_versions(&s);
    let r = create_alias(
        &s,
        json!({
            "Name": "live", "FunctionVersion": "1", "Description": "canary",
            "RoutingConfig": { "AdditionalVersionWeights": { "2": 0.2 } },
        }),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let revision = r.body["RevisionId"].as_str().expect("revision").to_string();
    assert_eq!(
        r.body,
        json!({
            "AliasArn": format!("{}:live", arn("f")),
            "Name": "live",
            "FunctionVersion": "1",
            "Description": "canary",
            "RoutingConfig": { "AdditionalVersionWeights": { "2": 0.2 } },
            "RevisionId": revision,
        })
    );
    let mut two = 0;
    for _ in 0..2000 {
        let (status, version, body) = s.invoke_at("f:live", &json!({}));
        assert_eq!(status, 200, "{body}");
        let version = version.expect("executed version");
        let expected = if version == "2" { "two" } else { "one" };
        assert_eq!(body["code"], expected, "{version}: {body}");
        assert_eq!(
            body["arn"],
            format!("{}:live", arn("f")),
            "the ARN as invoked"
        );
        if version == "2" {
            two += 1;
        } else {
            assert_eq!(version, "1");
        }
    }
    assert!(
        (300..=500).contains(&two),
        "version 2 ran {two} of 2,000 times"
    );

    // All traffic to version 2, routing dropped.
    let r = s.call_json(
        "PUT",
        "/2015-03-31/functions/f/aliases/live",
        &json!({ "FunctionVersion": "2", "RoutingConfig": {}, "RevisionId": revision }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.get("RoutingConfig").is_none(), "{}", r.body);
    assert_eq!(r.body["Description"], "canary", "kept");
    for _ in 0..20 {
        assert_eq!(s.invoke_at("f:live", &json!({})).1.as_deref(), Some("2"));
    }
    // GetFunction through the alias: the version it routes to, named by the alias.
    let g = s.call("GET", "/2015-03-31/functions/f?Qualifier=live", b"");
    assert_eq!(g.body["Configuration"]["Version"], "2");
    assert_eq!(
        g.body["Configuration"]["FunctionArn"],
        format!("{}:live", arn("f"))
    );
    let (status, _, body) = s.invoke_at("f?Qualifier=nope", &json!({}));
    assert_eq!(status, 404);
    assert_eq!(
        body["Message"],
        format!("Function not found: {}:nope", arn("f"))
    );
}

#[test]
fn alias_operations_answer_as_aws() {
    let s = TestServer::start();
    two_versions(&s);
    let fa = arn("f");
    assert_eq!(
        create_alias(&s, json!({ "Name": "live", "FunctionVersion": "1" })).status,
        201
    );
    create_alias(&s, json!({ "Name": "live", "FunctionVersion": "2" })).assert_error(
        409,
        "ResourceConflictException",
        &format!("Alias already exists: {fa}:live"),
    );
    create_alias(&s, json!({ "Name": "2024", "FunctionVersion": "1" })).assert_error(
        400,
        "ValidationException",
        "1 validation error detected: Value '2024' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)",
    );
    create_alias(&s, json!({ "Name": "x", "FunctionVersion": "9" })).assert_error(
        404,
        "ResourceNotFoundException",
        &format!("Function not found: {fa}:9"),
    );
    let weights = |w: Value| json!({ "Name": "w", "FunctionVersion": "1", "RoutingConfig": { "AdditionalVersionWeights": w } });
    create_alias(&s, weights(json!({ "2": 0.1, "3": 0.1 }))).assert_error(
        400,
        "InvalidParameterValueException",
        "Number of items in AdditionalVersionWeights cannot be greater than 1",
    );
    create_alias(&s, weights(json!({ "1": 0.5 }))).assert_error(
        400,
        "InvalidParameterValueException",
        "Invalid function version 1. Function version 1 is already included in routing configuration.",
    );
    create_alias(
        &s,
        json!({ "Name": "w", "FunctionVersion": "$LATEST", "RoutingConfig": { "AdditionalVersionWeights": { "1": 0.5 } } }),
    )
    .assert_error(
        400,
        "InvalidParameterValueException",
        "$LATEST is not supported for an alias pointing to more than 1 version",
    );
    s.call("GET", "/2015-03-31/functions/f/aliases/nope", b"")
        .assert_error(
            404,
            "ResourceNotFoundException",
            &format!("Cannot find alias arn: {fa}:nope"),
        );
    s.call_json(
        "PUT",
        "/2015-03-31/functions/f/aliases/nope",
        &json!({ "FunctionVersion": "1" }),
    )
    .assert_error(
        404,
        "ResourceNotFoundException",
        &format!("Alias not found: {fa}:nope"),
    );
    s.call_json(
        "PUT",
        "/2015-03-31/functions/f/aliases/live",
        &json!({ "FunctionVersion": "2", "RevisionId": "stale" }),
    )
    .assert_error(
        412,
        "PreconditionFailedException",
        "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
    );

    // Listing, by name, filtered by the version routed to, in pages.
    assert_eq!(
        create_alias(&s, json!({ "Name": "beta", "FunctionVersion": "2" })).status,
        201
    );
    assert_eq!(
        create_alias(&s, json!({ "Name": "edge", "FunctionVersion": "$LATEST" })).status,
        201
    );
    let names = |v: &Value| -> Vec<String> {
        v["Aliases"]
            .as_array()
            .expect("aliases")
            .iter()
            .map(|a| a["Name"].as_str().expect("name").to_string())
            .collect()
    };
    let all = s.call("GET", "/2015-03-31/functions/f/aliases", b"");
    assert_eq!(names(&all.body), ["beta", "edge", "live"]);
    let two = s.call(
        "GET",
        "/2015-03-31/functions/f/aliases?FunctionVersion=2",
        b"",
    );
    assert_eq!(names(&two.body), ["beta"]);
    let p1 = s.call("GET", "/2015-03-31/functions/f/aliases?MaxItems=2", b"");
    assert_eq!(names(&p1.body), ["beta", "edge"]);
    let marker = p1.body["NextMarker"].as_str().expect("marker");
    let p2 = s.call(
        "GET",
        &format!("/2015-03-31/functions/f/aliases?MaxItems=2&Marker={marker}"),
        b"",
    );
    assert_eq!(names(&p2.body), ["live"]);
    assert!(p2.body.get("NextMarker").is_none());

    // A version an alias routes to cannot be deleted; once the alias is gone, it can.
    s.call("DELETE", "/2015-03-31/functions/f?Qualifier=1", b"")
        .assert_error(
            409,
            "ResourceConflictException",
            "Unable to delete version because the following aliases reference it: [live]",
        );
    assert_eq!(
        s.call("DELETE", "/2015-03-31/functions/f/aliases/live", b"")
            .status,
        204
    );
    s.call("GET", "/2015-03-31/functions/f/aliases/live", b"")
        .assert_error(
            404,
            "ResourceNotFoundException",
            &format!("Cannot find alias arn: {fa}:live"),
        );
    assert_eq!(
        s.call("DELETE", "/2015-03-31/functions/f?Qualifier=1", b"")
            .status,
        204
    );
    // The function goes with its aliases.
    assert_eq!(s.call("DELETE", "/2015-03-31/functions/f", b"").status, 204);
    s.create("f", &code("again"));
    let all = s.call("GET", "/2015-03-31/functions/f/aliases", b"");
    assert_eq!(names(&all.body), Vec::<String>::new());
}
