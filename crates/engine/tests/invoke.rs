//! The engine with the `process` launcher and our Python bootstrap: cold and warm starts,
//! errors, timeouts, exits, logs. Needs /usr/bin/python3.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nimbus_engine::launcher::ProcessLauncher;
use nimbus_engine::logs::{LogEvent, LogSink};
use nimbus_engine::resolve::SourceFuture;
use nimbus_engine::runtimes::{Runtimes, RuntimesConfig};
use nimbus_engine::{
    Engine, EngineConfig, FunctionSource, FunctionSpec, InvocationRequest, InvocationType,
    InvokeError, LogType, RequestId,
};

#[derive(Default)]
struct Captured(Mutex<Vec<(String, String, String)>>);

impl LogSink for Captured {
    fn write(&self, group: &str, stream: &str, events: Vec<LogEvent>) {
        let mut v = self.0.lock().expect("lock");
        for e in events {
            v.push((group.to_string(), stream.to_string(), e.message));
        }
    }
}

/// The specs the tests invoke, served as the function source.
#[derive(Default)]
struct Specs(Mutex<std::collections::HashMap<String, FunctionSpec>>);

impl FunctionSource for Specs {
    fn load<'a>(
        &'a self,
        function: &'a str,
        _qualifier: Option<&'a str>,
        _region: &'a str,
    ) -> SourceFuture<'a> {
        Box::pin(async move {
            let s = self.0.lock().expect("lock").get(function).cloned();
            let s = s.ok_or_else(|| {
                nimbus_engine::ResolveError::Lambda(nimbus_model::LambdaError::not_found("no"))
            })?;
            Ok((
                s,
                nimbus_model::State::Active,
                format!("arn:aws:lambda:us-east-1:000000000000:function:{function}"),
            ))
        })
    }
}

/// The engine, with each spec made the function's current configuration before it runs.
struct Runner {
    engine: Arc<Engine>,
    specs: Arc<Specs>,
}

struct Out {
    payload: axum::body::Bytes,
    function_error: bool,
    log: String,
}

impl Runner {
    fn new(
        config: EngineConfig,
        launcher: Arc<ProcessLauncher>,
        runtimes: Runtimes,
        logs: Arc<Captured>,
    ) -> Self {
        let specs = Arc::new(Specs::default());
        let engine = Engine::new(config, launcher, runtimes, logs, specs.clone());
        Self { engine, specs }
    }

    async fn invoke(&self, s: &FunctionSpec, r: (String, String)) -> Result<Out, InvokeError> {
        let old = self
            .specs
            .0
            .lock()
            .expect("lock")
            .insert(s.name.clone(), s.clone());
        if old.as_ref() != Some(s) {
            self.engine.function_changed(&s.name);
        }
        let out = self
            .engine
            .invoke(InvocationRequest {
                function: s.name.clone(),
                qualifier: None,
                region: "us-east-1".into(),
                request_id: RequestId::new(r.0),
                payload: r.1.into(),
                invocation_type: InvocationType::RequestResponse,
                client_context: None,
                log_type: LogType::Tail,
                trace_header: None,
                deadline: None,
                stream: None,
            })
            .await?;
        Ok(Out {
            payload: out.payload,
            function_error: out.function_error.is_some(),
            log: out.log.unwrap_or_default(),
        })
    }

    fn idle_count(&self) -> usize {
        self.engine.idle_count()
    }

    fn reap(&self) -> usize {
        self.engine.reap()
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    engine: Runner,
    logs: Arc<Captured>,
    code: std::path::PathBuf,
}

fn fixture(files: &[(&str, &str)]) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let code = dir.path().join("code");
    for (name, text) in files {
        let p = code.join(name);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, text).expect("write");
    }
    std::fs::create_dir_all(&code).expect("mkdir");
    let runtimes = Runtimes::install(RuntimesConfig::default(), &dir.path().join("runtimes"))
        .expect("runtimes");
    let logs = Arc::new(Captured::default());
    let launcher = Arc::new(ProcessLauncher {
        tmp_root: dir.path().join("tmp"),
    });
    let engine = Runner::new(EngineConfig::default(), launcher, runtimes, logs.clone());
    Fixture {
        _dir: dir,
        engine,
        logs,
        code,
    }
}

fn spec(code: &Path, handler: &str, timeout_ms: u64) -> FunctionSpec {
    FunctionSpec {
        name: "f".into(),
        version: "$LATEST".into(),
        region: "us-east-1".into(),
        runtime: "python3.12".into(),
        handler: handler.into(),
        code_dir: code.to_path_buf(),
        memory_mb: 128,
        timeout: Duration::from_millis(timeout_ms),
        ephemeral_mb: 512,
        environment: BTreeMap::from([("GREETING".to_string(), "hi".to_string())]),
        log_group: "/aws/lambda/f".into(),
        reserved_concurrency: None,
        role: "arn:aws:iam::000000000000:role/test".into(),
        egress: Default::default(),
        architecture: "x86_64".into(),
        logging: Default::default(),
        tracing_active: false,
    }
}

fn req(id: &str, payload: &str) -> (String, String) {
    (id.to_string(), payload.to_string())
}

const APP: &str = r#"
import os, time
count = 0
def handler(event, context):
    global count
    count += 1
    print("got", event.get("n"))
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("exit"):
        os._exit(3)
    if event.get("fail"):
        raise ValueError("bad n")
    return {"count": count, "greeting": os.environ["GREETING"], "left": context.get_remaining_time_in_millis() > 0}
"#;

#[tokio::test]
async fn cold_then_warm_with_logs() {
    let fx = fixture(&[("app.py", APP)]);
    let s = spec(&fx.code, "app.handler", 3000);
    let first = fx
        .engine
        .invoke(&s, req("r1", r#"{"n": 1}"#))
        .await
        .expect("invoke");
    assert!(!first.function_error, "{:?}", first.payload);
    let v: serde_json::Value = serde_json::from_slice(&first.payload).expect("json");
    assert_eq!(v["count"], 1);
    assert_eq!(v["greeting"], "hi");
    assert!(
        first
            .log
            .starts_with("START RequestId: r1 Version: $LATEST\n"),
        "{}",
        first.log
    );
    assert!(first.log.contains("got 1\n"), "{}", first.log);
    assert!(first
        .log
        .contains("END RequestId: r1\nREPORT RequestId: r1\tDuration: "));
    assert!(
        first.log.contains("\tInit Duration: "),
        "cold start reports init"
    );

    let second = fx
        .engine
        .invoke(&s, req("r2", r#"{"n": 2}"#))
        .await
        .expect("invoke");
    let v: serde_json::Value = serde_json::from_slice(&second.payload).expect("json");
    assert_eq!(v["count"], 2, "warm reuse keeps globals");
    assert!(!second.log.contains("Init Duration"), "{}", second.log);
    let logs = fx.logs.0.lock().expect("lock");
    assert!(logs.iter().any(|(g, _, m)| g == "/aws/lambda/f"
        && m.starts_with("INIT_START Runtime Version: python3.12.nimbus")));
}

#[tokio::test]
async fn errors_timeouts_and_exits() {
    let fx = fixture(&[("app.py", APP)]);
    let s = spec(&fx.code, "app.handler", 1000);
    let e = fx
        .engine
        .invoke(&s, req("e1", r#"{"fail": true}"#))
        .await
        .expect("invoke");
    assert!(e.function_error);
    let v: serde_json::Value = serde_json::from_slice(&e.payload).expect("json");
    assert_eq!(
        (
            v["errorType"].as_str(),
            v["errorMessage"].as_str(),
            v["requestId"].as_str()
        ),
        (Some("ValueError"), Some("bad n"), Some("e1"))
    );
    assert!(v["stackTrace"][0]
        .as_str()
        .expect("trace")
        .contains("app.py"));

    let t = fx
        .engine
        .invoke(&s, req("t1", r#"{"sleep": 5}"#))
        .await
        .expect("invoke");
    let v: serde_json::Value = serde_json::from_slice(&t.payload).expect("json");
    assert_eq!(
        v,
        serde_json::json!({"errorType": "Sandbox.Timedout", "errorMessage": "RequestId: t1 Error: Task timed out after 1.00 seconds"})
    );
    assert!(t.log.contains("\tStatus: timeout\t"), "{}", t.log);
    // A fresh environment after the timeout: the global counter starts again.
    let fresh = fx.engine.invoke(&s, req("t2", "{}")).await.expect("invoke");
    let v: serde_json::Value = serde_json::from_slice(&fresh.payload).expect("json");
    assert_eq!(v["count"], 1, "{}", fresh.log);

    let x = fx
        .engine
        .invoke(&s, req("x1", r#"{"exit": true}"#))
        .await
        .expect("invoke");
    let v: serde_json::Value = serde_json::from_slice(&x.payload).expect("json");
    assert_eq!(
        v,
        serde_json::json!({"errorType": "Runtime.ExitError", "errorMessage": "RequestId: x1 Error: Runtime exited with error: exit status 3"})
    );
}

#[tokio::test]
async fn init_errors() {
    let fx = fixture(&[
        ("app.py", APP),
        ("broken.py", "def handler(:\n"),
        ("imports.py", "import not_a_module\n"),
    ]);
    let cases = [
        (
            "missing.handler",
            "Runtime.ImportModuleError",
            "Unable to import module 'missing': No module named 'missing'",
        ),
        (
            "app.nope",
            "Runtime.HandlerNotFound",
            "Handler 'nope' missing on module 'app'",
        ),
        (
            "imports.handler",
            "Runtime.ImportModuleError",
            "Unable to import module 'imports': No module named 'not_a_module'",
        ),
    ];
    for (handler, ty, msg) in cases {
        let out = fx
            .engine
            .invoke(&spec(&fx.code, handler, 3000), req("i1", "{}"))
            .await
            .expect("invoke");
        assert!(out.function_error);
        let v: serde_json::Value = serde_json::from_slice(&out.payload).expect("json");
        assert_eq!(
            (v["errorType"].as_str(), v["errorMessage"].as_str()),
            (Some(ty), Some(msg)),
            "{handler}"
        );
        assert_eq!(v["requestId"], "");
    }
    let out = fx
        .engine
        .invoke(&spec(&fx.code, "broken.handler", 3000), req("i2", "{}"))
        .await
        .expect("invoke");
    let v: serde_json::Value = serde_json::from_slice(&out.payload).expect("json");
    assert_eq!(v["errorType"], "Runtime.UserCodeSyntaxError");
    assert!(
        v["errorMessage"]
            .as_str()
            .expect("msg")
            .starts_with("Syntax error in module 'broken': "),
        "{v}"
    );
    assert_eq!(
        fx.engine.idle_count(),
        0,
        "failed environments are never kept"
    );
}

#[tokio::test]
async fn idle_environments_are_reaped_after_the_keep_alive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let code = dir.path().join("code");
    std::fs::create_dir_all(&code).expect("mkdir");
    std::fs::write(code.join("app.py"), APP).expect("write");
    let runtimes = Runtimes::install(RuntimesConfig::default(), &dir.path().join("runtimes"))
        .expect("runtimes");
    let launcher = Arc::new(ProcessLauncher {
        tmp_root: dir.path().join("tmp"),
    });
    let config = EngineConfig {
        keep_alive: Duration::from_millis(200),
        ..EngineConfig::default()
    };
    let engine = Runner::new(config, launcher, runtimes, Arc::new(Captured::default()));
    let out = engine
        .invoke(&spec(&code, "app.handler", 3000), req("k1", "{}"))
        .await
        .expect("invoke");
    assert!(!out.function_error);
    assert_eq!(engine.idle_count(), 1);
    assert_eq!(engine.reap(), 0, "not idle long enough yet");
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(engine.reap(), 1);
    assert_eq!(engine.idle_count(), 0);
    // Ending an environment happens off the event loop: give it a moment.
    for _ in 0..100 {
        if std::fs::read_dir(dir.path().join("tmp"))
            .expect("tmp")
            .count()
            == 0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The environment's private TMPDIR went with it.
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp"))
            .expect("tmp")
            .count(),
        0
    );
}

#[tokio::test]
async fn init_is_limited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let code = dir.path().join("code");
    std::fs::create_dir_all(&code).expect("mkdir");
    std::fs::write(
        code.join("app.py"),
        "import time\ntime.sleep(30)\ndef handler(e, c):\n    return 1\n",
    )
    .expect("write");
    let runtimes = Runtimes::install(RuntimesConfig::default(), &dir.path().join("runtimes"))
        .expect("runtimes");
    let launcher = Arc::new(ProcessLauncher {
        tmp_root: dir.path().join("tmp"),
    });
    let config = EngineConfig {
        init_timeout: Duration::from_millis(500),
        ..EngineConfig::default()
    };
    let engine = Runner::new(config, launcher, runtimes, Arc::new(Captured::default()));
    let out = engine
        .invoke(&spec(&code, "app.handler", 3000), req("slow-init", "{}"))
        .await
        .expect("invoke");
    assert!(out.function_error);
    let v: serde_json::Value = serde_json::from_slice(&out.payload).expect("json");
    assert_eq!(v["errorType"], "Sandbox.Timedout");
    assert_eq!(
        v["errorMessage"],
        "RequestId: slow-init Error: Init phase timed out after 0.50 seconds"
    );
    assert_eq!(engine.idle_count(), 0);
}

#[tokio::test]
async fn runtime_api_refuses_wrong_ids_and_late_init_errors() {
    let app = r#"
import json, os, urllib.request, urllib.error
def call(path, body=b"{}"):
    req = urllib.request.Request("http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime" + path, data=body, method="POST")
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
def handler(event, context):
    return {"bogus": call("/invocation/not-a-request/response"), "init": call("/init/error")}
"#;
    let fx = fixture(&[("app.py", app)]);
    let out = fx
        .engine
        .invoke(&spec(&fx.code, "app.handler", 3000), req("w1", "{}"))
        .await
        .expect("invoke");
    let v: serde_json::Value = serde_json::from_slice(&out.payload).expect("json");
    assert_eq!(
        v["bogus"],
        serde_json::json!([400, { "errorMessage": "Invalid request ID", "errorType": "InvalidRequestID" }])
    );
    assert_eq!(v["init"][0], 403);
    assert_eq!(v["init"][1]["errorType"], "InvalidStateTransition");
}
