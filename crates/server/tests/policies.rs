//! Resource-based policies: AddPermission, GetPolicy, RemovePermission on a function, a version
//! and an alias. Documents and messages are AWS's (spec/lambda-compat.md §5b #2, #28, #38-40).

mod support;

use serde_json::json;
use support::{hello_zip, TestServer, ACCOUNT, REGION};

fn arn(name: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")
}

#[test]
fn a_policy_round_trips_in_lambdas_shape() {
    let s = TestServer::start();
    s.create("f", &hello_zip());
    let fa = arn("f");
    s.call("GET", "/2015-03-31/functions/f/policy", b"")
        .assert_error(
            404,
            "ResourceNotFoundException",
            "The resource you requested does not exist.",
        );
    let r = s.call_json(
        "POST",
        "/2015-03-31/functions/f/policy",
        &json!({
            "StatementId": "s3", "Action": "lambda:InvokeFunction", "Principal": "s3.amazonaws.com",
            "SourceArn": "arn:aws:s3:::bucket", "SourceAccount": "123456789012",
        }),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let statement = format!(
        r#"{{"Sid":"s3","Effect":"Allow","Principal":{{"Service":"s3.amazonaws.com"}},"Action":"lambda:InvokeFunction","Resource":"{fa}","Condition":{{"StringEquals":{{"AWS:SourceAccount":"123456789012"}},"ArnLike":{{"AWS:SourceArn":"arn:aws:s3:::bucket"}}}}}}"#
    );
    assert_eq!(r.body, json!({ "Statement": statement }));
    let r = s.call_json(
        "POST",
        "/2015-03-31/functions/f/policy",
        &json!({ "StatementId": "url", "Action": "lambda:InvokeFunctionUrl", "Principal": "*", "FunctionUrlAuthType": "NONE" }),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let got = s.call("GET", "/2015-03-31/functions/f/policy", b"");
    let revision = got.body["RevisionId"]
        .as_str()
        .expect("revision")
        .to_string();
    assert_eq!(
        got.body["Policy"],
        format!(
            r#"{{"Version":"2012-10-17","Id":"default","Statement":[{statement},{{"Sid":"url","Effect":"Allow","Principal":"*","Action":"lambda:InvokeFunctionUrl","Resource":"{fa}","Condition":{{"StringEquals":{{"lambda:FunctionUrlAuthType":"NONE"}}}}}}]}}"#
        )
    );
    // Errors: a taken id, a stale revision, $LATEST, a bad principal, unknown statements.
    s.call_json(
        "POST",
        "/2015-03-31/functions/f/policy",
        &json!({ "StatementId": "s3", "Action": "lambda:InvokeFunction", "Principal": "*" }),
    )
    .assert_error(
        409,
        "ResourceConflictException",
        "The statement id (s3) provided already exists. Please provide a new statement id, or remove the existing statement.",
    );
    s.call_json(
        "POST",
        "/2015-03-31/functions/f/policy",
        &json!({ "StatementId": "x", "Action": "lambda:InvokeFunction", "Principal": "*", "RevisionId": "stale" }),
    )
    .assert_error(
        412,
        "PreconditionFailedException",
        "The Revision Id provided does not match the latest Revision Id. Call the GetPolicy API to retrieve the latest Revision Id",
    );
    s.call_json(
        "POST",
        "/2015-03-31/functions/f/policy?Qualifier=$LATEST",
        &json!({ "StatementId": "x", "Action": "lambda:InvokeFunction", "Principal": "*" }),
    )
    .assert_error(
        400,
        "InvalidParameterValueException",
        "We currently do not support adding policies for $LATEST.",
    );
    s.call_json(
        "POST",
        "/2015-03-31/functions/f/policy",
        &json!({ "StatementId": "x", "Action": "lambda:InvokeFunction", "Principal": "nobody" }),
    )
    .assert_error(
        400,
        "InvalidParameterValueException",
        "The provided principal was invalid. Please check the principal and try again.",
    );
    s.call("DELETE", "/2015-03-31/functions/f/policy/nope", b"")
        .assert_error(
            404,
            "ResourceNotFoundException",
            "Statement nope is not found in resource policy.",
        );
    s.call(
        "DELETE",
        "/2015-03-31/functions/f/policy/s3?RevisionId=stale",
        b"",
    )
    .assert_error(
        412,
        "PreconditionFailedException",
        "The Revision Id provided does not match the latest Revision Id. Call the GetPolicy API to retrieve the latest Revision Id",
    );
    let r = s.call(
        "DELETE",
        &format!("/2015-03-31/functions/f/policy/s3?RevisionId={revision}"),
        b"",
    );
    assert_eq!(r.status, 204);
    assert_eq!(
        s.call("DELETE", "/2015-03-31/functions/f/policy/url", b"")
            .status,
        204
    );
    s.call("DELETE", "/2015-03-31/functions/f/policy/url", b"")
        .assert_error(
            404,
            "ResourceNotFoundException",
            "No policy is associated with the given resource.",
        );
    s.call_json(
        "POST",
        "/2015-03-31/functions/nope/policy",
        &json!({ "StatementId": "x", "Action": "lambda:InvokeFunction", "Principal": "*" }),
    )
    .assert_error(
        404,
        "ResourceNotFoundException",
        &format!("Function not found: {}", arn("nope")),
    );
}

#[test]
fn versions_and_aliases_have_policies_of_their_own() {
    let s = TestServer::start();
    s.create("f", &hello_zip());
    let fa = arn("f");
    assert_eq!(
        s.call_json("POST", "/2015-03-31/functions/f/versions", &json!({}))
            .status,
        201
    );
    assert_eq!(
        s.call_json(
            "POST",
            "/2015-03-31/functions/f/aliases",
            &json!({ "Name": "live", "FunctionVersion": "1" })
        )
        .status,
        201
    );
    let add = |target: &str, sid: &str| {
        s.call_json(
            "POST",
            &format!("/2015-03-31/functions/{target}/policy"),
            &json!({ "StatementId": sid, "Action": "lambda:InvokeFunction", "Principal": "123456789012" }),
        )
    };
    let r = add("f:live", "alias");
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.body["Statement"]
        .as_str()
        .expect("statement")
        .contains(&format!(r#""Principal":{{"AWS":"arn:aws:iam::123456789012:root"}},"Action":"lambda:InvokeFunction","Resource":"{fa}:live""#)));
    assert_eq!(add("f:1", "version").status, 201);
    add("f:9", "none").assert_error(
        404,
        "ResourceNotFoundException",
        &format!("Function not found: {fa}:9"),
    );
    // Each has its own; the function has none.
    let doc = |q: &str| s.call("GET", &format!("/2015-03-31/functions/f/policy{q}"), b"");
    assert!(doc("?Qualifier=live").body["Policy"]
        .as_str()
        .expect("policy")
        .contains(r#""Sid":"alias""#));
    assert!(doc("?Qualifier=1").body["Policy"]
        .as_str()
        .expect("policy")
        .contains(r#""Sid":"version""#));
    assert_eq!(doc("").status, 404);
    // An alias deleted and made again starts without its old policy.
    assert_eq!(
        s.call("DELETE", "/2015-03-31/functions/f/aliases/live", b"")
            .status,
        204
    );
    assert_eq!(
        s.call_json(
            "POST",
            "/2015-03-31/functions/f/aliases",
            &json!({ "Name": "live", "FunctionVersion": "1" })
        )
        .status,
        201
    );
    assert_eq!(doc("?Qualifier=live").status, 404);
}
