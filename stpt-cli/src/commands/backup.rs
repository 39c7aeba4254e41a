//! `stpt backup PATH`: a consistent copy of the server's SQLite database, made while it runs.
//!
//! SQLite's `VACUUM INTO` copies one snapshot of the database (what was committed when the copy
//! began, every acknowledged event up to then) without blocking the server's writer. The target
//! must not exist. PostgreSQL databases are backed up with `pg_dump`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::user::DatabaseArgs;

/// Copy the live SQLite database consistently (while the server runs) to a new file.
///
/// Example: `stpt backup /var/backups/stpt-$(date +%F).db --database-url /var/lib/stpt/stpt.db`
#[derive(Debug, Args)]
pub(crate) struct BackupArgs {
    /// The new file to write (it must not exist).
    path: PathBuf,
    #[command(flatten)]
    database: DatabaseArgs,
}

/// Writes the copy and says where.
pub(crate) fn run(args: BackupArgs) -> anyhow::Result<()> {
    let access = args.database.open()?;
    access
        .backup(&args.path)
        .with_context(|| format!("cannot back up to {}", args.path.display()))?;
    let size = std::fs::metadata(&args.path).map_or(0, |m| m.len());
    println!("backed up to {} ({size} bytes)", args.path.display());
    Ok(())
}
