//! `stpt webhook add|list|remove` straight on a new server's SQLite file (no server running),
//! and the refusal of a URL that is not http(s).

use std::path::Path;
use std::process::{Command, Stdio};

use insta::assert_snapshot;

use crate::support::{STPT, create_database};

/// What one `stpt webhook …` invocation did.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// "exit code + stdout + stderr", with the secret, the webhook's id and creation time
    /// (random or the clock's) replaced by fixed markers.
    fn snapshot(&self, secret: Option<&str>, id: Option<&str>) -> String {
        let mut text = format!(
            "exit code: {:?}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.code,
            redact_created(&self.stdout),
            self.stderr
        );
        if let Some(secret) = secret {
            text = text.replace(secret, "[secret]");
        }
        if let Some(id) = id {
            text = text
                .replace(&format!("id\t{id}\n"), "id\t[id]\n")
                .replace(&format!("\n{id}\t"), "\n[id]\t")
                .replace(&format!("webhook {id}"), "webhook [id]");
        }
        text
    }
}

/// Each list line's "created <time>" column becomes "created [time]".
fn redact_created(stdout: &str) -> String {
    stdout
        .lines()
        .map(|line| match line.split_once("\tcreated ") {
            Some((head, _)) => format!("{head}\tcreated [time]\n"),
            None => format!("{line}\n"),
        })
        .collect()
}

/// Runs `stpt webhook --database-url <database> args…`.
fn webhook(database: &Path, args: &[&str]) -> Run {
    let output = Command::new(STPT)
        .arg("webhook")
        .arg("--database-url")
        .arg(database)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("STPT_DATABASE_URL")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run stpt webhook: {e}"));
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The value of the `key\tvalue` line of `stdout`.
fn field<'a>(stdout: &'a str, key: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix('\t'))
        .unwrap_or_else(|| panic!("no {key} line in:\n{stdout}"))
}

#[test]
fn webhook_add_list_remove_on_a_sqlite_file() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temporary directory: {e}"));
    let database = dir.path().join("stpt.db");
    create_database(&database);

    let empty = webhook(&database, &["list"]);
    assert_snapshot!("webhook_list_empty", empty.snapshot(None, None));

    let added = webhook(
        &database,
        &[
            "add",
            "http://127.0.0.1:9/hook",
            "--on",
            "failed",
            "--machine",
            "rig-a",
            "--format",
            "slack",
        ],
    );
    assert_eq!(added.code, Some(0), "{}", added.snapshot(None, None));
    let id = field(&added.stdout, "id").to_owned();
    let secret = field(&added.stdout, "secret").to_owned();
    assert!(id.parse::<i64>().is_ok(), "id {id:?}");
    // 32 random bytes in hex: what a receiver keys its HMAC with.
    assert_eq!(secret.len(), 64, "secret {secret:?}");
    assert!(secret.chars().all(|c| c.is_ascii_hexdigit()), "{secret}");
    assert_snapshot!("webhook_add", added.snapshot(Some(&secret), Some(&id)));

    let listed = webhook(&database, &["list"]);
    assert_eq!(listed.code, Some(0), "{}", listed.snapshot(None, None));
    assert!(
        !listed.stdout.contains(&secret),
        "list shows the secret:\n{}",
        listed.stdout
    );
    assert!(
        listed.stdout.starts_with(&format!("{id}\t")),
        "{}",
        listed.stdout
    );
    assert_snapshot!("webhook_list_one", listed.snapshot(None, Some(&id)));

    let removed = webhook(&database, &["remove", &id]);
    assert_eq!(removed.code, Some(0), "{}", removed.snapshot(None, None));
    assert_eq!(removed.stdout, format!("removed webhook {id}\n"));

    let after = webhook(&database, &["list"]);
    assert_eq!(after.code, Some(0));
    assert_eq!(
        after.stdout, empty.stdout,
        "the list is empty again after the removal"
    );

    let again = webhook(&database, &["remove", &id]);
    assert_eq!(again.code, Some(1), "{}", again.snapshot(None, None));
    assert!(
        again.stderr.contains(&format!("no webhook has id {id}")),
        "{}",
        again.snapshot(None, None)
    );
}

#[test]
fn webhook_add_refuses_a_url_that_is_not_http() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temporary directory: {e}"));
    let database = dir.path().join("stpt.db");
    create_database(&database);

    let refused = webhook(
        &database,
        &["add", "ftp://127.0.0.1/hook", "--on", "failed"],
    );
    assert_eq!(refused.code, Some(1), "{}", refused.snapshot(None, None));
    assert!(
        refused.stdout.is_empty(),
        "{}",
        refused.snapshot(None, None)
    );
    assert!(
        refused.stderr.contains("give an http:// or https:// URL"),
        "{}",
        refused.snapshot(None, None)
    );
    assert_snapshot!("webhook_add_refused", refused.snapshot(None, None));

    let listed = webhook(&database, &["list"]);
    assert_eq!(listed.code, Some(0), "{}", listed.snapshot(None, None));
    assert!(
        listed.stdout.starts_with("no webhooks"),
        "nothing was stored:\n{}",
        listed.stdout
    );
}
