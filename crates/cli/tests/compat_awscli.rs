//! The unmodified AWS CLI, through `--endpoint-url` and SigV4, drives the whole control plane.

mod support;

use std::process::Command;
use std::thread;

use serde_json::Value;
use support::{aws, aws_json, create_body, python_zip, sha256_b64, NimbusProcess};

#[test]
fn aws_cli_function_lifecycle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = NimbusProcess::start(&dir.path().join("data"));
    let home = dir.path();
    let zip = python_zip("{'v': 1}");
    let zip_path = dir.path().join("fn.zip");
    std::fs::write(&zip_path, &zip).expect("write zip");
    let fileb = format!("fileb://{}", zip_path.display());

    // Create from a zip, then the FunctionActiveV2 waiter.
    let created = aws_json(
        &server,
        home,
        &[
            "lambda",
            "create-function",
            "--function-name",
            "cli-fn",
            "--runtime",
            "python3.12",
            "--role",
            support::ROLE,
            "--handler",
            "app.handler",
            "--zip-file",
            &fileb,
            "--timeout",
            "10",
            "--memory-size",
            "256",
            "--tags",
            "team=core",
        ],
    );
    assert_eq!(created["State"], "Pending");
    assert_eq!(created["CodeSha256"], sha256_b64(&zip));
    assert!(aws(
        &server,
        home,
        &[
            "lambda",
            "wait",
            "function-active-v2",
            "--function-name",
            "cli-fn"
        ]
    )
    .status
    .success());

    // Get: configuration, tags and a Code.Location that really downloads the zip.
    let got = aws_json(
        &server,
        home,
        &["lambda", "get-function", "--function-name", "cli-fn"],
    );
    assert_eq!(got["Configuration"]["State"], "Active");
    assert_eq!(got["Configuration"]["MemorySize"], 256);
    assert_eq!(got["Tags"]["team"], "core");
    let location = got["Code"]["Location"].as_str().expect("location");
    let downloaded = reqwest::blocking::get(location)
        .expect("download")
        .bytes()
        .expect("bytes");
    assert_eq!(downloaded.as_ref(), zip.as_slice());

    // More than 50 functions, so that listing takes several pages.
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let addr = server.addr;
            thread::spawn(move || {
                for i in (w..55).step_by(4) {
                    let (status, body) = support::call(
                        addr,
                        "POST",
                        "/2015-03-31/functions",
                        Some(&create_body(&format!("page-{i:02}"), &python_zip("1"))),
                    )
                    .expect("create");
                    assert_eq!(status, 201, "{body}");
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    let all = aws_json(&server, home, &["lambda", "list-functions"]);
    assert_eq!(
        all["Functions"].as_array().map(Vec::len),
        Some(56),
        "the CLI followed NextMarker across pages"
    );
    let page = aws_json(
        &server,
        home,
        &["lambda", "list-functions", "--max-items", "52"],
    );
    assert_eq!(page["Functions"].as_array().map(Vec::len), Some(52));
    assert!(page["NextToken"].is_string());

    // Update code, FunctionUpdatedV2 waiter, then configuration.
    let zip2 = python_zip("{'v': 2}");
    std::fs::write(&zip_path, &zip2).expect("write zip");
    let updated = aws_json(
        &server,
        home,
        &[
            "lambda",
            "update-function-code",
            "--function-name",
            "cli-fn",
            "--zip-file",
            &fileb,
        ],
    );
    assert_eq!(updated["LastUpdateStatus"], "InProgress");
    assert!(aws(
        &server,
        home,
        &[
            "lambda",
            "wait",
            "function-updated-v2",
            "--function-name",
            "cli-fn"
        ]
    )
    .status
    .success());
    aws_json(
        &server,
        home,
        &[
            "lambda",
            "update-function-configuration",
            "--function-name",
            "cli-fn",
            "--memory-size",
            "512",
            "--environment",
            "Variables={STAGE=prod,DEBUG=0}",
        ],
    );
    assert!(aws(
        &server,
        home,
        &[
            "lambda",
            "wait",
            "function-updated-v2",
            "--function-name",
            "cli-fn"
        ]
    )
    .status
    .success());
    let cfg = aws_json(
        &server,
        home,
        &[
            "lambda",
            "get-function-configuration",
            "--function-name",
            "cli-fn",
        ],
    );
    assert_eq!(cfg["CodeSha256"], sha256_b64(&zip2));
    assert_eq!(cfg["MemorySize"], 512);
    assert_eq!(cfg["Environment"]["Variables"]["STAGE"], "prod");
    assert_eq!(cfg["LastUpdateStatus"], "Successful");

    // Tags.
    let arn = cfg["FunctionArn"].as_str().expect("arn").to_string();
    aws_json(
        &server,
        home,
        &[
            "lambda",
            "tag-resource",
            "--resource",
            &arn,
            "--tags",
            "env=dev",
        ],
    );
    aws_json(
        &server,
        home,
        &[
            "lambda",
            "untag-resource",
            "--resource",
            &arn,
            "--tag-keys",
            "team",
        ],
    );
    let tags = aws_json(&server, home, &["lambda", "list-tags", "--resource", &arn]);
    assert_eq!(tags["Tags"], serde_json::json!({ "env": "dev" }));

    // An error as the CLI shows it: AWS's type and message.
    let bad = aws(
        &server,
        home,
        &[
            "lambda",
            "update-function-configuration",
            "--function-name",
            "cli-fn",
            "--timeout",
            "3000",
        ],
    );
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("(ValidationException) when calling the UpdateFunctionConfiguration operation: 1 validation error detected: Value '3000' at 'timeout' failed to satisfy constraint: Member must have value less than or equal to 900"),
        "{stderr}"
    );

    // Delete, by ARN; then it is gone.
    assert!(aws(
        &server,
        home,
        &["lambda", "delete-function", "--function-name", &arn]
    )
    .status
    .success());
    let gone = aws(
        &server,
        home,
        &["lambda", "get-function", "--function-name", "cli-fn"],
    );
    assert!(!gone.status.success());
    assert!(String::from_utf8_lossy(&gone.stderr).contains("ResourceNotFoundException"));
    let settings: Value = aws_json(&server, home, &["lambda", "get-account-settings"]);
    assert_eq!(settings["AccountUsage"]["FunctionCount"], 55);
}

/// The AWS CLI this suite installs (v2.9) speaks SQS's query protocol: form bodies, XML back.
#[test]
fn aws_cli_logs_tail_follow_and_filter() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = NimbusProcess::start(&dir.path().join("data"));
    let home = dir.path();
    let zip_path = dir.path().join("fn.zip");
    std::fs::write(
        &zip_path,
        support::zip_of(&[(
            "app.py",
            b"def handler(event, context):\n    print('said ' + event['say'])\n    return 1\n",
        )]),
    )
    .expect("write zip");
    let fileb = format!("fileb://{}", zip_path.display());
    aws_json(
        &server,
        home,
        &[
            "lambda",
            "create-function",
            "--function-name",
            "talker",
            "--runtime",
            "python3.12",
            "--role",
            support::ROLE,
            "--handler",
            "app.handler",
            "--zip-file",
            &fileb,
        ],
    );
    assert!(aws(
        &server,
        home,
        &[
            "lambda",
            "wait",
            "function-active-v2",
            "--function-name",
            "talker"
        ]
    )
    .status
    .success());
    let invoke = |say: &str| {
        let out = dir.path().join("out.json");
        let payload = format!("{{\"say\": \"{say}\"}}");
        let o = aws(
            &server,
            home,
            &[
                "lambda",
                "invoke",
                "--function-name",
                "talker",
                "--cli-binary-format",
                "raw-in-base64-out",
                "--payload",
                &payload,
                out.to_str().expect("utf-8"),
            ],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    invoke("first");
    // The group exists once the log writer has stored the first lines (as on AWS, after the
    // first invocation's logs arrive).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !String::from_utf8_lossy(
        &aws(
            &server,
            home,
            &[
                "logs",
                "filter-log-events",
                "--log-group-name",
                "/aws/lambda/talker",
            ],
        )
        .stdout,
    )
    .contains("said first")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the first lines never arrived"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // `aws logs tail --follow` polls FilterLogEvents: the first invocation's line, then a new
    // one's, as they are stored.
    let mut cmd = Command::new(support::aws_cli());
    support::client_env(&mut cmd, &server, home);
    // Its lines as it prints them (Python buffers a pipe otherwise).
    cmd.env("PYTHONUNBUFFERED", "1");
    cmd.args([
        "--endpoint-url",
        &server.endpoint(),
        "logs",
        "tail",
        "/aws/lambda/talker",
        "--follow",
        "--since",
        "1h",
        "--format",
        "short",
    ])
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let mut tail = cmd.spawn().expect("aws logs tail");
    let stdout = tail.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let wait_for = |text: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(_) => panic!("aws logs tail never printed {text:?}"),
            }
        }
    };
    wait_for("said first");
    invoke("second");
    wait_for("said second");
    let _ = tail.kill();
    let _ = tail.wait();
    let filtered = aws_json(
        &server,
        home,
        &[
            "logs",
            "filter-log-events",
            "--log-group-name",
            "/aws/lambda/talker",
            "--filter-pattern",
            "said -first",
        ],
    );
    let events = filtered["events"].as_array().expect("events");
    assert_eq!(events.len(), 1, "{filtered}");
    assert!(
        events[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("said second")),
        "{filtered}"
    );
    let streams = aws_json(
        &server,
        home,
        &[
            "logs",
            "describe-log-streams",
            "--log-group-name",
            "/aws/lambda/talker",
        ],
    );
    assert!(
        streams["logStreams"][0]["logStreamName"]
            .as_str()
            .is_some_and(|n| n.contains("[$LATEST]")),
        "{streams}"
    );
}

/// Logs of one's own (create-log-group, create-log-stream, put-log-events, get-log-events),
/// through the AWS CLI as it is. (Debian's CLI predates `--logging-config`: LoggingConfig is
/// driven by boto3, in compat/boto3_control_plane.py.)
#[test]
fn aws_cli_writes_logs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = NimbusProcess::start(&dir.path().join("data"));
    let home = dir.path();
    let group = ["--log-group-name", "/app/cli"];
    aws_json(
        &server,
        home,
        &[&["logs", "create-log-group"][..], &group].concat(),
    );
    aws_json(
        &server,
        home,
        &[
            &["logs", "create-log-stream"][..],
            &group,
            &["--log-stream-name", "s1"],
        ]
        .concat(),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis();
    let events = format!(
        "timestamp={},message=one timestamp={},message=two",
        now - 5,
        now
    );
    let put = aws_json(
        &server,
        home,
        &[
            &["logs", "put-log-events"][..],
            &group,
            &["--log-stream-name", "s1", "--log-events"],
            &events.split(' ').collect::<Vec<_>>(),
        ]
        .concat(),
    );
    assert!(put.get("rejectedLogEventsInfo").is_none(), "{put}");
    let got = aws_json(
        &server,
        home,
        &[
            &["logs", "get-log-events"][..],
            &group,
            &["--log-stream-name", "s1", "--start-from-head"],
        ]
        .concat(),
    );
    let messages: Vec<&str> = got["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert_eq!(messages, ["one", "two"], "{got}");
    // A stream that is not there: AWS's error, through the CLI.
    let out = aws(
        &server,
        home,
        &[
            &["logs", "put-log-events"][..],
            &group,
            &["--log-stream-name", "missing", "--log-events"],
            &[format!("timestamp={now},message=x").as_str()],
        ]
        .concat(),
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ResourceNotFoundException"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn aws_cli_scheduler() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = NimbusProcess::start(&dir.path().join("data"));
    let home = dir.path();
    let group = aws_json(
        &server,
        home,
        &["scheduler", "create-schedule-group", "--name", "cli-jobs"],
    );
    assert_eq!(
        group["ScheduleGroupArn"],
        "arn:aws:scheduler:us-east-1:000000000000:schedule-group/cli-jobs"
    );
    let target = r#"{"Arn":"arn:aws:lambda:us-east-1:000000000000:function:f","RoleArn":"arn:aws:iam::000000000000:role/scheduler","Input":"{\"k\":1}"}"#;
    let created = aws_json(
        &server,
        home,
        &[
            "scheduler",
            "create-schedule",
            "--name",
            "nightly",
            "--group-name",
            "cli-jobs",
            "--schedule-expression",
            "cron(0 3 * * ? *)",
            "--schedule-expression-timezone",
            "Europe/London",
            "--flexible-time-window",
            "Mode=FLEXIBLE,MaximumWindowInMinutes=15",
            "--target",
            target,
        ],
    );
    assert_eq!(
        created["ScheduleArn"],
        "arn:aws:scheduler:us-east-1:000000000000:schedule/cli-jobs/nightly"
    );
    let got = aws_json(
        &server,
        home,
        &[
            "scheduler",
            "get-schedule",
            "--name",
            "nightly",
            "--group-name",
            "cli-jobs",
        ],
    );
    assert_eq!(got["ScheduleExpressionTimezone"], "Europe/London");
    assert_eq!(got["FlexibleTimeWindow"]["MaximumWindowInMinutes"], 15);
    assert_eq!(got["Target"]["Input"], "{\"k\":1}");
    let listed = aws_json(&server, home, &["scheduler", "list-schedules"]);
    assert_eq!(listed["Schedules"][0]["Name"], "nightly", "{listed}");
    let bad = aws(
        &server,
        home,
        &[
            "scheduler",
            "create-schedule",
            "--name",
            "bad",
            "--schedule-expression",
            "cron(0 3 * * * *)",
            "--flexible-time-window",
            "Mode=OFF",
            "--target",
            target,
        ],
    );
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("(ValidationException)")
            && stderr.contains("Invalid Schedule Expression cron(0 3 * * * *)."),
        "{stderr}"
    );
    assert!(aws(
        &server,
        home,
        &["scheduler", "delete-schedule-group", "--name", "cli-jobs"]
    )
    .status
    .success());
    let listed = aws_json(&server, home, &["scheduler", "list-schedules"]);
    assert_eq!(listed["Schedules"], serde_json::json!([]), "{listed}");
}

#[test]
fn aws_cli_sqs_query_protocol() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = NimbusProcess::start(&dir.path().join("data"));
    let home = dir.path();
    let created = aws_json(
        &server,
        home,
        &[
            "sqs",
            "create-queue",
            "--queue-name",
            "cli-q",
            "--attributes",
            "VisibilityTimeout=2,DelaySeconds=0",
            "--tags",
            "team=core",
        ],
    );
    let url = created["QueueUrl"].as_str().expect("url").to_string();
    assert!(url.ends_with("/000000000000/cli-q"), "{url}");
    let got = aws_json(
        &server,
        home,
        &["sqs", "get-queue-url", "--queue-name", "cli-q"],
    );
    assert_eq!(got["QueueUrl"], url.as_str());
    let listed = aws_json(&server, home, &["sqs", "list-queues"]);
    assert_eq!(listed["QueueUrls"], serde_json::json!([url]));
    let tags = aws_json(
        &server,
        home,
        &["sqs", "list-queue-tags", "--queue-url", &url],
    );
    assert_eq!(tags["Tags"]["team"], "core");
    aws_json(
        &server,
        home,
        &["sqs", "tag-queue", "--queue-url", &url, "--tags", "env=dev"],
    );
    aws_json(
        &server,
        home,
        &[
            "sqs",
            "untag-queue",
            "--queue-url",
            &url,
            "--tag-keys",
            "team",
        ],
    );
    let tags = aws_json(
        &server,
        home,
        &["sqs", "list-queue-tags", "--queue-url", &url],
    );
    assert_eq!(tags["Tags"], serde_json::json!({"env": "dev"}));

    let sent = aws_json(
        &server,
        home,
        &[
            "sqs",
            "send-message",
            "--queue-url",
            &url,
            "--message-body",
            "from the cli & <xml>",
            "--message-attributes",
            r#"{"k": {"DataType": "String", "StringValue": "v"}, "b": {"DataType": "Binary", "BinaryValue": "AAH/"}}"#,
        ],
    );
    assert_eq!(sent["MD5OfMessageBody"], md5_hex(b"from the cli & <xml>"));
    let received = aws_json(
        &server,
        home,
        &[
            "sqs",
            "receive-message",
            "--queue-url",
            &url,
            "--attribute-names",
            "All",
            "--message-attribute-names",
            "All",
        ],
    );
    let m = &received["Messages"][0];
    assert_eq!(m["Body"], "from the cli & <xml>");
    assert_eq!(m["MessageId"], sent["MessageId"]);
    assert_eq!(m["MD5OfMessageAttributes"], sent["MD5OfMessageAttributes"]);
    assert_eq!(m["MessageAttributes"]["k"]["StringValue"], "v");
    assert_eq!(m["Attributes"]["ApproximateReceiveCount"], "1");
    let handle = m["ReceiptHandle"].as_str().expect("handle").to_string();
    aws_json(
        &server,
        home,
        &[
            "sqs",
            "change-message-visibility",
            "--queue-url",
            &url,
            "--receipt-handle",
            &handle,
            "--visibility-timeout",
            "0",
        ],
    );
    let again = aws_json(
        &server,
        home,
        &[
            "sqs",
            "receive-message",
            "--queue-url",
            &url,
            "--attribute-names",
            "ApproximateReceiveCount",
        ],
    );
    assert_eq!(
        again["Messages"][0]["Attributes"]["ApproximateReceiveCount"],
        "2"
    );
    let handle = again["Messages"][0]["ReceiptHandle"]
        .as_str()
        .expect("handle")
        .to_string();
    aws_json(
        &server,
        home,
        &[
            "sqs",
            "delete-message",
            "--queue-url",
            &url,
            "--receipt-handle",
            &handle,
        ],
    );

    let batch = aws_json(
        &server,
        home,
        &[
            "sqs",
            "send-message-batch",
            "--queue-url",
            &url,
            "--entries",
            r#"[{"Id": "a", "MessageBody": "one"}, {"Id": "b", "MessageBody": "two", "DelaySeconds": 1000}]"#,
        ],
    );
    assert_eq!(batch["Successful"][0]["Id"], "a");
    assert_eq!(batch["Failed"][0]["Id"], "b");
    assert_eq!(batch["Failed"][0]["Code"], "InvalidParameterValue");
    let attrs = aws_json(
        &server,
        home,
        &[
            "sqs",
            "get-queue-attributes",
            "--queue-url",
            &url,
            "--attribute-names",
            "All",
        ],
    );
    assert_eq!(attrs["Attributes"]["ApproximateNumberOfMessages"], "1");
    assert_eq!(attrs["Attributes"]["VisibilityTimeout"], "2");
    aws_json(
        &server,
        home,
        &[
            "sqs",
            "set-queue-attributes",
            "--queue-url",
            &url,
            "--attributes",
            "VisibilityTimeout=9",
        ],
    );
    let attrs = aws_json(
        &server,
        home,
        &[
            "sqs",
            "get-queue-attributes",
            "--queue-url",
            &url,
            "--attribute-names",
            "VisibilityTimeout",
        ],
    );
    assert_eq!(
        attrs["Attributes"],
        serde_json::json!({"VisibilityTimeout": "9"})
    );
    aws_json(&server, home, &["sqs", "purge-queue", "--queue-url", &url]);

    // Errors, as the CLI prints them from the query protocol's XML.
    let out = aws(
        &server,
        home,
        &["sqs", "get-queue-url", "--queue-name", "missing"],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("(AWS.SimpleQueueService.NonExistentQueue) when calling the GetQueueUrl operation: The specified queue does not exist."),
        "{err}"
    );
    let out = aws(
        &server,
        home,
        &[
            "sqs",
            "create-queue",
            "--queue-name",
            "cli-q",
            "--attributes",
            "VisibilityTimeout=3",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("(QueueAlreadyExists)"), "{err}");
    let out = aws(
        &server,
        home,
        &[
            "sqs",
            "receive-message",
            "--queue-url",
            &url,
            "--max-number-of-messages",
            "11",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("(InvalidParameterValue)") && err.contains("Must be between 1 and 10"),
        "{err}"
    );

    aws_json(&server, home, &["sqs", "delete-queue", "--queue-url", &url]);
    let listed = aws_json(&server, home, &["sqs", "list-queues"]);
    assert!(listed.get("QueueUrls").is_none(), "{listed}");
}

/// MD5 (hex) by the system's `md5sum`, another implementation than the server's.
fn md5_hex(bytes: &[u8]) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("md5sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("md5sum");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(bytes)
        .expect("write");
    let out = child.wait_with_output().expect("md5sum output");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}
