//! `stpt completions <shell>`: the shell completion script, printed to stdout.

use clap::Args;
use clap_complete::Shell;

/// Print a shell completion script.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  stpt completions bash > ~/.local/share/bash-completion/completions/stpt\n  stpt completions zsh > \"${fpath[1]}/_stpt\""
)]
pub(crate) struct CompletionsArgs {
    /// The shell to complete for.
    shell: Shell,
}

/// Writes the script for `command` (the whole `stpt` command line).
pub(crate) fn run(args: CompletionsArgs, mut command: clap::Command) -> anyhow::Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "stpt", &mut script);
    crate::terminal::emit(&String::from_utf8_lossy(&script))?;
    Ok(())
}
