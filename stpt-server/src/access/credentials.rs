//! Secrets as stored and as handed out: Argon2id password hashes, random tokens and their
//! SHA-256 digests.
//!
//! Passwords are low-entropy, so they get a slow, salted hash; tokens are 32 random bytes, so
//! one fast digest is enough to make a stolen table useless.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 10;

/// A hash of nothing in particular, verified against when a user does not exist so a login
/// takes as long for an unknown name as for a wrong password.
const DECOY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c3RwdGRlY295c2FsdA$5G+Hgxs08rQyM4ozDbcZ4+gvKXHK+iYYE6dhb6Ua2bA";

/// `n` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

/// A new random token: 32 bytes, URL-safe base64 (43 characters).
pub fn new_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// The lowercase hex SHA-256 of a token, as stored.
pub fn token_digest(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Hashes a password with Argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Whether `password` matches the stored hash (`None`: no such user, checked against a decoy
/// so both cases cost the same).
pub fn verify_password(password: &str, stored: Option<&str>) -> bool {
    let (hash, real) = match stored {
        Some(hash) => (hash, true),
        None => (DECOY_HASH, false),
    };
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let matches = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    matches && real
}

/// Whether two strings are equal, in time that depends only on their lengths.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(verify_password("correct horse battery", Some(&hash)));
        assert!(!verify_password("correct horse batterY", Some(&hash)));
        assert!(!verify_password("correct horse battery", None));
        assert!(!verify_password("anything", Some("not a PHC string")));
    }

    #[test]
    fn the_decoy_is_a_valid_hash() {
        assert!(PasswordHash::new(DECOY_HASH).is_ok());
    }

    #[test]
    fn tokens_are_distinct_and_digests_stable() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(
            token_digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
    }
}
