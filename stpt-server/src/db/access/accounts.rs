//! Users of the pages and their login sessions.

use super::*;

impl AccessStore {
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
}
