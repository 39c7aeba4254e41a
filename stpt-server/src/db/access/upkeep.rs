//! Keeping the database: consistent SQLite backups, and pruning old runs.

use super::*;

impl AccessStore {
    /// Writes a consistent copy of a SQLite database to `target` (a new file) while servers
    /// keep writing: SQLite's `VACUUM INTO` reads one snapshot of the database inside a read
    /// transaction, so the copy holds exactly what was committed when it began, and the writer
    /// (in WAL mode) is never blocked. PostgreSQL is backed up with `pg_dump`.
    pub fn backup(&self, target: &std::path::Path) -> Result<(), AccessError> {
        use diesel::connection::SimpleConnection;
        let DbPool::Sqlite(pool) = &self.pool else {
            return Err(AccessError::Unsupported(
                "stpt backs up SQLite databases; back up PostgreSQL with pg_dump (see docs/deploy.md)",
            ));
        };
        let shown = target.display().to_string();
        if target.exists() {
            return Err(AccessError::BackupTarget {
                path: shown,
                reason: "it exists already (a backup never overwrites)",
            });
        }
        let Some(path) = target.to_str() else {
            return Err(AccessError::BackupTarget {
                path: shown,
                reason: "the path is not valid UTF-8",
            });
        };
        let mut conn = pool.get().map_err(AccessError::Busy)?;
        // The path is a string literal of the statement: quotes doubled, as SQL escapes them.
        conn.batch_execute(&format!("VACUUM INTO '{}'", path.replace('\'', "''")))
            .map_err(AccessError::Db)
    }

    /// Deletes whole runs whose last event is older than `cutoff`, of one machine or all, with
    /// their scenarios, tests and applied events; every machine's newest run is kept. Answers
    /// how many runs were deleted.
    pub fn prune(&self, cutoff: Timestamp, machine: Option<&str>) -> Result<usize, AccessError> {
        let key = machine.map(machine_key);
        on_backend!(&self.pool => AccessError, prune_runs(cutoff.as_micros(), key.as_deref()))
    }
}
