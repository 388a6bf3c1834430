//! What a cold start launches: the runtime's command line and exactly Lambda's variables.

use std::collections::BTreeMap;
use std::ffi::OsString;

use crate::environment::InitFailure;
use crate::launcher::{LaunchSpec, Launcher};
use crate::resolve::{Egress, FunctionSpec};
use crate::runtimes::{RuntimeInfo, RuntimeKind};

/// The command and environment of a new environment of `f`.
pub(crate) fn launch_spec(
    launcher: &dyn Launcher,
    f: &FunctionSpec,
    rt: &RuntimeInfo,
    env_id: &str,
    log_stream: &str,
) -> LaunchSpec {
    let layout = launcher.layout(&f.code_dir, &rt.runtime_dir, rt.sdk_dir.as_deref());
    let task = layout.task_root.display().to_string();
    let rt_dir = layout.runtime_dir.display().to_string();
    let argv: Vec<OsString> = match rt.kind {
        RuntimeKind::Python => vec![
            rt.interpreter.clone().unwrap_or_default().into(),
            "-u".into(),
            "-s".into(),
            "-B".into(),
            layout.runtime_dir.join("bootstrap.py").into(),
        ]
        .into_iter()
        // The SDK goes on the import path after the function's own code (the bootstrap puts it
        // there), so that a function's own boto3 wins, as on Lambda.
        .chain(
            layout
                .sdk_dir
                .iter()
                .flat_map(|d| [OsString::from("--sdk"), d.into()]),
        )
        .collect(),
        RuntimeKind::Node => vec![
            rt.interpreter.clone().unwrap_or_default().into(),
            layout.runtime_dir.join("bootstrap.js").into(),
        ],
        RuntimeKind::Provided => vec![layout.task_root.join("bootstrap").into()],
    };
    // AWS compat: the variables Lambda sets (spec/lambda-compat.md §3); the function's own
    // may override only the ones Lambda lets them (LANG, PATH, LD_LIBRARY_PATH, TZ, ...).
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    let mut set = |k: &str, v: String| {
        env.insert(k.to_string(), v);
    };
    set("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin".into());
    set(
        "LD_LIBRARY_PATH",
        format!("/lib64:/usr/lib64:{rt_dir}:{rt_dir}/lib:{task}:{task}/lib:/opt/lib"),
    );
    set("LANG", "en_US.UTF-8".into());
    set("TZ", ":UTC".into());
    set("AWS_XRAY_CONTEXT_MISSING", "LOG_ERROR".into());
    if rt.kind == RuntimeKind::Node {
        // AWS compat: layers first, then the runtime's own modules (the SDK among them).
        let sdk = layout
            .sdk_dir
            .as_ref()
            .map(|d| format!("{}/node_modules:", d.display()))
            .unwrap_or_default();
        set(
            "NODE_PATH",
            format!("/opt/nodejs/node_modules:{rt_dir}/node_modules:{sdk}{task}/node_modules"),
        );
    }
    for (k, v) in &f.environment {
        env.insert(k.clone(), v.clone());
    }
    let mut set = |k: &str, v: String| {
        env.insert(k.to_string(), v);
    };
    set("AWS_LAMBDA_FUNCTION_NAME", f.name.clone());
    set("AWS_LAMBDA_FUNCTION_VERSION", f.version.clone());
    set("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", f.memory_mb.to_string());
    set("AWS_LAMBDA_LOG_GROUP_NAME", f.log_group.clone());
    set("AWS_LAMBDA_LOG_STREAM_NAME", log_stream.to_string());
    set("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into());
    set("AWS_EXECUTION_ENV", format!("AWS_Lambda_{}", f.runtime));
    set("AWS_REGION", f.region.clone());
    set("AWS_DEFAULT_REGION", f.region.clone());
    set("_HANDLER", f.handler.clone());
    set("LAMBDA_TASK_ROOT", task);
    set("LAMBDA_RUNTIME_DIR", rt_dir);
    // AWS compat: the runtimes read the logging controls from these (JSON format only).
    if f.logging.json {
        set("AWS_LAMBDA_LOG_FORMAT", "JSON".into());
        if let Some(level) = &f.logging.application_level {
            set("AWS_LAMBDA_LOG_LEVEL", level.clone());
        }
    }
    LaunchSpec {
        env_id: env_id.to_string(),
        argv,
        env: env.into_iter().collect(),
        code_dir: f.code_dir.clone(),
        runtime_dir: rt.runtime_dir.clone(),
        memory_mb: f.memory_mb,
        ephemeral_mb: f.ephemeral_mb,
        sdk_dir: rt.sdk_dir.clone(),
        api: false,
        egress: f.egress == Egress::Nat,
    }
}

/// What runs a function: its interpreter, runtime family and a digest of both (its "runtime
/// version ARN").
fn runtime_version(f: &FunctionSpec, rt: &RuntimeInfo) -> (String, String, String) {
    let interpreter = rt
        .interpreter
        .as_ref()
        .map_or_else(|| "bootstrap".to_string(), |p| p.display().to_string());
    let family = f.runtime.trim_end_matches(".x").to_string();
    // The ARN the function's configuration shows in RuntimeVersionConfig.
    let arn = nimbus_model::function::runtime_version_arn(&f.region, &f.runtime);
    (interpreter, family, arn)
}

/// `INIT_START`, naming the interpreter and the launcher.
pub(crate) fn init_start_line(launcher: &str, f: &FunctionSpec, rt: &RuntimeInfo) -> String {
    let (interpreter, family, arn) = runtime_version(f, rt);
    format!(
        "INIT_START Runtime Version: {family}.nimbus\tRuntime Version ARN: {arn}\tInterpreter: {interpreter}\tLauncher: {launcher}"
    )
}

/// `platform.initStart`, the JSON format's `INIT_START`.
pub(crate) fn init_start_record(
    f: &FunctionSpec,
    rt: &RuntimeInfo,
    provisioned: bool,
    epoch_ms: i64,
) -> String {
    let (_, family, arn) = runtime_version(f, rt);
    crate::log_format::record(
        epoch_ms,
        "platform.initStart",
        &serde_json::json!({
            "initializationType": if provisioned { "provisioned-concurrency" } else { "on-demand" },
            "phase": "init",
            "runtimeVersion": format!("{family}.nimbus"),
            "runtimeVersionArn": arn,
            "functionName": f.name,
            "functionVersion": f.version,
        }),
    )
}

/// AWS compat: a `provided` function whose package has no executable `bootstrap`.
pub(crate) fn missing_bootstrap(f: &FunctionSpec) -> Option<InitFailure> {
    use std::os::unix::fs::PermissionsExt;
    if RuntimeKind::of(&f.runtime) != Some(RuntimeKind::Provided) {
        return None;
    }
    let message = match std::fs::metadata(f.code_dir.join("bootstrap")) {
        Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => return None,
        Ok(_) => "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]: /var/task/bootstrap is not an executable file",
        Err(_) => "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]",
    };
    Some(InitFailure::Error {
        error_type: "Runtime.InvalidEntrypoint".into(),
        body: crate::finish::error_body("Runtime.InvalidEntrypoint", message.into()),
    })
}
