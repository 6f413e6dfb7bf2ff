//! Keyset page cursors for lists ordered newest first by (time, id): `{microseconds}_{id}` in
//! links, so the next page starts exactly after the last row shown, whatever was added since.

use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDateTime};

/// The cursor of the row at `at` with `id`, as it goes into a link.
pub fn format(at: NaiveDateTime, id: impl std::fmt::Display) -> String {
    format!("{}_{id}", at.and_utc().timestamp_micros())
}

/// A cursor from a link; `None` for anything `format` does not make (the page answers 422).
pub fn parse<Id: FromStr>(value: &str) -> Option<(NaiveDateTime, Id)> {
    let (micros, id) = value.trim().split_once('_')?;
    let micros: i64 = micros.parse().ok()?;
    let id = id.parse().ok()?;
    let at = DateTime::from_timestamp_micros(micros)
        .filter(|at| super::text::YEARS.contains(&at.year()))?;
    Some((at.naive_utc(), id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_the_rest() {
        let at = DateTime::from_timestamp_micros(1_764_700_000_123_456)
            .unwrap()
            .naive_utc();
        let text = format(at, 42);
        assert_eq!(parse::<i64>(&text), Some((at, 42)));
        for bad in [
            "",
            "42",
            "x_1",
            "1_x",
            "_",
            "99999999999999999999_1",
            "1_2_3",
        ] {
            assert!(parse::<i64>(bad).is_none(), "{bad}");
        }
    }
}
