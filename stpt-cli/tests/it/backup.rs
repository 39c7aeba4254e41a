//! `stpt backup`: a consistent copy of a database being written holds every event
//! acknowledged before the backup began, and opens as a database of its own.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::json;

use crate::support::{Server, passing_run};

#[test]
fn a_backup_made_while_events_arrive_holds_every_acknowledged_one() {
    let server = Server::start();
    server.post_run(&passing_run("steady-rig", 1));
    let acknowledged = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let target = server.dir.path().join("copy.db");
    std::thread::scope(|scope| {
        // A writer that keeps going while the backup runs: dry runs of numbered machines.
        scope.spawn(|| {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let plan = json!({"machine_name": format!("busy-{n:04}"),
                    "timestamp": "2024-01-01 00:00:00",
                    "master_scenario": {"file_name": "m.py", "file_path": "/b", "scenarios": []}});
                server.post("dry_run", &plan);
                n += 1;
                acknowledged.store(n, Ordering::SeqCst);
            }
        });
        while acknowledged.load(Ordering::SeqCst) < 20 {
            std::thread::yield_now();
        }
        let before = acknowledged.load(Ordering::SeqCst);
        let backup = server.stpt(&[
            "backup",
            target.to_str().expect("a UTF-8 path"),
            "--database-url",
            server.database().to_str().expect("a UTF-8 path"),
        ]);
        stop.store(true, Ordering::Relaxed);
        assert_eq!(backup.code, Some(0), "{}", backup.snapshot());
        assert!(
            backup.stdout.contains("backed up to"),
            "{}",
            backup.snapshot()
        );

        // The copy opens as a database of its own and holds every machine acknowledged
        // before it began.
        let copy = stpt_server::db::DieselStore::open(
            &stpt_server::db::DatabaseUrl::Sqlite(target.to_string_lossy().into_owned()),
            stpt_server::db::PoolOptions::default(),
        )
        .expect("the copy opens");
        let mut names = Vec::new();
        for page in 1.. {
            let found = stpt_core::Store::machines(&copy, stpt_core::PageRequest::new(page, 100))
                .expect("machines");
            let done = found.items.len() < 100;
            names.extend(found.items.into_iter().map(|m| m.machine.name));
            if done {
                break;
            }
        }
        assert!(names.iter().any(|n| n == "steady-rig"), "{names:?}");
        for n in 0..before {
            let name = format!("busy-{n:04}");
            assert!(names.contains(&name), "{name} missing from the backup");
        }
    });

    // A backup never overwrites.
    let again = server.stpt(&[
        "backup",
        target.to_str().expect("a UTF-8 path"),
        "--database-url",
        server.database().to_str().expect("a UTF-8 path"),
    ]);
    assert_ne!(again.code, Some(0));
    assert!(
        again.stderr.contains("exists already"),
        "{}",
        again.snapshot()
    );
}
