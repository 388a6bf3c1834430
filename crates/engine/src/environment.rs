//! One execution environment: a runtime process tree, its Runtime API, its captured output.
//! It serves one invocation at a time and is reused warm until it fails or is reaped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::launcher::{LaunchSpec, Launcher, Process};
use crate::output::Output;
use crate::runtime_api::{self, Event, InitSignal, Outcome, RuntimeApi};

/// How an init phase ended, when it did not end ready.
pub(crate) enum InitFailure {
    /// The runtime reported an init error (`/runtime/init/error`).
    Error { error_type: String, body: Bytes },
    /// The runtime exited first.
    Exited(String),
    /// It did not finish within the init limit.
    TimedOut(Duration),
}

/// How an invocation ended.
pub(crate) enum RunResult {
    Response(Bytes),
    Error { error_type: String, body: Bytes },
    ResponseTooLarge,
    TimedOut,
    Exited(String),
}

/// What one invocation sends to the runtime.
pub(crate) struct Input {
    pub(crate) request_id: String,
    pub(crate) deadline_ms: i64,
    pub(crate) invoked_arn: String,
    pub(crate) trace_id: String,
    pub(crate) client_context: Option<String>,
    pub(crate) payload: Vec<u8>,
}

pub(crate) struct Environment {
    pub(crate) generation: String,
    pub(crate) log_stream: String,
    /// Set on a cold start, reported (and cleared) by the first invocation.
    pub(crate) init_duration: Option<Duration>,
    pub(crate) output: Arc<Output>,
    events: mpsc::Sender<Event>,
    exited: watch::Receiver<Option<String>>,
    process: Box<dyn Process>,
    api_task: JoinHandle<()>,
}

impl Drop for Environment {
    fn drop(&mut self) {
        self.process.kill();
        self.api_task.abort();
    }
}

async fn wait_exit(exited: &mut watch::Receiver<Option<String>>) -> String {
    loop {
        if let Some(s) = exited.borrow().clone() {
            return s;
        }
        if exited.changed().await.is_err() {
            return "unknown exit".to_string();
        }
    }
}

impl Environment {
    /// Launches an environment and runs its init phase. On failure the environment is gone
    /// (its processes ended) and the output it wrote is returned with the reason.
    pub(crate) async fn start(
        launcher: Arc<dyn Launcher>,
        spec: LaunchSpec,
        generation: String,
        log_stream: String,
        init_limit: Duration,
    ) -> std::io::Result<Result<Self, (InitFailure, String)>> {
        let started = Instant::now();
        // Launching blocks (spawning, waiting for the sandbox's PID 1, sometimes a cgroup join):
        // never on the event loop, where it would hold up every other request.
        let launched = tokio::task::spawn_blocking(move || launcher.launch(&spec))
            .await
            .map_err(|e| std::io::Error::other(format!("launch task: {e}")))??;
        let output = Output::start(launched.output)?;
        let (api, events, init) = RuntimeApi::new();
        let listener = tokio::net::TcpListener::from_std(launched.listener)?;
        let app = runtime_api::router(api);
        let api_task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "runtime API stopped");
            }
        });
        let mut env = Self {
            generation,
            log_stream,
            init_duration: None,
            output,
            events,
            exited: launched.exited,
            process: launched.process,
            api_task,
        };
        let mut exited = env.exited.clone();
        let failure = tokio::select! {
            signal = init => match signal {
                Ok(InitSignal::Ready) => None,
                Ok(InitSignal::Error { error_type, body }) => Some(InitFailure::Error { error_type, body }),
                Err(_) => Some(InitFailure::Exited("unknown exit".into())),
            },
            status = wait_exit(&mut exited) => Some(InitFailure::Exited(status)),
            () = tokio::time::sleep(init_limit) => Some(InitFailure::TimedOut(init_limit)),
        };
        match failure {
            None => {
                env.init_duration = Some(started.elapsed());
                Ok(Ok(env))
            }
            Some(f) => {
                // End it before reading the rest of its output, so nothing is written after.
                env.process.kill();
                let text = env.output.take();
                Ok(Err((f, text)))
            }
        }
    }

    /// Runs one invocation until it answers, fails, or passes `deadline`.
    pub(crate) async fn invoke(&mut self, input: Input, deadline: Instant) -> RunResult {
        let (reply, answer) = oneshot::channel();
        let request_id = input.request_id.clone();
        let event = Event {
            request_id: input.request_id,
            deadline_ms: input.deadline_ms,
            invoked_arn: input.invoked_arn,
            trace_id: input.trace_id,
            client_context: input.client_context,
            payload: input.payload,
            reply,
        };
        let mut exited = self.exited.clone();
        if self.events.send(event).await.is_err() {
            return RunResult::Exited(wait_exit(&mut exited).await);
        }
        tokio::select! {
            outcome = answer => match outcome {
                Ok(Outcome::Response(b)) => RunResult::Response(b),
                Ok(Outcome::Error { error_type, body }) => RunResult::Error { error_type, body },
                Ok(Outcome::ResponseTooLarge) => RunResult::ResponseTooLarge,
                // The runtime asked for the next event without answering this one.
                Err(_) => RunResult::Error {
                    error_type: "Runtime.Unknown".into(),
                    body: Bytes::from(serde_json::json!({
                        "errorType": "Runtime.Unknown",
                        "errorMessage": format!("RequestId: {request_id} Error: the runtime asked for the next event without answering this one"),
                    }).to_string()),
                },
            },
            status = wait_exit(&mut exited) => RunResult::Exited(status),
            () = tokio::time::sleep_until(deadline.into()) => {
                self.process.kill();
                RunResult::TimedOut
            }
        }
    }

    /// Peak memory so far, MB (at least 1).
    pub(crate) fn max_memory_mb(&self) -> u64 {
        self.process
            .peak_memory_bytes()
            .map_or(0, |b| b.div_ceil(1 << 20))
            .max(1)
    }

    /// Whether the kernel killed it for exceeding its memory.
    pub(crate) fn oom_killed(&self) -> bool {
        self.process.oom_killed()
    }

    /// The init phase is over.
    pub(crate) fn init_done(&self) {
        self.process.init_done();
    }

    /// Ends the runtime now.
    pub(crate) fn kill(&self) {
        self.process.kill();
    }
}
