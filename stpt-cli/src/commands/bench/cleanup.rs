//! Removing the machines a benchmark simulated (`DELETE /api/v1/machines/<id>`), so that they
//! do not stay on the server; `--keep` skips it.
//!
//! A server that cannot delete machines (an older stpt, or the original application the bench
//! also measures) keeps them: that is said, not treated as the benchmark failing.

use crate::client::{Client, RequestError, ServerArgs};

/// What the cleanup did.
#[derive(Debug, Default)]
pub(super) struct Cleanup {
    /// Machines removed.
    pub(super) removed: usize,
    /// Why some or all stay, if they do.
    pub(super) kept_because: Option<String>,
}

impl Cleanup {
    /// A line for people: how many went, or why they stay.
    pub(super) fn describe(&self) -> String {
        match &self.kept_because {
            None if self.removed == 1 => {
                "removed the machine simulated by this bench (--keep keeps it)".to_owned()
            }
            None => format!(
                "removed the {} machines simulated by this bench (--keep keeps them)",
                self.removed
            ),
            Some(why) => format!(
                "removed {} of the bench's machines; the others stay: {why}",
                self.removed
            ),
        }
    }
}

/// Removes every machine whose name `simulated` says this bench made.
pub(super) fn remove_named(server: &ServerArgs, simulated: impl Fn(&str) -> bool) -> Cleanup {
    let client = match Client::new(server) {
        Ok(client) => client,
        Err(error) => {
            return Cleanup {
                removed: 0,
                kept_because: Some(format!("{error:#}")),
            };
        }
    };
    match client.machines() {
        Ok(machines) => remove(
            &client,
            machines
                .iter()
                .filter(|m| simulated(&m.machine_name))
                .map(|m| m.pk),
        ),
        Err(error) => Cleanup {
            removed: 0,
            kept_because: Some(format!("cannot list the machines: {error}")),
        },
    }
}

/// Removes the machines with these ids.
pub(super) fn remove(client: &Client, ids: impl IntoIterator<Item = i64>) -> Cleanup {
    let mut cleanup = Cleanup::default();
    for id in ids {
        match client.delete(&format!("/api/v1/machines/{id}")) {
            Ok(_) => cleanup.removed += 1,
            Err(error) => {
                cleanup.kept_because = Some(match error {
                    RequestError::Refused {
                        status: 404 | 405,
                        ref error,
                        ..
                    } if error != "unknown_machine" => {
                        "this server cannot delete machines".to_owned()
                    }
                    RequestError::NotStpt { .. } => "this server cannot delete machines".to_owned(),
                    other => other.to_string(),
                });
                break;
            }
        }
    }
    cleanup
}
