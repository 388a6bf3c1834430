//! The invocation pipeline, one path for every source: resolve (name and qualifier to a cached
//! configuration), admit (a concurrency permit, or a 429 with its reason), claim (a warm
//! environment, or a cold start), dispatch (the event through the Runtime API), finish
//! (REPORT, logs, the environment back to its pool or retired).
//!
//! An invocation runs in a task of its own: a caller that goes away does not stop it, and its
//! logs and REPORT are written and its environment reused all the same.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use nimbus_model::State;
use tokio::time::Instant;
use tracing::Instrument;

use crate::admission::Permit;
use crate::environment::{Environment, Input, RunResult};
use crate::error::InvokeError;
use crate::finish::{self, Ending};
use crate::invocation::{
    FunctionError, InvocationOutcome, InvocationRequest, InvocationType, LogType, ThrottleReason,
};
use crate::launch_spec::{init_start_line, init_start_record, launch_spec, missing_bootstrap};
use crate::log_format::{Format, Level};
use crate::logs::{self, LogEvent, Report};
use crate::pool::PoolKey;
use crate::resolve::ResolvedFunction;
use crate::services::{self, HeldCredentials};
use crate::trace::{Timeline, TraceContext, TraceRecord};
use crate::Engine;

/// An environment claimed for one invocation.
pub(crate) enum Claimed {
    Warm(Environment),
    Cold(Environment),
    /// A cold start whose init failed: the invocation's answer is that failure.
    InitFailed {
        stream: String,
        ending: Ending,
        output: String,
        /// How long the failed init ran (billed, as Lambda bills a failed init).
        took: Duration,
    },
}

/// The ARN an invocation named: the function's, with its qualifier if it gave one.
fn invoked_arn(f: &ResolvedFunction, req: &InvocationRequest) -> String {
    match &req.qualifier {
        Some(q) => format!("{}:{q}", f.arn),
        None => f.arn.clone(),
    }
}

/// What the tracer gets of a recorded invocation (its `timeline.end` set when it ends).
fn trace_record(
    context: TraceContext,
    timeline: Timeline,
    f: &ResolvedFunction,
    req: &InvocationRequest,
    cold: bool,
    init_error: Option<String>,
) -> TraceRecord {
    TraceRecord {
        context,
        timeline,
        request_id: req.request_id.to_string(),
        invoked_arn: invoked_arn(f, req),
        cold,
        init_error,
    }
}

fn hex32() -> String {
    format!("{:032x}", rand::random::<u128>())
}

impl Engine {
    /// Runs one invocation through the pipeline, in a task of its own.
    pub async fn invoke(
        self: &Arc<Self>,
        req: InvocationRequest,
    ) -> Result<InvocationOutcome, InvokeError> {
        let span = tracing::info_span!(
            "invocation",
            request_id = %req.request_id,
            function = %req.function,
        );
        let engine = Arc::clone(self);
        tokio::spawn(async move { engine.run(req).await }.instrument(span))
            .await
            .map_err(InvokeError::Aborted)?
    }

    /// Checks an invocation as far as it goes without running it (stages 1 and 2: the
    /// function and qualifier resolve to an `Active` configuration, the payload is JSON) and
    /// returns the version it would run. An asynchronous invocation is accepted on this,
    /// before it is queued; its dispatch later runs the whole pipeline.
    pub async fn check(&self, req: &InvocationRequest) -> Result<String, InvokeError> {
        Ok(self.checked(req).await?.spec.version.clone())
    }

    async fn checked(&self, req: &InvocationRequest) -> Result<Arc<ResolvedFunction>, InvokeError> {
        let f = self.resolve(req).await?;
        if !req.payload.is_empty() {
            if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&req.payload) {
                return Err(InvokeError::InvalidPayload(e.to_string()));
            }
        }
        Ok(f)
    }

    async fn run(&self, req: InvocationRequest) -> Result<InvocationOutcome, InvokeError> {
        let arrived = SystemTime::now();
        let f = self.checked(&req).await?;
        if req.invocation_type == InvocationType::DryRun {
            return Ok(self.dry_run(&f));
        }
        let permit = match self
            .admission
            .admit(&f.spec.name, f.spec.reserved_concurrency)
        {
            Ok(p) => p,
            Err(reason) => {
                if let Some(o) = self.observer.get() {
                    o.throttled(&f.spec.name, reason.as_str());
                }
                return Err(InvokeError::Throttled(reason));
            }
        };
        let key = PoolKey {
            function: f.spec.name.as_str().into(),
            version: f.spec.version.as_str().into(),
            generation: f.generation.clone(),
        };
        let trace = TraceContext::of(
            req.trace_header.as_deref(),
            f.spec.tracing_active,
            u64::try_from(self.clock.epoch_ms() / 1000).unwrap_or(0),
            &self.sampler,
        );
        let admitted = SystemTime::now();
        let claimed = self.claim(&f, &key, &req).await?;
        let mut cold = matches!(claimed, Claimed::Cold(_));
        let traced = trace.recorded.then_some((&trace, arrived, admitted));
        let mut env = match self.ready(claimed, &f, &req, traced) {
            Ok(env) => env,
            Err(outcome) => return Ok(outcome),
        };
        let mut claimed_at = SystemTime::now();
        let started = Instant::now();
        let start_ms = self.clock.epoch_ms();
        let limit = match req.deadline {
            Some(d) if d < f.spec.timeout => d,
            _ => f.spec.timeout,
        };
        let mut result = self
            .dispatch(&mut env, &f, &req, start_ms, started + limit, &trace)
            .await;
        // The runtime exited before it took the event: the function never saw it, so a fresh
        // environment gets it (once).
        if matches!(
            result,
            RunResult::Exited {
                delivered: false,
                ..
            }
        ) {
            tracing::debug!("environment ended before it took the event: cold start");
            self.retire(env);
            let claimed = self.cold_start(&f, &req).await?;
            cold = true;
            let traced = trace.recorded.then_some((&trace, arrived, admitted));
            env = match self.ready(claimed, &f, &req, traced) {
                Ok(env) => env,
                Err(outcome) => return Ok(outcome),
            };
            claimed_at = SystemTime::now();
            result = self
                .dispatch(&mut env, &f, &req, start_ms, started + limit, &trace)
                .await;
        }
        let record = trace.recorded.then(|| {
            let dispatched = SystemTime::now();
            let timeline = Timeline {
                start: arrived,
                admitted,
                launched: if cold { env.launched_at } else { None },
                claimed: claimed_at,
                dispatched,
                end: dispatched,
            };
            trace_record(trace, timeline, &f, &req, cold, None)
        });
        Ok(self.finish(
            &f, key, env, &req, result, started, start_ms, limit, permit, record,
        ))
    }

    /// The environment to dispatch to, or, when its init failed, the invocation's outcome.
    /// `traced`: the recorded invocation's trace, arrival and admission, for the trace of a
    /// failed init.
    #[allow(clippy::result_large_err)]
    fn ready(
        &self,
        claimed: Claimed,
        f: &ResolvedFunction,
        req: &InvocationRequest,
        traced: Option<(&TraceContext, SystemTime, SystemTime)>,
    ) -> Result<Environment, InvocationOutcome> {
        match claimed {
            Claimed::Warm(env) | Claimed::Cold(env) => Ok(env),
            Claimed::InitFailed {
                stream,
                ending,
                output,
                took,
            } => {
                let trace = traced.map(|(context, arrived, admitted)| {
                    let now = SystemTime::now();
                    let timeline = Timeline {
                        start: arrived,
                        admitted,
                        launched: None,
                        claimed: now,
                        dispatched: now,
                        end: now,
                    };
                    trace_record(context.clone(), timeline, f, req, true, ending.error_type())
                });
                Err(self.finish_init_failure(f, req, &stream, ending, &output, took, trace))
            }
        }
    }

    /// A function's own output, as far as its log quota allows.
    fn within_log_quota(&self, function: &str, output: String) -> String {
        self.log_budget.admit(function, output, Instant::now())
    }

    /// Stage 1: the configuration, from the cache.
    async fn resolve(&self, req: &InvocationRequest) -> Result<Arc<ResolvedFunction>, InvokeError> {
        // An alias first picks its version, by weight, for this invocation.
        let routing = match req.qualifier.as_deref() {
            Some(q) if crate::resolve::is_alias(q) => Some(
                self.cache
                    .routing(&*self.source, &req.function, q, &req.region)
                    .await
                    .map_err(InvokeError::Resolve)?,
            ),
            _ => None,
        };
        let qualifier = match &routing {
            Some(r) => Some(r.pick(rand::random::<f64>())),
            None => req.qualifier.as_deref(),
        };
        let (f, replaced) = self
            .cache
            .resolve(&*self.source, &req.function, qualifier, &req.region)
            .await
            .map_err(InvokeError::Resolve)?;
        if let Some(old) = replaced {
            // Idle environments of the configuration this one replaced will never serve again.
            for env in self.pools.evict_generation(&f.spec.name, &old) {
                self.retire(env);
            }
        }
        if f.state != State::Active {
            return Err(InvokeError::NotActive(f.state));
        }
        Ok(f)
    }

    fn dry_run(&self, f: &ResolvedFunction) -> InvocationOutcome {
        InvocationOutcome {
            status: 204,
            payload: Default::default(),
            function_error: None,
            error_type: None,
            executed_version: f.spec.version.clone(),
            log: None,
            duration: Duration::ZERO,
            billed_ms: 0,
            memory_mb: f.spec.memory_mb,
            max_memory_used_mb: 0,
            init_duration: None,
            streamed: false,
        }
    }

    /// Stage 3: a live idle environment of this generation, else a new one. Never waits for
    /// a busy one.
    async fn claim(
        &self,
        f: &ResolvedFunction,
        key: &PoolKey,
        req: &InvocationRequest,
    ) -> Result<Claimed, InvokeError> {
        loop {
            let (warm, dead) = self.pools.take(key);
            for env in dead {
                tracing::debug!("idle environment's runtime had exited: dropped");
                self.retire(env);
            }
            match warm {
                // Its credentials must outlast the invocation (they are not renewed in place:
                // an environment whose credentials near their end is replaced).
                Some(env) if !self.credentials_last(&env, f.spec.timeout) => {
                    tracing::debug!("idle environment's credentials end too soon: retired");
                    self.retire(env);
                }
                Some(env) => return Ok(Claimed::Warm(env)),
                None => return self.cold_start(f, req).await,
            }
        }
    }

    /// Whether `env`'s credentials (if it has any) stay valid for `timeout` and a second more.
    fn credentials_last(&self, env: &Environment, timeout: Duration) -> bool {
        let Some(held) = &env.credentials else {
            return true;
        };
        let until = held
            .expires_at
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let needed =
            i64::try_from((timeout + Duration::from_secs(1)).as_millis()).unwrap_or(i64::MAX);
        until.saturating_sub(self.clock.epoch_ms()) >= needed
    }

    async fn cold_start(
        &self,
        f: &ResolvedFunction,
        req: &InvocationRequest,
    ) -> Result<Claimed, InvokeError> {
        // AWS compat: past the function's scaling rate a new environment is refused with a
        // 429; Lambda's documentation names no Reason for it, the account's is given.
        if !self.scaling.take(&f.spec.name, Instant::now()) {
            tracing::debug!("throttled: the function's scaling rate is used up");
            return Err(InvokeError::Throttled(
                ThrottleReason::ConcurrentInvocationLimitExceeded,
            ));
        }
        self.start_environment(f, req.request_id.as_str(), false)
            .await
    }

    /// A new environment of `f` through its init phase; `request_id` names the invocation an
    /// init failure answers. A provisioned one says so to its runtime
    /// (`AWS_LAMBDA_INITIALIZATION_TYPE`) and reports no init duration with its invocations.
    pub(crate) async fn start_environment(
        &self,
        f: &ResolvedFunction,
        request_id: &str,
        provisioned: bool,
    ) -> Result<Claimed, InvokeError> {
        let spec = &f.spec;
        // Held from before the launch until the environment is gone: its package stays.
        let code_lease = self.code_leases.take(&spec.code_dir)?;
        let env_id = hex32();
        let stream = logs::stream_name(&spec.version, &env_id, self.clock.epoch_ms());
        let rt = self.runtimes.resolve(&spec.runtime)?;
        if let Some(failure) = missing_bootstrap(spec) {
            return Ok(Claimed::InitFailed {
                stream,
                ending: finish::init_ending(failure, request_id),
                output: String::new(),
                took: Duration::ZERO,
            });
        }
        let mut launch = launch_spec(&*self.launcher, spec, &rt, &env_id, &stream);
        if provisioned {
            for (k, v) in &mut launch.env {
                if k == "AWS_LAMBDA_INITIALIZATION_TYPE" {
                    *v = "provisioned-concurrency".into();
                }
            }
        }
        let services = self.services();
        let credentials = match &services {
            Some(s) => {
                let c = s.issue(spec)?;
                let vars = services::credential_variables(&c);
                launch
                    .env
                    .retain(|(k, _)| !vars.iter().any(|(n, _)| n == k));
                launch.env.extend(vars);
                launch.api = true;
                Some(HeldCredentials {
                    access_key_id: c.access_key_id,
                    expires_at: c.expires_at,
                    services: Arc::clone(s),
                })
            }
            None => None,
        };
        // A turn among the init phases in flight, held until this one has ended.
        let _turn = self
            .inits
            .acquire()
            .await
            .map_err(|_| InvokeError::Capacity("the engine is shutting down".to_string()))?;
        let format = Format::of(&spec.logging);
        let now = self.clock.epoch_ms();
        if !format.json {
            self.logs.write(
                &spec.log_group,
                &stream,
                vec![LogEvent {
                    timestamp_ms: now,
                    message: init_start_line(self.launcher.name(), spec, &rt) + "\n",
                }],
            );
        } else if format.system(Level::Info) {
            self.logs.write(
                &spec.log_group,
                &stream,
                vec![LogEvent {
                    timestamp_ms: now,
                    message: init_start_record(spec, &rt, provisioned, now),
                }],
            );
        }
        let init_started = Instant::now();
        let launched = Environment::start(
            Arc::clone(&self.launcher),
            launch,
            stream.clone(),
            self.config.init_timeout,
            spec.timeout,
            services,
            credentials,
        )
        .await
        .map_err(|source| {
            // Out of room is the operator's to know, in plain words; any other failure is ours.
            match source
                .get_ref()
                .and_then(|e| e.downcast_ref::<nimbus_sandbox::SandboxError>())
            {
                Some(
                    e @ (nimbus_sandbox::SandboxError::NoSpace { .. }
                    | nimbus_sandbox::SandboxError::NoRoom(_)),
                ) => InvokeError::Capacity(e.to_string()),
                _ => InvokeError::Launch {
                    function: spec.name.clone(),
                    source,
                },
            }
        })?;
        match launched {
            Ok(mut env) => {
                env.code_lease = Some(code_lease);
                env.init_done();
                if provisioned {
                    // AWS compat: invocations of provisioned environments report no init.
                    env.init_duration = None;
                }
                let init_output = self.within_log_quota(&spec.name, env.output.take());
                self.logs.write(
                    &spec.log_group,
                    &stream,
                    logs::events(
                        &format.application(&init_output),
                        self.clock.epoch_ms(),
                        !format.json,
                    ),
                );
                Ok(Claimed::Cold(env))
            }
            Err((failure, output)) => Ok(Claimed::InitFailed {
                stream,
                ending: finish::init_ending(failure, request_id),
                output,
                took: init_started.elapsed(),
            }),
        }
    }

    /// Stage 4: the event to the runtime, and its answer.
    async fn dispatch(
        &self,
        env: &mut Environment,
        f: &ResolvedFunction,
        req: &InvocationRequest,
        start_ms: i64,
        deadline: Instant,
        trace: &TraceContext,
    ) -> RunResult {
        let limit_ms = i64::try_from(
            deadline
                .saturating_duration_since(Instant::now())
                .as_millis(),
        )
        .unwrap_or(i64::MAX);
        let invoked_arn = invoked_arn(f, req);
        let trace_id = trace.runtime_header();
        let input = Input {
            request_id: req.request_id.to_string(),
            deadline_ms: start_ms.saturating_add(limit_ms),
            invoked_arn,
            trace_id,
            client_context: req.client_context.clone(),
            payload: if req.payload.is_empty() {
                axum::body::Bytes::from_static(b"{}")
            } else {
                req.payload.clone()
            },
        };
        let sink = req.stream.clone().map(|s| (s, f.spec.version.clone()));
        env.invoke(input, sink, deadline).await
    }

    /// Stage 5: REPORT and logs, the environment back to its pool or retired, the outcome.
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        f: &ResolvedFunction,
        key: PoolKey,
        mut env: Environment,
        req: &InvocationRequest,
        result: RunResult,
        started: Instant,
        start_ms: i64,
        limit: Duration,
        permit: Permit,
        mut trace: Option<TraceRecord>,
    ) -> InvocationOutcome {
        let duration = started.elapsed();
        let output = self.within_log_quota(&f.spec.name, env.output.take());
        // Only a runtime that exited can have been killed for its memory: the cgroup's OOM
        // count is read then, not on every invocation.
        let oom = matches!(result, RunResult::Exited { .. }) && env.oom_killed();
        let id = req.request_id.as_str();
        let streamed = matches!(result, RunResult::Streamed { .. });
        let ending = finish::ending(result, id, limit, oom);
        // AWS compat: an environment killed for its memory used all of it.
        let max_memory_mb = if oom {
            u64::from(f.spec.memory_mb)
        } else {
            env.max_memory_mb()
        };
        let init = env.init_duration.take();
        let provisioned = env.provisioned.is_some();
        let billed_ms = logs::billed_ms(duration, init);
        let report = Report {
            request_id: id,
            duration,
            memory_mb: f.spec.memory_mb,
            max_memory_mb,
            init,
            billed_ms,
            status: finish::report_status(&ending.status),
        };
        let format = Format::of(&f.spec.logging);
        let log = finish::framed_log(&f.spec.version, &output, &report, false, &format, start_ms);
        self.logs.write(
            &f.spec.log_group,
            &env.log_stream,
            logs::events(&log, start_ms, !format.json),
        );
        let function_failed = ending.function_failed();
        let error_type = ending.error_type();
        if ending.reusable && env.is_alive() {
            if env
                .provisioned
                .as_ref()
                .is_some_and(|s| !self.provisioned.wants(s))
            {
                // Its target is gone, smaller, or of another configuration now: on demand.
                env.provisioned = None;
            }
            self.pools.put(key, env);
        } else {
            self.retire(env);
        }
        drop(permit);
        if let Some(r) = &mut trace {
            r.timeline.end = SystemTime::now();
        }
        self.observe(&crate::observe::InvocationFigures {
            function: &f.spec.name,
            version: &f.spec.version,
            duration,
            init,
            error: function_failed,
            billed_ms,
            memory_mb: f.spec.memory_mb,
            architecture: &f.spec.architecture,
            ephemeral_mb: f.spec.ephemeral_mb,
            provisioned,
            epoch_ms: self.clock.epoch_ms(),
            request_id: id,
            trace: trace.as_ref(),
        });
        InvocationOutcome {
            status: 200,
            payload: ending.payload,
            function_error: function_failed.then_some(FunctionError::Unhandled),
            error_type,
            executed_version: f.spec.version.clone(),
            log: (req.log_type == LogType::Tail).then_some(log),
            duration,
            billed_ms,
            memory_mb: f.spec.memory_mb,
            max_memory_used_mb: max_memory_mb,
            init_duration: init,
            streamed,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn finish_init_failure(
        &self,
        f: &ResolvedFunction,
        req: &InvocationRequest,
        stream: &str,
        ending: Ending,
        output: &str,
        took: Duration,
        trace: Option<TraceRecord>,
    ) -> InvocationOutcome {
        let id = req.request_id.as_str();
        // AWS compat: the failed init is retried within the invocation, whose duration it is.
        let billed_ms = logs::billed_ms(took, None);
        let report = Report {
            request_id: id,
            duration: took,
            memory_mb: f.spec.memory_mb,
            max_memory_mb: 0,
            init: None,
            billed_ms,
            status: finish::report_status(&ending.status),
        };
        let now = self.clock.epoch_ms();
        let format = Format::of(&f.spec.logging);
        let output = self.within_log_quota(&f.spec.name, output.to_string());
        let log = finish::framed_log(&f.spec.version, &output, &report, true, &format, now);
        self.logs.write(
            &f.spec.log_group,
            stream,
            logs::events(&log, now, !format.json),
        );
        self.observe(&crate::observe::InvocationFigures {
            function: &f.spec.name,
            version: &f.spec.version,
            duration: took,
            init: None,
            error: true,
            billed_ms,
            memory_mb: f.spec.memory_mb,
            architecture: &f.spec.architecture,
            ephemeral_mb: f.spec.ephemeral_mb,
            provisioned: false,
            epoch_ms: self.clock.epoch_ms(),
            request_id: id,
            trace: trace.as_ref(),
        });
        InvocationOutcome {
            status: 200,
            error_type: ending.error_type(),
            payload: ending.payload,
            function_error: Some(FunctionError::Unhandled),
            executed_version: f.spec.version.clone(),
            log: (req.log_type == LogType::Tail).then_some(log),
            duration: took,
            billed_ms,
            memory_mb: f.spec.memory_mb,
            max_memory_used_mb: 0,
            init_duration: None,
            streamed: false,
        }
    }
}
