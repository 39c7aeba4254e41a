//! Access control and hardening: sessions, the read-access gate, machine-token checks for
//! ingest, CSRF tokens, the checks of a request's `Host` and of cross-site writes, login rate
//! limiting, security headers and password-reset mail.
//!
//! The main type here is [`Security`], the part of the managed state that holds the rules in
//! force and the [`AccessStore`](crate::db::AccessStore) they are checked against. The gate
//! is a fairing rather than a guard on each handler so that a route added later is private by
//! default under `--read-access login`.

pub mod client_addr;
pub mod credentials;
pub(crate) mod csrf;
pub(crate) mod gate;
pub(crate) mod headers;
pub(crate) mod mail;
pub(crate) mod origin;
pub(crate) mod rate_limit;
pub(crate) mod revocation;
pub(crate) mod session;

use rocket::Request;
use rocket::request::{FromRequest, Outcome};

use crate::api::ApiError;
use crate::config::{Config, IngestAuth, ReadAccess, SmtpConfig};
use crate::db::{AccessStore, TokenCheck};
use rate_limit::LoginLimiter;

/// The access rules in force and where users and tokens live.
#[derive(Debug)]
pub struct Security {
    /// Users and tokens; `None` on a store without a database (then nobody can log in and
    /// no token is valid).
    pub access: Option<AccessStore>,
    /// Who may read.
    pub read_access: ReadAccess,
    /// Whether ingest needs a token.
    pub ingest_auth: IngestAuth,
    /// Failed-login bookkeeping.
    pub(crate) limiter: LoginLimiter,
    /// Where reset mail goes out.
    pub(crate) smtp: Option<SmtpConfig>,
    /// Base of mailed links.
    pub(crate) public_url: Option<String>,
    /// Whether cookies are marked `Secure` (the server serves HTTPS, or the public URL is
    /// https).
    pub(crate) secure_cookies: bool,
    /// The CA bundle trusted for mail besides the system's roots.
    pub(crate) ca_cert: Option<std::path::PathBuf>,
    /// The access revision, moved when a credential may have ended.
    pub(crate) revisions: revocation::Revisions,
}

impl Security {
    /// The rules of `config`, checked against `access`.
    pub fn new(config: &Config, access: Option<AccessStore>) -> Security {
        let public_url = config.public_url.as_ref().map(|_| config.link_base());
        Security {
            access,
            read_access: config.read_access,
            ingest_auth: config.effective_ingest_auth(),
            limiter: LoginLimiter::default(),
            smtp: config.smtp.clone(),
            secure_cookies: config.serves_tls()
                || public_url
                    .as_deref()
                    .is_some_and(|url| url.starts_with("https://")),
            ca_cert: config.ca_cert.clone(),
            public_url,
            revisions: revocation::Revisions::default(),
        }
    }

    /// What a presented token is worth, looked up off the async executor.
    pub(crate) async fn check_token(&self, token: &str) -> Result<TokenCheck, ApiError> {
        let Some(access) = self.access.clone() else {
            return Ok(TokenCheck::Unknown);
        };
        let token = token.to_owned();
        crate::state::blocking(move || access.check_token(&token))
            .await
            .map_err(|e| ApiError::internal("the token check failed", &e.0))?
            .map_err(|e| ApiError::internal("the token check failed", &e))
    }
}

/// The `Authorization: Bearer <token>` of a request, if it has one.
#[derive(Debug, Clone)]
pub struct Bearer(pub Option<String>);

impl Bearer {
    pub(crate) fn of(request: &Request<'_>) -> Bearer {
        let token = request
            .headers()
            .get_one("Authorization")
            .and_then(|value| {
                let (scheme, token) = value.trim().split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| token.trim().to_owned())
            })
            .filter(|token| !token.is_empty());
        Bearer(token)
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Bearer {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        Outcome::Success(Bearer::of(request))
    }
}
