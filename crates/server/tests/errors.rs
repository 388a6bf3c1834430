//! Bad input, each answered with AWS's exact error type, HTTP status and message
//! (spec/lambda-compat.md §5b; the numbers refer to its table), and nothing stored.

mod support;

use serde_json::{json, Value};
use support::{create_body, hello_zip, TestServer};

const FUNCTIONS: &str = "/2015-03-31/functions";

fn with(name: &str, extra: Value) -> Value {
    let mut b = create_body(name, &hello_zip());
    for (k, v) in extra.as_object().expect("object") {
        b[k] = v.clone();
    }
    b
}

/// Sends a CreateFunction that must fail, and checks that nothing was created.
#[track_caller]
fn create_fails(body: Value, status: u16, ty: &str, msg: &str) {
    let s = TestServer::start();
    let r = s.call_json("POST", FUNCTIONS, &body);
    r.assert_error(status, ty, msg);
    assert_eq!(s.function_count(), 0);
}

fn server_with_f() -> TestServer {
    let s = TestServer::start();
    s.create("f", &hello_zip());
    s
}

#[test]
fn get_unknown_function() {
    // #1
    let s = TestServer::start();
    s.call("GET", "/2015-03-31/functions/nope", b"")
        .assert_error(
            404,
            "ResourceNotFoundException",
            "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope",
        );
}

#[test]
fn get_unknown_version_names_it() {
    // #1, qualified
    let s = server_with_f();
    s.call("GET", "/2015-03-31/functions/f?Qualifier=1221", b"")
        .assert_error(
            404,
            "ResourceNotFoundException",
            "Function not found: arn:aws:lambda:us-east-1:000000000000:function:f:1221",
        );
}

#[test]
fn delete_unknown_function() {
    let s = TestServer::start();
    s.call("DELETE", "/2015-03-31/functions/nope", b"")
        .assert_error(
            404,
            "ResourceNotFoundException",
            "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope",
        );
}

#[test]
fn arn_in_another_region() {
    // #5
    let s = server_with_f();
    s.call(
        "GET",
        "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aap-southeast-1%3A000000000000%3Afunction%3Af",
        b"",
    )
    .assert_error(
        404,
        "ResourceNotFoundException",
        "Functions from 'ap-southeast-1' are not reachable in this region ('us-east-1')",
    );
}

#[test]
fn arn_in_another_account() {
    // #6
    let s = server_with_f();
    let r = s.call(
        "GET",
        "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A111111111111%3Afunction%3Af",
        b"",
    );
    r.assert_error(403, "AccessDeniedException", "");
}

#[test]
fn qualifier_mismatch() {
    // #7
    let s = server_with_f();
    s.call("GET", "/2015-03-31/functions/f%3A1?Qualifier=2", b"")
        .assert_error(
            400,
            "InvalidParameterValueException",
            "The derived qualifier from the function name does not match the specified qualifier.",
        );
}

#[test]
fn delete_latest_qualifier() {
    // #8
    let s = server_with_f();
    s.call("DELETE", "/2015-03-31/functions/f?Qualifier=%24LATEST", b"")
        .assert_error(
            400,
            "InvalidParameterValueException",
            "$LATEST version cannot be deleted without deleting the function.",
        );
    assert_eq!(s.function_count(), 1);
}

#[test]
fn duplicate_function() {
    // #9
    let s = server_with_f();
    s.call_json("POST", FUNCTIONS, &create_body("f", &hello_zip()))
        .assert_error(
            409,
            "ResourceConflictException",
            "Function already exist: f",
        );
    assert_eq!(s.function_count(), 1);
}

#[test]
fn name_longer_than_64() {
    // #10
    let name = "a".repeat(65);
    create_fails(
        create_body(&name, &hello_zip()),
        400,
        "InvalidParameterValueException",
        &format!("1 validation error detected: Value '{name}' at 'functionName' failed to satisfy constraint: Member must have length less than or equal to 64"),
    );
}

#[test]
fn arn_longer_than_140() {
    // #11
    let arn = format!(
        "arn:aws:lambda:us-east-1:000000000000:function:{}",
        "b".repeat(100)
    );
    create_fails(
        create_body(&arn, &hello_zip()),
        400,
        "ValidationException",
        &format!("1 validation error detected: Value '{arn}' at 'functionName' failed to satisfy constraint: Member must have length less than or equal to 140"),
    );
}

#[test]
fn bad_name_characters() {
    // #12
    create_fails(
        create_body("invalid:function:name", &hello_zip()),
        400,
        "ValidationException",
        &format!("1 validation error detected: Value 'invalid:function:name' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: {}", nimbus_model::arn::FUNCTION_NAME_PATTERN),
    );
}

#[test]
fn unknown_runtime() {
    // #13
    create_fails(
        with("f", json!({ "Runtime": "non-existent-runtime" })),
        400,
        "InvalidParameterValueException",
        &format!(
            "Value non-existent-runtime at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [{}] or be a valid ARN",
            nimbus_model::runtime::SUPPORTED_RUNTIMES.join(", ")
        ),
    );
}

#[test]
fn deprecated_runtime() {
    // #14
    create_fails(
        with("f", json!({ "Runtime": "python3.7" })),
        400,
        "InvalidParameterValueException",
        "The runtime parameter of python3.7 is no longer supported for creating or updating AWS Lambda functions. We recommend you use a supported runtime while creating or updating functions.",
    );
}

#[test]
fn bad_role() {
    // #15
    create_fails(
        with("f", json!({ "Role": "r1" })),
        400,
        "ValidationException",
        r"1 validation error detected: Value 'r1' at 'role' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+",
    );
}

#[test]
fn missing_role() {
    let mut b = create_body("f", &hello_zip());
    b.as_object_mut().expect("object").remove("Role");
    create_fails(
        b,
        400,
        "ValidationException",
        "1 validation error detected: Value null at 'role' failed to satisfy constraint: Member must not be null",
    );
}

#[test]
fn two_architectures() {
    // #16
    create_fails(
        with("f", json!({ "Architectures": ["x86_64", "arm64"] })),
        400,
        "ValidationException",
        "1 validation error detected: Value '[x86_64, arm64]' at 'architectures' failed to satisfy constraint: Member must have length less than or equal to 1",
    );
}

#[test]
fn uppercase_architecture() {
    // #17
    create_fails(
        with("f", json!({ "Architectures": ["X86_64"] })),
        400,
        "ValidationException",
        "1 validation error detected: Value '[X86_64]' at 'architectures' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]",
    );
}

#[test]
fn corrupt_zip() {
    // #18
    create_fails(
        create_body("f", b"PK\x03\x04 this is not really a zip"),
        400,
        "InvalidParameterValueException",
        "Could not unzip uploaded file. Please check your file, then try to upload again.",
    );
}

#[test]
fn request_body_over_70167211_bytes() {
    // #21
    let s = TestServer::start();
    let body = vec![b' '; 70_167_212];
    s.call("POST", FUNCTIONS, &body).assert_error(
        413,
        "RequestEntityTooLargeException",
        "Request must be smaller than 70167211 bytes for the CreateFunction operation",
    );
    assert_eq!(s.function_count(), 0);
}

#[test]
fn environment_over_4kb() {
    // #22
    let big = "x".repeat(4100);
    create_fails(
        with("f", json!({ "Environment": { "Variables": { "LARGE_VAR": big } } })),
        400,
        "InvalidParameterValueException",
        &format!("Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: {{\"LARGE_VAR\":\"{big}\"}}"),
    );
}

#[test]
fn reserved_environment_variable() {
    // #23
    create_fails(
        with("f", json!({ "Environment": { "Variables": { "AWS_REGION": "eu-west-1" } } })),
        400,
        "InvalidParameterValueException",
        "Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: AWS_REGION",
    );
}

#[test]
fn timeout_over_900() {
    // #24
    create_fails(
        with("f", json!({ "Timeout": 3000 })),
        400,
        "ValidationException",
        "1 validation error detected: Value '3000' at 'timeout' failed to satisfy constraint: Member must have value less than or equal to 900",
    );
}

#[test]
fn memory_over_10240() {
    // #25, at Nimbus's limit
    create_fails(
        with("f", json!({ "MemorySize": 10241 })),
        400,
        "InvalidParameterValueException",
        "'MemorySize' value failed to satisfy constraint: Member must have value less than or equal to 10240",
    );
}

#[test]
fn memory_under_128() {
    create_fails(
        with("f", json!({ "MemorySize": 64 })),
        400,
        "ValidationException",
        "1 validation error detected: Value '64' at 'memorySize' failed to satisfy constraint: Member must have value greater than or equal to 128",
    );
}

#[test]
fn ephemeral_storage_under_512() {
    create_fails(
        with("f", json!({ "EphemeralStorage": { "Size": 100 } })),
        400,
        "ValidationException",
        "1 validation error detected: Value '100' at 'ephemeralStorage.size' failed to satisfy constraint: Member must have value greater than or equal to 512",
    );
}

#[test]
fn stale_revision_id() {
    // #28
    let s = server_with_f();
    let before = s
        .call("GET", "/2015-03-31/functions/f/configuration", b"")
        .body;
    s.call_json(
        "PUT",
        "/2015-03-31/functions/f/configuration",
        &json!({ "MemorySize": 256, "RevisionId": "00000000-0000-0000-0000-000000000000" }),
    )
    .assert_error(
        412,
        "PreconditionFailedException",
        "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
    );
    assert_eq!(
        s.call("GET", "/2015-03-31/functions/f/configuration", b"")
            .body,
        before
    );
}

#[test]
fn missing_layer_version() {
    // #46
    let arn = "arn:aws:lambda:us-east-1:000000000000:layer:deps:9";
    create_fails(
        with("f", json!({ "Layers": [arn] })),
        400,
        "InvalidParameterValueException",
        &format!("Layer version {arn} does not exist."),
    );
}

#[test]
fn more_than_five_layers() {
    // #46
    let layers: Vec<String> = (0..6)
        .map(|i| format!("arn:aws:lambda:us-east-1:000000000000:layer:l{i}:1"))
        .collect();
    create_fails(
        with("f", json!({ "Layers": layers })),
        400,
        "InvalidParameterValueException",
        "Cannot reference more than 5 layers.",
    );
}

#[test]
fn tag_a_qualified_arn() {
    // #47
    let s = server_with_f();
    s.call_json(
        "POST",
        "/2017-03-31/tags/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af%3A1",
        &json!({ "Tags": { "a": "b" } }),
    )
    .assert_error(
        400,
        "InvalidParameterValueException",
        "Tags on function aliases and versions are not supported. Please specify a function ARN.",
    );
}

#[test]
fn more_than_50_tags() {
    // #47
    let s = server_with_f();
    let tags: serde_json::Map<String, Value> =
        (0..51).map(|i| (format!("k{i}"), json!("v"))).collect();
    s.call_json(
        "POST",
        "/2017-03-31/tags/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af",
        &json!({ "Tags": tags }),
    )
    .assert_error(
        400,
        "InvalidParameterValueException",
        "Number of tags exceeds resource tag limit.",
    );
    let r = s.call(
        "GET",
        "/2017-03-31/tags/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af",
        b"",
    );
    assert_eq!(r.body, json!({ "Tags": {} }));
}

#[test]
fn s3_code_location() {
    // #48
    create_fails(
        with("f", json!({ "Code": { "S3Bucket": "b", "S3Key": "k.zip" } })),
        400,
        "InvalidParameterValueException",
        "Error occurred while GetObject. S3 Error Code: NoSuchBucket. S3 Error Message: The specified bucket does not exist",
    );
}

#[test]
fn image_uri_for_a_zip_function() {
    // #49
    let s = server_with_f();
    s.call_json(
        "PUT",
        "/2015-03-31/functions/f/code",
        &json!({ "ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1" }),
    )
    .assert_error(
        400,
        "InvalidParameterValueException",
        "Please don't provide ImageUri when updating a function with packageType Zip.",
    );
}

#[test]
fn missing_runtime_for_zip() {
    let mut b = create_body("f", &hello_zip());
    b.as_object_mut().expect("object").remove("Runtime");
    create_fails(
        b,
        400,
        "InvalidParameterValueException",
        "Runtime and Handler are mandatory parameters for functions created with deployment packages.",
    );
}

#[test]
fn invalid_json_body() {
    let s = TestServer::start();
    let r = s.call("POST", FUNCTIONS, b"{\"FunctionName\": ");
    assert_eq!(
        (r.status, r.error_type.as_deref()),
        (400, Some("InvalidRequestContentException"))
    );
    assert!(
        r.message()
            .starts_with("Could not parse request body into json: "),
        "{}",
        r.body
    );
    assert_eq!(s.function_count(), 0);
}

#[test]
fn list_max_items_zero() {
    let s = TestServer::start();
    s.call("GET", "/2015-03-31/functions?MaxItems=0", b"").assert_error(
        400,
        "ValidationException",
        "1 validation error detected: Value '0' at 'maxItems' failed to satisfy constraint: Member must have value greater than or equal to 1",
    );
}

#[test]
fn error_bodies_carry_the_modelled_type_member() {
    let s = TestServer::start();
    let r = s.call("GET", "/2015-03-31/functions/nope", b"");
    assert_eq!(r.body["Type"], "User");
    assert!(
        r.body.get("Message").is_some(),
        "ResourceNotFoundException uses `Message`"
    );
    let r = s.call_json(
        "POST",
        FUNCTIONS,
        &with("f", json!({ "Runtime": "python3.7" })),
    );
    assert!(
        r.body.get("message").is_some(),
        "InvalidParameterValueException uses `message`"
    );
}
