//! The `UPDATE`s an event makes, as statements the connection prepares once.
//!
//! diesel never caches the statement of its own `update(…).set(…)` (nor of `sql_query`), so
//! every execution was parsed and planned again: on SQLite that was a third of the writer's
//! time, on PostgreSQL a parse and plan per statement on the server. [`SaveTest`],
//! [`SaveScenario`] and [`SaveRun`] write the columns an event changes (the same ones the
//! `state_rows` changesets name) with bound values, and tell diesel their SQL never varies
//! (a static [`QueryId`]), so each is prepared once per connection and reused. They work on
//! either backend (diesel writes each one's placeholders).

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, HasSqlType, Nullable, Text};
use diesel::{QueryResult, RunQueryDsl};

use super::rows::count_columns;
use super::state_rows::{RunState, ScenarioState, TestState};

/// What a backend must bind for these statements.
pub(super) trait SaveBackend:
    Backend + HasSqlType<Text> + HasSqlType<BigInt> + HasSqlType<Nullable<BigInt>>
{
}

impl<DB> SaveBackend for DB where
    DB: Backend + HasSqlType<Text> + HasSqlType<BigInt> + HasSqlType<Nullable<BigInt>>
{
}

/// Pushes `, n_cancelled = ?, …, n_skipped = ?` for nine counts.
fn push_counts<'b, DB>(out: &mut AstPass<'_, 'b, DB>, counts: [&'b i64; 9]) -> QueryResult<()>
where
    DB: SaveBackend,
    i64: ToSql<BigInt, DB>,
{
    const NAMES: [&str; 9] = [
        "n_cancelled",
        "n_running",
        "n_waiting",
        "n_unknown",
        "n_failed",
        "n_error",
        "n_warning",
        "n_passed",
        "n_skipped",
    ];
    for (name, count) in NAMES.into_iter().zip(counts) {
        out.push_sql(", ");
        out.push_sql(name);
        out.push_sql(" = ");
        out.push_bind_param::<BigInt, _>(count)?;
    }
    Ok(())
}

/// Declares a statement type whose SQL never varies: diesel may cache it by its type.
macro_rules! static_statement {
    ($name:ident) => {
        impl QueryId for $name<'_> {
            type QueryId = $name<'static>;
            const HAS_STATIC_QUERY_ID: bool = true;
        }

        impl<Conn> RunQueryDsl<Conn> for $name<'_> {}
    };
}

/// `UPDATE tests SET status, timestamps, message, attempts WHERE id`.
pub(super) struct SaveTest<'a>(pub(super) &'a TestState);

static_statement!(SaveTest);

impl<DB> QueryFragment<DB> for SaveTest<'_>
where
    DB: SaveBackend,
    str: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
    Option<i64>: ToSql<Nullable<BigInt>, DB>,
    Option<String>: ToSql<Nullable<Text>, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        push_save_test(&mut out, self.0)
    }
}

fn push_save_test<'b, DB>(out: &mut AstPass<'_, 'b, DB>, test: &'b TestState) -> QueryResult<()>
where
    DB: SaveBackend,
    str: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
    Option<i64>: ToSql<Nullable<BigInt>, DB>,
    Option<String>: ToSql<Nullable<Text>, DB>,
{
    {
        out.push_sql("UPDATE tests SET status = ");
        out.push_bind_param::<Text, _>(test.status.as_str())?;
        out.push_sql(", timestamp_start = ");
        out.push_bind_param::<Nullable<BigInt>, _>(&test.timestamp_start)?;
        out.push_sql(", timestamp_stop = ");
        out.push_bind_param::<Nullable<BigInt>, _>(&test.timestamp_stop)?;
        out.push_sql(", message = ");
        out.push_bind_param::<Nullable<Text>, _>(&test.message)?;
        out.push_sql(", attempts = ");
        out.push_bind_param::<BigInt, _>(&test.attempts)?;
        out.push_sql(" WHERE id = ");
        out.push_bind_param::<BigInt, _>(&test.id)
    }
}

/// `UPDATE scenarios SET status, timestamps, counts WHERE id`.
pub(super) struct SaveScenario<'a>(pub(super) &'a ScenarioState);

static_statement!(SaveScenario);

impl<DB> QueryFragment<DB> for SaveScenario<'_>
where
    DB: SaveBackend,
    str: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
    Option<i64>: ToSql<Nullable<BigInt>, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        push_save_scenario(&mut out, self.0)
    }
}

fn push_save_scenario<'b, DB>(
    out: &mut AstPass<'_, 'b, DB>,
    s: &'b ScenarioState,
) -> QueryResult<()>
where
    DB: SaveBackend,
    str: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
    Option<i64>: ToSql<Nullable<BigInt>, DB>,
{
    {
        out.push_sql("UPDATE scenarios SET status = ");
        out.push_bind_param::<Text, _>(s.status.as_str())?;
        out.push_sql(", timestamp_start = ");
        out.push_bind_param::<Nullable<BigInt>, _>(&s.timestamp_start)?;
        out.push_sql(", timestamp_stop = ");
        out.push_bind_param::<Nullable<BigInt>, _>(&s.timestamp_stop)?;
        push_counts(out, count_columns!(s, &))?;
        out.push_sql(" WHERE id = ");
        out.push_bind_param::<BigInt, _>(&s.id)
    }
}

/// `UPDATE runs SET status, timestamps, running test, last event, counts, closure WHERE id`.
pub(super) struct SaveRun<'a>(pub(super) &'a RunState);

static_statement!(SaveRun);

impl<DB> QueryFragment<DB> for SaveRun<'_>
where
    DB: SaveBackend,
    str: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
    Option<i64>: ToSql<Nullable<BigInt>, DB>,
    Option<String>: ToSql<Nullable<Text>, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        push_save_run(&mut out, self.0)
    }
}

fn push_save_run<'b, DB>(out: &mut AstPass<'_, 'b, DB>, r: &'b RunState) -> QueryResult<()>
where
    DB: SaveBackend,
    str: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
    Option<i64>: ToSql<Nullable<BigInt>, DB>,
    Option<String>: ToSql<Nullable<Text>, DB>,
{
    {
        out.push_sql("UPDATE runs SET status = ");
        out.push_bind_param::<Text, _>(r.status.as_str())?;
        out.push_sql(", timestamp_start = ");
        out.push_bind_param::<Nullable<BigInt>, _>(&r.timestamp_start)?;
        out.push_sql(", timestamp_stop = ");
        out.push_bind_param::<Nullable<BigInt>, _>(&r.timestamp_stop)?;
        out.push_sql(", running_test_id = ");
        out.push_bind_param::<Nullable<BigInt>, _>(&r.running_test_id)?;
        out.push_sql(", last_event_at = ");
        out.push_bind_param::<BigInt, _>(&r.last_event_at)?;
        push_counts(out, count_columns!(r, &))?;
        out.push_sql(", closed_at = ");
        out.push_bind_param::<Nullable<BigInt>, _>(&r.closed_at)?;
        out.push_sql(", closed_as = ");
        out.push_bind_param::<Nullable<Text>, _>(&r.closed_as)?;
        out.push_sql(" WHERE id = ");
        out.push_bind_param::<BigInt, _>(&r.id)
    }
}

/// PostgreSQL: the three in one statement (one round trip), two data-modifying CTEs and the
/// run's `UPDATE`.
pub(super) struct SaveMove<'a> {
    pub(super) test: &'a TestState,
    pub(super) scenario: &'a ScenarioState,
    pub(super) run: &'a RunState,
}

static_statement!(SaveMove);

impl<DB> QueryFragment<DB> for SaveMove<'_>
where
    DB: SaveBackend,
    str: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
    Option<i64>: ToSql<Nullable<BigInt>, DB>,
    Option<String>: ToSql<Nullable<Text>, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("WITH moved_test AS (");
        push_save_test(&mut out, self.test)?;
        out.push_sql("), moved_scenario AS (");
        push_save_scenario(&mut out, self.scenario)?;
        out.push_sql(") ");
        push_save_run(&mut out, self.run)
    }
}
