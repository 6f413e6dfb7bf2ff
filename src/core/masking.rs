//! Masking of customers' phone numbers and email addresses: the only place it happens.
//!
//! Data leaves the domain layer through [`ContactMask::for_viewer`]; pages, fragments and
//! exports all render what it returns, so a viewer without `contacts.view_unmasked` never
//! receives a full value. Formats (CONTRACT.md): `+90 *** *** **67`, `j***@***.com`.

use super::permissions::{Permission, PermissionSet};

/// Whether a viewer sees contact details in full or masked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContactMask {
    Full,
    Masked,
}

impl ContactMask {
    pub fn for_viewer(permissions: PermissionSet) -> Self {
        if permissions.contains(Permission::ContactsViewUnmasked) {
            Self::Full
        } else {
            Self::Masked
        }
    }

    pub fn phone(self, phone: &str) -> String {
        match self {
            Self::Full => phone.to_string(),
            Self::Masked => mask_phone(phone),
        }
    }

    pub fn email(self, email: &str) -> String {
        match self {
            Self::Full => email.to_string(),
            Self::Masked => mask_email(email),
        }
    }

    /// Identifiers that carry a number or an address (a WhatsApp id, an SMS sender, a caller id).
    pub fn identifier(self, identifier: &str) -> String {
        match self {
            Self::Full => identifier.to_string(),
            Self::Masked => mask_identifier(identifier),
        }
    }
}

/// Country calling codes of one or two digits (ITU-T E.164 assignments); all others have three.
fn country_code_len(digits: &str) -> usize {
    const TWO_DIGIT: [&str; 42] = [
        "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46",
        "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63",
        "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94",
    ];
    const TWO_DIGIT_MORE: [&str; 2] = ["95", "98"];
    if digits.starts_with('1') || digits.starts_with('7') {
        1
    } else if digits.len() >= 2
        && (TWO_DIGIT.contains(&&digits[..2]) || TWO_DIGIT_MORE.contains(&&digits[..2]))
    {
        2
    } else {
        3
    }
}

/// `+90 532 000 1167` → `+90 *** *** **67`. Keeps at most the country code (when the number
/// is international) and the last two digits; separators stay so the shape is familiar.
pub fn mask_phone(phone: &str) -> String {
    let trimmed = phone.trim();
    let digit_count = trimmed.chars().filter(char::is_ascii_digit).count();
    let international = trimmed.starts_with('+');
    let all_digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    let keep_front = if international {
        country_code_len(&all_digits)
    } else {
        0
    };
    // Too short to show anything safely: mask every digit.
    let keep_back = if digit_count >= keep_front + 6 { 2 } else { 0 };
    let keep_front = if keep_back == 0 { 0 } else { keep_front };

    let mut out = String::with_capacity(trimmed.len() + 2);
    let mut seen = 0;
    for ch in trimmed.chars() {
        if ch.is_ascii_digit() {
            seen += 1;
            if seen <= keep_front || seen > digit_count - keep_back {
                out.push(ch);
            } else {
                out.push('*');
            }
            // a separator after the country code, even when the number was written without one
            if international && seen == keep_front && keep_front > 0 {
                out.push(' ');
            }
        } else if ch == '+' {
            out.push('+');
        } else if (ch.is_whitespace() || matches!(ch, '-' | '.' | '(' | ')')) && !out.ends_with(' ')
        {
            out.push(' ');
        }
        // any other character is dropped
    }
    out.trim().to_string()
}

/// `jane.doe@example.com` → `j***@***.com`.
pub fn mask_email(email: &str) -> String {
    let trimmed = email.trim();
    let Some((local, domain)) = trimmed.rsplit_once('@') else {
        return "***".to_string();
    };
    let first = local.chars().next().map(String::from).unwrap_or_default();
    let tld = domain
        .rsplit_once('.')
        .map(|(_, tld)| tld)
        .filter(|tld| !tld.is_empty() && tld.chars().all(|c| c.is_ascii_alphanumeric()))
        .map(|tld| format!(".{tld}"))
        .unwrap_or_default();
    format!("{first}***@***{tld}")
}

/// Masks every email-like word and every phone-like run (6 or more digits, possibly written
/// with spaces, dashes, dots or brackets between them) inside free text or an identifier such
/// as `whatsapp:+905320001167`, `sms:+90 532 000 1167` or a message body.
pub fn mask_identifier(text: &str) -> String {
    // Digits hide in other shapes: full-width digits (`５３２`) become ASCII under NFKC, and
    // zero-width characters between digits would split a run. Normalise first, so what is
    // masked is what the viewer would read.
    let text = normalized(text);
    let text = text.as_str();
    // emails first, word by word (keeping a `scheme:` prefix), then numbers across words
    let mut emails_masked = String::with_capacity(text.len());
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            emails_masked.push(' ');
        }
        if word.contains('@') {
            match word.split_once(':') {
                Some((scheme, rest)) if rest.contains('@') => {
                    emails_masked.push_str(scheme);
                    emails_masked.push(':');
                    emails_masked.push_str(&mask_email(rest));
                }
                _ => emails_masked.push_str(&mask_email(word)),
            }
        } else {
            emails_masked.push_str(word);
        }
    }
    mask_digit_runs(&emails_masked)
}

/// NFKC, without zero-width and other invisible formatting characters.
fn normalized(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    text.nfkc()
        .filter(|c| {
            !matches!(
                c,
                '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{00AD}'
            )
        })
        .collect()
}

fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '-' | '.' | '(' | ')')
}

fn mask_digit_runs(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let starts_run = chars[i].is_ascii_digit()
            || (chars[i] == '+' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
            || (chars[i] == '(' && chars.get(i + 1).is_some_and(char::is_ascii_digit));
        if !starts_run {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // extend over digits and single separators that are followed by more digits
        let start = i;
        let mut end = i + 1;
        while end < chars.len() {
            if chars[end].is_ascii_digit() {
                end += 1;
            } else if is_separator(chars[end]) {
                let mut next = end;
                // up to three separators between digit groups: `4477 - 0013 - 78919`
                while next < chars.len() && is_separator(chars[next]) && next - end < 3 {
                    next += 1;
                }
                if next < chars.len() && chars[next].is_ascii_digit() {
                    end = next;
                } else {
                    break;
                }
            } else {
                break;
            }
        }
        let run: String = chars[start..end].iter().collect();
        if run.chars().filter(char::is_ascii_digit).count() >= 6 {
            let masked = mask_phone(&run);
            // written without spaces, it stays without spaces
            if run.contains(' ') {
                out.push_str(&masked);
            } else {
                out.push_str(&masked.replace(' ', ""));
            }
        } else {
            out.push_str(&run);
        }
        i = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_keeps_country_code_and_last_two_digits() {
        assert_eq!(mask_phone("+90 532 000 1167"), "+90 *** *** **67");
        assert_eq!(mask_phone("+905320001167"), "+90 ********67");
        assert_eq!(mask_phone("+1 (415) 555-0142"), "+1 *** *** **42");
        assert_eq!(mask_phone("+44 20 7946 0958"), "+44 ** **** **58");
        assert_eq!(mask_phone("+380 44 123 4567"), "+380 ** *** **67");
        assert_eq!(mask_phone("0532 000 11 67"), "**** *** ** 67");
        assert_eq!(mask_phone("12345"), "*****");
    }

    #[test]
    fn masked_phone_never_holds_more_than_country_code_and_two_digits() {
        for phone in [
            "+90 532 000 1167",
            "+49 30 1234567",
            "+7 912 345 67 89",
            "5551234567",
        ] {
            let masked = mask_phone(phone);
            let digits: String = masked.chars().filter(char::is_ascii_digit).collect();
            assert!(digits.len() <= 5, "{phone} -> {masked}");
            assert!(
                !masked.contains(&phone[phone.len() - 4..]),
                "{phone} -> {masked}"
            );
        }
    }

    #[test]
    fn email_keeps_first_character_and_tld() {
        assert_eq!(mask_email("jane.doe@example.com"), "j***@***.com");
        assert_eq!(mask_email("deniz@mail.example.com.tr"), "d***@***.tr");
        assert_eq!(mask_email("nobody"), "***");
    }

    #[test]
    fn identifiers_carrying_numbers_are_masked() {
        assert_eq!(
            mask_identifier("whatsapp:+905320001167"),
            "whatsapp:+90********67"
        );
        assert_eq!(mask_identifier("sms:905320001167"), "sms:**********67");
        assert_eq!(
            mask_identifier("mailto:jane@example.com"),
            "mailto:j***@***.com"
        );
        assert_eq!(mask_identifier("ig:harbor_shop"), "ig:harbor_shop");
        assert_eq!(
            mask_identifier("call me on +90 532 999 8877 or lee@example.org"),
            "call me on +90 *** *** **77 or l***@***.org"
        );
        assert_eq!(
            mask_identifier("order 1182, 3 items"),
            "order 1182, 3 items"
        );
        assert_eq!(mask_identifier("(415) 555-0142"), "*** *** **42");
    }

    #[test]
    fn numbers_in_other_shapes_are_masked() {
        for (text, hidden) in [
            ("ring 4477 - 0013 - 78919 today", "0013"),
            ("ring ４４７７００１３７８９１９ today", "0013"),
            ("ring 4477\u{200B}0013\u{200B}78919 today", "0013"),
            ("ring +44\u{2060}7700\u{2060}137\u{2060}8919", "137"),
        ] {
            let masked = mask_identifier(text);
            // judged as the reader sees it: full-width digits are digits too
            let seen = normalized(&masked);
            assert!(!seen.contains(hidden), "{text:?} -> {masked}");
            let digits = seen.chars().filter(char::is_ascii_digit).count();
            assert!(digits <= 4, "{text:?} -> {masked}");
        }
    }

    #[test]
    fn full_viewers_see_everything() {
        let mask = ContactMask::for_viewer(PermissionSet::all());
        assert_eq!(mask.phone("+90 532 000 1167"), "+90 532 000 1167");
        let mask = ContactMask::for_viewer(PermissionSet::empty());
        assert_eq!(mask.email("jane@example.com"), "j***@***.com");
    }
}
