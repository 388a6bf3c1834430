//! One execution environment: a runtime process tree, its Runtime API, its captured output.
//! It serves one invocation at a time and is reused warm until it fails or is reaped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::launcher::{LaunchSpec, Launcher, Process, RuntimeEndpoint};
use crate::output::Output;
use crate::runtime_api::{self, ApiLimits, Delivery, Event, InitSignal, Outcome, RuntimeApi};
use crate::services::{self, EnvironmentServices, HeldCredentials};

/// Most Runtime API connections one environment may hold open (a runtime needs one or two).
const MAX_API_CONNECTIONS: usize = 16;

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
    /// The response went to the invocation's sink; `error` when the runtime ended the stream
    /// with one (its trailers).
    Streamed {
        error: Option<(String, Bytes)>,
    },
    Error {
        error_type: String,
        body: Bytes,
    },
    ResponseTooLarge,
    TimedOut,
    /// The runtime exited. `delivered` is false when it never took the event: the function
    /// did not run, and the invocation may go to another environment.
    Exited {
        how: String,
        delivered: bool,
    },
}

/// What one invocation sends to the runtime.
pub(crate) type Input = Delivery;

pub(crate) struct Environment {
    /// The launcher's id of it.
    env_id: String,
    pub(crate) log_stream: String,
    /// Set on a cold start, reported (and cleared) by the first invocation.
    /// When its sandbox was launched (its init phase began), by the wall clock.
    pub(crate) launched_at: Option<std::time::SystemTime>,
    pub(crate) init_duration: Option<Duration>,
    pub(crate) output: Arc<Output>,
    events: mpsc::Sender<Event>,
    exited: watch::Receiver<Option<String>>,
    process: Box<dyn Process>,
    api_task: JoinHandle<()>,
    /// Serves Nimbus's API to the function's SDK, if the environment has that.
    services_task: Option<JoinHandle<()>>,
    /// Its role's credentials, revoked when it is dropped.
    pub(crate) credentials: Option<HeldCredentials>,
    /// Set for an environment of provisioned concurrency (never reaped while wanted).
    pub(crate) provisioned: Option<crate::provisioned::Slot>,
    /// Its use of its code package, released after its processes are told to end.
    pub(crate) code_lease: Option<crate::code_leases::CodeLease>,
}

impl Drop for Environment {
    fn drop(&mut self) {
        // Aborting the API tasks ends their connections too.
        self.api_task.abort();
        if let Some(t) = &self.services_task {
            t.abort();
        }
        self.process.kill();
        // Counted per environment, for the metrics of the finish stage to come.
        if let Some(u) = self.process.network_usage() {
            tracing::debug!(
                environment = %self.env_id,
                log_stream = %self.log_stream,
                bytes_sent = u.bytes_sent,
                bytes_received = u.bytes_received,
                packets_sent = u.packets_sent,
                packets_received = u.packets_received,
                tcp_connections_opened = u.tcp_connections_opened,
                udp_datagrams_sent = u.udp_datagrams_sent,
                "environment ended"
            );
        }
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
        log_stream: String,
        init_limit: Duration,
        invocation_limit: Duration,
        services: Option<Arc<dyn EnvironmentServices>>,
        credentials: Option<HeldCredentials>,
    ) -> std::io::Result<Result<Self, (InitFailure, String)>> {
        let started = Instant::now();
        let env_id = spec.env_id.clone();
        // Launching blocks (spawning, waiting for the sandbox's PID 1, sometimes a cgroup join):
        // never on the event loop, where it would hold up every other request.
        let launched = tokio::task::spawn_blocking(move || launcher.launch(&spec))
            .await
            .map_err(|e| std::io::Error::other(format!("launch task: {e}")))??;
        let launched_at = std::time::SystemTime::now();
        let output = Output::start(launched.output)?;
        let (api, events, init) = RuntimeApi::new();
        let api_task = match launched.endpoint {
            RuntimeEndpoint::Tcp(listener) => {
                let listener = tokio::net::TcpListener::from_std(listener)?;
                let limits = ApiLimits {
                    max_connections: MAX_API_CONNECTIONS,
                    idle_timeout: invocation_limit.max(init_limit) + Duration::from_secs(5),
                };
                tokio::spawn(runtime_api::serve(listener, api, limits))
            }
            #[cfg(test)]
            RuntimeEndpoint::InProcess(run) => tokio::spawn(run(api)),
        };
        let services_task = match (launched.api, services) {
            (Some(listener), Some(services)) => {
                let listener = tokio::net::TcpListener::from_std(listener)?;
                Some(tokio::spawn(services::serve_api(listener, services)))
            }
            _ => None,
        };
        let mut env = Self {
            env_id,
            log_stream,
            launched_at: Some(launched_at),
            init_duration: None,
            output,
            events,
            exited: launched.exited,
            process: launched.process,
            api_task,
            services_task,
            credentials,
            provisioned: None,
            code_lease: None,
        };
        let mut exited = env.exited.clone();
        let failure = tokio::select! {
            // An init that ended and then exited ended first.
            biased;
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

    /// Whether the runtime is still running. One that exited is never handed an invocation.
    pub(crate) fn is_alive(&self) -> bool {
        self.exited.borrow().is_none() && !self.events.is_closed()
    }

    /// Runs one invocation until it answers, fails, or passes `deadline`.
    pub(crate) async fn invoke(
        &mut self,
        input: Input,
        sink: Option<(crate::invocation::ResponseSink, String)>,
        deadline: Instant,
    ) -> RunResult {
        let (reply, answer) = oneshot::channel();
        let delivered = Arc::new(AtomicBool::new(false));
        let request_id = input.request_id.clone();
        let event = Event {
            delivery: input,
            reply,
            delivered: Arc::clone(&delivered),
            sink,
        };
        let mut exited = self.exited.clone();
        if self.events.send(event).await.is_err() {
            return RunResult::Exited {
                how: wait_exit(&mut exited).await,
                delivered: false,
            };
        }
        tokio::select! {
            // A runtime that answered and then exited answered.
            biased;
            outcome = answer => match outcome {
                Ok(Outcome::Response(b)) => RunResult::Response(b),
                Ok(Outcome::Streamed { error }) => RunResult::Streamed { error },
                Ok(Outcome::Error { error_type, body }) => RunResult::Error { error_type, body },
                Ok(Outcome::ResponseTooLarge) => RunResult::ResponseTooLarge,
                // The event was dropped untaken: the environment is ending.
                Err(_) if !delivered.load(Ordering::SeqCst) => RunResult::Exited {
                    how: exited.borrow().clone().unwrap_or_else(|| "unknown exit".into()),
                    delivered: false,
                },
                // The runtime asked for the next event without answering this one, or its
                // answer broke off.
                Err(_) => RunResult::Error {
                    error_type: "Runtime.Unknown".into(),
                    body: Bytes::from(serde_json::json!({
                        "errorType": "Runtime.Unknown",
                        "errorMessage": format!("RequestId: {request_id} Error: the runtime asked for the next event without answering this one"),
                    }).to_string()),
                },
            },
            status = wait_exit(&mut exited) => RunResult::Exited {
                how: status,
                delivered: delivered.load(Ordering::SeqCst),
            },
            () = tokio::time::sleep_until(deadline) => {
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
}
