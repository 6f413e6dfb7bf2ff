//! Secrets kept at rest (two-factor secrets) are sealed with a key that lives in the
//! configuration, never in the database: a copy of the database alone opens nothing.
//! XChaCha20-Poly1305 with a random 192-bit nonce per value; the associated data binds a value
//! to its owner, so a sealed secret copied onto another row does not open there.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// What a sealed value starts with: the format, so a later one can be told apart.
const PREFIX: &str = "v1.";
const NONCE_LEN: usize = 24;

/// The 256-bit sealing key (`SWITCHBOARD_SECRET_KEY` or a key file). Never printed.
#[derive(Clone)]
pub struct SealingKey([u8; 32]);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(…)")
    }
}

impl SealingKey {
    /// Reads a key written as 64 hex digits or as base64 (standard or URL-safe) of 32 bytes,
    /// e.g. the output of `openssl rand -base64 32`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
            hex::decode(text).ok()
        } else {
            STANDARD
                .decode(text)
                .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
                .ok()
        };
        bytes
            .and_then(|bytes| <[u8; 32]>::try_from(bytes.as_slice()).ok())
            .map(Self)
            .ok_or_else(|| {
                "the secret key must be 32 random bytes, as 64 hex digits or base64 \
                 (e.g. `openssl rand -base64 32`)"
                    .to_string()
            })
    }

    /// A fresh random key (tests, and the text of the README's advice).
    pub fn random() -> Self {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        Self(bytes)
    }

    /// The key as base64, to hand to a second process in tests.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.0.into())
    }

    /// Seals `plain` for the owner named by `context`.
    pub fn seal(&self, plain: &[u8], context: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::fill(&mut nonce);
        let sealed = self
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plain,
                    aad: context.as_bytes(),
                },
            )
            // encryption with a valid key and nonce cannot fail; an empty value never opens
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out))
    }

    /// Opens a sealed value of the owner named by `context`; `None` when it was sealed with
    /// another key, for another owner, or altered.
    pub fn open(&self, sealed: &str, context: &str) -> Option<Vec<u8>> {
        let bytes = URL_SAFE_NO_PAD.decode(sealed.strip_prefix(PREFIX)?).ok()?;
        if bytes.len() <= NONCE_LEN {
            return None;
        }
        let (nonce, body) = bytes.split_at(NONCE_LEN);
        let nonce = <[u8; NONCE_LEN]>::try_from(nonce).ok()?;
        self.cipher()
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: body,
                    aad: context.as_bytes(),
                },
            )
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_owner() {
        let key = SealingKey::random();
        let sealed = key.seal(b"JBSWY3DPEHPK3PXP", "user:7");
        assert!(sealed.starts_with("v1."));
        assert!(!sealed.contains("JBSWY3DPEHPK3PXP"));
        assert_eq!(
            key.open(&sealed, "user:7").as_deref(),
            Some(&b"JBSWY3DPEHPK3PXP"[..])
        );
        assert_eq!(key.open(&sealed, "user:8"), None, "another owner");
        assert_eq!(
            SealingKey::random().open(&sealed, "user:7"),
            None,
            "another key"
        );
        let mut altered = sealed.clone();
        altered.pop();
        altered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(key.open(&altered, "user:7"), None, "altered");
        assert_ne!(
            key.seal(b"x", "c"),
            key.seal(b"x", "c"),
            "a fresh nonce each time"
        );
    }

    #[test]
    fn keys_are_read_as_hex_or_base64_and_never_printed() {
        let key = SealingKey::random();
        let again = SealingKey::parse(&key.to_base64()).unwrap();
        assert_eq!(again.0, key.0);
        assert!(SealingKey::parse(&hex::encode(key.0)).is_ok());
        // unpadded URL-safe base64 can consist of hex digits alone: only 64 of them are hex
        let base64_of_hex_digits = "0123456789abcdef0123456789abcdef01234567890";
        assert_eq!(base64_of_hex_digits.len(), 43);
        assert!(SealingKey::parse(base64_of_hex_digits).is_ok());
        assert!(SealingKey::parse(&"ab".repeat(31)).is_err());
        assert!(SealingKey::parse("short").is_err());
        assert!(SealingKey::parse("").is_err());
        assert_eq!(format!("{key:?}"), "SealingKey(…)");
    }
}
