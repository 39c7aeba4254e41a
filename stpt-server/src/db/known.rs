//! What a writer knows without reading: each machine's row and its current run as the writer
//! itself last wrote them.
//!
//! The main type here is [`Known`]. An event writer keeps one and passes it to every event it
//! applies, so a start or stop does not read back the machine and the run it just wrote.
//! Knowledge is only as good as the writer's exclusivity, so each writer says when to forget:
//!
//! - SQLite's single writer keeps it across batches while no other connection has committed
//!   (SQLite's `PRAGMA data_version`), and forgets everything when one has.
//! - A PostgreSQL writer keeps it for one batch only: the batch holds its machines' row
//!   locks, so within it nobody else writes them.
//! - Any batch that rolls back forgets everything.

use std::collections::HashMap;

use super::rows::MachineRow;
use super::state_rows::RunState;

/// Machines kept at most; past that the writer starts afresh (a read per machine).
const MAX_MACHINES: usize = 10_000;

/// A machine as its writer last wrote it.
#[derive(Debug, Clone)]
pub(crate) struct KnownMachine {
    pub(super) row: MachineRow,
    /// The machine's newest run (`row.last_run_id`), when the writer has it.
    pub(super) run: Option<RunState>,
}

impl KnownMachine {
    pub(super) fn new(row: MachineRow) -> Self {
        KnownMachine { row, run: None }
    }
}

/// Machines by name key, as their writer last wrote them.
#[derive(Debug, Default)]
pub(crate) struct Known {
    machines: HashMap<String, KnownMachine>,
}

impl Known {
    pub(super) fn get(&self, key: &str) -> Option<&KnownMachine> {
        self.machines.get(key)
    }

    pub(super) fn put(&mut self, key: String, machine: KnownMachine) {
        if self.machines.len() >= MAX_MACHINES && !self.machines.contains_key(&key) {
            self.machines.clear();
        }
        self.machines.insert(key, machine);
    }

    /// Forgets every machine.
    pub(crate) fn clear(&mut self) {
        self.machines.clear();
    }
}
