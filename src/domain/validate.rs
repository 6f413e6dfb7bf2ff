//! Field rules shared by forms and the command line. Each returns the clean value or the
//! sentence to show beside the field.

/// An optional email: empty is none; otherwise one address of at most 254 characters.
pub fn email(value: &str) -> Result<Option<String>, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let invalid = || "Enter an email address like name@example.com.".to_string();
    if value.len() > 254 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid());
    }
    let (local, domain) = value.rsplit_once('@').ok_or_else(invalid)?;
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@');
    if local.is_empty() || local.contains('@') || !domain_ok {
        return Err(invalid());
    }
    Ok(Some(value.to_string()))
}

/// An optional phone number: digits with spaces, dashes, dots or brackets, an optional
/// leading '+', 6 to 20 digits.
pub fn phone(value: &str) -> Result<Option<String>, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let allowed = value.char_indices().all(|(i, c)| {
        c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')') || (c == '+' && i == 0)
    });
    let digits = value.chars().filter(char::is_ascii_digit).count();
    if !allowed || !(6..=20).contains(&digits) {
        return Err("Enter a phone number of 6 to 20 digits, such as +90 532 000 1122.".into());
    }
    Ok(Some(value.to_string()))
}

/// A display name: 1 to 100 characters, no control characters.
pub fn display_name(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("Enter a name.".into());
    }
    if value.chars().count() > 100 || value.chars().any(char::is_control) {
        return Err("A name is at most 100 characters, on one line.".into());
    }
    Ok(value.to_string())
}

/// A name that must be unique in the company, case aside (`kind`: "channel", "role"): 1 to `max`
/// characters on one line, none of the `existing` names (each with its id; `except` is the
/// record being renamed).
pub fn unique_name<Id: PartialEq>(
    value: &str,
    kind: &str,
    max: usize,
    existing: impl IntoIterator<Item = (Id, String)>,
    except: Option<Id>,
) -> Result<String, String> {
    let name = value.trim().to_string();
    if name.is_empty() || name.chars().count() > max || name.chars().any(char::is_control) {
        return Err(format!(
            "A {kind} name is 1 to {max} characters on one line."
        ));
    }
    let lower = name.to_lowercase();
    let taken = existing
        .into_iter()
        .any(|(id, other)| Some(&id) != except.as_ref() && other.to_lowercase() == lower);
    if taken {
        return Err(format!("A {kind} named {name} already exists."));
    }
    Ok(name)
}

/// A whole number in a range, for settings.
pub fn number_in(value: &str, min: i32, max: i32, what: &str) -> Result<i32, String> {
    value
        .trim()
        .parse::<i32>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| format!("{what} must be a whole number from {min} to {max}."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(email(""), Ok(None));
        assert_eq!(email(" a@b.co "), Ok(Some("a@b.co".into())));
        for bad in [
            "a",
            "a@b",
            "@b.co",
            "a@.co",
            "a b@c.co",
            "a@b@c.co",
            &format!("{}@b.co", "a".repeat(260)),
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phones() {
        assert_eq!(
            phone("+90 532 000 1122"),
            Ok(Some("+90 532 000 1122".into()))
        );
        assert_eq!(phone(""), Ok(None));
        for bad in ["12345", "+1 (415) abc", "1+2345678", &"9".repeat(21)] {
            assert!(phone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_and_numbers() {
        assert!(display_name("  ").is_err());
        assert!(display_name(&"x".repeat(101)).is_err());
        assert!(display_name("a\nb").is_err());
        assert_eq!(number_in("12", 8, 128, "Length"), Ok(12));
        assert!(number_in("7", 8, 128, "Length").is_err());
        assert!(number_in("x", 8, 128, "Length").is_err());
    }
}
