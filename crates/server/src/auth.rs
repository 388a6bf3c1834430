//! SigV4: every API request is verified by signing it again with the secret of the key id it
//! names, over the headers the client says it signed, and comparing in constant time.
//! Root credentials come from configuration, or are generated once into `<data-dir>/credentials`.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use axum::http::HeaderMap;
use nimbus_model::{ErrorCode, LambdaError};
use rand::Rng;
use subtle::ConstantTimeEq;

use crate::sessions::{Lookup, Principal, Sessions};
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

/// AWS compat: the clock skew SigV4 tolerates.
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// A root key pair.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Public half.
    pub access_key_id: String,
    /// Secret half; never logged.
    pub secret_access_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// What a verified request tells about its caller.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// The region of the credential scope.
    pub(crate) region: String,
    /// Who signed it.
    pub(crate) principal: Principal,
}

/// The keys a signature may be made with: the root keys, and the sessions of environments.
pub(crate) struct Keys<'a> {
    pub(crate) root: &'a [Credentials],
    pub(crate) sessions: &'a Sessions,
}

fn invalid_token() -> LambdaError {
    LambdaError::new(
        ErrorCode::UnrecognizedClient,
        "The security token included in the request is invalid.",
    )
}

/// Why credentials could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The file could not be read or written.
    #[error("credentials file {path}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Others than its owner may read or write the file.
    #[error("credentials file {path} is open to others (mode {mode:o}): chmod 600 it")]
    Permissions {
        /// The file.
        path: std::path::PathBuf,
        /// Its mode.
        mode: u32,
    },
    /// The file exists but has no usable `nimbus` profile.
    #[error("credentials file {0} has no [nimbus] profile with both keys")]
    Malformed(std::path::PathBuf),
}

/// Reads the `[nimbus]` profile of an AWS shared-credentials file.
pub fn read_credentials_file(path: &Path) -> Result<Option<Credentials>, CredentialsError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(CredentialsError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|source| CredentialsError::Io {
                path: path.to_path_buf(),
                source,
            })?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(CredentialsError::Permissions {
                path: path.to_path_buf(),
                mode: mode & 0o777,
            });
        }
    }
    let mut in_profile = false;
    let (mut id, mut secret) = (None, None);
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_profile = line == "[nimbus]";
        } else if in_profile {
            if let Some((k, v)) = line.split_once('=') {
                match k.trim() {
                    "aws_access_key_id" => id = Some(v.trim().to_string()),
                    "aws_secret_access_key" => secret = Some(v.trim().to_string()),
                    _ => {}
                }
            }
        }
    }
    match (id, secret) {
        (Some(access_key_id), Some(secret_access_key)) => Ok(Some(Credentials {
            access_key_id,
            secret_access_key,
        })),
        _ => Err(CredentialsError::Malformed(path.to_path_buf())),
    }
}

/// Returns the credentials in `path`, generating and writing (mode 0600) a new pair if there is
/// no file yet. The flag says whether they were just generated.
pub fn load_or_generate(path: &Path) -> Result<(Credentials, bool), CredentialsError> {
    if let Some(c) = read_credentials_file(path)? {
        return Ok((c, false));
    }
    const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut rng = rand::thread_rng();
    let mut pick = |set: &[u8], n: usize| -> String {
        (0..n)
            .map(|_| char::from(set[rng.gen_range(0..set.len())]))
            .collect()
    };
    let creds = Credentials {
        access_key_id: format!("NKIA{}", pick(UPPER, 16)),
        secret_access_key: pick(ALNUM, 40),
    };
    let io = |source| CredentialsError::Io {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    write!(
        f,
        "# Generated by nimbus on first start. Use with: --profile nimbus\n[nimbus]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        creds.access_key_id, creds.secret_access_key
    )
    .map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    Ok((creds, true))
}

struct AuthHeader<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    terminal: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn incomplete(msg: String) -> LambdaError {
    LambdaError::new(ErrorCode::IncompleteSignature, msg)
}

fn invalid_signature(msg: impl Into<String>) -> LambdaError {
    LambdaError::new(ErrorCode::InvalidSignature, msg)
}

fn parse_auth_header(value: &str) -> Result<AuthHeader<'_>, LambdaError> {
    let Some(rest) = value.strip_prefix("AWS4-HMAC-SHA256 ") else {
        let alg = value.split_whitespace().next().unwrap_or("");
        return Err(incomplete(format!("Unsupported AWS 'algorithm': '{alg}'")));
    };
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',').map(str::trim) {
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let mut missing = String::new();
    for (name, v) in [
        ("Credential", credential),
        ("Signature", signature),
        ("SignedHeaders", signed),
    ] {
        if v.is_none() {
            missing.push_str(&format!(
                "Authorization header requires '{name}' parameter. "
            ));
        }
    }
    let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature) else {
        return Err(incomplete(format!("{missing}Authorization={value}")));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, terminal] = scope[..] else {
        return Err(incomplete(format!(
            "Credential should have at least 5 slash-separated parts, not {}. Authorization={value}",
            scope.len()
        )));
    };
    Ok(AuthHeader {
        access_key_id,
        date,
        region,
        service,
        terminal,
        signed_headers: signed.split(';').collect(),
        signature,
    })
}

fn amz_time(t: OffsetDateTime) -> String {
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Headers that change what an operation does: a request that carries one must have signed
/// it (every AWS SDK signs them), or a captured request could be replayed with one added.
const BEHAVIOUR_HEADERS: &[(&str, &str)] = &[
    ("x-amz-invocation-type", "X-Amz-Invocation-Type"),
    ("x-amz-log-type", "X-Amz-Log-Type"),
    ("x-amz-client-context", "X-Amz-Client-Context"),
    // The operation of a JSON-protocol service (SQS).
    ("x-amz-target", "X-Amz-Target"),
];

/// What the headers alone establish: a known key, a current date, a sound scope, the right
/// headers signed. Decided before any of the body is read.
pub(crate) struct Precheck {
    access_key_id: String,
    secret: String,
    principal: Principal,
    service: &'static str,
    region: String,
    signed_at: SystemTime,
    signature: String,
    signed_headers: Vec<String>,
}

/// Verifies a request's SigV4 signature. `path_and_query` is the request target exactly as
/// received (still percent-encoded).
#[cfg(test)]
pub(crate) fn verify(
    keys: &Keys<'_>,
    method: &str,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<Caller, LambdaError> {
    let pre = precheck(keys, headers, now, "lambda")?;
    verify_signature(&pre, method, path_and_query, headers, body)
}

/// The secret of `access_key_id` and who it belongs to; for a session, once its token (which
/// the client must have signed) is checked.
fn secret_of(
    keys: &Keys<'_>,
    access_key_id: &str,
    signed_headers: &[&str],
    headers: &HeaderMap,
    now: SystemTime,
) -> Result<(String, Principal), LambdaError> {
    let token = headers.get("x-amz-security-token");
    if let Some(k) = keys.root.iter().find(|k| k.access_key_id == access_key_id) {
        // Root keys have no session: a token with them is not theirs.
        if token.is_some() {
            return Err(invalid_token());
        }
        return Ok((k.secret_access_key.clone(), Principal::Root));
    }
    match keys.sessions.lookup(access_key_id, now) {
        Lookup::Unknown => Err(invalid_token()),
        // AWS compat: the error of an expired session token.
        Lookup::Expired => Err(LambdaError::new(
            ErrorCode::ExpiredToken,
            "The security token included in the request is expired",
        )),
        Lookup::Valid {
            secret,
            token: expected,
            principal,
        } => {
            let given = token.map(|t| t.as_bytes()).unwrap_or_default();
            let matches =
                given.len() == expected.len() && bool::from(given.ct_eq(expected.as_bytes()));
            if !matches || !signed_headers.contains(&"x-amz-security-token") {
                return Err(invalid_token());
            }
            Ok((secret, principal))
        }
    }
}

/// The checks that need only the headers. `service` is the one the route belongs to
/// (`lambda`, `sts`): the credential scope must name it.
pub(crate) fn precheck(
    keys: &Keys<'_>,
    headers: &HeaderMap,
    now: SystemTime,
    service: &'static str,
) -> Result<Precheck, LambdaError> {
    let Some(auth) = headers.get("authorization") else {
        return Err(LambdaError::new(
            ErrorCode::MissingAuthenticationToken,
            "Missing Authentication Token",
        ));
    };
    let auth = auth
        .to_str()
        .map_err(|_| incomplete("Authorization header is not valid text.".into()))?;
    let parsed = parse_auth_header(auth)?;
    let (secret, principal) = secret_of(
        keys,
        parsed.access_key_id,
        &parsed.signed_headers,
        headers,
        now,
    )?;
    let Some(date) = headers.get("x-amz-date").and_then(|v| v.to_str().ok()) else {
        return Err(incomplete(format!(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization={auth}"
        )));
    };
    let signed_at = PrimitiveDateTime::parse(
        date,
        format_description!("[year][month][day]T[hour][minute][second]Z"),
    )
    .map_err(|_| {
        incomplete(format!(
            "Date must be in ISO-8601 'basic format'. Got '{date}'."
        ))
    })?
    .assume_utc();
    if parsed.service != service {
        return Err(invalid_signature(format!(
            "Credential should be scoped to correct service: '{service}'. "
        )));
    }
    if parsed.terminal != "aws4_request" {
        return Err(invalid_signature(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '"
                .to_string()
                + parsed.terminal
                + "'. ",
        ));
    }
    if !date.starts_with(parsed.date) || parsed.date.len() != 8 {
        return Err(invalid_signature(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from 'X-Amz-Date'.",
            parsed.date,
            &date[..date.len().min(8)]
        )));
    }
    let now_t = OffsetDateTime::from(now);
    let skew = time::Duration::try_from(MAX_SKEW).unwrap_or(time::Duration::minutes(15));
    if signed_at < now_t - skew {
        return Err(invalid_signature(format!(
            "Signature expired: {date} is now earlier than {} ({} - 15 min.)",
            amz_time(now_t - skew),
            amz_time(now_t)
        )));
    }
    if signed_at > now_t + skew {
        return Err(invalid_signature(format!(
            "Signature not yet current: {date} is still later than {} ({} + 15 min.)",
            amz_time(now_t + skew),
            amz_time(now_t)
        )));
    }
    if !parsed.signed_headers.contains(&"host") {
        return Err(invalid_signature(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        ));
    }
    for (name, shown) in BEHAVIOUR_HEADERS {
        if headers.contains_key(*name) && !parsed.signed_headers.contains(name) {
            return Err(invalid_signature(format!(
                "'{shown}' must be a 'SignedHeader' in the AWS Authorization."
            )));
        }
    }
    Ok(Precheck {
        access_key_id: parsed.access_key_id.to_string(),
        secret,
        principal,
        service,
        region: parsed.region.to_string(),
        signed_at: SystemTime::from(signed_at),
        signature: parsed.signature.to_string(),
        signed_headers: parsed
            .signed_headers
            .iter()
            .map(|h| h.to_string())
            .collect(),
    })
}

/// The signature itself, over the headers the client signed and the body.
pub(crate) fn verify_signature(
    pre: &Precheck,
    method: &str,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Caller, LambdaError> {
    // Re-sign over exactly the headers the client signed.
    let mut signed: Vec<(&str, &str)> = Vec::new();
    for name in &pre.signed_headers {
        for v in headers.get_all(name.as_str()) {
            let v = v
                .to_str()
                .map_err(|_| invalid_signature("Signed header values must be valid text."))?;
            signed.push((name.as_str(), v));
        }
    }
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let uri = format!("http://{host}{path_and_query}");
    let mismatch = || {
        invalid_signature("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
    };
    let request = SignableRequest::new(method, uri, signed.into_iter(), SignableBody::Bytes(body))
        .map_err(|_| mismatch())?;
    let mut settings = SigningSettings::default();
    // Sign exactly what the client listed; its list already left out what it chose not to sign.
    settings.excluded_headers = None;
    let identity = aws_credential_types::Credentials::new(
        &pre.access_key_id,
        &pre.secret,
        None,
        None,
        "nimbus",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&pre.region)
        .name(pre.service)
        .time(pre.signed_at)
        .settings(settings)
        .build()
        .map_err(|_| mismatch())?
        .into();
    let expected = sign(request, &params).map_err(|_| mismatch())?;
    let ok = expected.signature().len() == pre.signature.len()
        && bool::from(
            expected
                .signature()
                .as_bytes()
                .ct_eq(pre.signature.as_bytes()),
        );
    if !ok {
        return Err(mismatch());
    }
    Ok(Caller {
        region: pre.region.clone(),
        principal: pre.principal.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn root() -> Vec<Credentials> {
        vec![Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        }]
    }

    fn no_sessions() -> &'static Sessions {
        static S: std::sync::OnceLock<Sessions> = std::sync::OnceLock::new();
        S.get_or_init(|| Sessions::new(Duration::from_secs(60)))
    }

    fn keys_of<'a>(root: &'a [Credentials], sessions: &'a Sessions) -> Keys<'a> {
        Keys { root, sessions }
    }

    /// Signs like a client would; the compatibility tests cover real clients (botocore, the
    /// AWS CLI) against the same verifier.
    fn signed(method: &str, pq: &str, body: &[u8], at: SystemTime, secret: &str) -> HeaderMap {
        signed_as("AKIDEXAMPLE", secret, None, method, pq, body, at)
    }

    fn signed_as(
        key_id: &str,
        secret: &str,
        token: Option<&str>,
        method: &str,
        pq: &str,
        body: &[u8],
        at: SystemTime,
    ) -> HeaderMap {
        let creds = Credentials {
            access_key_id: key_id.into(),
            secret_access_key: secret.into(),
        };
        let url = format!("http://127.0.0.1:9000{pq}");
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("127.0.0.1:9000"));
        let extra: Vec<(&str, &str)> = token.iter().map(|t| ("x-amz-security-token", *t)).collect();
        if let Some(t) = token {
            h.insert(
                "x-amz-security-token",
                HeaderValue::from_str(t).expect("token"),
            );
        }
        for (k, v) in
            sign_request(&creds, "us-east-1", method, &url, &extra, body, at).expect("sign")
        {
            h.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(&v).expect("value"),
            );
        }
        h
    }

    #[test]
    fn good_bad_stale_and_unknown() {
        let now = SystemTime::now();
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        let pq = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af?Qualifier=%24LATEST";
        let root = root();
        let keys = keys_of(&root, no_sessions());
        let h = signed("GET", pq, b"", now, secret);
        let c = verify(&keys, "GET", pq, &h, b"", now).expect("valid");
        assert_eq!(c.region, "us-east-1");
        assert_eq!(c.principal, Principal::Root);
        // Tampered body, path or method.
        assert_eq!(
            verify(&keys, "GET", pq, &h, b"x", now)
                .expect_err("body")
                .code,
            ErrorCode::InvalidSignature
        );
        assert!(verify(&keys, "DELETE", pq, &h, b"", now).is_err());
        // Wrong secret.
        let h2 = signed("GET", pq, b"", now, "another-secret-that-is-wrong");
        assert_eq!(
            verify(&keys, "GET", pq, &h2, b"", now)
                .expect_err("secret")
                .code,
            ErrorCode::InvalidSignature
        );
        // Twenty minutes old.
        let old = now - Duration::from_secs(20 * 60);
        let h3 = signed("GET", pq, b"", old, secret);
        let e = verify(&keys, "GET", pq, &h3, b"", now).expect_err("stale");
        assert!(
            e.message.starts_with("Signature expired: "),
            "{}",
            e.message
        );
        // Unknown key id.
        let other = vec![Credentials {
            access_key_id: "OTHER".into(),
            secret_access_key: secret.into(),
        }];
        assert_eq!(
            verify(&keys_of(&other, no_sessions()), "GET", pq, &h, b"", now)
                .expect_err("unknown")
                .code,
            ErrorCode::UnrecognizedClient
        );
        // No auth at all.
        let e = verify(&keys, "GET", pq, &HeaderMap::new(), b"", now).expect_err("none");
        assert_eq!(e.code, ErrorCode::MissingAuthenticationToken);
    }

    #[test]
    fn session_credentials_need_their_signed_token_and_expire() {
        let pq = "/2015-03-31/functions";
        let root = root();
        let sessions = Sessions::new(Duration::from_secs(600));
        let keys = keys_of(&root, &sessions);
        let now = SystemTime::now();
        let role = Principal::Role {
            role_arn: "arn:aws:iam::000000000000:role/r".into(),
            function: "f".into(),
        };
        let c = sessions.issue(role.clone(), now);
        let (id, secret, token) = (
            c.access_key_id.as_str(),
            c.secret_access_key.as_str(),
            c.session_token.as_str(),
        );
        let good = signed_as(id, secret, Some(token), "GET", pq, b"", now);
        let caller = verify(&keys, "GET", pq, &good, b"", now).expect("valid session");
        assert_eq!(caller.principal, role);
        let code = |h: &HeaderMap, at: SystemTime| {
            verify(&keys, "GET", pq, h, b"", at)
                .expect_err("refused")
                .code
        };
        // No token, a wrong one, or one added but not signed.
        let none = signed_as(id, secret, None, "GET", pq, b"", now);
        assert_eq!(code(&none, now), ErrorCode::UnrecognizedClient);
        let wrong = signed_as(id, secret, Some("not-the-token"), "GET", pq, b"", now);
        assert_eq!(code(&wrong, now), ErrorCode::UnrecognizedClient);
        let mut unsigned = none.clone();
        unsigned.insert(
            "x-amz-security-token",
            HeaderValue::from_str(token).expect("v"),
        );
        assert_eq!(code(&unsigned, now), ErrorCode::UnrecognizedClient);
        // The root keys with a token are not a session.
        let root_token = signed_as(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some(token),
            "GET",
            pq,
            b"",
            now,
        );
        assert_eq!(code(&root_token, now), ErrorCode::UnrecognizedClient);
        // Past its expiry, AWS's expired-token error, with the date still current.
        let later = now + Duration::from_secs(601);
        let late = signed_as(id, secret, Some(token), "GET", pq, b"", later);
        let e = verify(&keys, "GET", pq, &late, b"", later).expect_err("expired");
        assert_eq!(e.code, ErrorCode::ExpiredToken);
        assert_eq!(
            e.message,
            "The security token included in the request is expired"
        );
        // Revoked (its environment ended): unknown.
        sessions.revoke(id);
        assert_eq!(code(&good, now), ErrorCode::UnrecognizedClient);
    }

    #[test]
    fn the_scope_must_name_the_routes_service() {
        let root = root();
        let keys = keys_of(&root, no_sessions());
        let now = SystemTime::now();
        let h = signed(
            "GET",
            "/",
            b"",
            now,
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        );
        let e = precheck(&keys, &h, now, "sts")
            .err()
            .expect("a lambda-scoped signature on an STS route");
        assert_eq!(e.code, ErrorCode::InvalidSignature);
        assert!(e.message.contains("'sts'"), "{}", e.message);
    }

    #[test]
    fn generated_credentials_are_private_and_stable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("credentials");
        let (a, fresh) = load_or_generate(&path).expect("generate");
        assert!(fresh);
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let (b, fresh) = load_or_generate(&path).expect("reload");
        assert!(!fresh);
        assert_eq!(a, b);
        // Opened to others, it is refused rather than trusted.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let e = load_or_generate(&path).expect_err("readable by others");
        assert!(e.to_string().contains("mode 644"), "{e}");
    }
}

/// Signs a request as AWS SDKs do (service `lambda`, no payload-hash header) and returns the
/// headers to add: `x-amz-date` and `authorization`. `url` is the full URL, already encoded;
/// `headers` are the other headers to sign (`host` is taken from the URL when absent).
pub fn sign_request(
    creds: &Credentials,
    region: &str,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    at: SystemTime,
) -> Result<Vec<(String, String)>, SignError> {
    sign_request_for("lambda", creds, region, method, url, headers, body, at)
}

/// [`sign_request`] for another service's scope (`sqs`, `sts`).
#[allow(clippy::too_many_arguments)]
pub fn sign_request_for(
    service: &str,
    creds: &Credentials,
    region: &str,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    at: SystemTime,
) -> Result<Vec<(String, String)>, SignError> {
    let identity = aws_credential_types::Credentials::new(
        &creds.access_key_id,
        &creds.secret_access_key,
        None,
        None,
        "nimbus",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(at)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| SignError(e.to_string()))?
        .into();
    let request = SignableRequest::new(
        method,
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| SignError(e.to_string()))?;
    let (instructions, _) = sign(request, &params)
        .map_err(|e| SignError(e.to_string()))?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

/// A request could not be signed (a malformed URL or header).
#[derive(Debug, thiserror::Error)]
#[error("sign request: {0}")]
pub struct SignError(String);
