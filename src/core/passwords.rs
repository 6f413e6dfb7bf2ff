//! Password hashing (argon2id, OWASP parameters) and the per-company password policy.
//!
//! Hashing costs ~19 MiB and tens of milliseconds on purpose: call these functions from a
//! blocking thread (`web::block`), never on the async workers.

use std::sync::LazyLock;

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};

use crate::error::AppError;

/// The longest password accepted; argon2 would take more, but nobody types more.
pub const MAX_LENGTH: usize = 128;

fn hasher() -> Result<Argon2<'static>, AppError> {
    // OWASP: argon2id, m = 19 MiB, t = 2, p = 1.
    let params = Params::new(19 * 1024, 2, 1, None)
        .map_err(|err| AppError::internal_from("argon2 parameters", err))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

pub fn hash(password: &str) -> Result<String, AppError> {
    hasher()?
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|err| AppError::internal_from("argon2 hashing", err))
}

/// `verify` with argon2's working memory (19 MiB) supplied by the caller and kept from check
/// to check, so a thread that checks passwords all day allocates it once. Same answers as
/// `verify`; the comparison of the outputs is constant-time (`Output`'s equality).
pub fn verify_reusing(password: &str, stored_hash: &str, blocks: &mut Vec<argon2::Block>) -> bool {
    let Ok(hash) = argon2::PasswordHash::new(stored_hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let algorithm = Algorithm::try_from(hash.algorithm.as_str());
    let version = hash
        .version
        .map_or(Ok(Version::default()), Version::try_from);
    let (Ok(algorithm), Ok(version), Ok(params)) = (algorithm, version, Params::try_from(&hash))
    else {
        return false;
    };
    blocks.resize(params.block_count(), argon2::Block::default());
    let mut buffer = [0u8; 64];
    let Some(out) = buffer.get_mut(..expected.len()) else {
        return false;
    };
    let computed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password.as_bytes(),
        salt,
        out,
        &mut blocks[..],
    );
    computed.is_ok()
        && argon2::password_hash::phc::Output::new(out).is_ok_and(|output| &output == expected)
}

/// True when `password` matches the stored PHC string. A malformed hash never matches.
pub fn verify(password: &str, stored_hash: &str) -> bool {
    match hasher() {
        Ok(argon2) => argon2
            .verify_password(password.as_bytes(), stored_hash)
            .is_ok(),
        Err(_) => false,
    }
}

/// A real hash of a random password: verifying against it costs what a real check costs, so
/// an unknown username takes as long to refuse as a wrong password.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    hash(&crate::core::secrets::random_token()).unwrap_or_else(|_| {
        // Cannot happen with fixed parameters; a well-formed hash keeps the timing honest anyway.
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$l7VjwtGEbSJi3QPgKBCF1rXqaHy2kXMx+TpX9J5E5pU".into()
    })
});

/// Spends the time of one verification and returns false.
pub fn verify_dummy(password: &str) {
    let _ = verify(password, &DUMMY_HASH);
}

/// `verify_dummy` on kept memory (see `verify_reusing`).
pub fn verify_dummy_reusing(password: &str, blocks: &mut Vec<argon2::Block>) {
    let _ = verify_reusing(password, &DUMMY_HASH, blocks);
}

/// A company's password rules (from its settings).
#[derive(Clone, Debug)]
pub struct PasswordPolicy {
    pub min_length: usize,
    pub require_upper: bool,
    pub require_lower: bool,
    pub require_digit: bool,
    pub require_symbol: bool,
    /// zxcvbn score 0–4 that a password must reach.
    pub min_score: u8,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 12,
            require_upper: true,
            require_lower: true,
            require_digit: true,
            require_symbol: true,
            min_score: 3,
        }
    }
}

/// Words a password must not contain: the person's and the company's own names.
pub struct PersonalWords<'a> {
    pub username: &'a str,
    pub display_name: &'a str,
    pub company_code: &'a str,
}

impl PasswordPolicy {
    /// The rules in one sentence, for forms to state before anyone types.
    pub fn summary(&self) -> String {
        let classes: Vec<&str> = [
            (self.require_upper, "an upper-case letter"),
            (self.require_lower, "a lower-case letter"),
            (self.require_digit, "a digit"),
            (self.require_symbol, "a symbol"),
        ]
        .into_iter()
        .filter_map(|(required, what)| required.then_some(what))
        .collect();
        let with = match classes.as_slice() {
            [] => String::new(),
            [one] => format!(", with {one}"),
            [rest @ .., last] => format!(", with {} and {last}", rest.join(", ")),
        };
        format!(
            "At least {} characters{with}; hard to guess; not the username, the name or the company code.",
            self.min_length
        )
    }

    /// Every rule the password breaks, each as a sentence for the form. Empty when accepted.
    pub fn check(&self, password: &str, words: &PersonalWords<'_>) -> Vec<String> {
        let mut problems = Vec::new();
        let length = password.chars().count();
        if length < self.min_length {
            problems.push(format!(
                "Use at least {} characters (this one has {length}).",
                self.min_length
            ));
        }
        if length > MAX_LENGTH {
            problems.push(format!("Use at most {MAX_LENGTH} characters."));
            return problems;
        }
        if self.require_upper && !password.chars().any(char::is_uppercase) {
            problems.push("Include an upper-case letter.".into());
        }
        if self.require_lower && !password.chars().any(char::is_lowercase) {
            problems.push("Include a lower-case letter.".into());
        }
        if self.require_digit && !password.chars().any(|c| c.is_ascii_digit()) {
            problems.push("Include a digit.".into());
        }
        if self.require_symbol && !password.chars().any(|c| !c.is_alphanumeric()) {
            problems.push("Include a symbol (such as ! or -).".into());
        }
        let lowered = password.to_lowercase();
        let mut personal = vec![
            ("username", words.username),
            ("company code", words.company_code),
        ];
        personal.extend(
            words
                .display_name
                .split_whitespace()
                .map(|part| ("name", part)),
        );
        for (what, word) in personal {
            if word.chars().count() >= 3 && lowered.contains(&word.to_lowercase()) {
                problems.push(format!("Do not use your {what} in the password."));
                break;
            }
        }
        if problems.is_empty() && self.min_score > 0 {
            let inputs = [words.username, words.display_name, words.company_code];
            let score = u8::from(zxcvbn::zxcvbn(password, &inputs).score());
            if score < self.min_score {
                problems.push(
                    "This password is too easy to guess. Use a longer phrase of unrelated words."
                        .into(),
                );
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORDS: PersonalWords<'static> = PersonalWords {
        username: "alice",
        display_name: "Alice Moreau",
        company_code: "DEMO",
    };

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let stored = hash("Harbor-Lantern-42!").unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify("Harbor-Lantern-42!", &stored));
        assert!(!verify("harbor-lantern-42!", &stored));
        assert!(!verify("anything", "not a hash"));
    }

    #[test]
    fn verifying_with_kept_memory_answers_like_verify() {
        let stored = hash("Harbor-Lantern-42!").unwrap();
        let mut blocks = Vec::new();
        for (password, hash) in [
            ("Harbor-Lantern-42!", stored.as_str()),
            ("harbor-lantern-42!", stored.as_str()),
            ("anything", "not a hash"),
            ("Harbor-Lantern-42!", &stored[..stored.len() - 2]),
            // another algorithm's parameters are read from the hash itself
            (
                "password",
                "$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$wWKIMhR9lyDFvRz9YTZweHKfbftvj+qf+YFY4NeBbtA",
            ),
        ] {
            assert_eq!(
                verify_reusing(password, hash, &mut blocks),
                verify(password, hash),
                "{password} against {hash}"
            );
        }
        assert!(verify_reusing("Harbor-Lantern-42!", &stored, &mut blocks));
    }

    #[test]
    fn demo_password_satisfies_the_default_policy() {
        assert!(
            PasswordPolicy::default()
                .check("Harbor-Lantern-42!", &WORDS)
                .is_empty()
        );
    }

    #[test]
    fn each_rule_is_named() {
        let policy = PasswordPolicy::default();
        let short = policy.check("Ab1!", &WORDS);
        assert!(short.iter().any(|p| p.contains("at least 12")));
        let too_long = "Aa1!".repeat(40);
        for (password, named) in [
            ("harbor-lantern-42!", "upper-case"),
            ("HARBOR-LANTERN-42!", "lower-case"),
            ("Harbor-Lantern-xx!", "digit"),
            ("HarborLantern42x", "symbol"),
            ("Alice-Lantern-42!", "username"),
            ("Moreau-Lantern-42!", "name"),
            ("Password123!", "too easy"),
            (too_long.as_str(), "at most"),
        ] {
            let problems = policy.check(password, &WORDS);
            assert!(
                problems.iter().any(|p| p.contains(named)),
                "{password}: {problems:?}"
            );
        }
    }
}
