//! Function URL configurations: one per function and qualifier, each also found by the id in
//! its host name, which is unique across the store.

use nimbus_model::url::FunctionUrlConfig;

use crate::StoreFuture;

/// Durable function URL configurations. Every method is atomic.
pub trait UrlStore: Send + Sync {
    /// Stores a new URL: `AlreadyExists` if its function and qualifier have one (or, never in
    /// practice, its id is taken); `NotFound` if the function is gone.
    fn create_url<'a>(&'a self, url: &'a FunctionUrlConfig) -> StoreFuture<'a, ()>;
    /// The URL of `function` and `qualifier` (`""`: unqualified).
    fn get_url<'a>(
        &'a self,
        function: &'a str,
        qualifier: &'a str,
    ) -> StoreFuture<'a, Option<FunctionUrlConfig>>;
    /// The URL whose id is `url_id`.
    fn get_url_by_id<'a>(&'a self, url_id: &'a str) -> StoreFuture<'a, Option<FunctionUrlConfig>>;
    /// Replaces the stored URL of the same function and qualifier; `NotFound` if there is none.
    /// Its id and creation time are kept as stored.
    fn update_url<'a>(&'a self, url: &'a FunctionUrlConfig) -> StoreFuture<'a, ()>;
    /// Deletes the URL of `function` and `qualifier`; whether there was one.
    fn delete_url<'a>(&'a self, function: &'a str, qualifier: &'a str) -> StoreFuture<'a, bool>;
    /// Up to `limit` URLs of `function`, in qualifier order, after qualifier `after`.
    fn list_urls<'a>(
        &'a self,
        function: &'a str,
        after: Option<&'a str>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<FunctionUrlConfig>>;
}
