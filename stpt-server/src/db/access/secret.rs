//! The server's generated cookie key, kept in the database.

use super::*;

impl AccessStore {
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
}
