//! What an environment gets from the server besides its Runtime API: temporary credentials of
//! its function's execution role, and a door to Nimbus's own APIs that only it can reach.
//!
//! The engine asks for credentials at each cold start, puts them in the runtime's
//! `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`, hands an environment no
//! invocation that could outlast them, and revokes them when the environment ends. Connections
//! to the environment's API listener (`AWS_ENDPOINT_URL`) are served by the server, which
//! verifies their signatures like any other request; the engine only bounds how many one
//! environment may hold.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::resolve::FunctionSpec;

/// Temporary credentials of one environment.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionCredentials {
    /// `ASIA…`.
    pub access_key_id: String,
    /// The secret, never logged.
    pub secret_access_key: String,
    /// The session token, never logged.
    pub session_token: String,
    /// When they stop being accepted.
    pub expires_at: SystemTime,
}

impl fmt::Debug for SessionCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Why no credentials could be issued.
#[derive(Debug, thiserror::Error)]
#[error("could not issue credentials for function {function}: {reason}")]
pub struct CredentialsError {
    /// The function.
    pub function: String,
    /// Why.
    pub reason: String,
}

/// One connection's service, run to its end (aborting it ends the connection).
pub type ConnectionFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The server's side of an environment. Implemented by the server; the engine runs without it
/// (no credentials, no API endpoint) when none is set.
pub trait EnvironmentServices: Send + Sync {
    /// Fresh credentials for a new environment of `function`.
    fn issue(&self, function: &FunctionSpec) -> Result<SessionCredentials, CredentialsError>;
    /// The environment that held `access_key_id` ended: its credentials stop working.
    fn revoke(&self, access_key_id: &str);
    /// Serves Nimbus's API on one connection from inside an environment.
    fn serve(&self, stream: tokio::net::TcpStream) -> ConnectionFuture;
}

/// Most API connections one environment may hold open at once; more wait in the backlog.
const MAX_CONNECTIONS: usize = 32;

/// Accepts an environment's API connections and hands each to `services`, at most
/// [`MAX_CONNECTIONS`] at a time. Runs until aborted; aborting ends every connection.
pub(crate) async fn serve_api(
    listener: tokio::net::TcpListener,
    services: Arc<dyn EnvironmentServices>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    loop {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::debug!(error = %e, "API accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        let _ = stream.set_nodelay(true);
        let conn = services.serve(stream);
        connections.spawn(async move {
            conn.await;
            drop(slot);
        });
    }
}

/// Credentials an environment holds, revoked when it ends.
pub(crate) struct HeldCredentials {
    pub(crate) access_key_id: String,
    pub(crate) expires_at: SystemTime,
    pub(crate) services: Arc<dyn EnvironmentServices>,
}

impl Drop for HeldCredentials {
    fn drop(&mut self) {
        self.services.revoke(&self.access_key_id);
    }
}

/// The variables that carry `c` into an environment (AWS compat: the names Lambda sets).
pub(crate) fn credential_variables(c: &SessionCredentials) -> [(String, String); 3] {
    [
        ("AWS_ACCESS_KEY_ID".into(), c.access_key_id.clone()),
        ("AWS_SECRET_ACCESS_KEY".into(), c.secret_access_key.clone()),
        ("AWS_SESSION_TOKEN".into(), c.session_token.clone()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_secrets() {
        let c = SessionCredentials {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: "s3cr3t-value".into(),
            session_token: "t0ken-value".into(),
            expires_at: SystemTime::UNIX_EPOCH,
        };
        let shown = format!("{c:?}");
        assert!(shown.contains("ASIAEXAMPLE"));
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("t0ken"),
            "{shown}"
        );
    }
}
