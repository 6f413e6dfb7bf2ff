//! What text may be stored: both databases hold any Unicode except NUL (PostgreSQL refuses
//! it in text), so a NUL anywhere is malformed input, refused where the input arrives.

/// "1 open conversation", "3 open conversations": a count and the word it counts.
pub fn count<N: TryInto<i64> + std::fmt::Display + Copy>(n: N, one: &str, many: &str) -> String {
    let single = n.try_into().is_ok_and(|n| n == 1);
    format!("{n} {}", if single { one } else { many })
}

/// True when the text holds no NUL character.
pub fn storable(text: &str) -> bool {
    !text.contains('\0')
}

/// Dates both databases can hold (PostgreSQL stops at 4713 BC, chrono and SQLite far later):
/// the years people type in this product.
pub const YEARS: std::ops::RangeInclusive<i32> = 1..=9999;
