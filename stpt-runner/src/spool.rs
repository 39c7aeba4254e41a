//! A durable, ordered queue of events not yet acknowledged by the server.
//!
//! The main type here is [`Spool`]. The HTTP sink appends every event to it before sending and
//! removes it once the server acknowledges it, so neither a server outage nor a crash of the
//! harness loses an event; whatever is left is delivered, in order, by the next send, flush or
//! [`replay`](crate::replay).
//!
//! # Format
//! A spool is a directory (see [`default_spool_dir`](crate::default_spool_dir)):
//! - `<seq>-<tag>.json`: one pending event. `<seq>` is a 20-digit, zero-padded sequence number
//!   (pending events are delivered in the order of their file names), `<tag>` 8 random hex
//!   digits that keep two processes sharing a spool from ever overwriting each other's files.
//!   The content is the event's exact wire body (as posted to `/tm_api/<kind>/`, with its
//!   `event_id`); the kind is told from the fields ([`Event::parse_detected`]).
//! - `.tmp-<seq>-<tag>`: an event being written. It becomes `<seq>-<tag>.json` by an atomic
//!   rename only after its bytes are fsynced, so a SIGKILL mid-write leaves either no event or
//!   a whole one. Temp files older than ten minutes are left-overs of a crash and are removed.
//! - `rejected/<seq>-<tag>.json` and `rejected/<seq>-<tag>.reason`: an event the server refused
//!   with a 4xx (or a file that no longer parses), moved aside with the server's answer so it
//!   is never retried but can still be inspected or re-sent by hand.
//!
//! **Invariant:** a file named `*.json` at the top of the spool is a complete event that has
//! not been acknowledged; acknowledging removes it, and the server de-duplicates by event id,
//! so delivering a file twice (after a crash between delivery and removal) changes nothing.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use stpt_core::Event;

/// Name of the folder holding refused events.
pub const REJECTED_DIR: &str = "rejected";
const TEMP_PREFIX: &str = ".tmp-";
const STALE_TEMP_AGE: Duration = Duration::from_secs(600);

/// A spool directory.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    next_seq: u64,
}

/// One pending event, read back from the spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// Its sequence number.
    pub seq: u64,
    /// Its file name inside the spool.
    pub file_name: String,
    /// The event.
    pub event: Event,
}

/// Why the spool could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// A file operation failed.
    #[error("spool I/O failed on {path}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An event could not be serialised.
    #[error("cannot serialise event")]
    Serialize(#[source] serde_json::Error),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Spool {
    /// Opens (creating it if needed) the spool in `dir`; new events go after those pending.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Spool, SpoolError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let mut spool = Spool { dir, next_seq: 0 };
        spool.remove_stale_temps()?;
        spool.next_seq = spool
            .pending_names()?
            .last()
            .map_or(0, |(seq, _)| seq.saturating_add(1));
        Ok(spool)
    }

    /// The spool's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `event` durably (fsynced) after every pending one; returns its sequence number.
    pub fn append(&mut self, event: &Event) -> Result<u64, SpoolError> {
        let latest = self.latest_next()?;
        let seq = self.write(event, latest)?;
        sync_dir(&self.dir);
        Ok(seq)
    }

    /// Writes `events` durably, in order, after every pending one, with one fsync of the
    /// directory for the whole group (each file's bytes are still fsynced before its rename):
    /// what a harness reporting many events quickly needs. Answers each event's sequence
    /// number, or why it could not be written; every answered number is durable on return.
    pub fn append_all(&mut self, events: &[Event]) -> Vec<Result<u64, SpoolError>> {
        // One look at the directory for the group: the files' tags keep two processes
        // sharing a spool from overwriting each other even if they pick the same numbers.
        // (A directory that cannot be listed cannot be written either: each write says so.)
        let latest = self.latest_next().unwrap_or(0);
        let written = events
            .iter()
            .map(|event| self.write(event, latest))
            .collect();
        sync_dir(&self.dir);
        written
    }

    /// Writes one event file (its bytes fsynced, then renamed into place); the directory's own
    /// fsync is the caller's.
    fn write(&mut self, event: &Event, latest: u64) -> Result<u64, SpoolError> {
        let body = serde_json::to_vec(event).map_err(SpoolError::Serialize)?;
        let seq = self.next_seq.max(latest);
        self.next_seq = seq.saturating_add(1);
        let tag = format!("{:08x}", fastrand::u32(..));
        let temp = self.dir.join(format!("{TEMP_PREFIX}{seq:020}-{tag}"));
        let path = self.dir.join(format!("{seq:020}-{tag}.json"));
        let mut file = File::create(&temp).map_err(io(&temp))?;
        file.write_all(&body).map_err(io(&temp))?;
        file.sync_all().map_err(io(&temp))?;
        drop(file);
        fs::rename(&temp, &path).map_err(io(&path))?;
        Ok(seq)
    }

    /// The sequence number after the newest pending file: another process sharing the spool
    /// may have appended since we looked.
    fn latest_next(&self) -> Result<u64, SpoolError> {
        Ok(self
            .pending_names()?
            .last()
            .map_or(0, |(seq, _)| seq.saturating_add(1)))
    }

    /// The pending events in delivery order. Files that no longer parse are moved to
    /// `rejected/` with the parser's complaint.
    pub fn pending(&self) -> Result<Vec<Pending>, SpoolError> {
        let mut pending = Vec::new();
        for (seq, file_name) in self.pending_names()? {
            let path = self.dir.join(&file_name);
            let bytes = match fs::read(&path) {
                Ok(bytes) => bytes,
                // Delivered and removed by another process sharing the spool.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(&path)(e)),
            };
            match Event::parse_detected(&bytes) {
                Ok(event) => pending.push(Pending {
                    seq,
                    file_name,
                    event,
                }),
                Err(e) => {
                    self.move_to_rejected(&file_name, &format!("unreadable spool file: {e}"))?
                }
            }
        }
        Ok(pending)
    }

    /// How many events are pending.
    pub fn pending_count(&self) -> Result<usize, SpoolError> {
        Ok(self.pending_names()?.len())
    }

    /// Forgets an acknowledged event.
    pub fn remove(&self, entry: &Pending) -> Result<(), SpoolError> {
        let path = self.dir.join(&entry.file_name);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&path)(e)),
            _ => Ok(()),
        }
    }

    /// Moves a refused event to `rejected/`, next to a `.reason` file holding `reason`.
    pub fn reject(&self, entry: &Pending, reason: &str) -> Result<(), SpoolError> {
        self.move_to_rejected(&entry.file_name, reason)
    }

    /// The files in `rejected/`: each refused event's path and the reason it was refused.
    pub fn rejected(&self) -> Result<Vec<(PathBuf, String)>, SpoolError> {
        let dir = self.dir.join(REJECTED_DIR);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&dir)(e)),
        };
        let mut rejected = Vec::new();
        for entry in entries {
            let path = entry.map_err(io(&dir))?.path();
            if path.extension().is_some_and(|e| e == "json") {
                let reason = fs::read_to_string(path.with_extension("reason")).unwrap_or_default();
                rejected.push((path, reason));
            }
        }
        rejected.sort();
        Ok(rejected)
    }

    fn move_to_rejected(&self, file_name: &str, reason: &str) -> Result<(), SpoolError> {
        let dir = self.dir.join(REJECTED_DIR);
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let target = dir.join(file_name);
        let reason_path = target.with_extension("reason");
        fs::write(&reason_path, reason).map_err(io(&reason_path))?;
        match fs::rename(self.dir.join(file_name), &target) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&target)(e)),
            _ => Ok(()),
        }
    }

    /// `(seq, file name)` of every pending file, in delivery order.
    fn pending_names(&self) -> Result<Vec<(u64, String)>, SpoolError> {
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let entry = entry.map_err(io(&self.dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(seq) = parse_seq(&name) {
                names.push((seq, name));
            }
        }
        names.sort();
        Ok(names)
    }

    fn remove_stale_temps(&self) -> Result<(), SpoolError> {
        let now = SystemTime::now();
        for entry in fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let entry = entry.map_err(io(&self.dir))?;
            if !entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                continue;
            }
            // A young temp file may belong to another process writing right now.
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|at| now.duration_since(at).ok())
                .is_some_and(|age| age > STALE_TEMP_AGE);
            if stale {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(())
    }
}

/// `00000000000000000042-1a2b3c4d.json` → 42.
fn parse_seq(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".json")?;
    let (seq, tag) = stem.split_once('-')?;
    if seq.len() != 20 || tag.is_empty() {
        return None;
    }
    seq.parse().ok()
}

/// Makes a rename durable. Directories cannot be opened for syncing everywhere (Windows); there
/// the rename is as durable as the file system makes it.
fn sync_dir(dir: &Path) {
    if let Ok(handle) = File::open(dir) {
        let _ = handle.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use stpt_core::EventKind;

    use super::*;

    fn start(name: &str) -> Event {
        let body = format!(
            r#"{{"machine_name": "m", "file_name": "{name}", "file_path": "/", "timestamp_start": "2018-12-30 13:01:57", "event_id": "{name}-id"}}"#
        );
        Event::parse(EventKind::TestStart, body.as_bytes()).unwrap()
    }

    #[test]
    fn appended_events_come_back_in_order_and_leave_when_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path()).unwrap();
        for name in ["a", "b", "c"] {
            spool.append(&start(name)).unwrap();
        }
        let pending = spool.pending().unwrap();
        let names: Vec<_> = pending
            .iter()
            .map(|p| p.event.event_id().unwrap())
            .collect();
        assert_eq!(names, ["a-id", "b-id", "c-id"]);
        spool.remove(&pending[0]).unwrap();
        spool.remove(&pending[0]).unwrap();
        assert_eq!(spool.pending_count().unwrap(), 2);
    }

    #[test]
    fn a_group_is_spooled_in_order_after_the_pending_events() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path()).unwrap();
        spool.append(&start("a")).unwrap();
        let seqs: Vec<u64> = spool
            .append_all(&[start("b"), start("c"), start("d")])
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(seqs, [1, 2, 3]);
        // Another process's spool on the same directory goes after the group.
        let mut other = Spool::open(dir.path()).unwrap();
        assert_eq!(other.append_all(&[start("e")]).pop().unwrap().unwrap(), 4);
        let ids: Vec<_> = spool
            .pending()
            .unwrap()
            .iter()
            .map(|p| p.event.event_id().unwrap().to_owned())
            .collect();
        assert_eq!(ids, ["a-id", "b-id", "c-id", "d-id", "e-id"]);
        assert!(spool.append_all(&[]).is_empty());
    }

    #[test]
    fn reopening_continues_after_pending_events_and_drops_stale_temps_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path()).unwrap();
        spool.append(&start("a")).unwrap();
        spool.append(&start("b")).unwrap();
        // A write cut short by a crash: a fresh temp file and an old one.
        fs::write(
            dir.path().join(".tmp-00000000000000000002-00000000"),
            b"{\"mach",
        )
        .unwrap();
        let old = dir.path().join(".tmp-00000000000000000003-00000000");
        fs::write(&old, b"{").unwrap();
        File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(3600))
            .unwrap();
        drop(spool);
        let mut spool = Spool::open(dir.path()).unwrap();
        assert!(!old.exists());
        assert!(
            dir.path()
                .join(".tmp-00000000000000000002-00000000")
                .exists()
        );
        assert_eq!(spool.append(&start("c")).unwrap(), 2);
        let names: Vec<_> = spool
            .pending()
            .unwrap()
            .into_iter()
            .map(|p| p.event.event_id().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["a-id", "b-id", "c-id"]);
    }

    #[test]
    fn rejected_and_unreadable_files_move_aside_with_their_reason() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path()).unwrap();
        spool.append(&start("a")).unwrap();
        fs::write(
            dir.path().join("00000000000000000007-ffffffff.json"),
            b"not json",
        )
        .unwrap();
        let pending = spool.pending().unwrap();
        assert_eq!(pending.len(), 1);
        spool.reject(&pending[0], "400: no such test").unwrap();
        assert_eq!(spool.pending_count().unwrap(), 0);
        let rejected = spool.rejected().unwrap();
        let reasons: Vec<_> = rejected.iter().map(|(_, r)| r.as_str()).collect();
        assert_eq!(reasons.len(), 2);
        assert_eq!(reasons[0], "400: no such test");
        assert!(
            reasons[1].starts_with("unreadable spool file: malformed JSON"),
            "{reasons:?}"
        );
    }
}
