//! `stpt webhook add|list|remove`: the URLs the server tells when a run finishes, fails or is
//! closed as stale, directly on the server's database (the same `--database-url` as
//! `stpt serve`). A webhook's signing secret is printed once, when it is added.

use anyhow::Context;
use clap::{Args, Subcommand};
use stpt_server::db::{HookEvent, HookFormat, WebhookStore};

use super::user::DatabaseArgs;

/// Manage the webhooks the server notifies (signed with `X-Stpt-Signature`).
///
/// Example: `stpt webhook add https://ci.example.com/hooks/stpt --on failed --machine rig-07`
#[derive(Debug, Args)]
pub(crate) struct WebhookArgs {
    #[command(subcommand)]
    action: WebhookAction,
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Debug, Subcommand)]
enum WebhookAction {
    /// Add a webhook and print its id and signing secret (shown only now).
    Add {
        /// Where notifications are POSTed (http:// or https://).
        url: String,
        /// What it is told about: finished (every finished run), failed (finished failed, in
        /// error, cancelled or unknown) or stale (closed after going silent).
        #[arg(long, value_parser = ["finished", "failed", "stale"])]
        on: String,
        /// Only this machine's runs (case does not matter); every machine's if left out.
        #[arg(long)]
        machine: Option<String>,
        /// The body: json (stpt's document) or slack (`{"text": …}`).
        #[arg(long, default_value = "json", value_parser = ["json", "slack"])]
        format: String,
    },
    /// List the webhooks (never their secrets).
    List,
    /// Remove a webhook and its undelivered notifications.
    Remove {
        /// The webhook's id, as `stpt webhook list` shows it.
        id: i64,
    },
}

/// Runs one `stpt webhook` action.
pub(crate) fn run(args: WebhookArgs) -> anyhow::Result<()> {
    let hooks = WebhookStore::new(args.database.open()?.pool().clone());
    match args.action {
        WebhookAction::Add {
            url,
            on,
            machine,
            format,
        } => {
            let on: HookEvent = on.parse()?;
            let format: HookFormat = format.parse()?;
            let machine = machine.filter(|m| !m.trim().is_empty());
            let created = hooks
                .add(&url, on, machine.as_deref(), format)
                .with_context(|| format!("cannot add a webhook for {url}"))?;
            println!("id\t{}", created.webhook.id);
            println!("secret\t{}", created.secret);
            eprintln!(
                "webhook {} on {on}: the secret is shown only now; verify each body's \
                 X-Stpt-Signature (sha256=HMAC-SHA256 of the body with it)",
                created.webhook.id
            );
        }
        WebhookAction::List => {
            let all = hooks.list()?;
            if all.is_empty() {
                println!("no webhooks (add one with `stpt webhook add URL --on failed`)");
            }
            for hook in all {
                let when = stpt_core::Timestamp::from_micros(hook.created_at)
                    .map(crate::dates::human)
                    .unwrap_or_default();
                println!(
                    "{}\t{}\ton {}\t{}\t{}\tcreated {when}",
                    hook.id,
                    hook.url,
                    hook.on_event,
                    hook.machine.as_deref().unwrap_or("every machine"),
                    hook.format,
                );
            }
        }
        WebhookAction::Remove { id } => {
            anyhow::ensure!(hooks.remove(id)?, "no webhook has id {id}");
            println!("removed webhook {id}");
        }
    }
    Ok(())
}
