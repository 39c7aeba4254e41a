//! Discovering a [`Plan`] from a scenario directory described by a `stpt.toml` manifest.
//!
//! The main type here is [`Manifest`], the manifest as written; [`Plan::discover`] reads one and
//! turns it into a plan whose tests carry the command that runs them. `docs/runner.md` describes
//! the format for users, with a complete example. In short:
//!
//! ```toml
//! # Optional: the master scenario's script, relative to this directory. Without it the master
//! # scenario is the manifest itself (file name `stpt.toml`, script = the manifest's text).
//! master = "scenarios/scenario_master.py"
//! # How to run a test: a string split on whitespace, or an array of arguments. In each
//! # argument {file} is the test's absolute path, {name} its file name, {dir} its directory.
//! # Tests run in their own directory.
//! command = "python3 {file}"
//! # Optional: seconds a test may run before it is killed and reported as `error`.
//! timeout_secs = 600
//!
//! [labels]                  # optional: what the run tests, sent with its dry run
//! branch = "main"
//! firmware = "2.4.1"
//!
//! [[scenarios]]                                   # scenarios run in the order written
//! file = "scenarios/scenario_01_feature_lamp.py"  # the scenario's script (or `name = "lamp"`)
//! tests_dir = "01_feature_lamp"                   # optional, default: this directory
//! tests = ["01_01_test_lamp.py", "01_02_test_lamp.py"]  # run in the order written
//! command = ["sh", "-c", "python3 {name} > /dev/null"]  # optional, overrides the default
//! timeout_secs = 60                               # optional, overrides the default
//! ```
//!
//! **Invariant:** every file the manifest names exists when the plan is built (its text becomes
//! the script the dry run carries); paths in the plan are absolute.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::plan::{Plan, PlanError, TestCommand};

/// The manifest's file name inside a scenario directory.
pub const MANIFEST_FILE: &str = "stpt.toml";

/// A `stpt.toml` manifest, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The master scenario's script, relative to the manifest's directory.
    #[serde(default)]
    pub master: Option<PathBuf>,
    /// The default command running a test.
    #[serde(default)]
    pub command: Option<CommandSpec>,
    /// The default timeout per test, in seconds.
    #[serde(default)]
    pub timeout_secs: Option<f64>,
    /// Labels of every run of this directory (`branch = "main"`), sent with the dry run.
    #[serde(default)]
    pub labels: stpt_core::Labels,
    /// The scenarios in run order.
    #[serde(default)]
    pub scenarios: Vec<ScenarioSpec>,
}

/// One scenario of a manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSpec {
    /// The scenario's script, relative to the manifest's directory.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// A name for a scenario with no script of its own.
    #[serde(default)]
    pub name: Option<String>,
    /// Where the tests are, relative to the manifest's directory.
    #[serde(default)]
    pub tests_dir: Option<PathBuf>,
    /// The tests' files, relative to `tests_dir`, in run order.
    #[serde(default)]
    pub tests: Vec<PathBuf>,
    /// The command for this scenario's tests, overriding the manifest's.
    #[serde(default)]
    pub command: Option<CommandSpec>,
    /// The timeout for this scenario's tests, overriding the manifest's.
    #[serde(default)]
    pub timeout_secs: Option<f64>,
}

/// A command as written: one string split on whitespace, or the arguments one by one.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum CommandSpec {
    /// `"python3 {file}"`
    Line(String),
    /// `["sh", "-c", "python3 {file}"]`
    Args(Vec<String>),
}

/// Why a scenario directory could not be turned into a plan.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// A file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The manifest is not valid TOML or does not follow the format.
    #[error("invalid manifest {path}")]
    Parse {
        /// The manifest.
        path: PathBuf,
        /// What the TOML parser said.
        #[source]
        source: toml::de::Error,
    },
    /// A scenario has neither `file` nor `name`.
    #[error("scenario {position} has neither `file` nor `name`")]
    UnnamedScenario {
        /// Its position in the manifest, from 1.
        position: usize,
    },
    /// A command is empty.
    #[error("the command for scenario {position} is empty")]
    EmptyCommand {
        /// The scenario's position in the manifest, from 1.
        position: usize,
    },
    /// A timeout is negative, zero or not finite.
    #[error("timeout_secs must be a positive number of seconds, not {value}")]
    BadTimeout {
        /// The value given.
        value: f64,
    },
    /// A path has no file name (`..` or `/`).
    #[error("{path} does not name a file")]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// The resulting plan is invalid.
    #[error("invalid plan")]
    Plan(#[from] PlanError),
}

impl Plan {
    /// Reads `dir/stpt.toml` and builds the plan it describes, with each test's command.
    pub fn discover(dir: impl AsRef<Path>) -> Result<Plan, DiscoverError> {
        let dir = dir.as_ref();
        let dir = std::fs::canonicalize(dir).map_err(|source| DiscoverError::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(MANIFEST_FILE);
        let text = read_text(&path)?;
        let manifest: Manifest =
            toml::from_str(&text).map_err(|source| DiscoverError::Parse { path, source })?;
        manifest.into_plan(&dir, &text)
    }
}

impl Manifest {
    /// Builds the plan this manifest describes; relative paths are taken from `dir`, and
    /// `text` is the manifest's own text (the master's script when it names none).
    pub fn into_plan(self, dir: &Path, text: &str) -> Result<Plan, DiscoverError> {
        let default_timeout = self.timeout_secs.map(timeout).transpose()?;
        let mut builder = match &self.master {
            Some(master) => {
                let (name, parent, script) = script_file(&dir.join(master))?;
                Plan::builder(name, parent).script(script)
            }
            None => Plan::builder(MANIFEST_FILE, path_text(dir)).script(text),
        };
        for (key, value) in &self.labels {
            builder = builder.label(key.clone(), value.clone());
        }
        for (i, scenario) in self.scenarios.into_iter().enumerate() {
            let position = i + 1;
            builder = match (&scenario.file, &scenario.name) {
                (Some(file), _) => {
                    let (name, parent, script) = script_file(&dir.join(file))?;
                    builder.scenario(name, parent).script(script)
                }
                (None, Some(name)) => builder.scenario(name.clone(), path_text(dir)),
                (None, None) => return Err(DiscoverError::UnnamedScenario { position }),
            };
            let command = scenario.command.as_ref().or(self.command.as_ref());
            let limit = match scenario.timeout_secs {
                Some(secs) => Some(timeout(secs)?),
                None => default_timeout,
            };
            let tests_dir = match &scenario.tests_dir {
                Some(sub) => dir.join(sub),
                None => dir.to_path_buf(),
            };
            for test in &scenario.tests {
                let file = tests_dir.join(test);
                let (name, parent, script) = script_file(&file)?;
                builder = builder.test(name.clone(), parent.clone()).script(script);
                if let Some(spec) = command {
                    let mut command = expand(spec, &file, &name, &parent)
                        .ok_or(DiscoverError::EmptyCommand { position })?
                        .in_dir(parent);
                    command.timeout = limit;
                    builder = builder.command(command);
                }
            }
        }
        Ok(builder.build()?)
    }
}

fn timeout(secs: f64) -> Result<Duration, DiscoverError> {
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or(DiscoverError::BadTimeout { value: secs })
}

/// The command for one test, placeholders filled in; `None` when it is empty.
fn expand(spec: &CommandSpec, file: &Path, name: &str, dir: &str) -> Option<TestCommand> {
    let file = path_text(file);
    let fill = |arg: &str| {
        arg.replace("{file}", &file)
            .replace("{name}", name)
            .replace("{dir}", dir)
    };
    let args: Vec<String> = match spec {
        CommandSpec::Line(line) => line.split_whitespace().map(fill).collect(),
        CommandSpec::Args(args) => args.iter().map(|a| fill(a)).collect(),
    };
    let (program, rest) = args.split_first()?;
    Some(TestCommand::new(program.clone(), rest.iter().cloned()))
}

/// A script's file name, directory and text.
fn script_file(path: &Path) -> Result<(String, String, String), DiscoverError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| DiscoverError::NotAFile {
            path: path.to_path_buf(),
        })?;
    let parent = path.parent().map(path_text).unwrap_or_default();
    let script = read_text(path)?;
    Ok((name, parent, script))
}

fn read_text(path: &Path) -> Result<String, DiscoverError> {
    let bytes = std::fs::read(path).map_err(|source| DiscoverError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    // Scripts are shown, not executed from this text: a stray byte must not stop a run.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn discovers_ordered_scenarios_tests_and_commands() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        write(&root, "scenarios/scenario_master.py", "master");
        write(&root, "scenarios/scenario_01.py", "lamp scenario");
        write(&root, "lamp/02_test.py", "second");
        write(&root, "lamp/01_test.py", "first");
        write(&root, "door/01_test.sh", "door");
        write(
            &root,
            MANIFEST_FILE,
            r#"
            master = "scenarios/scenario_master.py"
            command = "python3 {file}"
            timeout_secs = 30

            [[scenarios]]
            file = "scenarios/scenario_01.py"
            tests_dir = "lamp"
            tests = ["02_test.py", "01_test.py"]

            [[scenarios]]
            name = "door"
            tests = ["door/01_test.sh"]
            command = ["sh", "{name}", "--in", "{dir}"]
            timeout_secs = 1.5
            "#,
        );
        let plan = Plan::discover(&root).unwrap();
        let master = plan.master();
        assert_eq!(master.file_name, "scenario_master.py");
        assert_eq!(master.script.as_deref(), Some("master"));
        assert_eq!(
            master.scenarios[0].file_path,
            path_text(&root.join("scenarios"))
        );
        assert_eq!(master.scenarios[1].file_name, "door");
        let tests = plan.tests();
        let names: Vec<_> = tests.iter().map(|t| t.file_name()).collect();
        assert_eq!(names, ["02_test.py", "01_test.py", "01_test.sh"]);
        assert_eq!(tests[0].test.script.as_deref(), Some("second"));
        let lamp = tests[0].command.unwrap();
        assert_eq!(lamp.program, "python3");
        assert_eq!(lamp.args, [path_text(&root.join("lamp/02_test.py"))]);
        assert_eq!(lamp.timeout, Some(Duration::from_secs(30)));
        assert_eq!(
            lamp.working_dir.as_deref(),
            Some(root.join("lamp").as_path())
        );
        let door = tests[2].command.unwrap();
        assert_eq!(door.program, "sh");
        let door_dir = path_text(&root.join("door"));
        assert_eq!(door.args, ["01_test.sh", "--in", door_dir.as_str()]);
        assert_eq!(door.timeout, Some(Duration::from_millis(1500)));
    }

    #[test]
    fn labels_of_the_manifest_go_with_the_plan() {
        let dir = tempfile::tempdir().unwrap();
        let text =
            "[labels]\nbranch = \"main\"\n\"hw/rev\" = \"C\"\n\n[[scenarios]]\nname = \"empty\"\n";
        write(dir.path(), MANIFEST_FILE, text);
        let plan = Plan::discover(dir.path()).unwrap();
        assert_eq!(plan.labels()["branch"], "main");
        assert_eq!(plan.labels()["hw/rev"], "C");
        let text = "[labels]\n\"bad key\" = \"x\"\n";
        write(dir.path(), MANIFEST_FILE, text);
        let err = Plan::discover(dir.path()).unwrap_err();
        assert!(
            format!("{err:?}").contains("bad key"),
            "the refusal names the key: {err:?}"
        );
    }

    #[test]
    fn the_manifest_is_the_master_when_none_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[[scenarios]]\nname = \"empty\"\n";
        write(dir.path(), MANIFEST_FILE, text);
        let plan = Plan::discover(dir.path()).unwrap();
        assert_eq!(plan.master().file_name, MANIFEST_FILE);
        assert_eq!(plan.master().script.as_deref(), Some(text));
        assert_eq!(plan.test_count(), 0);
    }

    #[test]
    fn missing_files_and_bad_fields_are_named() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            MANIFEST_FILE,
            "[[scenarios]]\nname = \"s\"\ntests = [\"gone.py\"]\n",
        );
        let err = Plan::discover(dir.path()).unwrap_err();
        assert!(
            matches!(&err, DiscoverError::Read { path, .. } if path.ends_with("gone.py")),
            "{err:?}"
        );

        write(dir.path(), MANIFEST_FILE, "[[scenarios]]\ntests = []\n");
        let err = Plan::discover(dir.path()).unwrap_err();
        assert!(
            matches!(err, DiscoverError::UnnamedScenario { position: 1 }),
            "{err:?}"
        );

        write(dir.path(), MANIFEST_FILE, "comand = \"typo\"\n");
        let err = Plan::discover(dir.path()).unwrap_err();
        assert!(matches!(err, DiscoverError::Parse { .. }), "{err:?}");

        write(dir.path(), MANIFEST_FILE, "timeout_secs = -1\n");
        let err = Plan::discover(dir.path()).unwrap_err();
        assert!(matches!(err, DiscoverError::BadTimeout { .. }), "{err:?}");

        write(dir.path(), "t.py", "");
        write(
            dir.path(),
            MANIFEST_FILE,
            "command = \"  \"\n[[scenarios]]\nname = \"s\"\ntests = [\"t.py\"]\n",
        );
        let err = Plan::discover(dir.path()).unwrap_err();
        assert!(
            matches!(err, DiscoverError::EmptyCommand { position: 1 }),
            "{err:?}"
        );
    }
}
