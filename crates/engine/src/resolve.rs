//! The resolve stage: function name and qualifier to an immutable configuration, from an
//! in-memory cache that every write invalidates. Warm invocations read no store.
//!
//! The engine never touches storage: a [`FunctionSource`] (the server's, over its store) loads
//! what the cache misses. Whoever writes a function calls [`ConfigCache::invalidate`] after
//! the write; a store shared by several nodes would call it on their change notices.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use nimbus_model::{LambdaError, State};
use sha2::{Digest, Sha256};

/// A function version as the engine runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSpec {
    /// Function name.
    pub name: String,
    /// `$LATEST` or a version number.
    pub version: String,
    /// Region, for `AWS_REGION` and ARNs.
    pub region: String,
    /// Runtime id.
    pub runtime: String,
    /// Handler.
    pub handler: String,
    /// The unpacked, read-only code.
    pub code_dir: PathBuf,
    /// MB.
    pub memory_mb: u32,
    /// Invocation time limit.
    pub timeout: Duration,
    /// MB of `/tmp`.
    pub ephemeral_mb: u32,
    /// The function's own variables.
    pub environment: BTreeMap<String, String>,
    /// Log group.
    pub log_group: String,
    /// Reserved concurrency, if the function has any.
    pub reserved_concurrency: Option<u32>,
    /// The execution role's ARN: its environments act with this role's credentials.
    pub role: String,
    /// Whether its environments may reach the world.
    pub egress: Egress,
    /// `x86_64` or `arm64` (environments run the host's; the cost ledger prices by this).
    pub architecture: String,
    /// Lambda's advanced logging controls.
    pub logging: LogControls,
    /// `TracingConfig: Active`: its invocations' spans are recorded.
    pub tracing_active: bool,
}

/// Lambda's advanced logging controls (`LoggingConfig`), as environments apply them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct LogControls {
    /// `LogFormat: JSON`: platform lines as JSON records, runtimes' logs as JSON.
    pub json: bool,
    /// `ApplicationLogLevel` (JSON only): the runtimes' logs below it are dropped.
    pub application_level: Option<String>,
    /// `SystemLogLevel` (JSON only): the platform's records below it are dropped.
    pub system_level: Option<String>,
}

/// What an environment's network reaches beyond its own loopback (and Nimbus's API).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Egress {
    /// Nothing.
    #[default]
    None,
    /// The world, through the server's egress network and firewall.
    Nat,
}

/// Which environments may serve a configuration: those made for exactly the same one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Generation(Arc<str>);

impl Generation {
    /// A digest of everything an environment is made from.
    pub fn of(spec: &FunctionSpec) -> Self {
        let mut h = Sha256::new();
        let mut field = |b: &[u8]| {
            h.update((b.len() as u64).to_le_bytes());
            h.update(b);
        };
        field(spec.name.as_bytes());
        field(spec.version.as_bytes());
        field(spec.region.as_bytes());
        field(spec.runtime.as_bytes());
        field(spec.handler.as_bytes());
        field(spec.code_dir.as_os_str().as_encoded_bytes());
        field(&spec.memory_mb.to_le_bytes());
        field(&spec.timeout.as_millis().to_le_bytes());
        field(&spec.ephemeral_mb.to_le_bytes());
        field(spec.log_group.as_bytes());
        field(spec.role.as_bytes());
        field(&[u8::from(spec.egress == Egress::Nat)]);
        field(&[u8::from(spec.logging.json)]);
        field(
            spec.logging
                .application_level
                .as_deref()
                .unwrap_or("")
                .as_bytes(),
        );
        field(
            spec.logging
                .system_level
                .as_deref()
                .unwrap_or("")
                .as_bytes(),
        );
        for (k, v) in &spec.environment {
            field(k.as_bytes());
            field(v.as_bytes());
        }
        Self(hex::encode(&h.finalize()[..12]).into())
    }
}

/// What the resolve stage hands on.
#[derive(Debug)]
pub struct ResolvedFunction {
    /// How to run it.
    pub spec: FunctionSpec,
    /// Its state: only `Active` functions run.
    pub state: State,
    /// The function's ARN, unqualified.
    pub arn: String,
    /// Which environments may serve it.
    pub generation: Generation,
}

/// Why a function could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The caller's error, in Lambda's words (no such function, bad qualifier).
    #[error(transparent)]
    Lambda(LambdaError),
    /// The source failed.
    #[error("load function {function}")]
    Source {
        /// The function.
        function: String,
        /// What failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A future of the source.
pub type SourceFuture<'a> =
    Pin<Box<dyn Future<Output = Result<(FunctionSpec, State, String), ResolveError>> + Send + 'a>>;

/// A future of the source's alias lookup.
pub type RoutingFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Routing, ResolveError>> + Send + 'a>>;

/// Where an alias sends invocations: to `primary`, or, with the probability its weight gives,
/// to the additional version.
#[derive(Debug, Clone, PartialEq)]
pub struct Routing {
    /// `$LATEST` or a version number.
    pub primary: String,
    /// A second version and the share of invocations (0.0..=1.0) it gets.
    pub additional: Option<(String, f64)>,
}

impl Routing {
    /// The version for an invocation whose uniform draw in `0.0..1.0` is `draw`.
    pub fn pick(&self, draw: f64) -> &str {
        match &self.additional {
            Some((version, weight)) if draw < *weight => version,
            _ => &self.primary,
        }
    }
}

/// Whether a qualifier names an alias (as Lambda tells them apart: not `$LATEST`, not a
/// number).
pub fn is_alias(qualifier: &str) -> bool {
    qualifier != "$LATEST" && !qualifier.bytes().all(|b| b.is_ascii_digit())
}

/// Loads function configurations (the server's store). Returns the spec, the state and the
/// unqualified ARN.
pub trait FunctionSource: Send + Sync {
    /// Loads `function` at `qualifier` (none: `$LATEST`; else a version number) for `region`.
    fn load<'a>(
        &'a self,
        function: &'a str,
        qualifier: Option<&'a str>,
        region: &'a str,
    ) -> SourceFuture<'a>;

    /// Where alias `alias` of `function` routes. Sources without aliases have none.
    fn load_alias<'a>(
        &'a self,
        function: &'a str,
        alias: &'a str,
        _region: &'a str,
    ) -> RoutingFuture<'a> {
        Box::pin(async move {
            Err(ResolveError::Lambda(LambdaError::not_found(format!(
                "Function not found: {function}:{alias}"
            ))))
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    function: String,
    qualifier: Option<String>,
    region: String,
}

/// At most this many configurations are cached; beyond, the cache starts over.
const MAX_ENTRIES: usize = 10_000;

/// Resolved configurations, by function, qualifier and region.
#[derive(Default)]
pub struct ConfigCache {
    entries: Mutex<HashMap<CacheKey, Arc<ResolvedFunction>>>,
    /// The generation each key last resolved to, kept across invalidations: a load that finds
    /// another one says which generation it replaced.
    last: Mutex<HashMap<CacheKey, Generation>>,
    /// Aliases' routing, by function, alias and region.
    routes: Mutex<HashMap<CacheKey, Arc<Routing>>>,
    /// Invalidations so far: a load that began before one is not cached.
    changes: AtomicU64,
}

impl ConfigCache {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<CacheKey, Arc<ResolvedFunction>>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached configuration, or one loaded from `source` (and cached). The second value
    /// is the generation this key resolved to before, when a load found it changed: its idle
    /// environments will never serve again.
    pub async fn resolve(
        &self,
        source: &dyn FunctionSource,
        function: &str,
        qualifier: Option<&str>,
        region: &str,
    ) -> Result<(Arc<ResolvedFunction>, Option<Generation>), ResolveError> {
        let key = CacheKey {
            function: function.to_string(),
            qualifier: qualifier.map(str::to_string),
            region: region.to_string(),
        };
        if let Some(hit) = self.entries().get(&key) {
            return Ok((Arc::clone(hit), None));
        }
        let before = self.changes.load(Ordering::SeqCst);
        let (spec, state, arn) = source.load(function, qualifier, region).await?;
        let generation = Generation::of(&spec);
        let resolved = Arc::new(ResolvedFunction {
            spec,
            state,
            arn,
            generation,
        });
        let replaced = {
            let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
            if last.len() >= MAX_ENTRIES {
                last.clear();
            }
            last.insert(key.clone(), resolved.generation.clone())
                .filter(|old| *old != resolved.generation)
        };
        let mut entries = self.entries();
        // A write since the load began may have changed what was loaded: use it this once,
        // cache it not.
        if self.changes.load(Ordering::SeqCst) == before {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(key, Arc::clone(&resolved));
        }
        drop(entries);
        Ok((resolved, replaced))
    }

    /// The routing of alias `alias`, cached or loaded from `source` (and cached).
    pub async fn routing(
        &self,
        source: &dyn FunctionSource,
        function: &str,
        alias: &str,
        region: &str,
    ) -> Result<Arc<Routing>, ResolveError> {
        let key = CacheKey {
            function: function.to_string(),
            qualifier: Some(alias.to_string()),
            region: region.to_string(),
        };
        if let Some(hit) = self.routes().get(&key) {
            return Ok(Arc::clone(hit));
        }
        let before = self.changes.load(Ordering::SeqCst);
        let routing = Arc::new(source.load_alias(function, alias, region).await?);
        // Both locks, in the order `invalidate` takes them: a write since the load began
        // leaves this result uncached.
        let _entries = self.entries();
        let mut routes = self.routes();
        if self.changes.load(Ordering::SeqCst) == before {
            if routes.len() >= MAX_ENTRIES {
                routes.clear();
            }
            routes.insert(key, Arc::clone(&routing));
        }
        Ok(routing)
    }

    fn routes(&self) -> std::sync::MutexGuard<'_, HashMap<CacheKey, Arc<Routing>>> {
        self.routes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets every configuration and alias of `function`. Call after each write of it.
    pub fn invalidate(&self, function: &str) {
        let mut entries = self.entries();
        let mut routes = self.routes();
        self.changes.fetch_add(1, Ordering::SeqCst);
        entries.retain(|k, _| k.function != function);
        routes.retain(|k, _| k.function != function);
    }

    /// How many configurations are cached.
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    pub(crate) fn spec(name: &str) -> FunctionSpec {
        FunctionSpec {
            name: name.into(),
            version: "$LATEST".into(),
            region: "us-east-1".into(),
            runtime: "python3.12".into(),
            handler: "app.handler".into(),
            code_dir: PathBuf::from("/code"),
            memory_mb: 128,
            timeout: Duration::from_secs(3),
            ephemeral_mb: 512,
            environment: BTreeMap::new(),
            log_group: format!("/aws/lambda/{name}"),
            reserved_concurrency: None,
            role: "arn:aws:iam::000000000000:role/test".into(),
            egress: Default::default(),
            architecture: "x86_64".into(),
            logging: LogControls::default(),
            tracing_active: false,
        }
    }

    struct CountingSource {
        loads: AtomicUsize,
        memory: AtomicU64,
        /// Runs during the next load, as a write racing it would.
        during_load: Mutex<Option<Box<dyn FnOnce() + Send>>>,
    }

    impl FunctionSource for CountingSource {
        fn load<'a>(
            &'a self,
            function: &'a str,
            _qualifier: Option<&'a str>,
            _region: &'a str,
        ) -> SourceFuture<'a> {
            Box::pin(async move {
                self.loads.fetch_add(1, Ordering::SeqCst);
                if let Some(f) = self.during_load.lock().expect("lock").take() {
                    f();
                }
                if function == "missing" {
                    return Err(ResolveError::Lambda(LambdaError::not_found(
                        "Function not found",
                    )));
                }
                let mut s = spec(function);
                s.memory_mb = u32::try_from(self.memory.load(Ordering::SeqCst)).unwrap_or(128);
                Ok((s, State::Active, format!("arn:{function}")))
            })
        }
    }

    fn source() -> Arc<CountingSource> {
        Arc::new(CountingSource {
            loads: AtomicUsize::new(0),
            memory: AtomicU64::new(128),
            during_load: Mutex::new(None),
        })
    }

    #[tokio::test]
    async fn hits_read_no_source_and_writes_invalidate() {
        let cache = ConfigCache::default();
        let src = source();
        let (a, first) = cache
            .resolve(&*src, "f", None, "us-east-1")
            .await
            .expect("resolve");
        assert_eq!(first, None, "nothing was replaced");
        let (b, _) = cache
            .resolve(&*src, "f", None, "us-east-1")
            .await
            .expect("resolve");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(src.loads.load(Ordering::SeqCst), 1);
        src.memory.store(256, Ordering::SeqCst);
        cache.invalidate("f");
        let (c, replaced) = cache
            .resolve(&*src, "f", None, "us-east-1")
            .await
            .expect("resolve");
        assert_eq!(c.spec.memory_mb, 256);
        assert_eq!(
            replaced.as_ref(),
            Some(&a.generation),
            "the load names what it replaced"
        );
        assert_ne!(
            a.generation, c.generation,
            "a change of configuration is a new generation"
        );
        assert_eq!(src.loads.load(Ordering::SeqCst), 2);
        // Other functions, qualifiers and regions are other entries: their first load
        // replaces nothing, so it evicts nothing of the others.
        let (_, q) = cache
            .resolve(&*src, "f", Some("1"), "us-east-1")
            .await
            .expect("resolve");
        let (_, r) = cache
            .resolve(&*src, "f", None, "eu-west-1")
            .await
            .expect("resolve");
        assert_eq!((q, r), (None, None));
        assert_eq!(cache.len(), 3);
        // Invalidated but unchanged: a reload replaces nothing.
        cache.invalidate("f");
        let (_, same) = cache
            .resolve(&*src, "f", None, "us-east-1")
            .await
            .expect("resolve");
        assert_eq!(same, None);
        cache.invalidate("f");
        assert!(cache.is_empty());
    }

    #[tokio::test]
    async fn errors_are_not_cached() {
        let cache = ConfigCache::default();
        let src = source();
        for _ in 0..3 {
            let e = cache
                .resolve(&*src, "missing", None, "r")
                .await
                .expect_err("missing");
            assert!(matches!(e, ResolveError::Lambda(_)));
        }
        assert_eq!(src.loads.load(Ordering::SeqCst), 3);
        assert!(cache.is_empty());
    }

    #[tokio::test]
    async fn a_load_racing_a_write_is_not_cached() {
        let cache = Arc::new(ConfigCache::default());
        let src = source();
        let c = Arc::clone(&cache);
        *src.during_load.lock().expect("lock") = Some(Box::new(move || c.invalidate("f")));
        cache.resolve(&*src, "f", None, "r").await.expect("resolve");
        assert!(
            cache.is_empty(),
            "what the load read may be older than the write"
        );
        cache.resolve(&*src, "f", None, "r").await.expect("resolve");
        assert_eq!(cache.len(), 1);
    }
}
