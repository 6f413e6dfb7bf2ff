//! Hand-written SQL for what the query builder does not say well — window functions, time
//! arithmetic that each database spells its own way — with every value bound, never pasted.
//! One text serves both databases: the placeholders and the few dialect-specific expressions
//! are written by the builder for the connection it was made for.

use chrono::NaiveDateTime;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::BoxedSqlQuery;
use diesel::sql_types::{BigInt, Text, Timestamp};
use diesel::sqlite::Sqlite;

use crate::db::DbConnection;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
enum Value {
    Int(i64),
    Text(String),
    Time(NaiveDateTime),
}

/// A query being written: text with placeholders, and the values bound to them.
#[derive(Clone, Debug)]
pub struct RawSql {
    dialect: Dialect,
    text: String,
    values: Vec<Value>,
}

impl RawSql {
    pub fn new(conn: &DbConnection) -> Self {
        Self {
            dialect: match conn {
                DbConnection::Sqlite(_) => Dialect::Sqlite,
                DbConnection::Postgres(_) => Dialect::Postgres,
            },
            text: String::new(),
            values: Vec::new(),
        }
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// SQL text as it is: only ever literals of the program, never input.
    pub fn sql(&mut self, text: &'static str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    fn placeholder(&mut self, value: Value) -> &mut Self {
        self.values.push(value);
        match self.dialect {
            Dialect::Sqlite => self.text.push('?'),
            Dialect::Postgres => {
                self.text.push('$');
                self.text.push_str(&self.values.len().to_string());
            }
        }
        self
    }

    pub fn int(&mut self, value: i64) -> &mut Self {
        self.placeholder(Value::Int(value))
    }

    pub fn text(&mut self, value: &str) -> &mut Self {
        self.placeholder(Value::Text(value.to_string()))
    }

    pub fn time(&mut self, value: NaiveDateTime) -> &mut Self {
        self.placeholder(Value::Time(value))
    }

    /// `(?, ?, …)` for `IN`; `(NULL)` for no values, which matches nothing.
    pub fn ints(&mut self, values: impl IntoIterator<Item = i64>) -> &mut Self {
        self.text.push('(');
        let mut any = false;
        for value in values {
            if any {
                self.text.push_str(", ");
            }
            self.int(value);
            any = true;
        }
        if !any {
            self.text.push_str("NULL");
        }
        self.text.push(')');
        self
    }

    /// Whole seconds from `earlier` to `later`, two timestamp columns (program literals).
    pub fn seconds_between(&mut self, later: &'static str, earlier: &'static str) -> &mut Self {
        let expression = match self.dialect {
            // (unixepoch reads the stored text once and answers an integer: faster than julianday)
            Dialect::Sqlite => format!("(unixepoch({later}) - unixepoch({earlier}))"),
            // (date_part answers a double; EXTRACT a `numeric`, which costs twice the time
            // over a month of conversations)
            Dialect::Postgres => {
                format!("CAST(FLOOR(date_part('epoch', {later} - {earlier})) AS BIGINT)")
            }
        };
        self.text.push_str(&expression);
        self
    }

    /// Ends a subquery in a way that keeps the database from merging it into the query around
    /// it, so that a value it computes once per row (`AS s`) is not computed again wherever
    /// the outer query names it (a `CASE` that names it eight times costs eight times).
    pub fn fence(&mut self) -> &mut Self {
        self.text.push_str(match self.dialect {
            Dialect::Sqlite => " LIMIT -1",
            Dialect::Postgres => " OFFSET 0",
        });
        self
    }

    /// The `seconds`-long slot a timestamp column falls in, for grouping: a number on SQLite,
    /// the slot's start on PostgreSQL (`date_bin`, PostgreSQL 14 or later: binning the
    /// timestamp is much cheaper than dividing its epoch, a `numeric`). [`Self::slot_number`]
    /// turns the grouped value into the slot's number on both.
    pub fn time_bin(&mut self, column: &'static str, seconds: i64) -> &mut Self {
        let expression = match self.dialect {
            Dialect::Sqlite => format!("(unixepoch({column}) / {seconds})"),
            Dialect::Postgres => {
                format!("date_bin(interval '{seconds} seconds', {column}, TIMESTAMP '1970-01-01')")
            }
        };
        self.text.push_str(&expression);
        self
    }

    /// The number of the slot since 1970 of a value grouped by [`Self::time_bin`].
    pub fn slot_number(&mut self, binned: &'static str, seconds: i64) -> &mut Self {
        let expression = match self.dialect {
            Dialect::Sqlite => binned.to_string(),
            Dialect::Postgres => {
                format!("(CAST(EXTRACT(EPOCH FROM {binned}) AS BIGINT) / {seconds})")
            }
        };
        self.text.push_str(&expression);
        self
    }

    /// The query's text, for `EXPLAIN` and for tests.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Runs the query and reads its rows by column name.
    pub fn load<T>(&self, conn: &mut DbConnection) -> QueryResult<Vec<T>>
    where
        T: QueryableByName<Sqlite> + QueryableByName<Pg> + 'static,
    {
        match conn {
            DbConnection::Sqlite(c) => self.bound::<Sqlite>().load(c),
            DbConnection::Postgres(c) => self.bound::<Pg>().load(c),
        }
    }

    /// How the database would run the query, one line per step: `EXPLAIN QUERY PLAN` on
    /// SQLite, `EXPLAIN` on PostgreSQL.
    pub fn explain(&self, conn: &mut DbConnection) -> QueryResult<String> {
        #[derive(QueryableByName)]
        struct SqliteStep {
            #[diesel(sql_type = Text)]
            detail: String,
        }
        #[derive(QueryableByName)]
        struct PgStep {
            #[diesel(sql_type = Text)]
            #[diesel(column_name = "QUERY PLAN")]
            step: String,
        }
        let explained = match self.dialect {
            Dialect::Sqlite => "EXPLAIN QUERY PLAN ",
            Dialect::Postgres => "EXPLAIN ",
        };
        let query = Self {
            text: format!("{explained}{}", self.text),
            ..self.clone()
        };
        Ok(match conn {
            DbConnection::Sqlite(c) => query
                .bound::<Sqlite>()
                .load::<SqliteStep>(c)?
                .into_iter()
                .map(|s| s.detail)
                .collect::<Vec<_>>()
                .join("\n"),
            DbConnection::Postgres(c) => query
                .bound::<Pg>()
                .load::<PgStep>(c)?
                .into_iter()
                .map(|s| s.step)
                .collect::<Vec<_>>()
                .join("\n"),
        })
    }

    fn bound<DB>(&self) -> BoxedSqlQuery<'static, DB, diesel::query_builder::SqlQuery>
    where
        DB: diesel::backend::Backend
            + diesel::sql_types::HasSqlType<BigInt>
            + diesel::sql_types::HasSqlType<Text>
            + diesel::sql_types::HasSqlType<Timestamp>,
        i64: diesel::serialize::ToSql<BigInt, DB>,
        String: diesel::serialize::ToSql<Text, DB>,
        NaiveDateTime: diesel::serialize::ToSql<Timestamp, DB>,
    {
        let mut query = diesel::sql_query(self.text.clone()).into_boxed::<DB>();
        for value in &self.values {
            query = match value.clone() {
                Value::Int(v) => query.bind::<BigInt, _>(v),
                Value::Text(v) => query.bind::<Text, _>(v),
                Value::Time(v) => query.bind::<Timestamp, _>(v),
            };
        }
        query
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres_and_plain_for_sqlite() {
        let mut pg = RawSql {
            dialect: Dialect::Postgres,
            text: String::new(),
            values: Vec::new(),
        };
        pg.sql("a = ").int(1).sql(" AND b IN ").ints([2, 3]);
        assert_eq!(pg.as_str(), "a = $1 AND b IN ($2, $3)");
        let mut lite = RawSql {
            dialect: Dialect::Sqlite,
            ..pg.clone()
        };
        lite.text.clear();
        lite.values.clear();
        lite.sql("b IN ").ints([]).sql(" AND c = ").text("x");
        assert_eq!(lite.as_str(), "b IN (NULL) AND c = ?");
    }
}
