//! `stpt token create|list|revoke`: machine tokens for ingest, directly on the server's
//! database. A token is printed once at creation; only its SHA-256 digest is stored.

use anyhow::Context;
use clap::{Args, Subcommand};

use super::user::DatabaseArgs;

/// Manage the tokens test machines report with (`Authorization: Bearer <token>`).
///
/// Example: `stpt token create --machine rig-07`
#[derive(Debug, Args)]
pub(crate) struct TokenArgs {
    #[command(subcommand)]
    action: TokenAction,
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Debug, Subcommand)]
enum TokenAction {
    /// Create a token for a machine (it need not have reported yet) and print it once.
    Create {
        /// The machine's name, as its events give it (case does not matter).
        #[arg(long)]
        machine: String,
    },
    /// List the tokens (never the tokens themselves).
    List,
    /// Revoke every token of a machine, or one token.
    Revoke {
        /// Revoke all live tokens of this machine.
        #[arg(long, conflicts_with = "token", required_unless_present = "token")]
        machine: Option<String>,
        /// The token to revoke.
        token: Option<String>,
    },
}

fn when(micros: i64) -> String {
    stpt_core::Timestamp::from_micros(micros)
        .map(crate::dates::human)
        .unwrap_or_default()
}

/// Runs one `stpt token` action.
pub(crate) fn run(args: TokenArgs) -> anyhow::Result<()> {
    let access = args.database.open()?;
    match args.action {
        TokenAction::Create { machine } => {
            anyhow::ensure!(!machine.trim().is_empty(), "the machine name is empty");
            let token = access
                .create_token(&machine)
                .with_context(|| format!("cannot create a token for {machine:?}"))?;
            println!("{token}");
            eprintln!(
                "token for {machine}: shown only now; send it as \
                 `Authorization: Bearer <token>` (STPT_TOKEN for stpt and the runner)"
            );
        }
        TokenAction::List => {
            let tokens = access.tokens()?;
            if tokens.is_empty() {
                println!("no tokens (create one with `stpt token create --machine NAME`)");
            }
            for token in tokens {
                let state = match token.revoked_at {
                    Some(at) => format!("revoked {}", when(at)),
                    None => "live".to_owned(),
                };
                println!(
                    "{}\t{}\tcreated {}\t{state}",
                    token.id,
                    token.machine_name,
                    when(token.created_at)
                );
            }
        }
        TokenAction::Revoke { machine, token } => match (machine, token) {
            (Some(machine), _) => {
                let n = access.revoke_machine(&machine)?;
                anyhow::ensure!(n > 0, "{machine} has no live token");
                println!(
                    "revoked {n} token{} of {machine}",
                    if n == 1 { "" } else { "s" }
                );
            }
            (None, Some(token)) => {
                anyhow::ensure!(
                    access.revoke_token(&token)?,
                    "no live token matches the one given"
                );
                println!("revoked the token");
            }
            (None, None) => anyhow::bail!("give --machine NAME or the token to revoke"),
        },
    }
    Ok(())
}
