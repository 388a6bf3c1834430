//! The `nimbus` client commands and `nimbus serve`'s start-up behaviour.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use support::{nimbus, NimbusProcess};

fn client(server: &NimbusProcess) -> Command {
    let c = support::creds();
    let mut cmd = nimbus();
    cmd.env("NIMBUS_ENDPOINT", server.endpoint())
        .env("NIMBUS_ACCESS_KEY_ID", &c.access_key_id)
        .env("NIMBUS_SECRET_ACCESS_KEY", &c.secret_access_key);
    cmd
}

#[track_caller]
fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run nimbus");
    assert!(
        out.status.success(),
        "{:?} failed: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn deploy_list_get_delete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = NimbusProcess::start(&dir.path().join("data"));
    let code = dir.path().join("src");
    std::fs::create_dir_all(code.join("lib")).expect("mkdir");
    std::fs::write(code.join("app.py"), "def handler(e, c):\n    return 1\n").expect("write");
    std::fs::write(code.join("lib/util.py"), "X = 1\n").expect("write");
    std::fs::write(code.join("bootstrap"), "#!/bin/sh\n").expect("write");
    std::fs::set_permissions(
        code.join("bootstrap"),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");

    let out = ok(client(&server)
        .args([
            "deploy",
            "web",
            "--runtime",
            "python3.12",
            "--handler",
            "app.handler",
            "--memory",
            "256",
            "--env",
            "STAGE=dev",
            "--code",
        ])
        .arg(&code));
    let cfg: serde_json::Value =
        serde_json::from_str(&out).expect("deploy prints the configuration");
    assert_eq!(
        (cfg["State"].as_str(), cfg["MemorySize"].as_u64()),
        (Some("Active"), Some(256))
    );
    let first_sha = cfg["CodeSha256"].clone();

    // The same tree zips to the same package: nothing to update.
    let again: serde_json::Value = serde_json::from_str(&ok(client(&server)
        .args(["deploy", "web", "--code"])
        .arg(&code)))
    .expect("json");
    assert_eq!(again["CodeSha256"], first_sha);
    assert_eq!(
        again["RevisionId"], cfg["RevisionId"],
        "an unchanged deploy changes nothing"
    );

    std::fs::write(code.join("app.py"), "def handler(e, c):\n    return 2\n").expect("write");
    let updated: serde_json::Value = serde_json::from_str(&ok(client(&server)
        .args(["deploy", "web", "--timeout", "20", "--code"])
        .arg(&code)))
    .expect("json");
    assert_ne!(updated["CodeSha256"], first_sha);
    assert_eq!(updated["Timeout"], 20);
    assert_eq!(updated["Environment"]["Variables"]["STAGE"], "dev");

    // The package kept the executable bit and the directory layout.
    let sha_hex: String = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(updated["CodeSha256"].as_str().expect("sha"))
            .expect("b64")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let pkg = dir.path().join("data/code/pkgs").join(sha_hex);
    assert!(pkg.join("lib/util.py").is_file());
    let mode = std::fs::metadata(pkg.join("bootstrap"))
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o555);

    let list = ok(client(&server).args(["functions", "list"]));
    assert!(
        list.lines()
            .any(|l| l.starts_with("web ") && l.contains("python3.12")),
        "{list}"
    );
    let got: serde_json::Value =
        serde_json::from_str(&ok(client(&server).args(["functions", "get", "web"]))).expect("json");
    assert_eq!(got["Configuration"]["FunctionName"], "web");
    ok(client(&server).args(["functions", "delete", "web"]));
    let out = client(&server)
        .args(["functions", "get", "web"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("ResourceNotFoundException (404): Function not found"));
}

#[test]
fn generated_credentials_are_written_once_and_used_by_the_cli() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut cmd = nimbus();
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--url-listen",
        "127.0.0.1:0",
        "--data-dir",
    ])
    .arg(&data)
    .env_remove("NIMBUS_ACCESS_KEY_ID")
    .env_remove("NIMBUS_SECRET_ACCESS_KEY");
    let server = NimbusProcess::spawn(cmd, &data);
    let file = data.join("credentials");
    let text = std::fs::read_to_string(&file).expect("credentials written");
    assert!(
        text.contains("[nimbus]")
            && text.contains("aws_access_key_id = ")
            && text.contains("aws_secret_access_key = ")
    );
    assert_eq!(
        std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777,
        0o600
    );
    let out = nimbus()
        .args([
            "functions",
            "list",
            "--endpoint",
            &server.endpoint(),
            "--data-dir",
        ])
        .arg(&data)
        .env_remove("NIMBUS_ACCESS_KEY_ID")
        .env_remove("NIMBUS_SECRET_ACCESS_KEY")
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(server);
    // A second start reuses the same keys.
    let mut cmd = nimbus();
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--url-listen",
        "127.0.0.1:0",
        "--data-dir",
    ])
    .arg(&data);
    let _again = NimbusProcess::spawn(cmd, &data);
    assert_eq!(std::fs::read_to_string(&file).expect("still there"), text);
}

#[test]
fn bad_configuration_is_a_startup_error_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("nimbus.toml");
    std::fs::write(&cfg, "listen = \"127.0.0.1:0\"\nlisten_backlog = 5\n").expect("write");
    let out = nimbus()
        .args(["serve", "--config"])
        .arg(&cfg)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("listen_backlog"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    std::fs::write(
        &cfg,
        format!(
            "data_dir = \"{}\"\ncode_url_ttl_seconds = 5\n",
            dir.path().join("d").display()
        ),
    )
    .expect("write");
    let out = nimbus()
        .args(["serve", "--config"])
        .arg(&cfg)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("code_url_ttl_seconds"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn one_server_per_data_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let _first = NimbusProcess::start(&data);
    let c = support::creds();
    let out = nimbus()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--url-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(&data)
        .env("NIMBUS_ACCESS_KEY_ID", &c.access_key_id)
        .env("NIMBUS_SECRET_ACCESS_KEY", &c.secret_access_key)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("another nimbus server is using it"));
}

#[test]
fn sigterm_stops_the_server_gracefully() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let c = support::creds();
    let mut child = nimbus()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--url-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(&data)
        .env("NIMBUS_ACCESS_KEY_ID", &c.access_key_id)
        .env("NIMBUS_SECRET_ACCESS_KEY", &c.secret_access_key)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("line");
    assert!(line.starts_with("listening on "));
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = child.wait().expect("wait");
    assert!(exit.success(), "graceful shutdown exits 0, got {exit:?}");
}

#[test]
fn the_secret_comes_from_a_file_never_from_a_flag() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = support::creds();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, format!("{}\n", c.secret_access_key)).expect("write");
    let mut cmd = support::nimbus();
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--url-listen",
        "127.0.0.1:0",
        "--data-dir",
    ])
    .arg(dir.path().join("data"))
    .arg("--access-key-id")
    .arg(&c.access_key_id)
    .arg("--secret-access-key-file")
    .arg(&secret)
    .env_remove("NIMBUS_SECRET_ACCESS_KEY");
    let server = support::NimbusProcess::spawn(cmd, &dir.path().join("data"));
    let (status, _) = server
        .call("GET", "/2015-03-31/functions", None)
        .expect("list");
    assert_eq!(status, 200, "signed with the key from the file");
    drop(server);
    let out = support::nimbus()
        .args(["serve", "--secret-access-key", "visible-in-ps-0123456789"])
        .output()
        .expect("run");
    assert!(!out.status.success(), "the flag does not exist");
}

#[test]
fn publish_alias_and_concurrency_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = NimbusProcess::start(&dir.path().join("data"));
    let code = dir.path().join("src");
    std::fs::create_dir_all(&code).expect("mkdir");
    std::fs::write(code.join("app.py"), "def handler(e, c):\n    return 1\n").expect("write");
    ok(client(&server)
        .args([
            "deploy",
            "svc",
            "--runtime",
            "python3.12",
            "--handler",
            "app.handler",
            "--code",
        ])
        .arg(&code));
    let out = ok(client(&server).args(["publish", "svc", "--description", "first"]));
    assert_eq!(out.trim(), "published svc version 1");
    std::fs::write(code.join("app.py"), "def handler(e, c):\n    return 2\n").expect("write");
    ok(client(&server)
        .args([
            "deploy",
            "svc",
            "--runtime",
            "python3.12",
            "--handler",
            "app.handler",
            "--code",
        ])
        .arg(&code));
    assert_eq!(
        ok(client(&server).args(["publish", "svc"])).trim(),
        "published svc version 2"
    );
    // Created, then moved, with a weight.
    assert_eq!(
        ok(client(&server).args(["alias", "set", "svc", "live", "1"])).trim(),
        "live -> 1"
    );
    assert_eq!(
        ok(client(&server).args(["alias", "set", "svc", "live", "1", "--weight", "2=0.25"])).trim(),
        "live -> 1 (+ 2=0.25)"
    );
    assert_eq!(
        ok(client(&server).args(["alias", "list", "svc"])).trim(),
        "live -> 1 (+ 2=0.25)"
    );
    let bad = client(&server)
        .args(["alias", "set", "svc", "live", "1", "--weight", "2"])
        .output()
        .expect("run");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("VERSION=WEIGHT"));
    ok(client(&server).args(["alias", "delete", "svc", "live"]));
    assert_eq!(
        ok(client(&server).args(["alias", "list", "svc"])).trim(),
        ""
    );

    assert_eq!(
        ok(client(&server).args(["concurrency", "svc", "--reserve", "5"])).trim(),
        "svc: 5 reserved"
    );
    assert_eq!(
        ok(client(&server).args(["concurrency", "svc"])).trim(),
        "svc: 5 reserved"
    );
    assert!(ok(client(&server).args(["concurrency", "svc", "--clear"])).contains("none reserved"));
}

#[test]
fn schedules_create_list_get_delete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = NimbusProcess::start(&dir.path().join("data"));
    let code = dir.path().join("src");
    std::fs::create_dir_all(&code).expect("mkdir");
    std::fs::write(code.join("app.py"), "def handler(e, c):\n    return e\n").expect("write");
    ok(client(&server)
        .args([
            "deploy",
            "job",
            "--runtime",
            "python3.12",
            "--handler",
            "app.handler",
            "--code",
        ])
        .arg(&code));
    let arn = ok(client(&server).args([
        "schedules",
        "create",
        "nightly",
        "--expression",
        "cron(0 3 * * ? *)",
        "--timezone",
        "Europe/Paris",
        "--function",
        "job",
        "--input",
        r#"{"task": "compact"}"#,
        "--window-minutes",
        "10",
    ]));
    assert_eq!(
        arn.trim(),
        "arn:aws:scheduler:us-east-1:000000000000:schedule/default/nightly"
    );
    let listed = ok(client(&server).args(["schedules", "list"]));
    assert!(
        listed.contains("nightly")
            && listed.contains("ENABLED")
            && listed.contains("arn:aws:lambda:us-east-1:000000000000:function:job"),
        "{listed}"
    );
    let got: serde_json::Value =
        serde_json::from_str(&ok(client(&server).args(["schedules", "get", "nightly"])))
            .expect("json");
    assert_eq!(got["ScheduleExpressionTimezone"], "Europe/Paris");
    assert_eq!(got["FlexibleTimeWindow"]["MaximumWindowInMinutes"], 10);
    assert_eq!(got["Target"]["Input"], r#"{"task": "compact"}"#);
    // A function that does not exist fails at once, naming it.
    let out = client(&server)
        .args([
            "schedules",
            "create",
            "typo",
            "--expression",
            "rate(1 hour)",
            "--function",
            "jbo",
        ])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("jbo"), "{stderr}");
    // A bad expression: Scheduler's message.
    let out = client(&server)
        .args([
            "schedules",
            "create",
            "bad",
            "--expression",
            "rate(1 fortnight)",
            "--function",
            "job",
        ])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Invalid Schedule Expression rate(1 fortnight)."),
        "{stderr}"
    );
    ok(client(&server).args(["schedules", "delete", "nightly"]));
    let listed = ok(client(&server).args(["schedules", "list"]));
    assert!(!listed.contains("nightly"), "{listed}");
}

/// The sandbox launcher's ready sandboxes show in /metrics.
#[test]
fn metrics_show_the_sandbox_standby_pool() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let config = dir.path().join("nimbus.toml");
    std::fs::write(&config, "[metrics]\ntoken = \"standby-token-0123456789\"\n").expect("config");
    let server = NimbusProcess::start_with_config(&data, &config);
    let scrape = || {
        reqwest::blocking::Client::new()
            .get(format!("{}/metrics", server.endpoint()))
            .header("authorization", "Bearer standby-token-0123456789")
            .send()
            .expect("scrape")
            .text()
            .expect("text")
    };
    let value = |text: &str, name: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    };
    let start = std::time::Instant::now();
    loop {
        let text = scrape();
        // The sandbox launcher keeps at least one sandbox ready (refilled in the background).
        if value(&text, "nimbus_sandbox_standby").is_some_and(|n| n >= 1.0) {
            break;
        }
        assert!(start.elapsed().as_secs() < 30, "none ready: {text}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
