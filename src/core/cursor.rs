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

/// One page of a keyset list: its rows, and whether a next page holds more.
///
/// A list reads one row past its page ([`rows_to_read`]): that row says a next page exists,
/// so a page that ends exactly at the last match offers no empty next page.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub rows: Vec<T>,
    pub more: bool,
}

/// How many rows to read for a [`Page`] of `size`.
pub const fn rows_to_read(size: i64) -> i64 {
    size + 1
}

impl<T> Page<T> {
    /// The page of `size` in `rows`, read with [`rows_to_read`].
    pub fn of(mut rows: Vec<T>, size: i64) -> Self {
        let size = usize::try_from(size).unwrap_or(0);
        let more = rows.len() > size;
        rows.truncate(size);
        Self { rows, more }
    }

    /// The same page with each row made into another.
    pub fn map<U>(self, row: impl FnMut(T) -> U) -> Page<U> {
        Page {
            rows: self.rows.into_iter().map(row).collect(),
            more: self.more,
        }
    }

    /// The next page's cursor, made from the last row shown, when there is a next page.
    pub fn next<C>(&self, cursor_of: impl FnOnce(&T) -> C) -> Option<C> {
        self.rows.last().filter(|_| self.more).map(cursor_of)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_offers_a_next_page_only_when_a_row_lies_past_it() {
        let read = |n: i64| Page::of((0..n).collect::<Vec<i64>>(), 3);
        for (found, shown, next) in [
            (0, 0, None),
            (2, 2, None),
            (3, 3, None),
            (rows_to_read(3), 3, Some(2)),
        ] {
            let page = read(found);
            assert_eq!(page.rows.len(), shown, "{found} rows read");
            assert_eq!(page.next(|last| *last), next, "{found} rows read");
        }
    }

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
