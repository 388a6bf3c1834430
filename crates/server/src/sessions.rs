//! Temporary credentials of execution roles: one set per execution environment, issued at its
//! cold start, accepted by the SigV4 verifier with their session token until they expire or
//! their environment ends, and never written anywhere (they live in this table and in the
//! environment's variables only; a restart ends every environment, and so every set).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use nimbus_engine::services::{
    ConnectionFuture, CredentialsError, EnvironmentServices, SessionCredentials,
};
use nimbus_engine::FunctionSpec;
use rand::Rng;

/// Who signed a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Principal {
    /// The root keys of the account.
    Root,
    /// An execution environment of `function`, acting as `role_arn`.
    Role {
        /// The function's execution role.
        role_arn: String,
        /// The function.
        function: String,
    },
}

impl Principal {
    /// AWS compat: the ARN GetCallerIdentity names.
    pub(crate) fn arn(&self, account: &str) -> String {
        match self {
            Self::Root => format!("arn:aws:iam::{account}:root"),
            Self::Role { role_arn, function } => {
                format!(
                    "arn:aws:sts::{account}:assumed-role/{}/{function}",
                    role_name(role_arn)
                )
            }
        }
    }
}

/// The name of a role from its ARN (`arn:aws:iam::<acct>:role/<path/>name`).
fn role_name(role_arn: &str) -> &str {
    role_arn.rsplit('/').next().unwrap_or(role_arn)
}

struct Session {
    secret: String,
    token: String,
    principal: Principal,
    expires_at: SystemTime,
}

/// What a key id that is not a root key turned out to be.
pub(crate) enum Lookup {
    /// A live session: its secret, token and principal.
    Valid {
        secret: String,
        token: String,
        principal: Principal,
    },
    /// A session that has expired.
    Expired,
    /// No such session, or one whose environment ended.
    Unknown,
}

/// The table of live sessions.
pub(crate) struct Sessions {
    ttl: Duration,
    table: Mutex<HashMap<String, Session>>,
}

/// How long an expired session is remembered, to answer "expired" rather than "invalid".
const REMEMBER_EXPIRED: Duration = Duration::from_secs(3600);

impl Sessions {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            table: Mutex::new(HashMap::new()),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new set for `principal`, valid for the configured time from `now`.
    pub(crate) fn issue(&self, principal: Principal, now: SystemTime) -> SessionCredentials {
        const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut rng = rand::thread_rng();
        let mut pick = |set: &[u8], n: usize| -> String {
            (0..n)
                .map(|_| char::from(set[rng.gen_range(0..set.len())]))
                .collect()
        };
        // AWS compat: temporary key ids start with ASIA.
        let creds = SessionCredentials {
            access_key_id: format!("ASIA{}", pick(UPPER, 16)),
            secret_access_key: pick(ALNUM, 40),
            session_token: pick(ALNUM, 256),
            expires_at: now + self.ttl,
        };
        let mut table = self.table();
        // Forget what expired long ago, so the table holds live environments and little else.
        table.retain(|_, s| s.expires_at + REMEMBER_EXPIRED > now);
        table.insert(
            creds.access_key_id.clone(),
            Session {
                secret: creds.secret_access_key.clone(),
                token: creds.session_token.clone(),
                principal,
                expires_at: creds.expires_at,
            },
        );
        creds
    }

    /// What `access_key_id` is at `now`.
    pub(crate) fn lookup(&self, access_key_id: &str, now: SystemTime) -> Lookup {
        match self.table().get(access_key_id) {
            None => Lookup::Unknown,
            Some(s) if s.expires_at <= now => Lookup::Expired,
            Some(s) => Lookup::Valid {
                secret: s.secret.clone(),
                token: s.token.clone(),
                principal: s.principal.clone(),
            },
        }
    }

    /// The environment holding `access_key_id` ended: from now on the key is unknown
    /// ("invalid", whether it had expired or not).
    pub(crate) fn revoke(&self, access_key_id: &str) {
        self.table().remove(access_key_id);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.table().len()
    }
}

/// The server's side of execution environments: credentials from [`Sessions`], and the API
/// served on each environment's own listener by the same router (and so the same SigV4
/// verification) as the public one.
pub(crate) struct EnvServices {
    pub(crate) sessions: Arc<Sessions>,
    pub(crate) router: axum::Router,
    pub(crate) idle_timeout: Duration,
}

impl EnvironmentServices for EnvServices {
    fn issue(&self, function: &FunctionSpec) -> Result<SessionCredentials, CredentialsError> {
        if function.role.is_empty() {
            return Err(CredentialsError {
                function: function.name.clone(),
                reason: "it has no execution role".into(),
            });
        }
        Ok(self.sessions.issue(
            Principal::Role {
                role_arn: function.role.clone(),
                function: function.name.clone(),
            },
            SystemTime::now(),
        ))
    }

    fn revoke(&self, access_key_id: &str) {
        self.sessions.revoke(access_key_id);
    }

    fn serve(&self, stream: tokio::net::TcpStream) -> ConnectionFuture {
        Box::pin(crate::listener::serve_connection(
            stream,
            self.router.clone(),
            self.idle_timeout,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role() -> Principal {
        Principal::Role {
            role_arn: "arn:aws:iam::000000000000:role/service/app-role".into(),
            function: "f".into(),
        }
    }

    #[test]
    fn issued_sessions_live_until_expiry_or_revocation() {
        let s = Sessions::new(Duration::from_secs(60));
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let a = s.issue(role(), t0);
        assert!(a.access_key_id.starts_with("ASIA") && a.access_key_id.len() == 20);
        assert_eq!(a.expires_at, t0 + Duration::from_secs(60));
        match s.lookup(&a.access_key_id, t0 + Duration::from_secs(59)) {
            Lookup::Valid {
                secret,
                token,
                principal,
            } => {
                assert_eq!(secret, a.secret_access_key);
                assert_eq!(token, a.session_token);
                assert_eq!(principal, role());
            }
            _ => panic!("valid before expiry"),
        }
        assert!(matches!(
            s.lookup(&a.access_key_id, t0 + Duration::from_secs(60)),
            Lookup::Expired
        ));
        assert!(matches!(s.lookup("ASIANOSUCHKEY", t0), Lookup::Unknown));
        let b = s.issue(role(), t0);
        assert_ne!(a.access_key_id, b.access_key_id);
        assert_ne!(a.session_token, b.session_token);
        s.revoke(&b.access_key_id);
        assert!(matches!(s.lookup(&b.access_key_id, t0), Lookup::Unknown));
        // Long-expired sessions are forgotten at the next issue.
        let later = t0 + Duration::from_secs(60) + REMEMBER_EXPIRED;
        let _c = s.issue(role(), later);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn principals_are_named_as_aws_names_them() {
        assert_eq!(
            role().arn("123456789012"),
            "arn:aws:sts::123456789012:assumed-role/app-role/f"
        );
        assert_eq!(
            Principal::Root.arn("123456789012"),
            "arn:aws:iam::123456789012:root"
        );
    }
}
