//! Users, machine tokens, password resets, server secrets and pruning, written once in diesel's
//! DSL and compiled for each backend.
//!
//! `db::sqlite` and `db::postgres` each declare this file as their submodule (`#[path]`), with
//! their `Conn` and `in_transaction`.

use diesel::prelude::*;

use super::{Conn, in_transaction};
use crate::db::OpError;
use crate::db::access::{NewToken, NewUser, ResetRow, TokenRow, UserRow};
use crate::db::schema::{
    access_revision, applied_events, machine_tokens, machines, password_resets, runs, scenarios,
    server_secrets, sessions, tests, users,
};

/// Run ids deleted per statement: stays under every backend's bind limit.
const PRUNE_CHUNK: usize = 500;

pub(crate) fn insert_user(conn: &mut Conn, user: &NewUser<'_>) -> Result<i64, OpError> {
    in_transaction(conn, |conn| {
        // No RETURNING: SQLite's needs a diesel feature this build does not enable.
        diesel::insert_into(users::table)
            .values(user)
            .execute(conn)?;
        Ok(users::table
            .filter(users::name.eq(user.name))
            .select(users::id)
            .first(conn)?)
    })
}

/// Removes a user; their sessions go with them (a cascade).
pub(crate) fn delete_user(conn: &mut Conn, name: &str) -> Result<usize, OpError> {
    in_transaction(conn, |conn| {
        let removed = diesel::delete(users::table.filter(users::name.eq(name))).execute(conn)?;
        if removed > 0 {
            bump_revision(conn)?;
        }
        Ok(removed)
    })
}

/// Moves the access revision: live sockets on every server re-check their credentials.
fn bump_revision(conn: &mut Conn) -> Result<(), OpError> {
    diesel::update(access_revision::table.find(1_i64))
        .set(access_revision::revision.eq(access_revision::revision + 1))
        .execute(conn)?;
    Ok(())
}

/// The access revision now.
pub(crate) fn revision(conn: &mut Conn) -> Result<i64, OpError> {
    Ok(access_revision::table
        .find(1_i64)
        .select(access_revision::revision)
        .first(conn)
        .optional()?
        .unwrap_or(0))
}

/// Ends every session of a user (a new password).
fn end_sessions_of(conn: &mut Conn, user_id: i64) -> Result<(), OpError> {
    diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id))).execute(conn)?;
    bump_revision(conn)
}

/// Starts a session; expired sessions are cleared on the way.
pub(crate) fn insert_session(
    conn: &mut Conn,
    session: &crate::db::access::SessionRow,
    now: i64,
) -> Result<(), OpError> {
    in_transaction(conn, |conn| {
        diesel::delete(sessions::table.filter(sessions::expires_at.le(now))).execute(conn)?;
        diesel::insert_into(sessions::table)
            .values(session)
            .execute(conn)?;
        Ok(())
    })
}

/// The user of a live session.
pub(crate) fn session_user(
    conn: &mut Conn,
    hash: &str,
    now: i64,
) -> Result<Option<UserRow>, OpError> {
    Ok(sessions::table
        .inner_join(users::table)
        .filter(sessions::token_hash.eq(hash))
        .filter(sessions::expires_at.gt(now))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

/// Ends one session; answers whether it existed.
pub(crate) fn delete_session(conn: &mut Conn, hash: &str) -> Result<usize, OpError> {
    in_transaction(conn, |conn| {
        let removed =
            diesel::delete(sessions::table.filter(sessions::token_hash.eq(hash))).execute(conn)?;
        if removed > 0 {
            bump_revision(conn)?;
        }
        Ok(removed)
    })
}

/// Sets a new password hash and voids every session issued before `now`.
pub(crate) fn set_password(
    conn: &mut Conn,
    name: &str,
    hash: &str,
    now: i64,
) -> Result<usize, OpError> {
    in_transaction(conn, |conn| {
        let changed = diesel::update(users::table.filter(users::name.eq(name)))
            .set((users::password_hash.eq(hash), users::sessions_since.eq(now)))
            .execute(conn)?;
        let id: Option<i64> = users::table
            .filter(users::name.eq(name))
            .select(users::id)
            .first(conn)
            .optional()?;
        if let Some(id) = id {
            end_sessions_of(conn, id)?;
        }
        Ok(changed)
    })
}

pub(crate) fn all_users(conn: &mut Conn) -> Result<Vec<UserRow>, OpError> {
    Ok(users::table
        .order(users::name.asc())
        .select(UserRow::as_select())
        .load(conn)?)
}

pub(crate) fn user_named(conn: &mut Conn, name: &str) -> Result<Option<UserRow>, OpError> {
    Ok(users::table
        .filter(users::name.eq(name))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

pub(crate) fn user_with_id(conn: &mut Conn, id: i64) -> Result<Option<UserRow>, OpError> {
    Ok(users::table
        .find(id)
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

pub(crate) fn insert_token(conn: &mut Conn, token: &NewToken<'_>) -> Result<(), OpError> {
    in_transaction(conn, |conn| {
        diesel::insert_into(machine_tokens::table)
            .values(token)
            .execute(conn)?;
        Ok(())
    })
}

pub(crate) fn all_tokens(conn: &mut Conn) -> Result<Vec<TokenRow>, OpError> {
    Ok(machine_tokens::table
        .order((machine_tokens::machine_key.asc(), machine_tokens::id.asc()))
        .select(TokenRow::as_select())
        .load(conn)?)
}

pub(crate) fn token_with_hash(conn: &mut Conn, hash: &str) -> Result<Option<TokenRow>, OpError> {
    Ok(machine_tokens::table
        .filter(machine_tokens::token_hash.eq(hash))
        .select(TokenRow::as_select())
        .first(conn)
        .optional()?)
}

/// Revokes the live tokens of one machine; answers how many.
pub(crate) fn revoke_machine_tokens(
    conn: &mut Conn,
    machine_key: &str,
    now: i64,
) -> Result<usize, OpError> {
    in_transaction(conn, |conn| {
        let revoked = diesel::update(
            machine_tokens::table
                .filter(machine_tokens::machine_key.eq(machine_key))
                .filter(machine_tokens::revoked_at.is_null()),
        )
        .set(machine_tokens::revoked_at.eq(now))
        .execute(conn)?;
        if revoked > 0 {
            bump_revision(conn)?;
        }
        Ok(revoked)
    })
}

/// Revokes the live personal tokens of one user; answers how many.
pub(crate) fn revoke_personal_tokens(
    conn: &mut Conn,
    user_id: i64,
    now: i64,
) -> Result<usize, OpError> {
    in_transaction(conn, |conn| {
        let n = diesel::update(
            machine_tokens::table
                .filter(machine_tokens::user_id.eq(user_id))
                .filter(machine_tokens::revoked_at.is_null()),
        )
        .set(machine_tokens::revoked_at.eq(now))
        .execute(conn)?;
        if n > 0 {
            bump_revision(conn)?;
        }
        Ok(n)
    })
}

/// Revokes one live token; answers how many (0 or 1).
pub(crate) fn revoke_token_hash(conn: &mut Conn, hash: &str, now: i64) -> Result<usize, OpError> {
    in_transaction(conn, |conn| {
        let revoked = diesel::update(
            machine_tokens::table
                .filter(machine_tokens::token_hash.eq(hash))
                .filter(machine_tokens::revoked_at.is_null()),
        )
        .set(machine_tokens::revoked_at.eq(now))
        .execute(conn)?;
        if revoked > 0 {
            bump_revision(conn)?;
        }
        Ok(revoked)
    })
}

/// The secret stored under `name`, storing `candidate` first when there is none. Two servers
/// starting together on one database both end up with whichever was stored first.
pub(crate) fn secret_or_insert(
    conn: &mut Conn,
    name: &str,
    candidate: &str,
) -> Result<String, OpError> {
    in_transaction(conn, |conn| {
        diesel::insert_into(server_secrets::table)
            .values((
                server_secrets::name.eq(name),
                server_secrets::value.eq(candidate),
            ))
            .on_conflict_do_nothing()
            .execute(conn)?;
        Ok(server_secrets::table
            .find(name)
            .select(server_secrets::value)
            .first(conn)?)
    })
}

pub(crate) fn insert_reset(conn: &mut Conn, reset: &ResetRow) -> Result<(), OpError> {
    in_transaction(conn, |conn| {
        diesel::insert_into(password_resets::table)
            .values(reset)
            .execute(conn)?;
        Ok(())
    })
}

/// Whether the link is unused and unexpired.
pub(crate) fn reset_usable(
    conn: &mut Conn,
    user_id: i64,
    hash: &str,
    now: i64,
) -> Result<bool, OpError> {
    let found: Option<String> = password_resets::table
        .filter(password_resets::token_hash.eq(hash))
        .filter(password_resets::user_id.eq(user_id))
        .filter(password_resets::used_at.is_null())
        .filter(password_resets::expires_at.gt(now))
        .select(password_resets::token_hash)
        .first(conn)
        .optional()?;
    Ok(found.is_some())
}

/// Uses the link (once) and sets the user's new password in the same transaction; answers
/// whether the link was usable.
pub(crate) fn complete_reset(
    conn: &mut Conn,
    user_id: i64,
    hash: &str,
    password_hash: &str,
    now: i64,
) -> Result<bool, OpError> {
    in_transaction(conn, |conn| {
        let used = diesel::update(
            password_resets::table
                .filter(password_resets::token_hash.eq(hash))
                .filter(password_resets::user_id.eq(user_id))
                .filter(password_resets::used_at.is_null())
                .filter(password_resets::expires_at.gt(now)),
        )
        .set(password_resets::used_at.eq(now))
        .execute(conn)?;
        if used != 1 {
            return Ok(false);
        }
        diesel::update(users::table.find(user_id))
            .set((
                users::password_hash.eq(password_hash),
                users::sessions_since.eq(now),
            ))
            .execute(conn)?;
        end_sessions_of(conn, user_id)?;
        // Any other link sent for this user is void once the password is set.
        diesel::update(
            password_resets::table
                .filter(password_resets::user_id.eq(user_id))
                .filter(password_resets::used_at.is_null()),
        )
        .set(password_resets::used_at.eq(now))
        .execute(conn)?;
        Ok(true)
    })
}

/// Deletes the runs whose last event is older than `cutoff` (of one machine, or of all), with
/// their scenarios, tests and applied events, keeping every machine's newest run. Answers the
/// number of runs deleted.
pub(crate) fn prune_runs(
    conn: &mut Conn,
    cutoff: i64,
    machine_key: Option<&str>,
) -> Result<usize, OpError> {
    in_transaction(conn, |conn| {
        let mut query = runs::table
            .inner_join(machines::table)
            .filter(runs::last_event_at.lt(cutoff))
            // The newest run stays: it is what the live views and machine_last_data show, and
            // the only one that can still be ongoing.
            .filter(
                machines::last_run_id
                    .is_null()
                    .or(machines::last_run_id.ne(runs::id.nullable())),
            )
            .select(runs::id)
            .into_boxed();
        if let Some(key) = machine_key {
            query = query.filter(machines::name_key.eq(key));
        }
        let ids: Vec<i64> = query.load(conn)?;
        for chunk in ids.chunks(PRUNE_CHUNK) {
            diesel::delete(applied_events::table.filter(applied_events::run_id.eq_any(chunk)))
                .execute(conn)?;
            diesel::delete(tests::table.filter(tests::run_id.eq_any(chunk))).execute(conn)?;
            diesel::delete(scenarios::table.filter(scenarios::run_id.eq_any(chunk)))
                .execute(conn)?;
            diesel::delete(runs::table.filter(runs::id.eq_any(chunk))).execute(conn)?;
        }
        Ok(ids.len())
    })
}
