//! Masking of customers' phone numbers and email addresses: the only place it happens.
//!
//! Data leaves the domain layer through a [`ContactMask`] (`Viewer::contact_mask`); pages,
//! fragments and exports all render what it returns, so a viewer without
//! `contacts.view_unmasked` never receives a full value. Formats (CONTRACT.md):
//! `+90 *** *** **67`, `j***@***.com`.
//!
//! Two strengths: an *identifier* (a contact's name, a WhatsApp id, a caller id) masks every
//! run of six or more digits, since such fields hold nothing else worth reading; free *text*
//! (a message, a reason) masks what the phone-number parser (libphonenumber's metadata) takes
//! for a number in the company's region or in international form, and every run of ten or more
//! digits, so order numbers, dates and amounts stay readable.

use std::str::FromStr;
use std::sync::LazyLock;

use phonenumber::country;
use regex::Regex;

use super::permissions::{Permission, PermissionSet};

/// The country whose numbers a company's customers write without a country code (a company
/// setting, ISO 3166 alpha-2): `0532 000 11 67` is a number in `TR`, an order number in `GB`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PhoneRegion(country::Id);

impl PhoneRegion {
    /// The region of companies that never chose one (the column default).
    pub const DEFAULT: Self = Self(country::Id::TR);

    /// `"tr"`, `"GB"`: `None` for anything that is not a region libphonenumber knows.
    pub fn parse(code: &str) -> Option<Self> {
        let code = code.trim().to_ascii_uppercase();
        (code.len() == 2)
            .then(|| country::Id::from_str(&code).ok())
            .flatten()
            .map(Self)
    }

    /// A stored code; an unknown one (edited by hand in the database) falls back to the default.
    pub fn from_stored(code: &str) -> Self {
        Self::parse(code).unwrap_or(Self::DEFAULT)
    }

    pub fn code(self) -> String {
        self.0.as_ref().to_string()
    }
}

impl Default for PhoneRegion {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Whether a viewer sees contact details in full or masked, and how free text is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContactMask {
    Full,
    Masked(PhoneRegion),
}

impl ContactMask {
    pub fn for_viewer(permissions: PermissionSet, region: PhoneRegion) -> Self {
        if permissions.contains(Permission::ContactsViewUnmasked) {
            Self::Full
        } else {
            Self::Masked(region)
        }
    }

    pub fn is_masked(self) -> bool {
        matches!(self, Self::Masked(_))
    }

    pub fn phone(self, phone: &str) -> String {
        match self {
            Self::Full => phone.to_string(),
            Self::Masked(_) => mask_phone(phone),
        }
    }

    pub fn email(self, email: &str) -> String {
        match self {
            Self::Full => email.to_string(),
            Self::Masked(_) => mask_email(email),
        }
    }

    /// Identifiers that carry a number or an address (a contact's name, a WhatsApp id, an SMS
    /// sender, a caller id).
    pub fn identifier(self, identifier: &str) -> String {
        match self {
            Self::Full => identifier.to_string(),
            Self::Masked(_) => mask_identifier(identifier),
        }
    }

    /// Free text: message bodies, reasons.
    pub fn text(self, text: &str) -> String {
        match self {
            Self::Full => text.to_string(),
            Self::Masked(region) => mask_text(text, region),
        }
    }
}

/// How many leading digits of an international number are its country calling code, as the
/// parser reads them (0 when it cannot tell: then nothing but the last two digits is shown).
fn country_code_len(international: &str) -> usize {
    // Parsing costs tens of microseconds and a list masks the same numbers on every view, so
    // answers are remembered (a bounded map: emptied when full).
    static KNOWN: LazyLock<std::sync::RwLock<std::collections::HashMap<String, usize>>> =
        LazyLock::new(Default::default);
    const MOST: usize = 10_000;
    if let Some(len) = KNOWN
        .read()
        .ok()
        .and_then(|known| known.get(international).copied())
    {
        return len;
    }
    let len = phonenumber::parse(None, international)
        .map(|number| number.code().value().to_string().len())
        .unwrap_or(0);
    if let Ok(mut known) = KNOWN.write() {
        if known.len() >= MOST {
            known.clear();
        }
        known.insert(international.to_string(), len);
    }
    len
}

/// A number in international form as people write it (`+905320001177` → `+90 532 000 11 77`);
/// anything else (a SIP address, a number without its country) unchanged.
pub fn readable_phone(raw: &str) -> String {
    let trimmed = raw.trim();
    if !trimmed.starts_with('+') {
        return raw.to_string();
    }
    match phonenumber::parse(None, trimmed) {
        Ok(number) if number.is_valid() => number
            .format()
            .mode(phonenumber::Mode::International)
            .to_string(),
        _ => raw.to_string(),
    }
}

/// `+90 532 000 1167` → `+90 *** *** **67`. Keeps at most the country code (when the number
/// is international) and the last two digits; separators stay so the shape is familiar.
pub fn mask_phone(phone: &str) -> String {
    let trimmed = phone.trim();
    let digit_count = trimmed.chars().filter(char::is_ascii_digit).count();
    let international = trimmed.starts_with('+');
    let keep_front = if international {
        let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
        country_code_len(&format!("+{digits}"))
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
            // (`seen` counts from 1, so a number without a known country code never gets one)
            if international && seen == keep_front {
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

/// Masks every e-mail address and every run of six or more digits (possibly written with
/// spaces, dashes, dots or brackets between them) inside an identifier such as
/// `whatsapp:+905320001167`, `sms:+90 532 000 1167` or a contact's name.
pub fn mask_identifier(text: &str) -> String {
    mask_details(text, |run| digit_count(run) >= 6)
}

/// Masks every e-mail address and every phone number inside free text: what the parser takes
/// for a valid number of the company's region, anything written in international form (`+`,
/// `00`), and any run of ten or more digits, which no reader can tell from a number. Shorter
/// runs that are not numbers (`Order 123456`, `2026-12-02`, `1.250.000`) stay readable.
pub fn mask_text(text: &str, region: PhoneRegion) -> String {
    mask_details(text, |run| {
        let digits = digit_count(run);
        if digits < 6 {
            return false;
        }
        let international = run.starts_with('+') || run.starts_with("00");
        digits >= 10
            || international
            || phonenumber::parse(Some(region.0), run).is_ok_and(|number| number.is_valid())
    })
}

fn digit_count(run: &str) -> usize {
    run.chars().filter(char::is_ascii_digit).count()
}

/// An e-mail address as people write them in messages: a local part, `@`, a domain.
/// (A constant pattern, compiled once; a unit test proves it compiles.)
static EMAIL: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"[\w.%+\-]+@[\w\-]+(?:\.[\w\-]+)*").ok());

fn mask_details(text: &str, is_phone: impl Fn(&str) -> bool) -> String {
    // Digits hide in other shapes: full-width digits (`５３２`) become ASCII under NFKC, and
    // zero-width characters between digits would split a run. Normalise first, so what is
    // masked is what the viewer would read.
    let text = normalized(text);
    // without its pattern no address could be told apart from other text: fail closed
    let Some(email) = EMAIL.as_ref() else {
        return "***".to_string();
    };
    let emails_masked =
        email.replace_all(&text, |found: &regex::Captures<'_>| mask_email(&found[0]));
    mask_digit_runs(&emails_masked, is_phone)
}

/// NFKC, without zero-width and other invisible formatting characters.
fn normalized(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    // ASCII is its own NFKC and holds none of the characters removed below; most messages are
    // ASCII, and the decomposition took ~7 % of the inbox's time
    if text.is_ascii() {
        return text.to_string();
    }
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

fn mask_digit_runs(text: &str, is_phone: impl Fn(&str) -> bool) -> String {
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
        if is_phone(&run) {
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
    fn international_numbers_are_written_readably_and_still_masked() {
        assert_eq!(readable_phone("+905320001177"), "+90 532 000 11 77");
        assert_eq!(
            readable_phone("sip:agent@example.com"),
            "sip:agent@example.com"
        );
        assert_eq!(readable_phone("05320001177"), "05320001177");
        assert_eq!(readable_phone("+1"), "+1");
        // parsed but not a valid number: left as written
        assert_eq!(readable_phone("+90 12 34"), "+90 12 34");
        let masked = mask_identifier(&readable_phone("+905320001177"));
        assert_eq!(masked, "+90 *** *** ** 77");
    }

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
        // a top-level domain is shown only when it looks like one
        assert_eq!(mask_email("jane@example."), "j***@***");
        assert_eq!(mask_email("jane@example.c_m"), "j***@***");
        assert_eq!(mask_email("jane@localhost"), "j***@***");
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
        let region = PhoneRegion::DEFAULT;
        let mask = ContactMask::for_viewer(PermissionSet::all(), region);
        assert!(!mask.is_masked());
        assert_eq!(mask.phone("+90 532 000 1167"), "+90 532 000 1167");
        assert_eq!(mask.text("ring 0532 000 11 67"), "ring 0532 000 11 67");
        assert_eq!(mask.email("jane@example.com"), "jane@example.com");
        assert_eq!(
            mask.identifier("whatsapp:+905320001167"),
            "whatsapp:+905320001167"
        );
        let mask = ContactMask::for_viewer(PermissionSet::empty(), region);
        assert!(mask.is_masked());
        assert_eq!(mask.email("jane@example.com"), "j***@***.com");
        assert_eq!(mask.text("ring 0532 000 11 67"), "ring **** *** ** 67");
        assert_eq!(mask.phone("+90 532 000 1167"), "+90 *** *** **67");
        assert_eq!(
            mask.identifier("whatsapp:+905320001167"),
            "whatsapp:+90********67"
        );
    }

    #[test]
    fn free_text_keeps_order_numbers_dates_and_amounts_readable() {
        for text in [
            "Order 123456 ships tomorrow",
            "your reference is 12345613",
            "delivered on 2026-12-02 at 14:30",
            "total 1.250.000 TL, code 4411",
            "follow @harbor_shop for offers",
            // fewer than six digits are never a number, whatever their shape
            "we won +3 to 1, 12345 items",
            // four separators part two groups: pages, not one number
            "pages 12345....67890",
        ] {
            assert_eq!(mask_text(text, PhoneRegion::DEFAULT), text);
        }
    }

    #[test]
    fn free_text_masks_what_the_parser_reads_as_a_number() {
        let region = |code| PhoneRegion::parse(code).expect("a known region");
        for (text, code, hidden) in [
            // a national number of the company's region
            ("call 0532 000 11 67", "TR", "000"),
            ("llama al 612 345 678", "ES", "345"),
            ("ring 32 12 34 56", "DK", "12 34"),
            // international form, valid or not
            ("call +44 7700 137 8919", "TR", "137"),
            ("call 0044 7700 900 123", "TR", "900"),
            ("call +44 1234", "TR", "1234"),
            // ten digits or more, however written
            ("ring 4477 - 0013 - 78919 today", "TR", "0013"),
            ("ring ４４７７００１３７８９１９ today", "TR", "0013"),
            ("ring 4477\u{200B}0013\u{200B}78919 today", "TR", "0013"),
            // addresses, wherever they stand in a sentence
            ("write to (jane.doe@example.com).", "TR", "jane"),
            ("mailto:lee+crm@mail.example.org", "TR", "lee"),
        ] {
            let masked = mask_text(text, region(code));
            assert!(!masked.contains(hidden), "{text:?} in {code} -> {masked}");
        }
        // a number at the very end of the text, followed by separators
        assert_eq!(
            mask_text("call 0532 000 11 67.", PhoneRegion::DEFAULT),
            "call **** *** ** 67."
        );
        // the same 9 digits are an order number where they are not a number
        assert_eq!(
            mask_text("llama al 612 345 678", region("GB")),
            "llama al 612 345 678"
        );
    }

    #[test]
    fn the_email_pattern_compiles() {
        assert!(EMAIL.is_some());
    }

    #[test]
    fn regions_are_iso_codes_libphonenumber_knows() {
        assert_eq!(
            PhoneRegion::parse("gb").map(PhoneRegion::code),
            Some("GB".into())
        );
        assert_eq!(PhoneRegion::parse("XX"), None);
        assert_eq!(PhoneRegion::parse("TUR"), None);
        assert_eq!(PhoneRegion::from_stored("??"), PhoneRegion::DEFAULT);
        assert_eq!(PhoneRegion::from_stored("gb").code(), "GB");
    }
}
