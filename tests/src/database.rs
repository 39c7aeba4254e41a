//! A temporary SQLite database that servers run on and tests read directly.
//!
//! The main type here is [`TempDatabase`]; the file lives in its own temporary directory and is
//! removed with it, so a server restarted on the same database sees everything stored before.

use stpt_core::{RunTree, Store};
use stpt_server::db::{DatabaseUrl, DieselStore, PoolOptions, connect};

/// An SQLite file in a temporary directory.
pub struct TempDatabase {
    url: DatabaseUrl,
    _dir: tempfile::TempDir,
}

impl TempDatabase {
    /// A new, empty database (created and migrated by the first server or store opened on it).
    pub fn new() -> TempDatabase {
        let dir = tempfile::tempdir().expect("temporary directory for the database");
        let url = DatabaseUrl::Sqlite(dir.path().join("stpt.db").to_string_lossy().into_owned());
        TempDatabase { url, _dir: dir }
    }

    /// Its URL, for a server's [`Config`](stpt_server::Config).
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// A store on it, as a server would open it.
    pub fn store(&self) -> DieselStore {
        DieselStore::new(connect(&self.url, PoolOptions::default()).expect("open the database"))
    }

    /// Everything stored, read back through the store's queries (ids and timestamps included).
    pub fn dump(&self) -> serde_json::Value {
        stpt_core::testing::dump(&self.store())
    }

    /// The newest run of the machine named `machine_name`, which must have one.
    pub fn last_run(&self, machine_name: &str) -> RunTree {
        let store = self.store();
        let machine = store
            .machine_by_name(machine_name)
            .expect("machine query")
            .unwrap_or_else(|| panic!("no machine {machine_name:?} is stored"));
        store
            .last_run(machine.id)
            .expect("run query")
            .unwrap_or_else(|| panic!("machine {machine_name:?} has no run"))
    }
}

impl Default for TempDatabase {
    fn default() -> Self {
        TempDatabase::new()
    }
}
