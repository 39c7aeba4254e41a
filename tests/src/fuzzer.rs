//! schemathesis, the schema-driven API fuzzer, in a Python virtual environment of its own under
//! the target directory (`target/py/venv`), created on first use with `python3 -m venv` and
//! `pip install schemathesis==`[`SCHEMATHESIS_VERSION`].
//!
//! The main type here is [`Schemathesis`]. [`Schemathesis::ensure`] answers
//! [`Unavailable`] when Python, `venv` or the install fails; the caller decides whether that
//! skips (locally) or fails (in CI).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The schemathesis release the contract test runs; a new one may check more, so it is
/// pinned and raised on purpose.
pub const SCHEMATHESIS_VERSION: &str = "4.32.5";

/// Why the fuzzer cannot run here.
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    /// No `python3` (or `$STPT_PYTHON`), or no `pip` in the environment, to run.
    #[error("cannot run {program}: {source}")]
    NotRunnable {
        /// The program tried.
        program: String,
        /// Why it did not start.
        #[source]
        source: std::io::Error,
    },
    /// A step of the set-up failed.
    #[error("{step} failed: {output}")]
    Step {
        /// What was run.
        step: String,
        /// What it printed.
        output: String,
    },
}

/// A schemathesis that runs.
#[derive(Debug, Clone)]
pub struct Schemathesis {
    executable: PathBuf,
}

/// What one run answered.
#[derive(Debug)]
pub struct FuzzOutcome {
    /// Whether every check passed.
    pub passed: bool,
    /// Its standard output and error.
    pub output: String,
}

/// One set-up at a time: the SQLite and PostgreSQL cases share the environment.
static SETUP: Mutex<()> = Mutex::new(());

impl Schemathesis {
    /// The environment in `venv` (created, with schemathesis installed, when missing).
    pub fn ensure(venv: &Path) -> Result<Schemathesis, Unavailable> {
        let _one_at_a_time = SETUP
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let executable = venv.join("bin").join("schemathesis");
        let installed = venv.join(format!(".schemathesis-{SCHEMATHESIS_VERSION}"));
        if executable.is_file() && installed.is_file() {
            return Ok(Schemathesis { executable });
        }
        let python = std::env::var("STPT_PYTHON").unwrap_or_else(|_| "python3".to_owned());
        if !venv.join("bin").join("python").is_file() {
            let mut create = Command::new(&python);
            create.arg("-m").arg("venv").arg(venv);
            run_step(&mut create, &python, &format!("{python} -m venv"))?;
        }
        let pip = venv.join("bin").join("pip");
        let mut install = Command::new(&pip);
        install
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .arg(format!("schemathesis=={SCHEMATHESIS_VERSION}"));
        run_step(
            &mut install,
            &pip.display().to_string(),
            &format!("pip install schemathesis=={SCHEMATHESIS_VERSION}"),
        )?;
        std::fs::write(&installed, SCHEMATHESIS_VERSION).map_err(|e| Unavailable::Step {
            step: format!("writing {}", installed.display()),
            output: e.to_string(),
        })?;
        Ok(Schemathesis { executable })
    }

    /// `schemathesis run <schema> <args…>` in `workdir` (where it may leave reports), without
    /// colour.
    pub fn run(&self, schema: &str, args: &[&str], workdir: &Path) -> FuzzOutcome {
        let output = Command::new(&self.executable)
            .current_dir(workdir)
            .arg("run")
            .arg(schema)
            .arg("--no-color")
            .args(args)
            .env("NO_COLOR", "1")
            .output();
        match output {
            Ok(output) => FuzzOutcome {
                passed: output.status.success(),
                output: format!(
                    "{}{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                ),
            },
            Err(e) => FuzzOutcome {
                passed: false,
                output: format!("cannot run {}: {e}", self.executable.display()),
            },
        }
    }
}

fn run_step(command: &mut Command, program: &str, step: &str) -> Result<(), Unavailable> {
    let output = command
        .output()
        .map_err(|source| Unavailable::NotRunnable {
            program: program.to_owned(),
            source,
        })?;
    if output.status.success() {
        return Ok(());
    }
    Err(Unavailable::Step {
        step: step.to_owned(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    })
}
