//! Who may do what, persisted next to the runs: users, machine tokens, password-reset links,
//! the server's generated secret key, and retention (pruning old runs).
//!
//! The main type here is [`AccessStore`]. Its operations are compiled per backend from
//! `access_ops.rs` like the run store's; these are rare writes (a login, a `stpt token`
//! command), so they use pooled connections with one immediate transaction each rather than
//! SQLite's event writer thread. Secrets are never stored in clear: passwords as Argon2id
//! hashes, tokens and reset links as SHA-256 digests.

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
    #[error("cannot hash the password: {reason}")]
    Hash {
        /// What failed.
        reason: String,
    },
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
            // The access operations raise no store errors; keep the text if one ever does.
            OpError::Store(err) => AccessError::Hash {
                reason: err.to_string(),
            },
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
    hash_password(password).map_err(|e| AccessError::Hash {
        reason: e.to_string(),
    })
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

    /// Adds a user.
    pub fn add_user(
        &self,
        name: &str,
        email: Option<&str>,
        password: &str,
    ) -> Result<User, AccessError> {
        if name.is_empty()
            || name.chars().count() > MAX_NAME_LEN
            || name.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(AccessError::InvalidName {
                name: name.to_owned(),
            });
        }
        let hash = checked_password(password)?;
        let at = now();
        let new = NewUser {
            name,
            email: email.filter(|e| !e.trim().is_empty()),
            password_hash: &hash,
            sessions_since: at,
            created_at: at,
        };
        let inserted = on_backend!(&self.pool => AccessError, insert_user(&new) as OpError);
        match inserted {
            Ok(id) => Ok(User {
                id,
                name: name.to_owned(),
                email: new.email.map(str::to_owned),
                sessions_since: at,
                created_at: at,
            }),
            Err(err) if is_unique_violation(&err) => Err(AccessError::UserExists {
                name: name.to_owned(),
            }),
            Err(err) => Err(err.into()),
        }
    }

    /// Removes a user; answers whether there was one.
    pub fn remove_user(&self, name: &str) -> Result<bool, AccessError> {
        Ok(on_backend!(&self.pool => AccessError, delete_user(name))? > 0)
    }

    /// Sets a user's password, ending their sessions; answers whether the user exists.
    pub fn set_password(&self, name: &str, password: &str) -> Result<bool, AccessError> {
        let hash = checked_password(password)?;
        Ok(on_backend!(&self.pool => AccessError, set_password(name, &hash, now()))? > 0)
    }

    /// Every user, by name.
    pub fn users(&self) -> Result<Vec<User>, AccessError> {
        Ok(on_backend!(&self.pool => AccessError, all_users())?
            .into_iter()
            .map(User::from)
            .collect())
    }

    /// The user with this id.
    pub fn user(&self, id: i64) -> Result<Option<User>, AccessError> {
        Ok(on_backend!(&self.pool => AccessError, user_with_id(id))?.map(User::from))
    }

    /// The user with this name.
    pub fn user_named(&self, name: &str) -> Result<Option<User>, AccessError> {
        Ok(on_backend!(&self.pool => AccessError, user_named(name))?.map(User::from))
    }

    /// The user if `password` is theirs. Costs one Argon2 verification whether or not the
    /// user exists.
    pub fn login(&self, name: &str, password: &str) -> Result<Option<User>, AccessError> {
        let row = on_backend!(&self.pool => AccessError, user_named(name))?;
        let ok = verify_password(password, row.as_ref().map(|r| r.password_hash.as_str()));
        Ok(row.filter(|_| ok).map(User::from))
    }

    /// Starts a login session of `user_id` lasting `lifetime` and answers its token (for the
    /// browser's cookie); only its digest is kept.
    pub fn start_session(&self, user_id: i64, lifetime: Duration) -> Result<String, AccessError> {
        let token = new_token();
        let at = now();
        let row = SessionRow {
            token_hash: token_digest(&token),
            user_id,
            created_at: at,
            expires_at: at.saturating_add(i64::try_from(lifetime.as_micros()).unwrap_or(i64::MAX)),
        };
        on_backend!(&self.pool => AccessError, insert_session(&row, at))?;
        Ok(token)
    }

    /// The user of a live (started, unexpired, not ended) session.
    pub fn session_user(&self, token: &str) -> Result<Option<User>, AccessError> {
        Ok(
            on_backend!(&self.pool => AccessError, session_user(&token_digest(token), now()))?
                .map(User::from),
        )
    }

    /// Ends a session at once (a logout); answers whether it was live.
    pub fn end_session(&self, token: &str) -> Result<bool, AccessError> {
        Ok(on_backend!(&self.pool => AccessError, delete_session(&token_digest(token)))? > 0)
    }

    /// A number that moves whenever a credential may have ended (a logout, a revoked token,
    /// a new password, a removed user): a cheap poll for whoever holds credentials open.
    pub fn revision(&self) -> Result<i64, AccessError> {
        on_backend!(&self.pool => AccessError, revision())
    }

    /// Creates a token for `machine` (which need not have reported yet) and answers it; only
    /// its digest is kept, so this is the one time it is seen.
    pub fn create_token(&self, machine: &str) -> Result<String, AccessError> {
        let token = new_token();
        let hash = token_digest(&token);
        let key = machine_key(machine);
        let new = NewToken {
            machine_name: machine,
            machine_key: &key,
            token_hash: &hash,
            created_at: now(),
            user_id: None,
        };
        on_backend!(&self.pool => AccessError, insert_token(&new))?;
        Ok(token)
    }

    /// Creates a personal read token for the existing user `name` and answers it (shown this
    /// once); `None` when there is no such user. It reads wherever a login would, never
    /// writes, and goes with its user.
    pub fn create_personal_token(&self, name: &str) -> Result<Option<String>, AccessError> {
        let Some(user) = self.user_named(name)? else {
            return Ok(None);
        };
        let token = new_token();
        let hash = token_digest(&token);
        let new = NewToken {
            machine_name: &user.name,
            // Empty: no machine's events match it, and `revoke --machine` never finds it.
            machine_key: "",
            token_hash: &hash,
            created_at: now(),
            user_id: Some(user.id),
        };
        on_backend!(&self.pool => AccessError, insert_token(&new))?;
        Ok(Some(token))
    }

    /// Revokes every live personal token of the user `name`; answers how many.
    pub fn revoke_user_tokens(&self, name: &str) -> Result<usize, AccessError> {
        let Some(user) = self.user_named(name)? else {
            return Ok(0);
        };
        on_backend!(&self.pool => AccessError, revoke_personal_tokens(user.id, now()))
    }

    /// Every token ever created, by machine.
    pub fn tokens(&self) -> Result<Vec<TokenInfo>, AccessError> {
        Ok(on_backend!(&self.pool => AccessError, all_tokens())?
            .into_iter()
            .map(|row| TokenInfo {
                id: row.id,
                machine_name: row.machine_name,
                personal: row.user_id.is_some(),
                created_at: row.created_at,
                revoked_at: row.revoked_at,
            })
            .collect())
    }

    /// Revokes every live token of `machine`; answers how many.
    pub fn revoke_machine(&self, machine: &str) -> Result<usize, AccessError> {
        let key = machine_key(machine);
        // Personal tokens have an empty key; no machine has an empty name.
        if key.is_empty() {
            return Ok(0);
        }
        on_backend!(&self.pool => AccessError, revoke_machine_tokens(&key, now()))
    }

    /// Revokes one token; answers whether it was live.
    pub fn revoke_token(&self, token: &str) -> Result<bool, AccessError> {
        Ok(
            on_backend!(&self.pool => AccessError, revoke_token_hash(&token_digest(token), now()))?
                > 0,
        )
    }

    /// What a presented token is worth.
    pub fn check_token(&self, token: &str) -> Result<TokenCheck, AccessError> {
        let row = on_backend!(&self.pool => AccessError, token_with_hash(&token_digest(token)))?;
        Ok(match row {
            None => TokenCheck::Unknown,
            Some(row) if row.revoked_at.is_some() => TokenCheck::Revoked,
            Some(row) if row.user_id.is_some() => TokenCheck::Personal {
                user_name: row.machine_name,
            },
            Some(row) => TokenCheck::Valid {
                machine_name: row.machine_name,
                machine_key: row.machine_key,
            },
        })
    }

    /// The 64-byte cookie key kept in the database, generated on first use.
    pub fn secret_key(&self) -> Result<[u8; 64], AccessError> {
        let candidate: String = random_bytes::<64>()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let stored =
            on_backend!(&self.pool => AccessError, secret_or_insert(SECRET_KEY_NAME, &candidate))?;
        let mut key = [0u8; 64];
        if stored.len() != 128 {
            return Err(AccessError::Corrupt { what: "secret key" });
        }
        for (i, byte) in key.iter_mut().enumerate() {
            let pair = stored
                .get(2 * i..2 * i + 2)
                .ok_or(AccessError::Corrupt { what: "secret key" })?;
            *byte = u8::from_str_radix(pair, 16)
                .map_err(|_| AccessError::Corrupt { what: "secret key" })?;
        }
        Ok(key)
    }

    /// A new single-use reset link for the user named `name`, valid for
    /// [`RESET_LINK_LIFETIME`]; `None` when there is no such user.
    pub fn create_reset_link(&self, name: &str) -> Result<Option<ResetLink>, AccessError> {
        let Some(user) = self.user_named(name)? else {
            return Ok(None);
        };
        let token = new_token();
        let lifetime = i64::try_from(RESET_LINK_LIFETIME.as_micros()).unwrap_or(i64::MAX);
        let row = ResetRow {
            token_hash: token_digest(&token),
            user_id: user.id,
            expires_at: now().saturating_add(lifetime),
        };
        on_backend!(&self.pool => AccessError, insert_reset(&row))?;
        Ok(Some(ResetLink { user, token }))
    }

    /// Whether a reset link is unused and unexpired.
    pub fn reset_link_usable(&self, user_id: i64, token: &str) -> Result<bool, AccessError> {
        on_backend!(&self.pool => AccessError, reset_usable(user_id, &token_digest(token), now()))
    }

    /// Uses a reset link to set a new password (ending the user's sessions); answers whether
    /// the link was usable. A link works once.
    pub fn complete_reset(
        &self,
        user_id: i64,
        token: &str,
        password: &str,
    ) -> Result<bool, AccessError> {
        let hash = checked_password(password)?;
        on_backend!(
            &self.pool => AccessError,
            complete_reset(user_id, &token_digest(token), &hash, now())
        )
    }

    /// Writes a consistent copy of a SQLite database to `target` (a new file) while servers
    /// keep writing: SQLite's `VACUUM INTO` reads one snapshot of the database inside a read
    /// transaction, so the copy holds exactly what was committed when it began, and the writer
    /// (in WAL mode) is never blocked. PostgreSQL is backed up with `pg_dump`.
    pub fn backup(&self, target: &std::path::Path) -> Result<(), AccessError> {
        use diesel::connection::SimpleConnection;
        let DbPool::Sqlite(pool) = &self.pool else {
            return Err(AccessError::Unsupported(
                "stpt backs up SQLite databases; back up PostgreSQL with pg_dump (see docs/deploy.md)",
            ));
        };
        let shown = target.display().to_string();
        if target.exists() {
            return Err(AccessError::BackupTarget {
                path: shown,
                reason: "it exists already (a backup never overwrites)",
            });
        }
        let Some(path) = target.to_str() else {
            return Err(AccessError::BackupTarget {
                path: shown,
                reason: "the path is not valid UTF-8",
            });
        };
        let mut conn = pool.get().map_err(AccessError::Busy)?;
        // The path is a string literal of the statement: quotes doubled, as SQL escapes them.
        conn.batch_execute(&format!("VACUUM INTO '{}'", path.replace('\'', "''")))
            .map_err(AccessError::Db)
    }

    /// Deletes whole runs whose last event is older than `cutoff`, of one machine or all, with
    /// their scenarios, tests and applied events; every machine's newest run is kept. Answers
    /// how many runs were deleted.
    pub fn prune(&self, cutoff: Timestamp, machine: Option<&str>) -> Result<usize, AccessError> {
        let key = machine.map(machine_key);
        on_backend!(&self.pool => AccessError, prune_runs(cutoff.as_micros(), key.as_deref()))
    }
}
