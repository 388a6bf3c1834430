//! The pipeline's stages against a [`FakeLauncher`], whose runtimes are tasks driving the
//! Runtime API's state machine directly: no processes, no sockets, and tokio's paused clock,
//! so timeouts and keep-alives pass in no time at all.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use nimbus_model::{LambdaError, State};
use tokio::sync::{watch, Notify};

use crate::clock::Clock;
use crate::launcher::{LaunchSpec, Launched, Launcher, Layout, Process, RuntimeEndpoint};
use crate::logs::{LogEvent, LogSink};
use crate::resolve::SourceFuture;
use crate::runtime_api::{Outcome, RuntimeApi};
use crate::runtimes::{Runtimes, RuntimesConfig};
use crate::*;

/// What a fake runtime can do besides the Runtime API: write output, exit.
#[derive(Clone)]
struct Control {
    exit: Arc<watch::Sender<Option<String>>>,
    output: Arc<Mutex<std::io::PipeWriter>>,
}

impl Control {
    fn print(&self, line: &str) {
        let mut w = self.output.lock().expect("lock");
        writeln!(w, "{line}").expect("write output");
    }

    fn exit(&self, how: &str) {
        self.exit.send_replace(Some(how.to_string()));
    }
}

type ScriptFuture = Pin<Box<dyn std::future::Future<Output = ()> + Send>>;
/// How each newly launched fake runtime behaves.
type Script = Arc<dyn Fn(Arc<RuntimeApi>, Control) -> ScriptFuture + Send + Sync>;

struct FakeProcess {
    kills: Arc<AtomicUsize>,
    exit: Arc<watch::Sender<Option<String>>>,
}

impl Process for FakeProcess {
    /// Counts the kills that ended a running runtime.
    fn kill(&self) {
        self.exit.send_if_modified(|e| {
            if e.is_none() {
                self.kills.fetch_add(1, Ordering::SeqCst);
                *e = Some("signal: killed".into());
                true
            } else {
                false
            }
        });
    }

    fn peak_memory_bytes(&self) -> Option<u64> {
        Some(30 << 20)
    }
}

struct FakeLauncher {
    script: Mutex<Script>,
    launches: AtomicUsize,
    kills: Arc<AtomicUsize>,
    /// The environment variables of each launch, and whether it asked for an API listener.
    launched: Mutex<Vec<(Variables, bool)>>,
}

type Variables = Vec<(String, String)>;

impl FakeLauncher {
    fn new(script: Script) -> Arc<Self> {
        Arc::new(Self {
            script: Mutex::new(script),
            launches: AtomicUsize::new(0),
            kills: Arc::new(AtomicUsize::new(0)),
            launched: Mutex::new(Vec::new()),
        })
    }

    fn launches(&self) -> usize {
        self.launches.load(Ordering::SeqCst)
    }

    fn kills(&self) -> usize {
        self.kills.load(Ordering::SeqCst)
    }
}

impl Launcher for FakeLauncher {
    fn launch(&self, spec: &LaunchSpec) -> std::io::Result<Launched> {
        self.launches.fetch_add(1, Ordering::SeqCst);
        self.launched
            .lock()
            .expect("lock")
            .push((spec.env.clone(), spec.api));
        let (reader, writer) = std::io::pipe()?;
        let (tx, rx) = watch::channel(None);
        let exit = Arc::new(tx);
        let control = Control {
            exit: Arc::clone(&exit),
            output: Arc::new(Mutex::new(writer)),
        };
        let script = Arc::clone(&*self.script.lock().expect("lock"));
        Ok(Launched {
            endpoint: RuntimeEndpoint::InProcess(Box::new(move |api| script(api, control))),
            output: reader,
            process: Box::new(FakeProcess {
                kills: Arc::clone(&self.kills),
                exit,
            }),
            exited: rx,
            api: None,
        })
    }

    fn name(&self) -> &'static str {
        "fake"
    }

    fn layout(&self, code_dir: &Path, runtime_dir: &Path, sdk_dir: Option<&Path>) -> Layout {
        Layout {
            task_root: code_dir.to_path_buf(),
            runtime_dir: runtime_dir.to_path_buf(),
            sdk_dir: sdk_dir.map(Path::to_path_buf),
        }
    }
}

/// Answers every event with its own payload, printing a line first.
fn echo() -> Script {
    Arc::new(|api, control| {
        Box::pin(async move {
            while let Some(ev) = api.next().await {
                control.print(&format!("handling {}", ev.request_id));
                if let Some((slot, _)) = api.claim_reply(&ev.request_id) {
                    slot.send(Outcome::Response(ev.payload));
                }
            }
        })
    })
}

#[derive(Default)]
struct Logs(Mutex<Vec<(String, String)>>);

impl LogSink for Logs {
    fn write(&self, _group: &str, stream: &str, events: Vec<LogEvent>) {
        let mut v = self.0.lock().expect("lock");
        v.extend(events.into_iter().map(|e| (stream.to_string(), e.message)));
    }
}

impl Logs {
    fn text(&self) -> String {
        self.0
            .lock()
            .expect("lock")
            .iter()
            .map(|(_, m)| format!("{m}\n"))
            .collect()
    }
}

struct FakeSource {
    functions: Mutex<HashMap<String, (FunctionSpec, State)>>,
    /// Published versions, by function and number.
    versions: Mutex<HashMap<(String, String), FunctionSpec>>,
    aliases: Mutex<HashMap<(String, String), crate::resolve::Routing>>,
    loads: AtomicUsize,
}

impl FunctionSource for FakeSource {
    fn load<'a>(
        &'a self,
        function: &'a str,
        qualifier: Option<&'a str>,
        _region: &'a str,
    ) -> SourceFuture<'a> {
        Box::pin(async move {
            self.loads.fetch_add(1, Ordering::SeqCst);
            let found = match qualifier {
                Some(q) if q != "$LATEST" => self
                    .versions
                    .lock()
                    .expect("lock")
                    .get(&(function.to_string(), q.to_string()))
                    .map(|s| (s.clone(), State::Active)),
                _ => self.functions.lock().expect("lock").get(function).cloned(),
            };
            match found {
                Some((spec, state)) => Ok((
                    spec,
                    state,
                    format!("arn:aws:lambda:us-east-1:000000000000:function:{function}"),
                )),
                None => Err(ResolveError::Lambda(LambdaError::not_found(format!(
                    "Function not found: {function}"
                )))),
            }
        })
    }

    fn load_alias<'a>(
        &'a self,
        function: &'a str,
        alias: &'a str,
        _region: &'a str,
    ) -> crate::resolve::RoutingFuture<'a> {
        Box::pin(async move {
            self.aliases
                .lock()
                .expect("lock")
                .get(&(function.to_string(), alias.to_string()))
                .cloned()
                .ok_or_else(|| {
                    ResolveError::Lambda(LambdaError::not_found(format!(
                        "Function not found: {function}:{alias}"
                    )))
                })
        })
    }
}

struct FixedClock;

impl Clock for FixedClock {
    fn epoch_ms(&self) -> i64 {
        1_764_683_100_000
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    code: PathBuf,
    engine: Arc<Engine>,
    launcher: Arc<FakeLauncher>,
    source: Arc<FakeSource>,
    logs: Arc<Logs>,
}

impl Fixture {
    /// Published versions `versions` of `f`, as `$LATEST` is.
    fn publish(&self, versions: &[&str]) {
        for v in versions {
            let mut sp = spec(&self.code, Duration::from_secs(3));
            sp.version = (*v).into();
            self.source
                .versions
                .lock()
                .expect("lock")
                .insert(("f".into(), (*v).into()), sp);
        }
    }
}

fn spec(code: &Path, timeout: Duration) -> FunctionSpec {
    FunctionSpec {
        name: "f".into(),
        version: "$LATEST".into(),
        region: "us-east-1".into(),
        runtime: "provided.al2023".into(),
        handler: "bootstrap".into(),
        code_dir: code.to_path_buf(),
        memory_mb: 128,
        timeout,
        ephemeral_mb: 512,
        environment: BTreeMap::new(),
        log_group: "/aws/lambda/f".into(),
        reserved_concurrency: None,
        role: "arn:aws:iam::000000000000:role/test".into(),
        egress: Default::default(),
        architecture: "x86_64".into(),
        logging: Default::default(),
        tracing_active: false,
    }
}

fn fixture(script: Script, config: EngineConfig) -> Fixture {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let code = dir.path().join("code");
    std::fs::create_dir_all(&code).expect("mkdir");
    let bootstrap = code.join("bootstrap");
    std::fs::write(&bootstrap, "#!/bin/false\n").expect("write");
    std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let runtimes = Runtimes::install(RuntimesConfig::default(), &dir.path().join("runtimes"))
        .expect("runtimes");
    let launcher = FakeLauncher::new(script);
    let source = Arc::new(FakeSource {
        functions: Mutex::new(HashMap::from([(
            "f".to_string(),
            (spec(&code, Duration::from_secs(3)), State::Active),
        )])),
        versions: Mutex::new(HashMap::new()),
        aliases: Mutex::new(HashMap::new()),
        loads: AtomicUsize::new(0),
    });
    let logs = Arc::new(Logs::default());
    let engine = Engine::with_clock(
        config,
        launcher.clone(),
        runtimes,
        logs.clone(),
        source.clone(),
        Arc::new(FixedClock),
    );
    Fixture {
        _dir: dir,
        code,
        engine,
        launcher,
        source,
        logs,
    }
}

fn request(id: &str) -> InvocationRequest {
    InvocationRequest {
        function: "f".into(),
        qualifier: None,
        region: "us-east-1".into(),
        request_id: RequestId::new(id),
        payload: Bytes::from_static(b"{\"n\":1}"),
        invocation_type: InvocationType::RequestResponse,
        client_context: None,
        log_type: LogType::Tail,
        trace_header: None,
        deadline: None,
        stream: None,
    }
}

/// A runtime that answers each invocation (with its payload) only when `release` is notified,
/// so that several run at once.
fn released_one_by_one(release: &Arc<Notify>) -> Script {
    let r = Arc::clone(release);
    Arc::new(move |api, _control| {
        let release = Arc::clone(&r);
        Box::pin(async move {
            while let Some(ev) = api.next().await {
                release.notified().await;
                if let Some((slot, _)) = api.claim_reply(&ev.request_id) {
                    slot.send(Outcome::Response(ev.payload));
                }
            }
        })
    })
}

/// Lets every other task run until nothing is left to do (time is paused).
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(1)).await;
}

#[tokio::test(start_paused = true)]
async fn cold_then_warm_with_lambdas_log_lines() {
    let fx = fixture(echo(), EngineConfig::default());
    let first = fx.engine.invoke(request("r1")).await.expect("invoke");
    assert_eq!(&first.payload[..], b"{\"n\":1}");
    assert_eq!(first.function_error, None);
    assert_eq!(first.executed_version, "$LATEST");
    assert!(first.init_duration.is_some(), "a cold start");
    let log = first.log.as_deref().expect("tail asked for");
    assert!(log.starts_with("START RequestId: r1 Version: $LATEST\nhandling r1\nEND RequestId: r1\nREPORT RequestId: r1\t"), "{log}");
    assert!(log.contains("Init Duration: "));
    let second = fx.engine.invoke(request("r2")).await.expect("invoke");
    assert!(second.init_duration.is_none(), "warm");
    assert_eq!(fx.launcher.launches(), 1);
    assert_eq!(
        fx.source.loads.load(Ordering::SeqCst),
        1,
        "the configuration came from the cache"
    );
    assert_eq!(fx.engine.idle_count(), 1);
    let logs = fx.logs.text();
    assert!(logs.starts_with("INIT_START Runtime Version: provided.al2023.nimbus"));
    assert!(logs.contains("REPORT RequestId: r2\t"));
}

#[tokio::test(start_paused = true)]
async fn a_disconnected_caller_does_not_stop_the_invocation() {
    let release = Arc::new(Notify::new());
    let got = Arc::new(Notify::new());
    let (r, g) = (Arc::clone(&release), Arc::clone(&got));
    let script: Script = Arc::new(move |api, _control| {
        let (release, got) = (Arc::clone(&r), Arc::clone(&g));
        Box::pin(async move {
            while let Some(ev) = api.next().await {
                got.notify_one();
                release.notified().await;
                if let Some((slot, _)) = api.claim_reply(&ev.request_id) {
                    slot.send(Outcome::Response(Bytes::from_static(b"done")));
                }
            }
        })
    });
    let fx = fixture(script, EngineConfig::default());
    let engine = Arc::clone(&fx.engine);
    let caller = tokio::spawn(async move { engine.invoke(request("gone")).await });
    got.notified().await;
    // The caller goes away (its connection closed) while the function runs.
    caller.abort();
    assert!(caller.await.expect_err("aborted").is_cancelled());
    release.notify_one();
    settle().await;
    assert!(
        fx.logs.text().contains("REPORT RequestId: gone\t"),
        "the invocation finished and was reported"
    );
    assert_eq!(fx.engine.idle_count(), 1, "its environment is reused");
    assert_eq!(fx.engine.running(), 0, "its permit came back");
    release.notify_one();
    let next = fx.engine.invoke(request("next")).await.expect("invoke");
    assert_eq!(&next.payload[..], b"done");
    assert_eq!(fx.launcher.launches(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_runtime_that_exits_after_answering_is_not_reused() {
    let script: Script = Arc::new(|api, control| {
        Box::pin(async move {
            if let Some(ev) = api.next().await {
                if let Some((slot, _)) = api.claim_reply(&ev.request_id) {
                    slot.send(Outcome::Response(ev.payload));
                }
                control.exit("exit status 0");
            }
        })
    });
    let fx = fixture(script, EngineConfig::default());
    fx.engine.invoke(request("a")).await.expect("invoke");
    settle().await;
    let b = fx.engine.invoke(request("b")).await.expect("invoke");
    assert_eq!(
        b.function_error, None,
        "the next invocation cold-starts and succeeds: {:?}",
        b.payload
    );
    assert!(b.init_duration.is_some());
    assert_eq!(fx.launcher.launches(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_runtime_that_exits_before_taking_the_event_hands_it_on() {
    // Answers, then exits a moment later without asking for the next event: the second
    // invocation finds it alive, but it never takes the event.
    let script: Script = Arc::new(|api, control| {
        Box::pin(async move {
            if let Some(ev) = api.next().await {
                if let Some((slot, _)) = api.claim_reply(&ev.request_id) {
                    slot.send(Outcome::Response(ev.payload));
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
                control.exit("exit status 1");
            }
        })
    });
    let fx = fixture(script, EngineConfig::default());
    fx.engine.invoke(request("a")).await.expect("invoke");
    let b = fx.engine.invoke(request("b")).await.expect("invoke");
    assert_eq!(
        b.function_error, None,
        "retried on a fresh environment: {:?}",
        b.payload
    );
    assert_eq!(fx.launcher.launches(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_ends_the_environment() {
    let script: Script = Arc::new(|api, _control| {
        Box::pin(async move {
            let _held = api.next().await;
            std::future::pending::<()>().await;
        })
    });
    let fx = fixture(script, EngineConfig::default());
    let started = tokio::time::Instant::now();
    let out = fx.engine.invoke(request("slow")).await.expect("invoke");
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(3),
        "the function's timeout, exactly"
    );
    assert_eq!(out.function_error, Some(FunctionError::Unhandled));
    assert_eq!(out.error_type.as_deref(), Some("Sandbox.Timedout"));
    let body: serde_json::Value = serde_json::from_slice(&out.payload).expect("json");
    assert_eq!(
        body["errorMessage"],
        "RequestId: slow Error: Task timed out after 3.00 seconds"
    );
    assert!(out
        .log
        .as_deref()
        .expect("log")
        .contains("Status: timeout\t"));
    assert_eq!(fx.launcher.kills(), 1);
    assert_eq!(fx.engine.idle_count(), 0, "never reused");
}

#[tokio::test(start_paused = true)]
async fn the_account_limit_throttles_and_frees() {
    let release = Arc::new(Notify::new());
    let script = released_one_by_one(&release);
    let fx = fixture(
        script,
        EngineConfig {
            concurrency_limit: 1,
            ..EngineConfig::default()
        },
    );
    let engine = Arc::clone(&fx.engine);
    let busy = tokio::spawn(async move { engine.invoke(request("busy")).await });
    settle().await;
    let e = fx
        .engine
        .invoke(request("over"))
        .await
        .expect_err("throttled");
    assert!(matches!(
        e,
        InvokeError::Throttled(ThrottleReason::ConcurrentInvocationLimitExceeded)
    ));
    release.notify_one();
    busy.await.expect("join").expect("invoke");
    let again = tokio::spawn({
        let engine = Arc::clone(&fx.engine);
        async move { engine.invoke(request("again")).await }
    });
    settle().await;
    release.notify_one();
    again
        .await
        .expect("join")
        .expect("admitted once the first ended");
}

#[tokio::test(start_paused = true)]
async fn idle_environments_are_reaped_after_their_keep_alive() {
    let fx = fixture(
        echo(),
        EngineConfig {
            keep_alive: Duration::from_secs(60),
            ..EngineConfig::default()
        },
    );
    fx.engine.invoke(request("a")).await.expect("invoke");
    tokio::time::advance(Duration::from_secs(59)).await;
    assert_eq!(fx.engine.reap(), 0, "not idle long enough");
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(fx.engine.reap(), 1);
    settle().await;
    assert_eq!(fx.launcher.kills(), 1);
    assert_eq!(fx.engine.idle_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_changed_configuration_gets_new_environments() {
    let fx = fixture(echo(), EngineConfig::default());
    fx.engine.invoke(request("a")).await.expect("invoke");
    let mut changed = spec(&fx.code, Duration::from_secs(3));
    changed.memory_mb = 256;
    fx.source
        .functions
        .lock()
        .expect("lock")
        .insert("f".into(), (changed, State::Active));
    // Without the write's notice the cache still serves the old configuration...
    fx.engine.invoke(request("b")).await.expect("invoke");
    assert_eq!(fx.launcher.launches(), 1);
    // ...with it, the new one, in a new environment; the old one ends.
    fx.engine.function_changed("f");
    let c = fx.engine.invoke(request("c")).await.expect("invoke");
    assert_eq!(c.memory_mb, 256);
    assert_eq!(fx.launcher.launches(), 2);
    settle().await;
    assert_eq!(
        fx.launcher.kills(),
        1,
        "the old generation's idle environment ended"
    );
    fx.engine.function_deleted("f");
    settle().await;
    assert_eq!(fx.engine.idle_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn resolve_refusals_and_dry_runs_run_nothing() {
    let fx = fixture(echo(), EngineConfig::default());
    let mut missing = request("m");
    missing.function = "nope".into();
    assert!(matches!(
        fx.engine.invoke(missing).await.expect_err("missing"),
        InvokeError::Resolve(ResolveError::Lambda(_))
    ));
    let mut dry = request("d");
    dry.invocation_type = InvocationType::DryRun;
    let out = fx.engine.invoke(dry).await.expect("dry run");
    assert_eq!(out.status, 204);
    fx.source
        .functions
        .lock()
        .expect("lock")
        .get_mut("f")
        .expect("f")
        .1 = State::Pending;
    fx.engine.function_changed("f");
    assert!(matches!(
        fx.engine.invoke(request("p")).await.expect_err("pending"),
        InvokeError::NotActive(State::Pending)
    ));
    assert_eq!(fx.launcher.launches(), 0);
}

#[tokio::test(start_paused = true)]
async fn init_errors_and_init_timeouts_answer_for_the_invocation() {
    let script: Script = Arc::new(|api, control| {
        Box::pin(async move {
            control.print("loading");
            api.init_error(
                "Runtime.ImportModuleError".into(),
                Bytes::from_static(b"{\"errorType\":\"Runtime.ImportModuleError\"}"),
            );
        })
    });
    let fx = fixture(script, EngineConfig::default());
    let out = fx.engine.invoke(request("i")).await.expect("invoke");
    assert_eq!(out.error_type.as_deref(), Some("Runtime.ImportModuleError"));
    let log = out.log.expect("log");
    assert!(log.starts_with("loading\nSTART RequestId: i"), "{log}");

    let silent: Script = Arc::new(|api, control| {
        Box::pin(async move {
            let _alive = (api, control);
            std::future::pending::<()>().await;
        })
    });
    *fx.launcher.script.lock().expect("lock") = silent;
    let started = tokio::time::Instant::now();
    let out = fx.engine.invoke(request("t")).await.expect("invoke");
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(10),
        "Lambda's init limit"
    );
    let body: serde_json::Value = serde_json::from_slice(&out.payload).expect("json");
    assert_eq!(body["errorType"], "Sandbox.Timedout");
    assert_eq!(fx.launcher.kills(), 2, "both failed environments ended");
}

/// Issues numbered credentials valid for `ttl` past the fixed clock's time; counts revocations.
struct FakeServices {
    ttl: Duration,
    issued: AtomicUsize,
    revoked: Mutex<Vec<String>>,
}

impl services::EnvironmentServices for FakeServices {
    fn issue(
        &self,
        function: &FunctionSpec,
    ) -> Result<services::SessionCredentials, services::CredentialsError> {
        assert_eq!(function.role, "arn:aws:iam::000000000000:role/test");
        let n = self.issued.fetch_add(1, Ordering::SeqCst);
        let now = std::time::UNIX_EPOCH
            + Duration::from_millis(u64::try_from(FixedClock.epoch_ms()).expect("epoch"));
        Ok(services::SessionCredentials {
            access_key_id: format!("ASIA{n}"),
            secret_access_key: format!("secret{n}"),
            session_token: format!("token{n}"),
            expires_at: now + self.ttl,
        })
    }

    fn revoke(&self, access_key_id: &str) {
        self.revoked
            .lock()
            .expect("lock")
            .push(access_key_id.to_string());
    }

    fn serve(&self, _stream: tokio::net::TcpStream) -> services::ConnectionFuture {
        Box::pin(async {})
    }
}

fn with_services(fx: &Fixture, ttl: Duration) -> Arc<FakeServices> {
    let s = Arc::new(FakeServices {
        ttl,
        issued: AtomicUsize::new(0),
        revoked: Mutex::new(Vec::new()),
    });
    fx.engine.set_services(s.clone());
    s
}

#[tokio::test(start_paused = true)]
async fn environments_get_their_roles_credentials_and_lose_them_when_they_end() {
    let fx = fixture(echo(), EngineConfig::default());
    let services = with_services(&fx, Duration::from_secs(3600));
    fx.engine.invoke(request("a")).await.expect("invoke");
    fx.engine.invoke(request("b")).await.expect("invoke");
    assert_eq!(
        fx.launcher.launches(),
        1,
        "warm reuse keeps its credentials"
    );
    assert_eq!(services.issued.load(Ordering::SeqCst), 1);
    {
        let launched = fx.launcher.launched.lock().expect("lock");
        let (env, api) = &launched[0];
        let var = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(var("AWS_ACCESS_KEY_ID"), Some("ASIA0"));
        assert_eq!(var("AWS_SECRET_ACCESS_KEY"), Some("secret0"));
        assert_eq!(var("AWS_SESSION_TOKEN"), Some("token0"));
        assert!(*api, "an environment with services gets an API listener");
    }
    assert!(services.revoked.lock().expect("lock").is_empty());
    fx.engine.function_deleted("f");
    settle().await;
    assert_eq!(
        *services.revoked.lock().expect("lock"),
        vec!["ASIA0".to_string()]
    );
}

#[tokio::test(start_paused = true)]
async fn an_environment_whose_credentials_would_expire_mid_invocation_is_replaced() {
    let fx = fixture(echo(), EngineConfig::default());
    // Valid for 2 s: less than the 3 s timeout (and its second of margin).
    let services = with_services(&fx, Duration::from_secs(2));
    fx.engine.invoke(request("a")).await.expect("invoke");
    let b = fx.engine.invoke(request("b")).await.expect("invoke");
    assert!(
        b.init_duration.is_some(),
        "a cold start, not the expiring environment"
    );
    assert_eq!(fx.launcher.launches(), 2);
    assert_eq!(services.issued.load(Ordering::SeqCst), 2);
    settle().await;
    assert_eq!(
        *services.revoked.lock().expect("lock"),
        vec!["ASIA0".to_string()]
    );
}

#[tokio::test(start_paused = true)]
async fn without_services_no_credentials_and_no_endpoint() {
    let fx = fixture(echo(), EngineConfig::default());
    fx.engine.invoke(request("a")).await.expect("invoke");
    let launched = fx.launcher.launched.lock().expect("lock");
    let (env, api) = &launched[0];
    assert!(!env
        .iter()
        .any(|(k, _)| k.starts_with("AWS_ACCESS_KEY") || k == "AWS_SESSION_TOKEN"));
    assert!(!*api);
}

#[tokio::test(start_paused = true)]
async fn an_alias_splits_invocations_by_its_weights() {
    let fx = fixture(echo(), EngineConfig::default());
    fx.publish(&["1", "2"]);
    fx.source.aliases.lock().expect("lock").insert(
        ("f".into(), "live".into()),
        crate::resolve::Routing {
            primary: "1".into(),
            additional: Some(("2".into(), 0.2)),
        },
    );
    let mut counts = HashMap::<String, usize>::new();
    for i in 0..2000 {
        let mut req = request(&format!("r{i}"));
        req.qualifier = Some("live".into());
        let out = fx.engine.invoke(req).await.expect("invoke");
        *counts.entry(out.executed_version).or_default() += 1;
    }
    let two = counts.get("2").copied().unwrap_or(0);
    assert_eq!(
        counts.get("1").copied().unwrap_or(0) + two,
        2000,
        "{counts:?}"
    );
    // 20% of 2,000 is 400; five points either way is 300..=500 (a 1-in-10^12 miss).
    assert!((300..=500).contains(&two), "{counts:?}");
    assert_eq!(
        fx.launcher.launches(),
        2,
        "one warm environment per version"
    );
    // Routing and configurations came from the cache: the alias, then each version, once.
    assert_eq!(fx.source.loads.load(Ordering::SeqCst), 2);
    let mut req = request("missing");
    req.qualifier = Some("nope".into());
    assert!(fx.engine.invoke(req).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn provisioned_environments_are_made_ahead_kept_and_preferred() {
    let release = Arc::new(Notify::new());
    let script = released_one_by_one(&release);
    let fx = fixture(
        script,
        EngineConfig {
            keep_alive: Duration::from_secs(60),
            ..EngineConfig::default()
        },
    );
    fx.publish(&["1"]);
    fx.engine.set_provisioned("f", "1", "us-east-1", 3);
    settle().await;
    let status = fx.engine.provisioned_status("f", "1").expect("target");
    assert_eq!((status.requested, status.allocated), (3, 3));
    assert_eq!(fx.launcher.launches(), 3, "made ahead of any invocation");
    for (vars, _) in fx.launcher.launched.lock().expect("lock").iter() {
        assert!(vars.contains(&(
            "AWS_LAMBDA_INITIALIZATION_TYPE".to_string(),
            "provisioned-concurrency".to_string()
        )));
    }
    // Four at once: three on the provisioned environments (no init), one cold on demand.
    let calls: Vec<_> = (0..4)
        .map(|i| {
            let engine = Arc::clone(&fx.engine);
            let mut req = request(&format!("p{i}"));
            req.qualifier = Some("1".into());
            tokio::spawn(async move { engine.invoke(req).await })
        })
        .collect();
    settle().await;
    for _ in 0..4 {
        release.notify_one();
        settle().await;
    }
    let mut inits = 0;
    for c in calls {
        let out = c.await.expect("join").expect("invoke");
        assert_eq!(out.executed_version, "1");
        if out.init_duration.is_some() {
            inits += 1;
            assert!(out.log.as_deref().expect("log").contains("Init Duration: "));
        } else {
            assert!(!out.log.as_deref().expect("log").contains("Init Duration"));
        }
    }
    assert_eq!(inits, 1, "only the fourth cold-started");
    assert_eq!(fx.launcher.launches(), 4);
    // Idle past the keep-alive: the on-demand one goes, the provisioned ones stay.
    tokio::time::advance(Duration::from_secs(61)).await;
    fx.engine.reap();
    assert_eq!(fx.engine.idle_count(), 3);
    // A smaller target: the extra environment becomes on demand, and is reaped in its turn.
    fx.engine.set_provisioned("f", "1", "us-east-1", 2);
    settle().await;
    tokio::time::advance(Duration::from_secs(61)).await;
    fx.engine.reap();
    assert_eq!(fx.engine.idle_count(), 2);
    assert_eq!(
        fx.engine.provisioned_status("f", "1").map(|s| s.allocated),
        Some(2)
    );
    fx.engine.set_provisioned("f", "1", "us-east-1", 0);
    assert!(fx.engine.provisioned_status("f", "1").is_none());
    tokio::time::advance(Duration::from_secs(61)).await;
    fx.engine.reap();
    assert_eq!(fx.engine.idle_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn under_memory_pressure_the_longest_idle_environments_go_first() {
    let fx = fixture(echo(), EngineConfig::default());
    fx.publish(&["1", "2", "3"]);
    let invoke = |v: &'static str| {
        let engine = Arc::clone(&fx.engine);
        async move {
            let mut req = request(&format!("r{v}"));
            req.qualifier = Some(v.into());
            engine.invoke(req).await.expect("invoke")
        }
    };
    for v in ["1", "2", "3"] {
        invoke(v).await;
        tokio::time::advance(Duration::from_secs(10)).await;
    }
    assert_eq!(fx.engine.idle_count(), 3);
    let available = Arc::new(AtomicU64::new(100_000));
    let probe = Arc::clone(&available);
    fx.engine
        .set_memory_probe(Arc::new(move || Some(probe.load(Ordering::SeqCst))));
    assert_eq!(fx.engine.reap(), 0, "plenty of memory: nothing ends");
    available.store(100, Ordering::SeqCst);
    assert_eq!(fx.engine.reap(), 1, "an eighth of three, at least one");
    settle().await;
    assert_eq!(fx.engine.idle_count(), 2);
    // The one idle longest (version 1) went: it cold-starts, version 3 is still warm.
    let launches = fx.launcher.launches();
    assert!(invoke("3").await.init_duration.is_none());
    assert!(invoke("1").await.init_duration.is_some());
    assert_eq!(fx.launcher.launches(), launches + 1);
}

#[tokio::test(start_paused = true)]
async fn init_phases_take_turns_and_each_gets_its_full_limit() {
    let release = Arc::new(Notify::new());
    let r = Arc::clone(&release);
    // Each runtime's init lasts until it is released (once per runtime).
    let script: Script = Arc::new(move |api, _control| {
        let release = Arc::clone(&r);
        Box::pin(async move {
            release.notified().await;
            while let Some(ev) = api.next().await {
                if let Some((slot, _)) = api.claim_reply(&ev.request_id) {
                    slot.send(Outcome::Response(ev.payload));
                }
            }
        })
    });
    let fx = fixture(
        script,
        EngineConfig {
            max_concurrent_inits: 2,
            ..EngineConfig::default()
        },
    );
    let calls: Vec<_> = (0..4)
        .map(|i| {
            let engine = Arc::clone(&fx.engine);
            tokio::spawn(async move { engine.invoke(request(&format!("i{i}"))).await })
        })
        .collect();
    settle().await;
    assert_eq!(fx.launcher.launches(), 2, "two inits at a time");
    // 9 s in, the first two finish; the others start theirs then, with a whole 10 s each.
    tokio::time::advance(Duration::from_secs(9)).await;
    release.notify_one();
    release.notify_one();
    settle().await;
    assert_eq!(fx.launcher.launches(), 4);
    tokio::time::advance(Duration::from_secs(9)).await;
    release.notify_one();
    release.notify_one();
    settle().await;
    for c in calls {
        let out = c.await.expect("join").expect("invoke");
        assert_eq!(out.function_error, None, "{:?}", out.payload);
    }
}

#[tokio::test(start_paused = true)]
async fn cold_starts_past_the_scaling_rate_are_throttled_until_it_refills() {
    let release = Arc::new(Notify::new());
    let fx = fixture(
        released_one_by_one(&release),
        EngineConfig {
            new_environments_per_10s: 2,
            ..EngineConfig::default()
        },
    );
    let start = |id: &'static str| {
        let engine = Arc::clone(&fx.engine);
        tokio::spawn(async move { engine.invoke(request(id)).await })
    };
    // Two invocations at once: two new environments, the allowance of 10 s.
    let (a, b) = (start("a"), start("b"));
    settle().await;
    let e = fx.engine.invoke(request("c")).await.expect_err("throttled");
    assert!(matches!(
        e,
        InvokeError::Throttled(ThrottleReason::ConcurrentInvocationLimitExceeded)
    ));
    // Five seconds refill one.
    tokio::time::advance(Duration::from_secs(5)).await;
    let c = start("c");
    settle().await;
    for _ in 0..3 {
        release.notify_one();
        settle().await;
    }
    for t in [a, b, c] {
        t.await.expect("join").expect("invoke");
    }
    // Warm environments take none of it: with the bucket empty, all three are reused.
    for id in ["d", "e", "f"] {
        let t = start(id);
        settle().await;
        release.notify_one();
        t.await
            .expect("join")
            .expect("a warm invoke is never throttled by the scaling rate");
    }
}
