//! `Config`: loaded from TOML, then environment, then flags (the caller merges those), validated
//! once at start-up, then split into what each part needs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Why the configuration cannot be used. Each names the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("read config file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema (unknown keys included).
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's words, naming the key.
        message: String,
    },
    /// A value is out of range.
    #[error("config key `{key}`: {message}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// Everything `nimbus serve` can be told.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Where the database, code packages and generated credentials live.
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// The account id in every ARN.
    #[serde(default = "default_account")]
    pub account_id: String,
    /// Root access key id; generated on first start when absent.
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// Root secret access key (never shown by `Debug`).
    #[serde(default)]
    pub secret_access_key: Option<Secret>,
    /// Seconds a GetFunction `Code.Location` URL stays valid.
    #[serde(default = "default_code_url_ttl")]
    pub code_url_ttl_seconds: u64,
    /// Account concurrency limit: invocations running at once, across all functions.
    #[serde(default = "default_concurrency")]
    pub concurrent_executions: u32,
    /// Concurrency that reservations (PutFunctionConcurrency) must leave to the rest.
    #[serde(default = "default_unreserved_minimum")]
    pub unreserved_concurrency_minimum: u32,
    /// Seconds an idle execution environment is kept warm.
    #[serde(default = "default_keep_alive")]
    pub keep_alive_seconds: u64,
    /// Below this much available host memory (MiB), idle environments end, longest idle first
    /// (0: never).
    #[serde(default = "default_memory_floor")]
    pub memory_floor_mib: u64,
    /// New execution environments one function may get per 10 seconds (Lambda's scaling
    /// rate, 1,000); a cold start past it is throttled with a 429. 0: no limit.
    #[serde(default = "default_scaling_rate")]
    pub new_environments_per_10_seconds: u32,
    /// Most init phases at once (0: twice the CPUs, at least 4); more cold starts wait their
    /// turn, their 10 s init limit counted from when it begins.
    #[serde(default)]
    pub max_concurrent_inits: usize,
    /// Days function logs are kept.
    #[serde(default = "default_log_retention")]
    pub log_retention_days: u32,
    /// MiB of its own output one function may log per minute, across its environments (0: no
    /// quota); output past it is dropped and the log says how much.
    #[serde(default = "default_log_quota")]
    pub log_mib_per_function_per_minute: u64,
    /// Most client connections open at once; more wait in the kernel's backlog.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// Seconds a client connection may stay open without sending a complete request head
    /// (idle keep-alive connections and slow senders alike).
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_seconds: u64,
    /// Seconds a graceful shutdown waits for requests in flight before it ends them.
    #[serde(default = "default_shutdown_timeout")]
    pub shutdown_timeout_seconds: u64,
    /// How execution environments are started.
    #[serde(default)]
    pub launcher: LauncherKind,
    /// How environments share the CPU (sandbox launcher): `weighted` (the default: shares in
    /// proportion to MemorySize, never idle CPU left unused), `capped` (Lambda's ceiling of
    /// MemorySize/1,769 of a CPU) or `none`.
    #[serde(default)]
    pub cpu_limit: nimbus_engine::CpuPolicy,
    /// The first uid of sandbox users (one per live environment); the range must not overlap
    /// `/etc/subuid` or `/etc/subgid`.
    #[serde(default = "default_uid_base")]
    pub sandbox_uid_base: u32,
    /// How many uids the sandbox range holds.
    #[serde(default = "default_uid_count")]
    pub sandbox_uid_count: u32,
    /// How many times over the data disk's free space the environments' `/tmp` sizes may add
    /// up to (sandbox launcher). 1 (the default): every image could fill to its full size at
    /// once. More lets more environments live at once, trusting that few fill their `/tmp`;
    /// one that writes past the disk's real space gets ENOSPC.
    #[serde(default = "default_ephemeral_overcommit")]
    pub ephemeral_storage_overcommit: u32,
    /// MiB of memory all environments together may use (sandbox launcher); 0 (the default):
    /// the host's memory less a tenth, at least 1 GiB, kept for the server and the host.
    #[serde(default)]
    pub environments_memory_mib: u64,
    /// Processes and threads all environments together may run; 0 (the default): the
    /// kernel's `threads-max` less a tenth, at least 4,096.
    #[serde(default)]
    pub environments_pids: u64,
    /// Seconds the temporary credentials of an execution environment stay valid. An
    /// environment takes no invocation that could outlast them; it is replaced instead.
    #[serde(default = "default_credentials_ttl")]
    pub credentials_ttl_seconds: u64,
    /// Which interpreter serves which runtime family.
    #[serde(default)]
    pub runtimes: RuntimesSection,
    /// What functions' environments may reach.
    #[serde(default)]
    pub network: NetworkSection,
    /// How asynchronous invocations are dispatched.
    #[serde(default, rename = "async")]
    pub async_invoke: AsyncSection,
    /// Where function URLs are served.
    #[serde(default)]
    pub function_urls: FunctionUrlsSection,
    /// `/metrics` (Prometheus).
    #[serde(default)]
    pub metrics: MetricsSection,
    /// What `nimbus cost` charges (default: Lambda's published us-east-1 prices).
    #[serde(default)]
    pub prices: PriceTable,
    /// Where the spans of Active-tracing functions' invocations are exported (OTLP/HTTP).
    #[serde(default)]
    pub traces: TracesSection,
    /// The clock schedules fire by: the system's (not settable from a file; tests hand in a
    /// manual one).
    #[serde(skip)]
    pub schedule_clock: crate::scheduler::ScheduleClock,
}

/// Where function URLs listen: their own address (the default, so that public traffic never
/// shares a port with the control plane), the API's listener, or nowhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlListen {
    /// A listener of their own.
    Addr(SocketAddr),
    /// The API's listener, told apart by host name or the `/lambda-url/` path.
    Api,
    /// Not served (the configurations can still be managed).
    Off,
}

impl UrlListen {
    /// `host:port`, `api` or `off`.
    pub fn parse(s: &str) -> Result<Self, ConfigError> {
        match s {
            "api" => Ok(Self::Api),
            "off" => Ok(Self::Off),
            a => a.parse().map(Self::Addr).map_err(|_| ConfigError::Invalid {
                key: "function_urls.listen",
                message: format!("'{a}' is neither an address (host:port), \"api\" nor \"off\""),
            }),
        }
    }
}

impl<'de> Deserialize<'de> for UrlListen {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// `[metrics]`: who may scrape `/metrics`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// A bearer token Prometheus sends (`authorization: { credentials: ... }`); without one,
    /// or besides it, a SigV4-signed request of the account's keys is let in.
    pub token: Option<Secret>,
}

/// `[traces]`: OpenTelemetry export of the invocations of functions whose `TracingConfig` is
/// `Active`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct TracesSection {
    /// An OTLP/HTTP receiver (`http://host:4318`; spans are posted to `/v1/traces`). None: no
    /// spans are recorded (the trace header is still continued to functions).
    pub otlp_endpoint: Option<String>,
    /// The `service.name` of the spans.
    pub service_name: String,
    /// How long spans wait to be sent in a batch, ms.
    pub export_interval_ms: u64,
    /// Invocations recorded each second, whatever the rate (X-Ray's default rule: 1), when the
    /// caller's trace header did not decide (`Sampled=`).
    pub reservoir_per_second: u32,
    /// The share of the rest recorded (X-Ray's default rule: 0.05).
    pub sample_rate: Float,
}

impl Default for TracesSection {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            service_name: "nimbus".into(),
            export_interval_ms: 1000,
            reservoir_per_second: 1,
            sample_rate: Float(0.05),
        }
    }
}

/// A number of the configuration (a price, a rate): compared by its bits, so that the
/// configuration stays `Eq`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(transparent)]
pub struct Float(pub f64);

impl PartialEq for Float {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for Float {}

/// `[prices]`: what the cost ledger charges. The defaults are Lambda's published prices
/// (us-east-1, the first tier of duration): requests, duration per GB-second on each
/// architecture, on demand and on provisioned-concurrency environments (whose provisioned
/// hours are not in the ledger), and ephemeral storage above the free 512 MB.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct PriceTable {
    /// The currency the prices are in.
    pub currency: String,
    /// Per million requests.
    pub requests_per_million: Float,
    /// Per GB-second, x86_64, on demand.
    pub x86_64_gb_second: Float,
    /// Per GB-second, arm64, on demand.
    pub arm64_gb_second: Float,
    /// Per GB-second, x86_64, on a provisioned-concurrency environment.
    pub provisioned_x86_64_gb_second: Float,
    /// Per GB-second, arm64, on a provisioned-concurrency environment.
    pub provisioned_arm64_gb_second: Float,
    /// Per GB-second of ephemeral storage above 512 MB.
    pub ephemeral_gb_second: Float,
}

impl Default for PriceTable {
    fn default() -> Self {
        Self {
            currency: "USD".into(),
            requests_per_million: Float(0.20),
            x86_64_gb_second: Float(0.000_016_666_7),
            arm64_gb_second: Float(0.000_013_333_4),
            provisioned_x86_64_gb_second: Float(0.000_009_722_2),
            provisioned_arm64_gb_second: Float(0.000_007_777_8),
            ephemeral_gb_second: Float(0.000_000_030_9),
        }
    }
}

impl PriceTable {
    /// The duration price of an invocation.
    pub fn gb_second(&self, architecture: &str, provisioned: bool) -> f64 {
        let p = match (architecture, provisioned) {
            ("arm64", false) => self.arm64_gb_second,
            ("arm64", true) => self.provisioned_arm64_gb_second,
            (_, false) => self.x86_64_gb_second,
            (_, true) => self.provisioned_x86_64_gb_second,
        };
        p.0
    }

    /// The table as `GET /_nimbus/costs` shows it.
    pub fn wire(&self) -> serde_json::Value {
        serde_json::json!({
            "RequestsPerMillion": self.requests_per_million.0,
            "X86_64GbSecond": self.x86_64_gb_second.0,
            "Arm64GbSecond": self.arm64_gb_second.0,
            "ProvisionedX86_64GbSecond": self.provisioned_x86_64_gb_second.0,
            "ProvisionedArm64GbSecond": self.provisioned_arm64_gb_second.0,
            "EphemeralStorageGbSecond": self.ephemeral_gb_second.0,
        })
    }
}

/// `[function_urls]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FunctionUrlsSection {
    /// `host:port` (default 127.0.0.1:9001), `"api"` or `"off"`.
    #[serde(default = "default_url_listen")]
    pub listen: UrlListen,
    /// The URL the API hands out, with `{id}`, `{region}` and `{port}` (the port URLs are
    /// served on) filled in; by default `http://{id}.lambda-url.{region}.localhost:{port}/`
    /// (`*.localhost` names loopback). Behind a proxy or DNS of your own, say what clients
    /// use. Whatever the host name, the server finds the URL by the id in its first label, or
    /// by the path `/lambda-url/<id>/...`.
    #[serde(default = "default_url_template")]
    pub url: String,
}

fn default_url_listen() -> UrlListen {
    UrlListen::Addr(SocketAddr::from(([127, 0, 0, 1], 9001)))
}

fn default_url_template() -> String {
    "http://{id}.lambda-url.{region}.localhost:{port}/".to_string()
}

impl Default for FunctionUrlsSection {
    fn default() -> Self {
        Self {
            listen: default_url_listen(),
            url: default_url_template(),
        }
    }
}

/// `[async]`: the dispatcher of asynchronous invocations.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AsyncSection {
    /// Seconds before the first retry of a function error; the second waits twice as long.
    /// AWS compat: about a minute (60, the default); tests shorten it.
    #[serde(default = "default_retry_delay")]
    pub retry_delay_seconds: u64,
    /// Most asynchronous invocations dispatched at once (each may need an environment).
    #[serde(default = "default_async_in_flight")]
    pub max_in_flight: u32,
    /// Most events queued at once; more are refused with 429 until the queue drains.
    #[serde(default = "default_max_pending")]
    pub max_pending_events: u64,
}

fn default_max_pending() -> u64 {
    1_000_000
}

fn default_retry_delay() -> u64 {
    60
}

fn default_async_in_flight() -> u32 {
    100
}

impl Default for AsyncSection {
    fn default() -> Self {
        Self {
            retry_delay_seconds: default_retry_delay(),
            max_in_flight: default_async_in_flight(),
            max_pending_events: default_max_pending(),
        }
    }
}

/// What an environment may reach beyond its loopback and Nimbus's API.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EgressMode {
    /// Nothing (the default): no network is made.
    #[default]
    None,
    /// The world, through a bridge of ours, NAT and the firewall below; a function tagged
    /// `nimbus:egress = none` opts out.
    Nat,
}

/// `[network]`: egress of functions (sandbox launcher).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NetworkSection {
    /// `none` or `nat`.
    #[serde(default)]
    pub egress: EgressMode,
    /// The bridge's name (1-12 characters); one per server on a machine.
    #[serde(default = "default_bridge")]
    pub bridge: String,
    /// The sandboxes' addresses; the first is the bridge's.
    #[serde(default = "default_subnet")]
    pub subnet: String,
    /// Destinations no function may reach, as `a.b.c.d/n` or `a.b.c.d/n:port` (default: every
    /// range that is not the public internet). The sandboxes' own range and link-local (the
    /// metadata address) are always denied.
    #[serde(default = "default_deny")]
    pub deny: Vec<String>,
    /// If not empty, the only destinations functions may reach (same forms; deny still applies).
    #[serde(default)]
    pub allow: Vec<String>,
    /// Name servers for functions (an address they may reach: not the host's own resolver).
    #[serde(default)]
    pub dns: Vec<std::net::Ipv4Addr>,
    /// Most connections one environment may have open at once.
    #[serde(default = "default_env_connections")]
    pub max_connections: u32,
    /// The `nft` program, run once at start-up to load the firewall.
    #[serde(default = "default_nft")]
    pub nft: PathBuf,
}

impl Default for NetworkSection {
    fn default() -> Self {
        Self {
            egress: EgressMode::None,
            bridge: default_bridge(),
            subnet: default_subnet(),
            deny: default_deny(),
            allow: Vec::new(),
            dns: Vec::new(),
            max_connections: default_env_connections(),
            nft: default_nft(),
        }
    }
}

fn default_bridge() -> String {
    "nimbus0".into()
}

fn default_subnet() -> String {
    "10.213.0.0/16".into()
}

fn default_deny() -> Vec<String> {
    nimbus_engine::egress::DEFAULT_DENY
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn default_unreserved_minimum() -> u32 {
    // AWS compat: Lambda keeps 100 of an account's concurrency unreserved.
    100
}

fn default_env_connections() -> u32 {
    256
}

fn default_nft() -> PathBuf {
    PathBuf::from("/usr/sbin/nft")
}

impl NetworkSection {
    /// The sandbox crate's configuration, or the first value that is wrong.
    pub fn egress_config(&self) -> Result<nimbus_engine::egress::EgressConfig, ConfigError> {
        use nimbus_engine::egress::Cidr;
        let invalid = |key: &'static str, message: String| ConfigError::Invalid { key, message };
        let parse = |key: &'static str, v: &[String]| -> Result<Vec<Cidr>, ConfigError> {
            v.iter()
                .map(|c| c.parse::<Cidr>().map_err(|m| invalid(key, m)))
                .collect()
        };
        let config = nimbus_engine::egress::EgressConfig {
            bridge: self.bridge.clone(),
            subnet: self
                .subnet
                .parse()
                .map_err(|m| invalid("network.subnet", m))?,
            deny: parse("network.deny", &self.deny)?,
            allow: parse("network.allow", &self.allow)?,
            max_connections: self.max_connections,
            dns: self.dns.clone(),
        };
        config.validate().map_err(|m| invalid("network", m))?;
        Ok(config)
    }
}

/// A secret value: deserialized as a plain string, never printed.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How execution environments are started.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LauncherKind {
    /// Each environment in its own Linux sandbox (needs root). The default.
    #[default]
    Sandbox,
    /// Plain child processes, without isolation: for development and engine tests only.
    Process,
}

/// `[runtimes]`: absolute paths of interpreters, never shell shims found on PATH.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RuntimesSection {
    /// Where sandboxes take their runtime files (`usr`, `lib*`, `bin`, `sbin`) from, read-only:
    /// the host itself (`/`, the default) or a prepared root file system. The interpreters'
    /// paths are as seen inside that root.
    #[serde(default = "default_runtime_root")]
    pub root: PathBuf,
    /// Serves `python3.*`.
    #[serde(default = "default_python")]
    pub python: PathBuf,
    /// Serves `nodejs*`.
    #[serde(default = "default_node")]
    pub node: PathBuf,
    /// Where `nimbus sdk install` put the AWS SDKs the runtimes provide (boto3 for Python);
    /// default `<data-dir>/sdk`. A runtime without one runs without an SDK.
    #[serde(default)]
    pub sdk_dir: Option<PathBuf>,
}

impl Default for RuntimesSection {
    fn default() -> Self {
        Self {
            root: default_runtime_root(),
            python: default_python(),
            node: default_node(),
            sdk_dir: None,
        }
    }
}

fn default_runtime_root() -> PathBuf {
    PathBuf::from("/")
}

fn default_python() -> PathBuf {
    nimbus_engine::runtimes::RuntimesConfig::default().python
}

fn default_node() -> PathBuf {
    nimbus_engine::runtimes::RuntimesConfig::default().node
}

fn default_keep_alive() -> u64 {
    600
}

fn default_credentials_ttl() -> u64 {
    6 * 3600
}

fn default_memory_floor() -> u64 {
    512
}

fn default_ephemeral_overcommit() -> u32 {
    1
}

fn default_uid_base() -> u32 {
    nimbus_engine::sandbox_launcher::DEFAULT_UID_BASE
}

fn default_uid_count() -> u32 {
    nimbus_engine::sandbox_launcher::DEFAULT_UID_COUNT
}

fn default_max_connections() -> u32 {
    8192
}

fn default_idle_timeout() -> u64 {
    60
}

fn default_shutdown_timeout() -> u64 {
    30
}

fn default_scaling_rate() -> u32 {
    1000
}

fn default_log_quota() -> u64 {
    64
}

fn default_log_retention() -> u32 {
    30
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9000))
}

fn default_account() -> String {
    "000000000000".to_string()
}

fn default_code_url_ttl() -> u64 {
    600
}

fn default_concurrency() -> u32 {
    1000
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            data_dir: None,
            account_id: default_account(),
            access_key_id: None,
            secret_access_key: None,
            code_url_ttl_seconds: default_code_url_ttl(),
            concurrent_executions: default_concurrency(),
            unreserved_concurrency_minimum: default_unreserved_minimum(),
            keep_alive_seconds: default_keep_alive(),
            memory_floor_mib: default_memory_floor(),
            new_environments_per_10_seconds: default_scaling_rate(),
            max_concurrent_inits: 0,
            log_retention_days: default_log_retention(),
            log_mib_per_function_per_minute: default_log_quota(),
            max_connections: default_max_connections(),
            idle_timeout_seconds: default_idle_timeout(),
            shutdown_timeout_seconds: default_shutdown_timeout(),
            launcher: LauncherKind::default(),
            cpu_limit: nimbus_engine::CpuPolicy::default(),
            sandbox_uid_base: default_uid_base(),
            sandbox_uid_count: default_uid_count(),
            ephemeral_storage_overcommit: default_ephemeral_overcommit(),
            environments_memory_mib: 0,
            environments_pids: 0,
            credentials_ttl_seconds: default_credentials_ttl(),
            runtimes: RuntimesSection::default(),
            network: NetworkSection::default(),
            async_invoke: AsyncSection::default(),
            function_urls: FunctionUrlsSection::default(),
            metrics: MetricsSection::default(),
            prices: PriceTable::default(),
            traces: TracesSection::default(),
            schedule_clock: crate::scheduler::ScheduleClock::default(),
        }
    }
}

impl Config {
    /// Reads a TOML file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses TOML text.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim().replace('\n', " "))
    }

    /// The data directory, defaulting to the user's data directory.
    pub fn data_dir(&self) -> PathBuf {
        if let Some(d) = &self.data_dir {
            return d.clone();
        }
        if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty()) {
            return PathBuf::from(x).join("nimbus");
        }
        match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            Some(h) => PathBuf::from(h).join(".local/share/nimbus"),
            None => PathBuf::from("/var/lib/nimbus"),
        }
    }

    /// Checks every value; called once before anything starts.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let rate = self.traces.sample_rate.0;
        if !(0.0..=1.0).contains(&rate) {
            return Err(ConfigError::Invalid {
                key: "traces.sample_rate",
                message: format!("{rate} is not a share between 0 and 1"),
            });
        }
        let p = &self.prices;
        for (key, price) in [
            ("prices.requests_per_million", p.requests_per_million),
            ("prices.x86_64_gb_second", p.x86_64_gb_second),
            ("prices.arm64_gb_second", p.arm64_gb_second),
            (
                "prices.provisioned_x86_64_gb_second",
                p.provisioned_x86_64_gb_second,
            ),
            (
                "prices.provisioned_arm64_gb_second",
                p.provisioned_arm64_gb_second,
            ),
            ("prices.ephemeral_gb_second", p.ephemeral_gb_second),
        ] {
            if !(price.0.is_finite() && price.0 >= 0.0) {
                return Err(ConfigError::Invalid {
                    key,
                    message: format!("{} is not a price (a number, 0 or more)", price.0),
                });
            }
        }
        if !self.function_urls.url.contains("{id}") {
            return Err(ConfigError::Invalid {
                key: "function_urls.url",
                message: format!(
                    "'{}' has no {{id}}: every function URL would be the same",
                    self.function_urls.url
                ),
            });
        }
        if self.account_id.len() != 12 || !self.account_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ConfigError::Invalid {
                key: "account_id",
                message: format!("'{}' is not a 12-digit account id", self.account_id),
            });
        }
        match (&self.access_key_id, &self.secret_access_key) {
            (Some(_), None) => {
                return Err(ConfigError::Invalid {
                    key: "secret_access_key",
                    message: "access_key_id is set but secret_access_key is not".into(),
                })
            }
            (None, Some(_)) => {
                return Err(ConfigError::Invalid {
                    key: "access_key_id",
                    message: "secret_access_key is set but access_key_id is not".into(),
                })
            }
            (Some(id), Some(secret)) => {
                if id.len() < 16 || id.len() > 128 || !id.bytes().all(|b| b.is_ascii_alphanumeric())
                {
                    return Err(ConfigError::Invalid {
                        key: "access_key_id",
                        message: "must be 16-128 letters and digits".into(),
                    });
                }
                if secret.0.len() < 16 {
                    return Err(ConfigError::Invalid {
                        key: "secret_access_key",
                        message: "must be at least 16 characters".into(),
                    });
                }
            }
            (None, None) => {}
        }
        for (key, value, range) in [
            (
                "max_connections",
                u64::from(self.max_connections),
                16..=1_000_000,
            ),
            ("idle_timeout_seconds", self.idle_timeout_seconds, 1..=3600),
            (
                "shutdown_timeout_seconds",
                self.shutdown_timeout_seconds,
                0..=3600,
            ),
            // Up to AWS's longest role session (12 h); short ones are for tests.
            (
                "credentials_ttl_seconds",
                self.credentials_ttl_seconds,
                2..=43_200,
            ),
            (
                "async.retry_delay_seconds",
                self.async_invoke.retry_delay_seconds,
                0..=3_600,
            ),
            (
                "async.max_in_flight",
                u64::from(self.async_invoke.max_in_flight),
                1..=100_000,
            ),
            (
                "async.max_pending_events",
                self.async_invoke.max_pending_events,
                1..=1_000_000_000,
            ),
        ] {
            if !range.contains(&value) {
                return Err(ConfigError::Invalid {
                    key,
                    message: format!("{value} is outside {}..={}", range.start(), range.end()),
                });
            }
        }
        if !(60..=604_800).contains(&self.code_url_ttl_seconds) {
            return Err(ConfigError::Invalid {
                key: "code_url_ttl_seconds",
                message: format!("{} is outside 60..=604800", self.code_url_ttl_seconds),
            });
        }
        for (key, path) in [
            ("runtimes.root", &self.runtimes.root),
            ("runtimes.python", &self.runtimes.python),
            ("runtimes.node", &self.runtimes.node),
        ] {
            if !path.is_absolute() {
                return Err(ConfigError::Invalid {
                    key,
                    message: format!("'{}' must be an absolute path", path.display()),
                });
            }
        }
        if let Some(sdk) = &self.runtimes.sdk_dir {
            if !sdk.is_absolute() {
                return Err(ConfigError::Invalid {
                    key: "runtimes.sdk_dir",
                    message: format!("'{}' must be an absolute path", sdk.display()),
                });
            }
        }
        self.network.egress_config()?;
        if self.network.egress == EgressMode::Nat && self.launcher == LauncherKind::Process {
            return Err(ConfigError::Invalid {
                key: "network.egress",
                message: "\"nat\" needs the sandbox launcher".into(),
            });
        }
        if !(1..=86_400).contains(&self.keep_alive_seconds) {
            return Err(ConfigError::Invalid {
                key: "keep_alive_seconds",
                message: format!("{} is outside 1..=86400", self.keep_alive_seconds),
            });
        }
        if !(1..=3650).contains(&self.log_retention_days) {
            return Err(ConfigError::Invalid {
                key: "log_retention_days",
                message: format!("{} is outside 1..=3650", self.log_retention_days),
            });
        }
        if !(1..=1_000_000).contains(&self.concurrent_executions) {
            return Err(ConfigError::Invalid {
                key: "concurrent_executions",
                message: format!("{} is outside 1..=1000000", self.concurrent_executions),
            });
        }
        if !(1..=100).contains(&self.ephemeral_storage_overcommit) {
            return Err(ConfigError::Invalid {
                key: "ephemeral_storage_overcommit",
                message: format!("{} is outside 1..=100", self.ephemeral_storage_overcommit),
            });
        }
        if self.environments_memory_mib != 0 && self.environments_memory_mib < 128 {
            return Err(ConfigError::Invalid {
                key: "environments_memory_mib",
                message: format!(
                    "{} MiB cannot hold one environment of 128 MB",
                    self.environments_memory_mib
                ),
            });
        }
        if self.environments_pids != 0 && self.environments_pids < 64 {
            return Err(ConfigError::Invalid {
                key: "environments_pids",
                message: format!("{} is fewer than 64", self.environments_pids),
            });
        }
        if self.unreserved_concurrency_minimum > self.concurrent_executions {
            return Err(ConfigError::Invalid {
                key: "unreserved_concurrency_minimum",
                message: format!(
                    "{} is more than concurrent_executions ({})",
                    self.unreserved_concurrency_minimum, self.concurrent_executions
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn debug_never_shows_the_secret() {
        let c = Config {
            access_key_id: Some("AKIDEXAMPLE000000".into()),
            secret_access_key: Some(Secret("very-secret-value-123".into())),
            ..Config::default()
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("very-secret-value-123"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let c = Config::from_toml("").expect("empty is fine");
        assert_eq!(c, Config::default());
        assert_eq!(c.listen.to_string(), "127.0.0.1:9000");
        let c = Config::from_toml("listen = \"127.0.0.1:0\"\naccount_id = \"123456789012\"")
            .expect("ok");
        assert_eq!(c.account_id, "123456789012");
        c.validate().expect("valid");
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let priced = Config::from_toml("[prices]\narm64_gb_second = 0.00001\ncurrency = \"EUR\"")
            .expect("prices");
        assert_eq!(priced.prices.arm64_gb_second, Float(0.00001));
        assert_eq!(priced.prices.currency, "EUR");
        assert_eq!(priced.prices.x86_64_gb_second, Float(0.000_016_666_7));
        let negative = Config::from_toml("[prices]\nx86_64_gb_second = -1.0").expect("parses");
        assert!(matches!(
            negative.validate(),
            Err(ConfigError::Invalid {
                key: "prices.x86_64_gb_second",
                ..
            })
        ));
        let e = Config::from_toml("listn = \"127.0.0.1:1\"").expect_err("unknown key");
        assert!(e.contains("listn"), "{e}");
        let c = Config::from_toml("account_id = \"12\"").expect("parses");
        let e = c.validate().expect_err("short id").to_string();
        assert!(e.contains("account_id"), "{e}");
        let c = Config::from_toml("code_url_ttl_seconds = 1").expect("parses");
        assert!(c
            .validate()
            .expect_err("ttl")
            .to_string()
            .contains("code_url_ttl_seconds"));
        let c = Config::from_toml("[runtimes]\npython = \"python3\"").expect("parses");
        assert!(c
            .validate()
            .expect_err("relative")
            .to_string()
            .contains("runtimes.python"));
        let e = Config::from_toml("[runtimes]\nruby = \"/usr/bin/ruby\"").expect_err("unknown");
        assert!(e.contains("ruby"), "{e}");
        let c = Config::from_toml("access_key_id = \"AKIAAAAAAAAAAAAAAAAA\"").expect("parses");
        assert!(c
            .validate()
            .expect_err("half a key")
            .to_string()
            .contains("secret_access_key"));
    }
}
