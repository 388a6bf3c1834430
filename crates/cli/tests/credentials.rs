//! Functions call Nimbus with their role's credentials: the runtimes' own AWS SDK (boto3, the
//! JavaScript SDK v3, not packaged by the function), pointed at Nimbus by `AWS_ENDPOINT_URL`,
//! signs with the temporary keys the environment was given. Run end to end with the real
//! binary and the default (sandbox) launcher; the SDKs come from `nimbus sdk install`, which
//! `./scripts/test.sh` runs into `NIMBUS_TEST_SDK_DIR`.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};
use support::{creds, zip_of, NimbusProcess, ROLE};

const CALLER: &str = r#"
import json, os
import boto3

def handler(event, context):
    lam = boto3.client("lambda")
    r = lam.invoke(FunctionName="callee", Payload=json.dumps({"from": "caller"}))
    who = boto3.client("sts").get_caller_identity()
    return {
        "callee": json.loads(r["Payload"].read()),
        "arn": who["Arn"],
        "user": who["UserId"],
        "account": who["Account"],
        "env": dict(os.environ),
        "boto3": boto3.__file__,
        "names": [f["FunctionName"] for f in lam.list_functions()["Functions"]],
    }
"#;

const NODE_CALLER: &str = r#"
const { STSClient, GetCallerIdentityCommand } = require("@aws-sdk/client-sts");
const { LambdaClient, InvokeCommand } = require("@aws-sdk/client-lambda");
exports.handler = async () => {
  const who = await new STSClient({}).send(new GetCallerIdentityCommand({}));
  const r = await new LambdaClient({}).send(new InvokeCommand({
    FunctionName: "callee", Payload: Buffer.from(JSON.stringify({ from: "node" })),
  }));
  return { arn: who.Arn, callee: JSON.parse(Buffer.from(r.Payload).toString()) };
};
"#;

const SHOW_CREDENTIALS: &str = r#"
import os

def handler(event, context):
    return {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
"#;

/// The SDKs `./scripts/test.sh` installed. Their absence is a failure, not a skip.
fn sdk_dir() -> PathBuf {
    let dir =
        PathBuf::from(std::env::var("NIMBUS_TEST_SDK_DIR").unwrap_or_else(|_| {
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../.sdk-test").to_string()
        }));
    for family in ["python", "node"] {
        assert!(
            dir.join(family).join(nimbus_server::SDK_MANIFEST).is_file(),
            "no {family} SDK in {}: run ./scripts/test.sh, which installs it",
            dir.display()
        );
    }
    dir
}

fn start(extra_config: &str) -> (tempfile::TempDir, NimbusProcess) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("nimbus.toml");
    std::fs::write(
        &config,
        format!(
            "{extra_config}\n[runtimes]\nsdk_dir = \"{}\"\n",
            sdk_dir().display()
        ),
    )
    .expect("config");
    let data = dir.path().join("data");
    let server = NimbusProcess::start_with_config(&data, &config);
    (dir, server)
}

fn deploy(
    server: &NimbusProcess,
    name: &str,
    runtime: &str,
    handler: &str,
    files: &[(&str, &str)],
) {
    let entries: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (*n, b.as_bytes())).collect();
    let body = json!({
        "FunctionName": name, "Runtime": runtime, "Role": ROLE, "Handler": handler,
        "Timeout": 30,
        "Code": { "ZipFile": base64::engine::general_purpose::STANDARD.encode(zip_of(&entries)) },
    });
    let (status, created) = server
        .call("POST", "/2015-03-31/functions", Some(&body))
        .expect("create");
    assert_eq!(status, 201, "{created}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let (_, c) = server
            .call(
                "GET",
                &format!("/2015-03-31/functions/{name}/configuration"),
                None,
            )
            .expect("get");
        if c["State"] == "Active" && c["LastUpdateStatus"] == "Successful" {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{name} never became Active");
}

fn invoke(server: &NimbusProcess, name: &str, event: Value) -> Value {
    let (status, body) = server
        .call(
            "POST",
            &format!("/2015-03-31/functions/{name}/invocations"),
            Some(&event),
        )
        .expect("invoke");
    assert_eq!(status, 200, "{body}");
    assert!(
        body.get("errorType").is_none(),
        "the function failed: {body}"
    );
    body
}

/// Lists functions from the host with boto3 and `creds` (key id, secret, token); returns
/// "ok" or the error code and message botocore parsed.
fn list_with(server: &NimbusProcess, creds: &Value) -> String {
    let script = r#"
import sys, boto3, botocore.exceptions
c = boto3.client("lambda", endpoint_url=sys.argv[1], region_name="us-east-1",
                 aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3],
                 aws_session_token=sys.argv[4])
try:
    c.list_functions()
    print("ok")
except botocore.exceptions.ClientError as e:
    print(e.response["Error"]["Code"] + ": " + e.response["Error"]["Message"])
"#;
    let s = |k: &str| {
        creds[k]
            .as_str()
            .unwrap_or_else(|| panic!("{k} in {creds}"))
            .to_string()
    };
    let out = Command::new(support::python_with_boto3())
        .arg("-c")
        .arg(script)
        .arg(server.endpoint())
        .args([
            s("AWS_ACCESS_KEY_ID"),
            s("AWS_SECRET_ACCESS_KEY"),
            s("AWS_SESSION_TOKEN"),
        ])
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn a_function_calls_nimbus_with_its_roles_credentials_and_its_runtimes_sdk() {
    let (_dir, server) = start("");
    deploy(
        &server,
        "callee",
        "python3.12",
        "app.handler",
        &[(
            "app.py",
            "def handler(event, context):\n    return {\"got\": event}\n",
        )],
    );
    // Nothing but the handler in the package: boto3 is the runtime's.
    deploy(
        &server,
        "caller",
        "python3.12",
        "app.handler",
        &[("app.py", CALLER)],
    );
    let r = invoke(&server, "caller", json!({}));
    assert_eq!(r["callee"], json!({ "got": { "from": "caller" } }), "{r}");
    // The calls were made as the function's role, not as the account's root.
    assert_eq!(
        r["arn"], "arn:aws:sts::000000000000:assumed-role/lambda-role/caller",
        "{r}"
    );
    assert!(
        r["user"]
            .as_str()
            .is_some_and(|u| u.starts_with("AROA") && u.ends_with(":caller")),
        "{r}"
    );
    assert_eq!(r["account"], "000000000000");
    assert!(r["names"].as_array().is_some_and(|n| n.len() == 2), "{r}");
    assert_eq!(r["boto3"], "/var/lang/sdk/boto3/__init__.py", "{r}");
    let env = r["env"].as_object().expect("env");
    let var = |k: &str| env.get(k).and_then(Value::as_str).unwrap_or_default();
    assert!(var("AWS_ACCESS_KEY_ID").starts_with("ASIA"), "{r}");
    assert_eq!(var("AWS_SECRET_ACCESS_KEY").len(), 40);
    assert!(var("AWS_SESSION_TOKEN").len() >= 100);
    assert_eq!(var("AWS_ENDPOINT_URL"), "http://127.0.0.1:9002");
    // The root keys appear nowhere in the environment.
    let root = creds();
    for (k, v) in env {
        let v = v.as_str().unwrap_or_default();
        assert!(
            !v.contains(&root.access_key_id) && !v.contains(&root.secret_access_key),
            "the root keys leaked into {k}"
        );
    }
    // The credentials work from anywhere they are taken (as AWS's do) while their
    // environment lives...
    let taken = json!({
        "AWS_ACCESS_KEY_ID": var("AWS_ACCESS_KEY_ID"),
        "AWS_SECRET_ACCESS_KEY": var("AWS_SECRET_ACCESS_KEY"),
        "AWS_SESSION_TOKEN": var("AWS_SESSION_TOKEN"),
    });
    assert_eq!(list_with(&server, &taken), "ok");
    // ...and stop working when it ends.
    let (status, _) = server
        .call("DELETE", "/2015-03-31/functions/caller", None)
        .expect("delete");
    assert_eq!(status, 204);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let said = list_with(&server, &taken);
        if said.starts_with(
            "UnrecognizedClientException: The security token included in the request is invalid",
        ) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still accepted after its environment ended: {said}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_nodejs_function_uses_the_javascript_sdk_it_did_not_package() {
    let (_dir, server) = start("");
    deploy(
        &server,
        "callee",
        "python3.12",
        "app.handler",
        &[(
            "app.py",
            "def handler(event, context):\n    return {\"got\": event}\n",
        )],
    );
    deploy(
        &server,
        "jscaller",
        "nodejs20.x",
        "index.handler",
        &[("index.js", NODE_CALLER)],
    );
    let r = invoke(&server, "jscaller", json!({}));
    assert_eq!(
        r["arn"], "arn:aws:sts::000000000000:assumed-role/lambda-role/jscaller",
        "{r}"
    );
    assert_eq!(r["callee"], json!({ "got": { "from": "node" } }), "{r}");
}

/// The same, as an ES module: `import` does not read NODE_PATH.
const NODE_ESM_CALLER: &str = r#"
import { STSClient, GetCallerIdentityCommand } from "@aws-sdk/client-sts";
export const handler = async () => {
  const who = await new STSClient({}).send(new GetCallerIdentityCommand({}));
  return { arn: who.Arn };
};
"#;

#[test]
fn an_es_module_imports_the_javascript_sdk_it_did_not_package() {
    let (_dir, server) = start("");
    deploy(
        &server,
        "esmcaller",
        "nodejs20.x",
        "index.handler",
        &[("index.mjs", NODE_ESM_CALLER)],
    );
    let r = invoke(&server, "esmcaller", json!({}));
    assert_eq!(
        r["arn"], "arn:aws:sts::000000000000:assumed-role/lambda-role/esmcaller",
        "{r}"
    );
}

#[test]
fn expired_session_credentials_are_refused_with_awss_error() {
    let (_dir, server) = start("credentials_ttl_seconds = 3");
    deploy(
        &server,
        "show",
        "python3.12",
        "app.handler",
        &[("app.py", SHOW_CREDENTIALS)],
    );
    let issued = Instant::now();
    let c = invoke(&server, "show", json!({}));
    assert_eq!(list_with(&server, &c), "ok", "valid before their expiry");
    let wait = Duration::from_millis(3500).saturating_sub(issued.elapsed());
    std::thread::sleep(wait);
    assert_eq!(
        list_with(&server, &c),
        "ExpiredTokenException: The security token included in the request is expired"
    );
    // The environment that held them is not reused: a new one has new credentials.
    let fresh = invoke(&server, "show", json!({}));
    assert_ne!(fresh["AWS_ACCESS_KEY_ID"], c["AWS_ACCESS_KEY_ID"]);
    assert_eq!(list_with(&server, &fresh), "ok");
}

/// GETs `path` from the host, signed with `creds` (key id, secret, token) by botocore;
/// returns the status and the body.
fn get_with(server: &NimbusProcess, creds: &Value, path: &str) -> (u16, String) {
    let script = r#"
import sys, urllib.request, urllib.error
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
url = sys.argv[1] + sys.argv[2]
req = AWSRequest(method="GET", url=url)
SigV4Auth(Credentials(sys.argv[3], sys.argv[4], sys.argv[5]), "lambda", "us-east-1").add_auth(req)
try:
    r = urllib.request.urlopen(urllib.request.Request(url, headers=dict(req.headers)))
    print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
"#;
    let s = |k: &str| creds[k].as_str().unwrap_or_default().to_string();
    let out = Command::new(support::python_with_boto3())
        .arg("-c")
        .arg(script)
        .arg(server.endpoint())
        .arg(path)
        .args([
            s("AWS_ACCESS_KEY_ID"),
            s("AWS_SECRET_ACCESS_KEY"),
            s("AWS_SESSION_TOKEN"),
        ])
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let (status, body) = text.split_once(' ').unwrap_or((&text, ""));
    (status.parse().unwrap_or(0), body.to_string())
}

/// Nimbus's operator routes (another function's logs, queue contents, costs) are not AWS
/// APIs a role could be granted: a function's credentials are refused there, while the
/// account's own keys are not.
#[test]
fn a_functions_credentials_do_not_reach_the_operator_routes() {
    let (_dir, server) = start("");
    deploy(
        &server,
        "show",
        "python3.12",
        "app.handler",
        &[("app.py", SHOW_CREDENTIALS)],
    );
    let c = invoke(&server, "show", json!({}));
    for path in [
        "/_nimbus/costs",
        "/_nimbus/logs/show",
        "/_nimbus/queues",
        "/_nimbus/async",
    ] {
        let (status, body) = get_with(&server, &c, path);
        assert_eq!(status, 403, "{path}: {body}");
        assert!(
            body.contains("is not authorized to perform"),
            "{path}: {body}"
        );
        assert!(
            body.contains("assumed-role/lambda-role/show"),
            "{path}: {body}"
        );
        let (status, body) = server.call("GET", path, None).expect("as root");
        assert_eq!(status, 200, "{path} as the account: {body}");
    }
    // The same credentials still do what a role may: the Lambda API.
    assert_eq!(list_with(&server, &c), "ok");
}
