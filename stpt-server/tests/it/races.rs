//! Racing deliveries of one event: a runner retrying while its first attempt is still being
//! applied, or two server instances on one database receiving the same event. Every delivery
//! is answered as the first one was, and the event is applied once.

use std::sync::{Arc, Barrier};
use std::thread;

use stpt_core::testing::builders::{dry_run, start, stop, with_event_id};
use stpt_core::testing::dump;
use stpt_core::{Applied, Event, Status, Store, StoreError};
use stpt_server::db::{DieselStore, PoolOptions};

use crate::support::TestDb;

const RACERS: usize = 8;

/// Applies `event` from `RACERS` threads at once, spread over `stores`.
fn race(stores: &[Arc<DieselStore>], event: &Event) -> Vec<Result<Applied, StoreError>> {
    let barrier = Arc::new(Barrier::new(RACERS));
    let handles: Vec<_> = (0..RACERS)
        .map(|i| {
            let store = Arc::clone(&stores[i % stores.len()]);
            let barrier = Arc::clone(&barrier);
            let event = event.clone();
            thread::spawn(move || {
                barrier.wait();
                store.apply(&event, stpt_core::Timestamp::now())
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("racer panicked"))
        .collect()
}

/// Every answer is a success naming the same run and test, and exactly one applied it.
fn assert_applied_once(answers: &[Result<Applied, StoreError>]) -> Applied {
    let applied: Vec<&Applied> = answers
        .iter()
        .map(|a| {
            a.as_ref()
                .unwrap_or_else(|e| panic!("a racer was refused: {e:?}"))
        })
        .collect();
    let first = applied
        .iter()
        .find(|a| !a.duplicate)
        .unwrap_or_else(|| panic!("nobody applied it: {applied:?}"));
    assert_eq!(
        applied.iter().filter(|a| !a.duplicate).count(),
        1,
        "{applied:?}"
    );
    for a in &applied {
        assert_eq!(
            (a.kind, a.machine_id, a.run_id, a.test_id),
            (first.kind, first.machine_id, first.run_id, first.test_id)
        );
    }
    (*first).clone()
}

fn racing_duplicates_apply_once(db: &TestDb, stores: &[Arc<DieselStore>]) {
    // Several rounds, each on a new machine: its first dry run is the tightest race.
    for round in 0..4 {
        let machine = format!("rig-{round}");
        let m = machine.as_str();
        let id = |what: &str| format!("{what}-{round}");
        let plan = with_event_id(dry_run(m, 0, &[("s.py", &["a.py", "b.py"])]), &id("dry"));
        let dry = assert_applied_once(&race(stores, &plan));
        let started = assert_applied_once(&race(
            stores,
            &with_event_id(start(m, "a.py", 1), &id("start")),
        ));
        let stopped = assert_applied_once(&race(
            stores,
            &with_event_id(stop(m, "a.py", Status::Failed, 2), &id("stop")),
        ));
        assert_eq!(started.test_id, stopped.test_id);
        assert_eq!(stopped.run_id, dry.run_id);
        let found = db.machine_by_name(m).unwrap().unwrap();
        let runs = db
            .runs(found.id, stpt_core::PageRequest::new(1, 10))
            .unwrap();
        assert_eq!(runs.total, 1);
        let tree = db.run(dry.run_id).unwrap().unwrap();
        let statuses: Vec<Status> = tree.scenarios[0].tests.iter().map(|t| t.status).collect();
        assert_eq!(statuses, [Status::Failed, Status::Waiting]);
        assert_eq!(db.attempts(started.test_id.unwrap()).unwrap().len(), 1);
    }
}

#[test]
fn racing_duplicates_on_sqlite_apply_once() {
    let db = TestDb::sqlite();
    racing_duplicates_apply_once(&db, &[Arc::new((*db).clone())]);
}

#[test]
#[cfg_attr(
    not(stpt_postgres_tests),
    ignore = "set STPT_TEST_POSTGRES_URL to run PostgreSQL tests"
)]
fn racing_duplicates_on_postgres_apply_once() {
    let db = TestDb::postgres();
    racing_duplicates_apply_once(&db, &[Arc::new((*db).clone())]);
}

#[test]
#[cfg_attr(
    not(stpt_postgres_tests),
    ignore = "set STPT_TEST_POSTGRES_URL to run PostgreSQL tests"
)]
fn racing_duplicates_across_two_postgres_instances_apply_once() {
    let db = TestDb::postgres();
    let second = DieselStore::open(db.url(), PoolOptions::default()).expect("second instance");
    racing_duplicates_apply_once(&db, &[Arc::new((*db).clone()), Arc::new(second)]);
}

/// Another machine's event with a used id is refused, not echoed as accepted for nothing.
fn reused_id_of_another_machine_is_refused(db: &TestDb) {
    db.apply(
        &with_event_id(dry_run("rig-1", 0, &[("s.py", &["a.py"])]), "id-1"),
        stpt_core::Timestamp::now(),
    )
    .unwrap();
    db.apply(
        &dry_run("rig-2", 0, &[("s.py", &["a.py"])]),
        stpt_core::Timestamp::now(),
    )
    .unwrap();
    let before = dump(&**db);
    for event in [
        with_event_id(start("rig-2", "a.py", 1), "id-1"),
        with_event_id(dry_run("rig-2", 1, &[("s.py", &["a.py"])]), "id-1"),
        with_event_id(dry_run("rig-3", 1, &[("s.py", &["a.py"])]), "id-1"),
    ] {
        match db.apply(&event, stpt_core::Timestamp::now()) {
            Err(StoreError::EventIdReused { event_id, .. }) => assert_eq!(event_id, "id-1"),
            other => panic!("expected a refused id, got {other:?}"),
        }
    }
    assert_eq!(dump(&**db), before, "a refused id changed the store");
}

#[test]
fn reused_id_of_another_machine_is_refused_on_sqlite() {
    reused_id_of_another_machine_is_refused(&TestDb::sqlite());
}

#[test]
#[cfg_attr(
    not(stpt_postgres_tests),
    ignore = "set STPT_TEST_POSTGRES_URL to run PostgreSQL tests"
)]
fn reused_id_of_another_machine_is_refused_on_postgres() {
    let db = TestDb::postgres();
    reused_id_of_another_machine_is_refused(&db);
}

/// Three instances started at the same moment on a fresh PostgreSQL database all come up (a
/// rolling deploy): migrations run once, under a lock.
#[test]
#[cfg_attr(
    not(stpt_postgres_tests),
    ignore = "set STPT_TEST_POSTGRES_URL to run PostgreSQL tests"
)]
fn instances_starting_together_on_a_fresh_postgres_database_all_serve() {
    use crate::support::{postgres_url, run_admin_sql, uuid_like};
    use stpt_server::db::DatabaseUrl;
    let base = postgres_url();
    for round in 0..3 {
        let schema = format!("stpt_start_{}_{round}", uuid_like());
        run_admin_sql(&base, &format!("CREATE SCHEMA {schema}"));
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = DatabaseUrl::Postgres(format!(
            "{base}{separator}options=-c%20search_path%3D{schema}"
        ));
        let barrier = Arc::new(Barrier::new(3));
        let starts: Vec<_> = (0..3)
            .map(|_| {
                let url = url.clone();
                let barrier = Arc::clone(&barrier);
                thread::spawn(move || {
                    barrier.wait();
                    DieselStore::open(&url, PoolOptions::default()).map(|_| ())
                })
            })
            .collect();
        let results: Vec<_> = starts
            .into_iter()
            .map(|h| h.join().expect("instance panicked"))
            .collect();
        run_admin_sql(&base, &format!("DROP SCHEMA {schema} CASCADE"));
        for result in results {
            result.unwrap_or_else(|e| panic!("an instance failed to start: {e}"));
        }
    }
}
