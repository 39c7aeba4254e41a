//! Who may do what, persisted next to the runs: users, machine tokens, password-reset links,
//! the server's generated secret key, and retention (pruning old runs).
//!
//! The main type here is [`AccessStore`]. Its operations are compiled per backend from
//! `access_ops.rs` like the run store's; these are rare writes (a login, a `stpt token`
//! command), so they use pooled connections with one immediate transaction each rather than
//! SQLite's event writer thread. Secrets are never stored in clear: passwords as Argon2id
//! hashes, tokens and reset links as SHA-256 digests.
//!
//! This file holds the types and the store's opening; its operations are grouped by what
//! they keep: `accounts` (users and their sessions), `tokens`, `reset_links`, `secret` and `upkeep`
//! (backups and pruning).

mod accounts;
mod reset_links;
mod secret;
mod tokens;
mod upkeep;

use std::time::Duration;

use diesel::prelude::*;
use stpt_core::Timestamp;

use super::pool::{ConnectError, DatabaseUrl, DbPool, PoolOptions, connect};
use super::schema::{machine_tokens, password_resets, sessions, users};
use super::{FromPoolError, OpError, on_backend};
use crate::access::credentials::{
    MIN_PASSWORD_LEN, hash_password, new_token, random_bytes, token_digest, verify_password,
};

/// How long a password-reset link works.
pub const RESET_LINK_LIFETIME: Duration = Duration::from_secs(60 * 60);

/// Longest user name accepted.
const MAX_NAME_LEN: usize = 150;

/// Name of the generated cookie key in `server_secrets`.
const SECRET_KEY_NAME: &str = "cookie_secret_key";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub(crate) struct UserRow {
    id: i64,
    name: String,
    email: Option<String>,
    password_hash: String,
    sessions_since: i64,
    created_at: i64,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub(crate) struct NewUser<'a> {
    pub(crate) name: &'a str,
    email: Option<&'a str>,
    password_hash: &'a str,
    sessions_since: i64,
    created_at: i64,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = machine_tokens)]
pub(crate) struct TokenRow {
    id: i64,
    machine_name: String,
    machine_key: String,
    created_at: i64,
    revoked_at: Option<i64>,
    user_id: Option<i64>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = machine_tokens)]
pub(crate) struct NewToken<'a> {
    machine_name: &'a str,
    machine_key: &'a str,
    token_hash: &'a str,
    created_at: i64,
    user_id: Option<i64>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = sessions)]
pub(crate) struct SessionRow {
    token_hash: String,
    user_id: i64,
    created_at: i64,
    expires_at: i64,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = password_resets)]
pub(crate) struct ResetRow {
    token_hash: String,
    user_id: i64,
    expires_at: i64,
}

/// A user of the pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Row id (appears in reset links).
    pub id: i64,
    /// Login name.
    pub name: String,
    /// Where reset links are mailed, if anywhere.
    pub email: Option<String>,
    /// Sessions issued before this are void.
    pub sessions_since: i64,
    /// When the user was added (microseconds since the epoch).
    pub created_at: i64,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        User {
            id: row.id,
            name: row.name,
            email: row.email,
            sessions_since: row.sessions_since,
            created_at: row.created_at,
        }
    }
}

/// A machine token as listed (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// Row id.
    pub id: i64,
    /// The machine it may write for, as given when created; for a personal token, its
    /// user's name.
    pub machine_name: String,
    /// Whether it is a person's read token rather than a machine's.
    pub personal: bool,
    /// When it was created (microseconds since the epoch).
    pub created_at: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
}

/// What a presented token is worth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenCheck {
    /// A live token for this machine (lowercased name, as machines are matched).
    Valid {
        /// The machine as named when the token was created.
        machine_name: String,
        /// Its case-insensitive key.
        machine_key: String,
    },
    /// A live personal token: it reads as its user, and never writes.
    Personal {
        /// The user's name.
        user_name: String,
    },
    /// No such token.
    Unknown,
    /// The token was revoked.
    Revoked,
}

/// A password-reset link's parts: `/password-reset-confirm/<user_id>/<token>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetLink {
    /// The user it resets.
    pub user: User,
    /// The single-use token (only its digest is stored).
    pub token: String,
}

impl ResetLink {
    /// The link's path on the server.
    pub fn path(&self) -> String {
        format!("/password-reset-confirm/{}/{}/", self.user.id, self.token)
    }
}

/// Why an access operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// A user of that name exists.
    #[error("a user named {name:?} already exists")]
    UserExists {
        /// The name.
        name: String,
    },
    /// The name cannot be used.
    #[error("invalid user name {name:?}: use 1 to {MAX_NAME_LEN} characters without spaces")]
    InvalidName {
        /// The name.
        name: String,
    },
    /// The password is too short.
    #[error("the password is too short: use at least {MIN_PASSWORD_LEN} characters")]
    WeakPassword,
    /// Hashing failed.
    #[error("cannot hash the password")]
    Hash(#[source] argon2::password_hash::Error),
    /// The run store's operations failed under an access operation.
    #[error("the store failed")]
    Store(#[source] stpt_core::StoreError),
    /// The database failed.
    #[error("database query failed")]
    Db(#[source] diesel::result::Error),
    /// No connection was free.
    #[error("no database connection free")]
    Busy(#[source] diesel::r2d2::PoolError),
    /// A stored secret does not decode.
    #[error("the database holds an invalid {what}")]
    Corrupt {
        /// Which value.
        what: &'static str,
    },
    /// A backup of this database is not made by stpt.
    #[error("{0}")]
    Unsupported(&'static str),
    /// The backup's target is not usable.
    #[error("cannot back up to {path}: {reason}")]
    BackupTarget {
        /// The target.
        path: String,
        /// Why.
        reason: &'static str,
    },
}

impl FromPoolError for AccessError {
    fn from_pool(err: diesel::r2d2::PoolError) -> Self {
        AccessError::Busy(err)
    }
}

impl From<OpError> for AccessError {
    fn from(err: OpError) -> Self {
        match err {
            OpError::Db(err) => AccessError::Db(err),
            // The access operations raise no store errors; keep the cause if one ever does.
            OpError::Store(err) => AccessError::Store(err),
        }
    }
}

/// Users, tokens, reset links, the secret key and pruning, on the run store's database.
#[derive(Debug, Clone)]
pub struct AccessStore {
    pool: DbPool,
}

fn now() -> i64 {
    Timestamp::now().as_micros()
}

fn machine_key(name: &str) -> String {
    stpt_core::machine_key(name)
}

fn checked_password(password: &str) -> Result<String, AccessError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(AccessError::WeakPassword);
    }
    hash_password(password).map_err(AccessError::Hash)
}

fn is_unique_violation(err: &OpError) -> bool {
    matches!(
        err,
        OpError::Db(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _
        ))
    )
}

impl AccessStore {
    /// Access data on an open (migrated) pool.
    pub fn new(pool: DbPool) -> Self {
        AccessStore { pool }
    }

    /// Opens (and migrates) the database at `url`.
    pub fn open(url: &DatabaseUrl, options: PoolOptions) -> Result<Self, ConnectError> {
        Ok(AccessStore::new(connect(url, options)?))
    }

    /// The pool it uses (shared with the webhooks on the same database).
    pub fn pool(&self) -> &DbPool {
        &self.pool
    }
}
