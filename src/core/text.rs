//! What text may be stored: both databases hold any Unicode except NUL (PostgreSQL refuses
//! it in text), so a NUL anywhere is malformed input, refused where the input arrives.

/// "1 open conversation", "3 open conversations": a count and the word it counts.
pub fn count<N: TryInto<i64> + std::fmt::Display + Copy>(n: N, one: &str, many: &str) -> String {
    let single = n.try_into().is_ok_and(|n| n == 1);
    format!("{n} {}", if single { one } else { many })
}

/// 10080 as "10,080".
pub fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// True when the text holds no NUL character.
pub fn storable(text: &str) -> bool {
    !text.contains('\0')
}

/// Dates both databases can hold (PostgreSQL stops at 4713 BC, chrono and SQLite far later):
/// the years people type in this product.
pub const YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

/// What was typed into a form's or a filter's field, trimmed; `None` when nothing was (a
/// browser sends every field of a form, the empty ones as `from=`).
pub fn typed(text: Option<&str>) -> Option<&str> {
    text.map(str::trim).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::grouped;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(730), "730");
        assert_eq!(grouped(1440), "1,440");
        assert_eq!(grouped(10_080), "10,080");
        assert_eq!(grouped(1_000_000), "1,000,000");
        assert_eq!(grouped(-1440), "-1,440");
    }
}
