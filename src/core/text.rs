//! What text may be stored: both databases hold any Unicode except NUL (PostgreSQL refuses
//! it in text), so a NUL anywhere is malformed input, refused where the input arrives.

/// True when the text holds no NUL character.
pub fn storable(text: &str) -> bool {
    !text.contains('\0')
}

/// Dates both databases can hold (PostgreSQL stops at 4713 BC, chrono and SQLite far later):
/// the years people type in this product.
pub const YEARS: std::ops::RangeInclusive<i32> = 1..=9999;
