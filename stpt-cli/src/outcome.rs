//! Results that are not the command failing, yet must not exit 0: a run that did not pass,
//! a run cancelled with Ctrl-C; and what the command was about not existing. `main` maps them
//! to their exit codes.

use stpt_core::Status;

/// A followed or executed run that did not end with every test passed or warned.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RunNotPassed {
    /// It finished, and some test did not pass.
    #[error("the run finished {status}: not every test passed or warned")]
    Failed {
        /// The run's aggregate status.
        status: Status,
    },
    /// It was cancelled before its end.
    #[error("cancelled; {} did not run", tests(*.not_run))]
    Cancelled {
        /// Tests never started.
        not_run: usize,
    },
    /// A person aborted it on the server (`stpt abort`).
    #[error("the run was aborted on the server; {} did not run", tests(*.not_run))]
    Aborted {
        /// Tests never started.
        not_run: usize,
    },
}

/// "1 test", "3 tests".
fn tests(n: usize) -> String {
    crate::palette::counted(n as u64, "test")
}

impl RunNotPassed {
    /// A run that finished with `status`.
    pub(crate) fn failed(status: Status) -> Self {
        RunNotPassed::Failed { status }
    }

    /// A run aborted on the server with `not_run` tests left.
    pub(crate) fn aborted(not_run: usize) -> Self {
        RunNotPassed::Aborted { not_run }
    }

    /// A run cancelled with `not_run` tests left.
    pub(crate) fn cancelled(not_run: usize) -> Self {
        RunNotPassed::Cancelled { not_run }
    }
}

/// Something the command was asked about does not exist on the server (a test id): exit code
/// 4, like an unknown machine or run.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct NotFound(pub(crate) String);
