//! Password hashing with argon2id, and the rules for user names and
//! passwords.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Longest user name.
pub const MAX_USER_CHARS: usize = 32;
/// Shortest password.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password, in bytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The rule for user names, in the words errors use.
pub const USER_NAME_RULE: &str =
    "1 to 32 characters: lowercase letters, digits, '.', '_' or '-', starting with a letter or digit";

/// Checks a user name. The rule keeps names usable as one MQTT topic level
/// (for `%u` in ACL patterns) and without `:`, which guests' names carry.
pub fn valid_user_name(name: &str) -> bool {
    (1..=MAX_USER_CHARS).contains(&name.len())
        && name.bytes().enumerate().all(|(i, b)| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || (i > 0 && matches!(b, b'.' | b'_' | b'-'))
        })
}

/// Checks a new password; says what is wrong.
pub fn check_new_password(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        Err(format!(
            "a password needs at least {MIN_PASSWORD_CHARS} characters"
        ))
    } else if password.len() > MAX_PASSWORD_BYTES {
        Err(format!("a password is at most {MAX_PASSWORD_BYTES} bytes"))
    } else {
        Ok(())
    }
}

/// argon2id with OWASP's smallest recommended cost (19 MiB, 2 passes):
/// about 50-100 ms on a Raspberry Pi 4. The parameters are kept in each
/// hash, so they can be raised later without breaking stored ones.
fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password into a PHC string (slow: call off the async threads).
pub fn hash(password: &str) -> Result<String, String> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| e.to_string())?;
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `password` matches the PHC string `hash` (slow: call off the
/// async threads). A malformed hash matches nothing.
pub fn verify(password: &[u8], hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| hasher().verify_password(password, &parsed).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names() {
        for ok in ["alice", "sensor-12", "a", "b.c_d", "0x"] {
            assert!(valid_user_name(ok), "{ok}");
        }
        for bad in [
            "",
            "Alice",
            "guest:x",
            "a/b",
            "-a",
            "a b",
            &"x".repeat(33),
            "é",
        ] {
            assert!(!valid_user_name(bad), "{bad}");
        }
    }

    #[test]
    fn hashes_verify_only_their_password() {
        let h = hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify(b"correct horse", &h));
        assert!(!verify(b"wrong horse", &h));
        assert!(!verify(b"correct horse", "not a hash"));
        assert!(check_new_password("short").is_err());
        assert!(check_new_password("long enough").is_ok());
    }
}
