//! Time-based one-time codes (RFC 6238: SHA-1, 6 digits, 30-second steps, the usual
//! authenticator apps), on the `totp-rs` crate; recovery codes; the enrolment QR code as SVG.

use totp_rs::{Algorithm, TOTP};

const DIGITS: usize = 6;
const STEP_SECONDS: u64 = 30;
/// Codes of the step before and after are accepted too: phones' clocks drift.
const SKEW_STEPS: u64 = 1;
/// 160 bits, as RFC 4226 recommends.
const SECRET_BYTES: usize = 20;

/// A two-factor secret in the clear: exists only in memory, between opening and use.
pub struct TotpSecret(Vec<u8>);

impl TotpSecret {
    pub fn random() -> Self {
        let mut bytes = vec![0u8; SECRET_BYTES];
        rand::fill(bytes.as_mut_slice());
        Self(bytes)
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The secret as an app's user typed it (base32, spaces and case ignored).
    pub fn from_base32(text: &str) -> Option<Self> {
        let compact: String = text
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        totp_rs::Secret::Encoded(compact).to_bytes().ok().map(Self)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn totp(&self) -> Option<TOTP> {
        TOTP::new(
            Algorithm::SHA1,
            DIGITS,
            SKEW_STEPS as u8,
            STEP_SECONDS,
            self.0.clone(),
        )
        .ok()
    }

    /// The secret as people type it into an app: base32, in groups of four.
    pub fn base32(&self) -> String {
        let plain = self
            .totp()
            .map(|t| t.get_secret_base32())
            .unwrap_or_default();
        plain
            .as_bytes()
            .chunks(4)
            .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The `otpauth://` address an app reads from the QR code.
    pub fn otpauth_url(&self, issuer: &str, account: &str) -> String {
        let label = format!("{issuer}:{account}");
        format!(
            "otpauth://totp/{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
            url_encode(&label),
            self.base32().replace(' ', ""),
            url_encode(issuer)
        )
    }

    /// The code for the moment `unix_seconds` (what the app shows).
    pub fn code_at(&self, unix_seconds: u64) -> String {
        self.totp()
            .map(|t| t.generate(unix_seconds))
            .unwrap_or_default()
    }

    /// The time step whose code `code` is, among the current one and its neighbours, and only
    /// if it is later than `after` (a code used once is not accepted again). Compared in
    /// constant time.
    pub fn matching_step(&self, code: &str, unix_seconds: u64, after: Option<u64>) -> Option<u64> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != DIGITS || !code.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let totp = self.totp()?;
        let now = unix_seconds / STEP_SECONDS;
        let mut found = None;
        for step in now.saturating_sub(SKEW_STEPS)..=now + SKEW_STEPS {
            let expected = totp.generate(step * STEP_SECONDS);
            if crate::core::secrets::constant_time_eq(&expected, &code)
                && after.is_none_or(|used| step > used)
            {
                found = Some(step);
            }
        }
        found
    }
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The enrolment QR code as an inline SVG (no script, nothing for the CSP to allow).
pub fn qr_svg(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
    )
}

/// Recovery codes: ten, each 12 characters from an alphabet without look-alikes (60 bits),
/// shown as `xxxx-xxxx-xxxx`.
pub const RECOVERY_CODES: usize = 10;
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

pub fn recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; 12];
            rand::fill(&mut bytes);
            let chars: Vec<char> = bytes
                .iter()
                .map(|b| RECOVERY_ALPHABET[usize::from(*b) % RECOVERY_ALPHABET.len()] as char)
                .collect();
            chars
                .chunks(4)
                .map(|c| c.iter().collect::<String>())
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect()
}

/// A recovery code as stored: SHA-256 of its letters, whatever the case, spaces or dashes.
/// (60 random bits need no slow hash: nobody can try 2^60 guesses through the sign-in.)
pub fn recovery_code_hash(code: &str) -> String {
    let letters: String = code
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    crate::core::secrets::sha256_hex(&letters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_rfc_6238() {
        // RFC 6238 appendix B: the SHA-1 secret "12345678901234567890", 8 digits there; the
        // 6-digit code is the last six of them
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        // what is sealed at rest is the secret itself
        assert_eq!(secret.as_bytes(), b"12345678901234567890");
        assert_eq!(secret.code_at(59), "287082");
        assert_eq!(secret.code_at(1_111_111_109), "081804");
        assert_eq!(secret.code_at(2_000_000_000), "279037");
    }

    #[test]
    fn a_code_matches_its_step_and_its_neighbours_once() {
        let secret = TotpSecret::random();
        let at = 1_700_000_000;
        let code = secret.code_at(at);
        let step = at / 30;
        assert_eq!(secret.matching_step(&code, at, None), Some(step));
        assert_eq!(secret.matching_step(&code, at + 30, None), Some(step));
        // a phone whose clock runs 30 s ahead shows the next step's code: still accepted
        assert_eq!(
            secret.matching_step(&code, at - 30, None),
            Some(step),
            "early"
        );
        assert_eq!(
            secret.matching_step(&code, at - 90, None),
            None,
            "too early"
        );
        assert_eq!(secret.matching_step(&code, at + 90, None), None, "too late");
        assert_eq!(secret.matching_step(&code, at, Some(step)), None, "used");
        assert_eq!(secret.matching_step(&code, at, Some(step - 1)), Some(step));
        assert_eq!(
            secret.matching_step(&format!("{} {}", &code[..3], &code[3..]), at, None),
            Some(step)
        );
        assert_eq!(secret.matching_step("12345", at, None), None);
        assert_eq!(secret.matching_step("abcdef", at, None), None);
    }

    #[test]
    fn the_secret_reads_as_base32_and_in_the_qr_address() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        assert_eq!(secret.base32(), "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ");
        let again = TotpSecret::from_base32("gezd gnbv gy3t qojq gezd gnbv gy3t qojq").unwrap();
        assert_eq!(again.as_bytes(), secret.as_bytes());
        let url = secret.otpauth_url("Switchboard DEMO", "sofia");
        assert!(url.starts_with("otpauth://totp/Switchboard%20DEMO%3Asofia?secret=GEZDGNBV"));
        let svg = qr_svg(&url).unwrap();
        assert!(svg.contains("<svg") && !svg.contains("<script"));
    }

    #[test]
    fn recovery_codes_are_distinct_and_hashed_loosely() {
        let codes = recovery_codes();
        assert_eq!(codes.len(), 10);
        assert!(codes.iter().all(|c| c.len() == 14));
        // drawn from the whole alphabet: 120 letters from 31 show nearly all of them (a
        // narrower draw would cut the codes' 60 bits)
        let mut letters: Vec<char> = codes.concat().chars().filter(|c| *c != '-').collect();
        assert!(
            letters
                .iter()
                .all(|c| RECOVERY_ALPHABET.contains(&(*c as u8)))
        );
        letters.sort_unstable();
        letters.dedup();
        assert!(letters.len() > 20, "only {} letters used", letters.len());
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 10);
        assert_eq!(
            recovery_code_hash(&codes[0]),
            recovery_code_hash(&codes[0].to_uppercase().replace('-', " "))
        );
        // the hash of the letters themselves: another code's is another, and it is SHA-256
        assert_ne!(recovery_code_hash(&codes[0]), recovery_code_hash(&codes[1]));
        assert_eq!(
            recovery_code_hash("abcd-efgh-jkmn"),
            crate::core::secrets::sha256_hex("abcdefghjkmn")
        );
    }
}
