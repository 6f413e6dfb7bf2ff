//! How the database runs a query built with diesel: `EXPLAIN QUERY PLAN` on SQLite, `EXPLAIN`
//! on PostgreSQL, wrapped around the very query a page runs, binds included. Benchmarks print
//! it for every list query and a test checks that each one reads through an index.

use diesel::deserialize::{self, QueryableByName};
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::row::NamedRow;
use diesel::sql_types::{Text, Untyped};
use diesel::{QueryResult, RunQueryDsl};

use super::{DbConnection, MultiBackend};

/// `query` prefixed with the backend's explain keyword.
struct Explain<Q>(Q);

impl<Q: QueryFragment<MultiBackend>> QueryFragment<MultiBackend> for Explain<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, MultiBackend>) -> QueryResult<()> {
        let keyword = match out.backend() {
            MultiBackend::Sqlite(_) => "EXPLAIN QUERY PLAN ",
            MultiBackend::Postgres(_) => "EXPLAIN ",
        };
        out.push_sql(keyword);
        self.0.walk_ast(out.reborrow())
    }
}

impl<Q> QueryId for Explain<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q> Query for Explain<Q> {
    type SqlType = Untyped;
}

impl<Q> RunQueryDsl<DbConnection> for Explain<Q> {}

/// One line of a plan: SQLite names it `detail`, PostgreSQL `QUERY PLAN`.
struct Step(String);

impl QueryableByName<MultiBackend> for Step {
    fn build<'a>(row: &impl NamedRow<'a, MultiBackend>) -> deserialize::Result<Self> {
        NamedRow::get::<Text, String>(row, "detail")
            .or_else(|_| NamedRow::get::<Text, String>(row, "QUERY PLAN"))
            .map(Self)
    }
}

/// How the database would run `query`, one line per step.
pub fn explain<Q>(conn: &mut DbConnection, query: Q) -> QueryResult<String>
where
    Q: QueryFragment<MultiBackend>,
{
    let steps: Vec<Step> = Explain(query).load(conn)?;
    Ok(steps
        .into_iter()
        .map(|Step(line)| line)
        .collect::<Vec<_>>()
        .join("\n"))
}
