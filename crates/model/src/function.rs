//! A function as Nimbus stores it, the FunctionConfiguration Lambda returns, and the rules for
//! creating and changing one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::arn::function_arn;
use crate::error::{LambdaError, ValidationErrors};
use crate::limits;
use crate::runtime::validate_runtime;

/// `State` of a function version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    /// Being created: its code is not yet ready to run.
    Pending,
    /// Ready to run.
    Active,
    /// Creation failed.
    Failed,
}

/// `LastUpdateStatus` of a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LastUpdateStatus {
    /// The last update has not finished.
    InProgress,
    /// The last update finished.
    Successful,
    /// The last update failed.
    Failed,
}

/// `TracingConfig` / `TracingConfigResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TracingConfig {
    /// `Active` or `PassThrough`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// `DeadLetterConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeadLetterConfig {
    /// SQS queue or SNS topic ARN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_arn: Option<String>,
}

/// `LoggingConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoggingConfig {
    /// `Text` or `JSON`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<String>,
    /// TRACE..FATAL, JSON format only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application_log_level: Option<String>,
    /// DEBUG, INFO or WARN, JSON format only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_log_level: Option<String>,
    /// Defaults to `/aws/lambda/<name>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_group: Option<String>,
}

/// `ApplicationLogLevel`'s values, most detail first.
pub const APPLICATION_LOG_LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

/// `SystemLogLevel`'s values, most detail first.
pub const SYSTEM_LOG_LEVELS: [&str; 3] = ["DEBUG", "INFO", "WARN"];

impl LoggingConfig {
    /// `self` (the stored configuration) with `change` applied: what `change` names replaces
    /// what is stored. Levels belong to the JSON format: they default to INFO there, are
    /// dropped when the format goes back to Text, and may not be set with Text.
    pub fn merged(&self, change: &LoggingConfig) -> Result<LoggingConfig, LambdaError> {
        let format = change
            .log_format
            .clone()
            .or_else(|| self.log_format.clone())
            .unwrap_or_else(|| "Text".to_string());
        let json = format == "JSON";
        if !json && (change.application_log_level.is_some() || change.system_log_level.is_some()) {
            return Err(LambdaError::invalid_parameter(
                "ApplicationLogLevel and SystemLogLevel can be set only for functions whose LogFormat is JSON.",
            ));
        }
        let level = |new: &Option<String>, old: &Option<String>| {
            json.then(|| {
                new.clone()
                    .or_else(|| old.clone())
                    .unwrap_or_else(|| "INFO".to_string())
            })
        };
        Ok(LoggingConfig {
            log_format: Some(format.clone()),
            application_log_level: level(
                &change.application_log_level,
                &self.application_log_level,
            ),
            system_log_level: level(&change.system_log_level, &self.system_log_level),
            log_group: change.log_group.clone().or_else(|| self.log_group.clone()),
        })
    }
}

/// The code package a function runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRef {
    /// Lower-case hex SHA-256 of the zip: its address in the code store.
    pub sha256_hex: String,
    /// `CodeSha256` as Lambda reports it: base64 of the same digest.
    pub sha256_base64: String,
    /// Bytes of the zip.
    pub size: u64,
}

/// The settings of a function that UpdateFunctionConfiguration may change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// Runtime id.
    pub runtime: Option<String>,
    /// Handler.
    pub handler: Option<String>,
    /// Execution role ARN.
    pub role: String,
    /// Description, possibly empty.
    pub description: String,
    /// Seconds.
    pub timeout: u32,
    /// MB.
    pub memory_size: u32,
    /// MB of `/tmp`.
    pub ephemeral_storage: u32,
    /// `x86_64` or `arm64`.
    pub architecture: String,
    /// Present when the caller ever supplied `Environment`.
    pub environment: Option<BTreeMap<String, String>>,
    /// Tracing mode.
    pub tracing_mode: String,
    /// Dead-letter target for asynchronous invocations.
    pub dead_letter_target: Option<String>,
    /// KMS key for environment variables.
    pub kms_key_arn: Option<String>,
    /// Log format and levels.
    pub logging: LoggingConfig,
}

/// A function (its `$LATEST` version) as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Function {
    /// Bare name, unique.
    pub name: String,
    /// Changeable settings.
    pub settings: Settings,
    /// Code package.
    pub code: CodeRef,
    /// Epoch milliseconds of the last change to code or configuration.
    pub last_modified_ms: i64,
    /// Changes with every mutation.
    pub revision_id: String,
    /// Lifecycle state.
    pub state: State,
    /// Status of the last update, absent until the first one.
    pub last_update: Option<LastUpdateStatus>,
    /// Resource tags.
    pub tags: BTreeMap<String, String>,
    /// Reserved concurrency (PutFunctionConcurrency), if any; 0 throttles every invocation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_concurrency: Option<u32>,
    /// `None` for `$LATEST`; the number of a published version's snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// PutFunctionRecursionConfig's `RecursiveLoop` (`Allow`); `None` is Lambda's default,
    /// `Terminate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recursive_loop: Option<String>,
    /// Provisioned concurrency configurations, by qualifier (a version number or an alias).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub provisioned: BTreeMap<String, ProvisionedConfig>,
}

/// A provisioned concurrency configuration (PutProvisionedConcurrencyConfig).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionedConfig {
    /// Environments asked for.
    pub requested: u32,
    /// The region the configuration was made in (its environments run there).
    pub region: String,
    /// Epoch milliseconds of the last change.
    pub last_modified_ms: i64,
}

/// AWS compat: `FunctionConfiguration`, member names and formats as the model has them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct FunctionConfiguration {
    pub function_name: String,
    pub function_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// AWS compat: the runtime version, in every single-function answer (not in list items).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_version_config: Option<RuntimeVersionConfig>,
    pub role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handler: Option<String>,
    pub code_size: u64,
    pub description: String,
    pub timeout: u32,
    pub memory_size: u32,
    pub last_modified: String,
    pub code_sha256: String,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<EnvironmentResponse>,
    #[serde(rename = "KMSKeyArn", skip_serializing_if = "Option::is_none")]
    pub kms_key_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letter_config: Option<DeadLetterConfig>,
    pub tracing_config: TracingConfig,
    pub revision_id: String,
    pub state: State,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_reason_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_update_status: Option<LastUpdateStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_update_status_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_update_status_reason_code: Option<String>,
    pub package_type: String,
    pub architectures: Vec<String>,
    pub ephemeral_storage: EphemeralStorage,
    pub snap_start: SnapStartResponse,
    pub logging_config: LoggingConfig,
}

/// `RuntimeVersionConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RuntimeVersionConfig {
    /// `arn:aws:lambda:<region>::runtime:<64 hex>`.
    pub runtime_version_arn: String,
}

/// The ARN of the runtime version Nimbus runs `runtime` with, in `region`: a digest of the
/// runtime id and this release of Nimbus (whose bootstraps are the runtime), so it changes when
/// Nimbus's runtime does, as AWS's changes with a runtime update. `INIT_START` names the same.
pub fn runtime_version_arn(region: &str, runtime: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("nimbus|{runtime}|{}", env!("CARGO_PKG_VERSION")));
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("arn:aws:lambda:{region}::runtime:{hex}")
}

impl FunctionConfiguration {
    /// As list items show it (ListFunctions, ListVersionsByFunction): AWS leaves out the
    /// runtime version there.
    pub fn listed(mut self) -> Self {
        self.runtime_version_config = None;
        self
    }
}

/// `EnvironmentResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnvironmentResponse {
    /// The variables.
    pub variables: BTreeMap<String, String>,
}

/// `EphemeralStorage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EphemeralStorage {
    /// MB.
    pub size: u32,
}

/// `SnapStartResponse`; SnapStart is never on in Nimbus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SnapStartResponse {
    /// Always `None`.
    pub apply_on: String,
    /// Always `Off`.
    pub optimization_status: String,
}

/// Lambda's timestamp format: `2024-05-01T12:00:00.000+0000`.
pub fn format_timestamp(epoch_ms: i64) -> String {
    utc_millis(epoch_ms, "+0000")
}

/// `2024-05-01T12:00:00.000` in UTC, then `zone` (`Z`, `+0000`).
pub fn utc_millis(epoch_ms: i64, zone: &str) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(epoch_ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}{zone}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

impl Function {
    /// The FunctionConfiguration of `$LATEST`, with ARNs in `region` and `account`.
    pub fn configuration(&self, region: &str, account: &str) -> FunctionConfiguration {
        self.configuration_as(region, account, None)
    }

    /// The FunctionConfiguration of this record as `$LATEST` (`None`) or as published version
    /// `version` (its ARN qualified with the number).
    pub fn configuration_as(
        &self,
        region: &str,
        account: &str,
        version: Option<u32>,
    ) -> FunctionConfiguration {
        let s = &self.settings;
        let (state_reason, state_reason_code) = match self.state {
            State::Pending => (
                Some("The function is being created.".to_string()),
                Some("Creating".to_string()),
            ),
            _ => (None, None),
        };
        let (update_reason, update_reason_code) = match self.last_update {
            // AWS compat: AWS reuses the create strings while an update is in progress.
            Some(LastUpdateStatus::InProgress) => (
                Some("The function is being created.".to_string()),
                Some("Creating".to_string()),
            ),
            _ => (None, None),
        };
        let mut logging = s.logging.clone();
        logging.log_format.get_or_insert_with(|| "Text".to_string());
        logging
            .log_group
            .get_or_insert_with(|| format!("/aws/lambda/{}", self.name));
        let mut arn = function_arn(region, account, &self.name);
        if let Some(n) = version {
            arn.push_str(&format!(":{n}"));
        }
        FunctionConfiguration {
            function_name: self.name.clone(),
            function_arn: arn,
            runtime: s.runtime.clone(),
            runtime_version_config: s.runtime.as_deref().map(|r| RuntimeVersionConfig {
                runtime_version_arn: runtime_version_arn(region, r),
            }),
            role: s.role.clone(),
            handler: s.handler.clone(),
            code_size: self.code.size,
            description: s.description.clone(),
            timeout: s.timeout,
            memory_size: s.memory_size,
            last_modified: format_timestamp(self.last_modified_ms),
            code_sha256: self.code.sha256_base64.clone(),
            version: version.map_or_else(|| "$LATEST".to_string(), |n| n.to_string()),
            environment: s.environment.as_ref().map(|v| EnvironmentResponse {
                variables: v.clone(),
            }),
            kms_key_arn: s.kms_key_arn.clone(),
            dead_letter_config: s.dead_letter_target.as_ref().map(|t| DeadLetterConfig {
                target_arn: Some(t.clone()),
            }),
            tracing_config: TracingConfig {
                mode: Some(s.tracing_mode.clone()),
            },
            revision_id: self.revision_id.clone(),
            state: self.state,
            state_reason,
            state_reason_code,
            last_update_status: self.last_update,
            last_update_status_reason: update_reason,
            last_update_status_reason_code: update_reason_code,
            package_type: "Zip".to_string(),
            architectures: vec![s.architecture.clone()],
            ephemeral_storage: EphemeralStorage {
                size: s.ephemeral_storage,
            },
            snap_start: SnapStartResponse {
                apply_on: "None".to_string(),
                optimization_status: "Off".to_string(),
            },
            logging_config: logging,
        }
    }

    /// A published version of this `$LATEST` (its number is the store's to give): the same
    /// code and configuration, frozen, `Active`, with `description` if given (else
    /// `$LATEST`'s). Tags and reserved concurrency belong to the function, not its versions.
    pub fn published(
        &self,
        description: Option<&str>,
        now_ms: i64,
        revision_id: String,
    ) -> Function {
        let mut v = self.clone();
        if let Some(d) = description {
            v.settings.description = d.to_string();
        }
        v.last_modified_ms = now_ms;
        v.revision_id = revision_id;
        v.state = State::Active;
        v.last_update = Some(LastUpdateStatus::Successful);
        v.tags = BTreeMap::new();
        v.reserved_concurrency = None;
        v
    }

    /// Whether `version` was published from code and configuration that this `$LATEST` still
    /// has (a description given at publishing aside): publishing again would change nothing.
    pub fn unchanged_since(&self, version: &Function) -> bool {
        let mut mine = self.settings.clone();
        mine.description.clone_from(&version.settings.description);
        self.code.sha256_hex == version.code.sha256_hex && mine == version.settings
    }

    /// AWS compat: a function whose last update has not finished takes no other update.
    pub fn ensure_updatable(&self, arn: &str) -> Result<(), LambdaError> {
        if self.last_update == Some(LastUpdateStatus::InProgress) || self.state == State::Pending {
            return Err(LambdaError::conflict(format!(
                "The operation cannot be performed at this time. An update is in progress for resource: {arn}"
            )));
        }
        Ok(())
    }

    /// Checks an optional `RevisionId` precondition.
    pub fn check_revision(&self, expected: Option<&str>) -> Result<(), LambdaError> {
        match expected {
            Some(r) if r != self.revision_id => Err(LambdaError::stale_revision()),
            _ => Ok(()),
        }
    }
}

/// `FunctionCode` of CreateFunction, and the code members of UpdateFunctionCode.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct FunctionCode {
    pub zip_file: Option<String>,
    pub s3_bucket: Option<String>,
    pub s3_key: Option<String>,
    pub s3_object_version: Option<String>,
    pub image_uri: Option<String>,
}

/// Where a request says the code comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeSource {
    /// Base64 of a zip, inline.
    Zip(String),
}

impl FunctionCode {
    /// The one code source Nimbus can take, or Lambda's error for the others.
    pub fn source(&self) -> Result<CodeSource, LambdaError> {
        if let Some(bucket) = &self.s3_bucket {
            // AWS compat: Nimbus has no S3, so every bucket is one that does not exist, and AWS
            // says so in these words (spec §5b #48).
            let _ = bucket;
            return Err(LambdaError::invalid_parameter(
                "Error occurred while GetObject. S3 Error Code: NoSuchBucket. S3 Error Message: The specified bucket does not exist",
            ));
        }
        if self.image_uri.is_some() {
            return Err(LambdaError::invalid_parameter(
                "Please don't provide ImageUri when updating a function with packageType Zip.",
            ));
        }
        match &self.zip_file {
            Some(z) => Ok(CodeSource::Zip(z.clone())),
            None => Err(LambdaError::invalid_parameter(
                "Please provide a source for function code.",
            )),
        }
    }
}

/// `Environment` in requests.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnvironmentInput {
    /// The variables; absent means none.
    pub variables: Option<BTreeMap<String, String>>,
}

/// `EphemeralStorage` in requests.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EphemeralStorageInput {
    /// MB.
    pub size: Option<i64>,
}

/// The body of CreateFunction.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct CreateFunctionRequest {
    pub function_name: Option<String>,
    pub runtime: Option<String>,
    pub role: Option<String>,
    pub handler: Option<String>,
    pub code: Option<FunctionCode>,
    pub description: Option<String>,
    pub timeout: Option<i64>,
    pub memory_size: Option<i64>,
    pub publish: Option<bool>,
    pub vpc_config: Option<serde_json::Value>,
    pub package_type: Option<String>,
    pub dead_letter_config: Option<DeadLetterConfig>,
    pub environment: Option<EnvironmentInput>,
    #[serde(rename = "KMSKeyArn")]
    pub kms_key_arn: Option<String>,
    pub tracing_config: Option<TracingConfig>,
    pub tags: Option<BTreeMap<String, String>>,
    pub layers: Option<Vec<String>>,
    pub file_system_configs: Option<Vec<serde_json::Value>>,
    pub image_config: Option<serde_json::Value>,
    pub code_signing_config_arn: Option<String>,
    pub architectures: Option<Vec<String>>,
    pub ephemeral_storage: Option<EphemeralStorageInput>,
    pub snap_start: Option<serde_json::Value>,
    pub logging_config: Option<LoggingConfig>,
}

/// The body of UpdateFunctionConfiguration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct UpdateFunctionConfigurationRequest {
    pub role: Option<String>,
    pub handler: Option<String>,
    pub description: Option<String>,
    pub timeout: Option<i64>,
    pub memory_size: Option<i64>,
    pub vpc_config: Option<serde_json::Value>,
    pub environment: Option<EnvironmentInput>,
    pub runtime: Option<String>,
    pub dead_letter_config: Option<DeadLetterConfig>,
    #[serde(rename = "KMSKeyArn")]
    pub kms_key_arn: Option<String>,
    pub tracing_config: Option<TracingConfig>,
    pub revision_id: Option<String>,
    pub layers: Option<Vec<String>>,
    pub file_system_configs: Option<Vec<serde_json::Value>>,
    pub image_config: Option<serde_json::Value>,
    pub ephemeral_storage: Option<EphemeralStorageInput>,
    pub snap_start: Option<serde_json::Value>,
    pub logging_config: Option<LoggingConfig>,
}

/// The body of UpdateFunctionCode.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct UpdateFunctionCodeRequest {
    #[serde(flatten)]
    pub code: FunctionCode,
    pub architectures: Option<Vec<String>>,
    pub publish: Option<bool>,
    pub dry_run: Option<bool>,
    pub revision_id: Option<String>,
}

/// The changes of a create or configuration update, checked against the model's constraints.
/// Every member is optional so that one set of rules serves both operations.
#[derive(Debug, Default)]
struct Changes<'a> {
    runtime: Option<&'a str>,
    role: Option<&'a str>,
    role_required: bool,
    handler: Option<&'a str>,
    description: Option<&'a str>,
    timeout: Option<i64>,
    memory_size: Option<i64>,
    environment: Option<&'a EnvironmentInput>,
    layers: Option<&'a [String]>,
    architectures: Option<&'a [String]>,
    ephemeral_storage: Option<&'a EphemeralStorageInput>,
    tracing: Option<&'a TracingConfig>,
    logging: Option<&'a LoggingConfig>,
    unsupported: Vec<(&'static str, bool)>,
}

fn validate_changes(c: &Changes<'_>) -> Result<(), LambdaError> {
    // Model constraints first, all reported at once as ValidationException, in member order.
    let mut v = ValidationErrors::default();
    match c.role {
        Some(role) if !limits::role_pattern().is_match(role) => v.push(
            role,
            "role",
            &format!(
                "Member must satisfy regular expression pattern: {}",
                limits::ROLE_PATTERN
            ),
        ),
        None if c.role_required => v.push_null("role"),
        _ => {}
    }
    if let Some(h) = c.handler {
        if h.chars().count() > 128 {
            v.push(
                h,
                "handler",
                "Member must have length less than or equal to 128",
            );
        } else if h.is_empty() || h.chars().any(char::is_whitespace) {
            v.push(
                h,
                "handler",
                r"Member must satisfy regular expression pattern: [^\s]+",
            );
        }
    }
    if let Some(d) = c.description {
        if d.chars().count() > 256 {
            v.push(
                d,
                "description",
                "Member must have length less than or equal to 256",
            );
        }
    }
    if let Some(t) = c.timeout {
        if t < i64::from(limits::MIN_TIMEOUT) {
            v.push(
                &t.to_string(),
                "timeout",
                "Member must have value greater than or equal to 1",
            );
        } else if t > i64::from(limits::MAX_TIMEOUT) {
            v.push(
                &t.to_string(),
                "timeout",
                "Member must have value less than or equal to 900",
            );
        }
    }
    if let Some(m) = c.memory_size {
        if m < i64::from(limits::MIN_MEMORY) {
            v.push(
                &m.to_string(),
                "memorySize",
                "Member must have value greater than or equal to 128",
            );
        }
    }
    if let Some(env) = c.environment.and_then(|e| e.variables.as_ref()) {
        if env.keys().any(|k| !limits::env_key_pattern().is_match(k)) {
            // AWS compat: variable names are sensitive in the model, so the value is not echoed.
            v.push_raw(
                "Value at 'environment.variables' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]",
            );
        }
    }
    if let Some(a) = c.architectures {
        let shown = format!("[{}]", a.join(", "));
        if a.len() > 1 {
            v.push(
                &shown,
                "architectures",
                "Member must have length less than or equal to 1",
            );
        } else if a.is_empty() {
            v.push(
                &shown,
                "architectures",
                "Member must have length greater than or equal to 1",
            );
        } else if a.iter().any(|x| x != "x86_64" && x != "arm64") {
            v.push(
                &shown,
                "architectures",
                "Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]",
            );
        }
    }
    if let Some(e) = c.ephemeral_storage {
        match e.size {
            None => v.push_null("ephemeralStorage.size"),
            Some(s) if s < i64::from(limits::MIN_EPHEMERAL) => v.push(
                &s.to_string(),
                "ephemeralStorage.size",
                "Member must have value greater than or equal to 512",
            ),
            Some(s) if s > i64::from(limits::MAX_EPHEMERAL) => v.push(
                &s.to_string(),
                "ephemeralStorage.size",
                "Member must have value less than or equal to 10240",
            ),
            _ => {}
        }
    }
    if let Some(mode) = c.tracing.and_then(|t| t.mode.as_deref()) {
        if mode != "Active" && mode != "PassThrough" {
            v.push(
                mode,
                "tracingConfig.mode",
                "Member must satisfy enum value set: [Active, PassThrough]",
            );
        }
    }
    if let Some(l) = c.logging {
        if let Some(f) = l.log_format.as_deref() {
            if f != "JSON" && f != "Text" {
                v.push(
                    f,
                    "loggingConfig.logFormat",
                    "Member must satisfy enum value set: [JSON, Text]",
                );
            }
        }
        if let Some(level) = l.application_log_level.as_deref() {
            if !APPLICATION_LOG_LEVELS.contains(&level) {
                v.push(
                    level,
                    "loggingConfig.applicationLogLevel",
                    "Member must satisfy enum value set: [TRACE, DEBUG, INFO, WARN, ERROR, FATAL]",
                );
            }
        }
        if let Some(level) = l.system_log_level.as_deref() {
            if !SYSTEM_LOG_LEVELS.contains(&level) {
                v.push(
                    level,
                    "loggingConfig.systemLogLevel",
                    "Member must satisfy enum value set: [DEBUG, INFO, WARN]",
                );
            }
        }
        if let Some(g) = l.log_group.as_deref() {
            if g.is_empty() {
                v.push(
                    g,
                    "loggingConfig.logGroup",
                    "Member must have length greater than or equal to 1",
                );
            } else if g.len() > 512 {
                v.push(
                    g,
                    "loggingConfig.logGroup",
                    "Member must have length less than or equal to 512",
                );
            } else if !g
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-_/#".contains(&b))
            {
                v.push(
                    g,
                    "loggingConfig.logGroup",
                    "Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+",
                );
            }
        }
    }
    v.finish()?;

    // Then Lambda's own rules, as InvalidParameterValueException.
    if let Some(r) = c.runtime {
        validate_runtime(r)?;
    }
    if let Some(m) = c.memory_size {
        if m > i64::from(limits::MAX_MEMORY) {
            return Err(LambdaError::invalid_parameter(format!(
                "'MemorySize' value failed to satisfy constraint: Member must have value less than or equal to {}",
                limits::MAX_MEMORY
            )));
        }
    }
    if let Some(env) = c.environment.and_then(|e| e.variables.as_ref()) {
        limits::check_environment(env)?;
    }
    if let Some(layers) = c.layers {
        limits::check_layers(layers)?;
    }
    for (name, present) in &c.unsupported {
        if *present {
            return Err(LambdaError::invalid_parameter(format!(
                "{name} is not supported by Nimbus."
            )));
        }
    }
    Ok(())
}

fn non_empty_json(v: Option<&serde_json::Value>) -> bool {
    match v {
        None | Some(serde_json::Value::Null) => false,
        Some(serde_json::Value::Object(m)) => m.values().any(|x| match x {
            serde_json::Value::Array(a) => !a.is_empty(),
            serde_json::Value::Null => false,
            serde_json::Value::String(s) => !s.is_empty() && s != "None",
            _ => true,
        }),
        Some(serde_json::Value::Array(a)) => !a.is_empty(),
        Some(_) => true,
    }
}

impl CreateFunctionRequest {
    /// Checks every rule of CreateFunction except the name (checked by the caller, which parses
    /// it) and the code bytes (checked when unpacked). Returns the settings of the new function.
    pub fn validate(&self) -> Result<Settings, LambdaError> {
        let changes = Changes {
            runtime: self.runtime.as_deref(),
            role: self.role.as_deref(),
            role_required: true,
            handler: self.handler.as_deref(),
            description: self.description.as_deref(),
            timeout: self.timeout,
            memory_size: self.memory_size,
            environment: self.environment.as_ref(),
            layers: self.layers.as_deref(),
            architectures: self.architectures.as_deref(),
            ephemeral_storage: self.ephemeral_storage.as_ref(),
            tracing: self.tracing_config.as_ref(),
            logging: self.logging_config.as_ref(),
            unsupported: vec![
                ("VpcConfig", non_empty_json(self.vpc_config.as_ref())),
                (
                    "FileSystemConfigs",
                    self.file_system_configs
                        .as_ref()
                        .is_some_and(|f| !f.is_empty()),
                ),
                ("ImageConfig", non_empty_json(self.image_config.as_ref())),
                ("SnapStart", non_empty_json(self.snap_start.as_ref())),
                (
                    "CodeSigningConfigArn",
                    self.code_signing_config_arn.is_some(),
                ),
            ],
        };
        validate_changes(&changes)?;
        if self.package_type.as_deref() == Some("Image") {
            return Err(LambdaError::invalid_parameter(
                "PackageType Image is not supported by Nimbus yet: deploy a .zip file archive.",
            ));
        }
        if let Some(p) = self.package_type.as_deref() {
            if p != "Zip" {
                return Err(LambdaError::validation(format!(
                    "1 validation error detected: Value '{p}' at 'packageType' failed to satisfy constraint: Member must satisfy enum value set: [Image, Zip]"
                )));
            }
        }
        if self.runtime.is_none() || self.handler.is_none() {
            return Err(LambdaError::invalid_parameter(
                "Runtime and Handler are mandatory parameters for functions created with deployment packages.",
            ));
        }
        if let Some(tags) = &self.tags {
            limits::check_tags(tags.len(), tags)?;
        }
        let timeout = self.timeout.map_or(limits::DEFAULT_TIMEOUT, to_u32);
        Ok(Settings {
            runtime: self.runtime.clone(),
            handler: self.handler.clone(),
            role: self.role.clone().unwrap_or_default(),
            description: self.description.clone().unwrap_or_default(),
            timeout,
            memory_size: self.memory_size.map_or(limits::DEFAULT_MEMORY, to_u32),
            ephemeral_storage: self
                .ephemeral_storage
                .as_ref()
                .and_then(|e| e.size)
                .map_or(limits::MIN_EPHEMERAL, to_u32),
            architecture: self
                .architectures
                .as_ref()
                .and_then(|a| a.first().cloned())
                .unwrap_or_else(|| "x86_64".to_string()),
            environment: self
                .environment
                .as_ref()
                .map(|e| e.variables.clone().unwrap_or_default()),
            tracing_mode: self
                .tracing_config
                .as_ref()
                .and_then(|t| t.mode.clone())
                .unwrap_or_else(|| "PassThrough".to_string()),
            dead_letter_target: self
                .dead_letter_config
                .as_ref()
                .and_then(|d| d.target_arn.clone())
                .filter(|t| !t.is_empty()),
            kms_key_arn: self.kms_key_arn.clone().filter(|k| !k.is_empty()),
            logging: match &self.logging_config {
                Some(l) => LoggingConfig::default().merged(l)?,
                None => LoggingConfig::default(),
            },
        })
    }
}

fn to_u32(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

impl UpdateFunctionConfigurationRequest {
    /// Checks the request and applies it to `settings`.
    pub fn apply(&self, settings: &mut Settings) -> Result<(), LambdaError> {
        let changes = Changes {
            runtime: self.runtime.as_deref(),
            role: self.role.as_deref(),
            role_required: false,
            handler: self.handler.as_deref(),
            description: self.description.as_deref(),
            timeout: self.timeout,
            memory_size: self.memory_size,
            environment: self.environment.as_ref(),
            layers: self.layers.as_deref(),
            architectures: None,
            ephemeral_storage: self.ephemeral_storage.as_ref(),
            tracing: self.tracing_config.as_ref(),
            logging: self.logging_config.as_ref(),
            unsupported: vec![
                ("VpcConfig", non_empty_json(self.vpc_config.as_ref())),
                (
                    "FileSystemConfigs",
                    self.file_system_configs
                        .as_ref()
                        .is_some_and(|f| !f.is_empty()),
                ),
                ("ImageConfig", non_empty_json(self.image_config.as_ref())),
                ("SnapStart", non_empty_json(self.snap_start.as_ref())),
            ],
        };
        validate_changes(&changes)?;
        if let Some(r) = &self.runtime {
            settings.runtime = Some(r.clone());
        }
        if let Some(r) = &self.role {
            settings.role = r.clone();
        }
        if let Some(h) = &self.handler {
            settings.handler = Some(h.clone());
        }
        if let Some(d) = &self.description {
            settings.description = d.clone();
        }
        if let Some(t) = self.timeout {
            settings.timeout = to_u32(t);
        }
        if let Some(m) = self.memory_size {
            settings.memory_size = to_u32(m);
        }
        if let Some(e) = &self.environment {
            settings.environment = Some(e.variables.clone().unwrap_or_default());
        }
        if let Some(s) = self.ephemeral_storage.as_ref().and_then(|e| e.size) {
            settings.ephemeral_storage = to_u32(s);
        }
        if let Some(m) = self.tracing_config.as_ref().and_then(|t| t.mode.clone()) {
            settings.tracing_mode = m;
        }
        if let Some(d) = &self.dead_letter_config {
            settings.dead_letter_target = d.target_arn.clone().filter(|t| !t.is_empty());
        }
        if let Some(k) = &self.kms_key_arn {
            settings.kms_key_arn = Some(k.clone()).filter(|k| !k.is_empty());
        }
        if let Some(l) = &self.logging_config {
            settings.logging = settings.logging.merged(l)?;
        }
        Ok(())
    }
}

impl UpdateFunctionCodeRequest {
    /// Checks everything but the code bytes; returns the architecture to set, if any.
    pub fn validate(&self) -> Result<(CodeSource, Option<String>), LambdaError> {
        let changes = Changes {
            architectures: self.architectures.as_deref(),
            ..Changes::default()
        };
        validate_changes(&changes)?;
        let source = self.code.source()?;
        Ok((
            source,
            self.architectures.as_ref().and_then(|a| a.first().cloned()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn create() -> CreateFunctionRequest {
        CreateFunctionRequest {
            function_name: Some("f".into()),
            runtime: Some("python3.12".into()),
            role: Some("arn:aws:iam::000000000000:role/lambda-role".into()),
            handler: Some("app.handler".into()),
            ..Default::default()
        }
    }

    fn err(r: CreateFunctionRequest) -> LambdaError {
        r.validate().expect_err("must be rejected")
    }

    #[test]
    fn defaults_match_lambda() {
        let s = create().validate().expect("valid");
        assert_eq!(
            (s.timeout, s.memory_size, s.ephemeral_storage),
            (3, 128, 512)
        );
        assert_eq!(s.architecture, "x86_64");
        assert_eq!(s.tracing_mode, "PassThrough");
        assert_eq!(s.environment, None);
    }

    #[test]
    fn timeout_and_memory_bounds() {
        let e = err(CreateFunctionRequest {
            timeout: Some(3000),
            ..create()
        });
        assert_eq!(e.code, ErrorCode::Validation);
        assert_eq!(e.message, "1 validation error detected: Value '3000' at 'timeout' failed to satisfy constraint: Member must have value less than or equal to 900");
        let e = err(CreateFunctionRequest {
            memory_size: Some(64),
            ..create()
        });
        assert_eq!(e.message, "1 validation error detected: Value '64' at 'memorySize' failed to satisfy constraint: Member must have value greater than or equal to 128");
        let e = err(CreateFunctionRequest {
            memory_size: Some(10241),
            ..create()
        });
        assert_eq!(e.code, ErrorCode::InvalidParameterValue);
        assert_eq!(e.message, "'MemorySize' value failed to satisfy constraint: Member must have value less than or equal to 10240");
        assert!(CreateFunctionRequest {
            memory_size: Some(10240),
            timeout: Some(900),
            ..create()
        }
        .validate()
        .is_ok());
    }

    #[test]
    fn role_and_architectures() {
        let e = err(CreateFunctionRequest {
            role: Some("r1".into()),
            ..create()
        });
        assert_eq!(
            e.message,
            r"1 validation error detected: Value 'r1' at 'role' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+"
        );
        let e = err(CreateFunctionRequest {
            architectures: Some(vec!["x86_64".into(), "arm64".into()]),
            ..create()
        });
        assert_eq!(e.message, "1 validation error detected: Value '[x86_64, arm64]' at 'architectures' failed to satisfy constraint: Member must have length less than or equal to 1");
        let e = err(CreateFunctionRequest {
            architectures: Some(vec!["X86_64".into()]),
            ..create()
        });
        assert!(e.message.contains("Value '[X86_64]' at 'architectures'"));
    }

    #[test]
    fn several_model_errors_are_reported_together() {
        let e = err(CreateFunctionRequest {
            role: None,
            timeout: Some(0),
            ..create()
        });
        assert!(e
            .message
            .starts_with("2 validation errors detected: Value null at 'role'"));
    }

    #[test]
    fn update_in_progress_and_revision() {
        let settings = create().validate().expect("valid");
        let mut f = Function {
            name: "f".into(),
            settings,
            code: CodeRef {
                sha256_hex: "00".into(),
                sha256_base64: "AA==".into(),
                size: 1,
            },
            last_modified_ms: 0,
            revision_id: "r1".into(),
            state: State::Active,
            last_update: Some(LastUpdateStatus::InProgress),
            tags: BTreeMap::new(),
            reserved_concurrency: None,
            version: None,
            recursive_loop: None,
            provisioned: BTreeMap::new(),
        };
        let e = f.ensure_updatable("arn:x").expect_err("in progress");
        assert_eq!(e.code, ErrorCode::ResourceConflict);
        assert_eq!(e.message, "The operation cannot be performed at this time. An update is in progress for resource: arn:x");
        f.last_update = Some(LastUpdateStatus::Successful);
        assert!(f.ensure_updatable("arn:x").is_ok());
        assert!(f.check_revision(Some("r1")).is_ok());
        assert_eq!(
            f.check_revision(Some("r0")).expect_err("stale").code,
            ErrorCode::PreconditionFailed
        );
        let c = f.configuration("us-east-1", "000000000000");
        assert_eq!(
            c.function_arn,
            "arn:aws:lambda:us-east-1:000000000000:function:f"
        );
        assert_eq!(c.last_modified, "1970-01-01T00:00:00.000+0000");
    }

    #[test]
    fn timestamp_format() {
        assert_eq!(
            format_timestamp(1_714_564_800_123),
            "2024-05-01T12:00:00.123+0000"
        );
    }
}
