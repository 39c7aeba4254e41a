//! Machine tokens and personal tokens: created, listed, revoked and checked.

use super::*;

impl AccessStore {
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
}
