//! A condition written in the program, its values bound, that the connection prepares once
//! and then reuses. diesel never caches a statement holding one of its `sql()` literals, nor,
//! on SQLite, one holding `eq_any` (its text grows with the list). The visibility filter, on
//! every list and in every page's badge, was therefore parsed and planned again on each
//! request: a fifth of the inbox's CPU on SQLite, and on PostgreSQL the inbox's list was
//! planned anew each time (about 1 ms). Here a list of ids is one bound value, so the text of
//! a statement depends on the program alone and the connection's cache of prepared
//! statements stays as small as the program.

use chrono::NaiveDateTime;
use diesel::expression::{AppearsOnTable, Expression, SelectableExpression, ValidGrouping};
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Bool, Text, Timestamp};
use diesel::{QueryResult, expression::is_aggregate};

use super::MultiBackend;

/// A boolean condition: program text, bound integers, texts, times and lists of ids, in
/// order. It renders in parentheses, so it combines with diesel's `and` / `or` as one term.
#[derive(Clone, Debug)]
pub struct Condition {
    parts: Vec<Part>,
}

#[derive(Clone, Debug)]
enum Part {
    Sql(&'static str),
    Int(i64),
    Text(String),
    Time(NaiveDateTime),
    /// ` IN (ids)` as one value: a JSON array for SQLite's `json_each`, an array literal for
    /// PostgreSQL's `ANY`.
    In {
        json: String,
        array: String,
    },
}

impl Condition {
    /// Starts with `text`: only ever literals of the program, never input.
    pub fn sql(text: &'static str) -> Self {
        Self {
            parts: vec![Part::Sql(text)],
        }
    }

    pub fn then(mut self, text: &'static str) -> Self {
        self.parts.push(Part::Sql(text));
        self
    }

    pub fn int(mut self, value: i64) -> Self {
        self.parts.push(Part::Int(value));
        self
    }

    pub fn text(mut self, value: String) -> Self {
        self.parts.push(Part::Text(value));
        self
    }

    pub fn time(mut self, value: NaiveDateTime) -> Self {
        self.parts.push(Part::Time(value));
        self
    }

    /// ` IN (ids)` after the expression written so far; an empty list matches nothing.
    pub fn in_ids(mut self, ids: impl IntoIterator<Item = i64>) -> Self {
        let ids: Vec<String> = ids.into_iter().map(|id| id.to_string()).collect();
        let list = ids.join(",");
        self.parts.push(Part::In {
            json: format!("[{list}]"),
            array: format!("{{{list}}}"),
        });
        self
    }
}

impl Expression for Condition {
    type SqlType = Bool;
}

impl<QS> SelectableExpression<QS> for Condition {}

impl<QS> AppearsOnTable<QS> for Condition {}

impl<GB> ValidGrouping<GB> for Condition {
    type IsAggregate = is_aggregate::Never;
}

impl QueryId for Condition {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl QueryFragment<MultiBackend> for Condition {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, MultiBackend>) -> QueryResult<()> {
        let sqlite = matches!(out.backend(), MultiBackend::Sqlite(_));
        out.push_sql("(");
        for part in &self.parts {
            match part {
                Part::Sql(text) => out.push_sql(text),
                Part::Int(value) => out.push_bind_param::<BigInt, i64>(value)?,
                Part::Text(value) => out.push_bind_param::<Text, String>(value)?,
                Part::Time(value) => out.push_bind_param::<Timestamp, NaiveDateTime>(value)?,
                Part::In { json, array } => {
                    if sqlite {
                        out.push_sql(" IN (SELECT value FROM json_each(");
                        out.push_bind_param::<Text, String>(json)?;
                        out.push_sql("))");
                    } else {
                        out.push_sql(" = ANY(CAST(");
                        out.push_bind_param::<Text, String>(array)?;
                        out.push_sql(" AS BIGINT[]))");
                    }
                }
            }
        }
        out.push_sql(")");
        Ok(())
    }
}
