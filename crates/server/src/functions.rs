//! The engine's view of the store: [`StoreSource`] loads function configurations for the
//! engine's cache, and [`NotifyingStore`] tells the engine about every write, after it commits,
//! so that no cached configuration outlives its change. A store shared by several nodes would
//! call the same [`nimbus_engine::Engine::function_changed`] on the change notices of others.

use std::sync::Arc;
use std::time::Duration;

use nimbus_engine::resolve::{ResolveError, Routing, RoutingFuture, SourceFuture};
use nimbus_engine::{Egress, Engine, FunctionSource, FunctionSpec, LogControls};
use nimbus_model::{function_arn, Alias, Function, LambdaError};
use nimbus_store::code::CodeStore;
use nimbus_store::{LogRecord, Store, StoreFuture, Usage};

/// Loads configurations from the store.
pub(crate) struct StoreSource {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) code: CodeStore,
    pub(crate) account: String,
    /// The server's egress (`network.egress`), which a function's tag may only narrow.
    pub(crate) egress: Egress,
}

/// The tag by which a function opts out of the server's egress: `nimbus:egress = none`.
pub(crate) const EGRESS_TAG: &str = "nimbus:egress";

/// The engine's spec of `f` (a function's `$LATEST`, or a published version of it, whose
/// function, for what belongs to the function rather than its versions, is `function`), in
/// `region`, on a server whose egress is `egress`.
pub(crate) fn function_spec(
    code: &CodeStore,
    region: &str,
    f: &Function,
    function: &Function,
    egress: Egress,
) -> FunctionSpec {
    let s = &f.settings;
    FunctionSpec {
        name: f.name.clone(),
        version: f
            .version
            .map_or_else(|| "$LATEST".to_string(), |n| n.to_string()),
        region: region.to_string(),
        runtime: s.runtime.clone().unwrap_or_default(),
        handler: s.handler.clone().unwrap_or_default(),
        code_dir: code.package_dir(&f.code.sha256_hex),
        memory_mb: s.memory_size,
        timeout: Duration::from_secs(u64::from(s.timeout)),
        ephemeral_mb: s.ephemeral_storage,
        environment: s.environment.clone().unwrap_or_default(),
        log_group: s
            .logging
            .log_group
            .clone()
            .unwrap_or_else(|| format!("/aws/lambda/{}", f.name)),
        reserved_concurrency: function.reserved_concurrency,
        role: s.role.clone(),
        egress: match function.tags.get(EGRESS_TAG).map(String::as_str) {
            Some("none") => Egress::None,
            _ => egress,
        },
        architecture: s.architecture.clone(),
        logging: log_controls(&s.logging),
        tracing_active: s.tracing_mode == "Active",
    }
}

/// The controls of a stored `LoggingConfig`: levels apply to the JSON format only, INFO
/// unless set.
fn log_controls(l: &nimbus_model::function::LoggingConfig) -> LogControls {
    let json = l.log_format.as_deref() == Some("JSON");
    let level = |l: &Option<String>| json.then(|| l.clone().unwrap_or_else(|| "INFO".into()));
    LogControls {
        json,
        application_level: level(&l.application_log_level),
        system_level: level(&l.system_log_level),
    }
}

impl FunctionSource for StoreSource {
    fn load<'a>(
        &'a self,
        function: &'a str,
        qualifier: Option<&'a str>,
        region: &'a str,
    ) -> SourceFuture<'a> {
        Box::pin(async move {
            let arn = function_arn(region, &self.account, function);
            let not_found = || {
                let shown = match qualifier {
                    Some(q) => format!("{arn}:{q}"),
                    None => arn.clone(),
                };
                ResolveError::Lambda(LambdaError::not_found(format!(
                    "Function not found: {shown}"
                )))
            };
            let failed = |e: nimbus_store::StoreError| ResolveError::Source {
                function: function.to_string(),
                source: Box::new(e),
            };
            let latest = self
                .store
                .get_function(function)
                .await
                .map_err(failed)?
                .ok_or_else(not_found)?;
            let f = match crate::api::Qualifier::of(qualifier) {
                crate::api::Qualifier::Latest => latest.clone(),
                crate::api::Qualifier::Version(n) => self
                    .store
                    .get_version(function, n)
                    .await
                    .map_err(failed)?
                    .ok_or_else(not_found)?,
                // The engine resolves an alias to a version first (its routing).
                crate::api::Qualifier::Alias(_) => return Err(not_found()),
            };
            Ok((
                function_spec(&self.code, region, &f, &latest, self.egress),
                f.state,
                arn,
            ))
        })
    }

    fn load_alias<'a>(
        &'a self,
        function: &'a str,
        alias: &'a str,
        region: &'a str,
    ) -> RoutingFuture<'a> {
        Box::pin(self.routing(function, alias, region))
    }
}

impl StoreSource {
    async fn routing(
        &self,
        function: &str,
        alias: &str,
        region: &str,
    ) -> Result<Routing, ResolveError> {
        let failed = |e: nimbus_store::StoreError| ResolveError::Source {
            function: function.to_string(),
            source: Box::new(e),
        };
        let a = self
            .store
            .get_alias(function, alias)
            .await
            .map_err(failed)?
            .ok_or_else(|| {
                ResolveError::Lambda(LambdaError::not_found(format!(
                    "Function not found: {}:{alias}",
                    function_arn(region, &self.account, function)
                )))
            })?;
        Ok(Routing {
            primary: a.function_version.clone(),
            additional: a.additional_versions.into_iter().next(),
        })
    }
}

/// A store that tells the engine about each write of a function once it is committed.
pub(crate) struct NotifyingStore {
    pub(crate) inner: Arc<dyn Store>,
    pub(crate) engine: Arc<Engine>,
    /// Function URLs' view of configurations and policies.
    pub(crate) urls: Arc<crate::urls::UrlCache>,
}

impl Store for NotifyingStore {
    fn create_function<'a>(&'a self, f: &'a Function) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let r = self.inner.create_function(f).await;
            self.engine.function_changed(&f.name);
            r
        })
    }

    fn get_function<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<Function>> {
        self.inner.get_function(name)
    }

    fn list_functions<'a>(
        &'a self,
        after: Option<&'a str>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<Function>> {
        self.inner.list_functions(after, limit)
    }

    fn update_function<'a>(
        &'a self,
        f: &'a Function,
        expected_revision: &'a str,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let r = self.inner.update_function(f, expected_revision).await;
            // Even a failed write may have committed (an error after the commit): forget.
            self.engine.function_changed(&f.name);
            r
        })
    }

    fn delete_function<'a>(&'a self, name: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let r = self.inner.delete_function(name).await;
            self.engine.function_deleted(name);
            self.urls.clear();
            r
        })
    }

    fn publish_version<'a>(
        &'a self,
        snapshot: &'a Function,
        expected_revision: &'a str,
    ) -> StoreFuture<'a, u32> {
        Box::pin(async move {
            let r = self
                .inner
                .publish_version(snapshot, expected_revision)
                .await;
            self.engine.function_changed(&snapshot.name);
            r
        })
    }

    fn newest_version<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<Function>> {
        self.inner.newest_version(name)
    }

    fn get_version<'a>(&'a self, name: &'a str, number: u32) -> StoreFuture<'a, Option<Function>> {
        self.inner.get_version(name, number)
    }

    fn list_versions<'a>(
        &'a self,
        name: &'a str,
        after: u32,
        limit: usize,
    ) -> StoreFuture<'a, Vec<Function>> {
        self.inner.list_versions(name, after, limit)
    }

    fn delete_version<'a>(&'a self, name: &'a str, number: u32) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let r = self.inner.delete_version(name, number).await;
            self.engine.function_changed(name);
            r
        })
    }

    fn create_alias<'a>(&'a self, alias: &'a Alias) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let r = self.inner.create_alias(alias).await;
            self.engine.function_changed(&alias.function);
            r
        })
    }

    fn get_alias<'a>(&'a self, function: &'a str, name: &'a str) -> StoreFuture<'a, Option<Alias>> {
        self.inner.get_alias(function, name)
    }

    fn list_aliases<'a>(
        &'a self,
        function: &'a str,
        after: Option<&'a str>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<Alias>> {
        self.inner.list_aliases(function, after, limit)
    }

    fn update_alias<'a>(
        &'a self,
        alias: &'a Alias,
        expected_revision: &'a str,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let r = self.inner.update_alias(alias, expected_revision).await;
            self.engine.function_changed(&alias.function);
            r
        })
    }

    fn delete_alias<'a>(&'a self, function: &'a str, name: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let r = self.inner.delete_alias(function, name).await;
            self.engine.function_changed(function);
            self.urls.clear();
            r
        })
    }

    fn get_policy<'a>(
        &'a self,
        function: &'a str,
        qualifier: &'a str,
    ) -> StoreFuture<'a, Option<nimbus_model::policy::Policy>> {
        self.inner.get_policy(function, qualifier)
    }

    fn put_policy<'a>(
        &'a self,
        function: &'a str,
        qualifier: &'a str,
        policy: &'a nimbus_model::policy::Policy,
        expected: Option<&'a str>,
    ) -> StoreFuture<'a, ()> {
        // Policies are not part of what the engine runs; they decide who reaches a URL.
        Box::pin(async move {
            let r = self
                .inner
                .put_policy(function, qualifier, policy, expected)
                .await;
            self.urls.clear();
            r
        })
    }

    fn code_in_use(&self) -> StoreFuture<'_, Vec<String>> {
        self.inner.code_in_use()
    }

    fn usage(&self) -> StoreFuture<'_, Usage> {
        self.inner.usage()
    }

    fn append_logs<'a>(&'a self, events: &'a [LogRecord]) -> StoreFuture<'a, ()> {
        self.inner.append_logs(events)
    }

    fn read_logs<'a>(
        &'a self,
        group: &'a str,
        since_ms: i64,
        after_id: i64,
        limit: usize,
    ) -> StoreFuture<'a, Vec<LogRecord>> {
        self.inner.read_logs(group, since_ms, after_id, limit)
    }

    fn expire_logs(&self, before_ms: i64) -> StoreFuture<'_, u64> {
        self.inner.expire_logs(before_ms)
    }

    fn integrity_check(&self) -> StoreFuture<'_, Vec<String>> {
        self.inner.integrity_check()
    }
}
