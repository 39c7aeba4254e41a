//! Single-use password-reset links.

use super::*;

impl AccessStore {
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
}
