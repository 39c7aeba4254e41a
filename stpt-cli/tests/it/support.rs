//! A real `stpt serve` per test, the `stpt` binary run against it, and the events of a few
//! known runs.
//!
//! Outputs are snapshotted as one string, "exit code + stdout + stderr", with the server's
//! port redacted; the events carry fixed timestamps so that dates and durations are stable.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

/// The `stpt` binary under test.
pub(crate) const STPT: &str = env!("CARGO_BIN_EXE_stpt");

/// A server on a free port and a temporary database, stopped when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) url: String,
    pub(crate) dir: tempfile::TempDir,
    /// The CA the commands trust (`STPT_CA_CERT`), for a server serving HTTPS.
    pub(crate) ca: Option<PathBuf>,
}

impl Server {
    /// Starts `stpt serve --port 0` and waits for its "listening" line.
    pub(crate) fn start() -> Server {
        Server::start_with(&[])
    }

    /// Starts `stpt serve --port 0 extra…` and waits for its "listening" line.
    pub(crate) fn start_with(extra: &[&str]) -> Server {
        Server::start_with_env(extra, &[])
    }

    /// Starts `stpt serve` over HTTPS with `ca`'s server certificate; the commands run
    /// against it trust `ca` through `STPT_CA_CERT`.
    pub(crate) fn start_https(ca: &crate::test_ca::TestCa, extra: &[&str]) -> Server {
        let (cert, key) = (ca.cert(), ca.key());
        let mut args = vec![
            "--tls-cert",
            cert.to_str().expect("UTF-8 path"),
            "--tls-key",
            key.to_str().expect("UTF-8 path"),
        ];
        args.extend_from_slice(extra);
        let mut server = Server::start_with(&args);
        server.ca = Some(ca.ca());
        server
    }

    /// Like [`Server::start_with`], with `env` set for the server.
    pub(crate) fn start_with_env(extra: &[&str], env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().expect("temporary directory");
        let database = dir.path().join("stpt.db");
        let mut command = Command::new(STPT);
        command
            .args(["serve", "--port", "0", "--database-url"])
            .arg(&database)
            .args(extra);
        for name in [
            "STPT_STALE_AFTER",
            "STPT_DATABASE_URL",
            "STPT_ADDRESS",
            "STPT_PORT",
            "STPT_MAX_CONNECTIONS",
            "STPT_HEADER_TIMEOUT",
            "STPT_MAX_HEADER_SIZE",
            "STPT_IDLE_TIMEOUT",
            "STPT_BODY_TIMEOUT",
            "STPT_BODY_MIN_RATE",
            "STPT_BODY_BUDGET",
            "STPT_SEND_TIMEOUT",
            "STPT_TLS_CERT",
            "STPT_TLS_KEY",
            "STPT_CA_CERT",
            "STPT_BASE_PATH",
        ] {
            command.env_remove(name);
        }
        command.envs(env.iter().copied());
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start stpt serve");
        let stdout = child.stdout.take().expect("stdout of stpt serve");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("stpt listening on ") {
                    let url = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    let _ = tx.send(url);
                }
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!("stpt serve did not say where it listens");
            }
        };
        Server {
            child,
            url,
            dir,
            ca: None,
        }
    }

    /// Runs `stpt args…` against this server, without colour.
    pub(crate) fn stpt(&self, args: &[&str]) -> Output {
        self.stpt_with_stdin(args, None)
    }

    /// Runs `stpt args…` with `stdin` as its standard input.
    pub(crate) fn stpt_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut command = self.command(args);
        command.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().expect("run stpt");
        if let Some(text) = stdin {
            let mut input = child.stdin.take().expect("stdin");
            input.write_all(text.as_bytes()).expect("write stdin");
        }
        let output = child.wait_with_output().expect("wait for stpt");
        Output {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            url: self.url.clone(),
        }
    }

    /// A `stpt args…` command against this server, not started.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(STPT);
        command
            .args(args)
            .env("STPT_URL", &self.url)
            .env("NO_COLOR", "1")
            .env_remove("STPT_TOKEN")
            .env_remove("CLICOLOR_FORCE")
            .env("STPT_SPOOL_DIR", self.dir.path().join("spool"));
        match &self.ca {
            Some(ca) => command.env("STPT_CA_CERT", ca),
            None => command.env_remove("STPT_CA_CERT"),
        };
        command
    }

    /// Posts one event straight to the server (not through the binary).
    pub(crate) fn post(&self, kind: &str, body: &Value) -> Value {
        let url = format!("{}/tm_api/{kind}/", self.url);
        let agent = stpt_runner::tls::agent_builder(self.ca.as_deref())
            .expect("the test CA")
            .build();
        match agent.post(&url).send_json(body) {
            Ok(response) => response.into_json().unwrap_or(Value::Null),
            Err(e) => panic!("POST {kind} {body}: {e}"),
        }
    }

    /// Stores one whole run: the dry run, then start and stop of each given test.
    pub(crate) fn post_run(&self, run: &RunSpec<'_>) -> i64 {
        let answer = self.post("dry_run", &run.dry_run());
        let run_id = answer["run_id"]
            .as_i64()
            .expect("run_id in the dry run's answer");
        for (start, stop) in run.test_events() {
            self.post("test_start", &start);
            self.post("test_stop", &stop);
        }
        run_id
    }
}

impl Server {
    /// The process id of its `stpt serve`.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's database file.
    pub(crate) fn database(&self) -> std::path::PathBuf {
        self.dir.path().join("stpt.db")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A web server that is not stpt: every request gets an HTML 404 page. Answers its URL.
pub(crate) fn foreign_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let url = format!("http://{}", listener.local_addr().expect("local address"));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match std::io::Read::read(&mut stream, &mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
            let body = "<!DOCTYPE HTML>\n<html><head><title>Error response</title></head>\
                        <body><h1>Error response</h1><p>Error code: 404</p></body></html>\n";
            let answer = format!(
                "HTTP/1.1 404 File not found\r\nContent-Type: text/html;charset=utf-8\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    url
}

/// Creates the server's database (an SQLite file) at `path`, as `stpt serve` does on its
/// first start.
pub(crate) fn create_database(path: &Path) {
    let url = stpt_server::db::DatabaseUrl::Sqlite(path.to_string_lossy().into_owned());
    stpt_server::db::DieselStore::open(&url, stpt_server::db::PoolOptions::default())
        .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
}

/// Runs `stpt args…` in `dir` with no server around and no `STPT_*` variable set (but
/// `NO_COLOR`), feeding it `stdin` if given.
pub(crate) fn stpt_in(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut command = Command::new(STPT);
    command.args(args).current_dir(dir).env("NO_COLOR", "1");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("STPT_") {
            command.env_remove(key);
        }
    }
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("run stpt");
    if let Some(text) = stdin {
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(text.as_bytes()).expect("write stdin");
    }
    let output = child.wait_with_output().expect("wait for stpt");
    Output {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        url: dir.to_string_lossy().into_owned(),
    }
}

/// What one `stpt` invocation did.
pub(crate) struct Output {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    url: String,
}

impl Output {
    /// "exit code + stdout + stderr", with the server's URL (or the directory of `stpt_in`)
    /// redacted.
    pub(crate) fn snapshot(&self) -> String {
        let text = format!(
            "exit code: {:?}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        );
        text.replace(&self.url, "http://[server]")
    }

    /// The stdout as JSON.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.snapshot()))
    }
}

/// One planned test and how it ends.
pub(crate) struct TestSpec<'a> {
    pub(crate) scenario: usize,
    pub(crate) name: &'a str,
    pub(crate) status: &'a str,
    pub(crate) message: Option<&'a str>,
}

/// A run to store: its machine, its scenarios and the tests that get a start and a stop.
pub(crate) struct RunSpec<'a> {
    pub(crate) machine: &'a str,
    /// Minutes past 13:00 on 2018-12-30 when the dry run happens; tests follow a second apart.
    pub(crate) minute: u32,
    pub(crate) scenarios: &'a [&'a str],
    pub(crate) tests: &'a [TestSpec<'a>],
}

impl RunSpec<'_> {
    fn at(&self, second: u32) -> String {
        format!(
            "2018-12-30 13:{:02}:{:02}",
            self.minute + second / 60,
            second % 60
        )
    }

    /// The dry run body.
    pub(crate) fn dry_run(&self) -> Value {
        let scenarios: Vec<Value> = self
            .scenarios
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let tests: Vec<Value> = self
                    .tests
                    .iter()
                    .filter(|t| t.scenario == i)
                    .map(|t| json!({"file_name": t.name, "file_path": "/rig/tests", "script": null}))
                    .collect();
                json!({"file_name": name, "file_path": "/rig/scenarios", "script": "", "tests": tests})
            })
            .collect();
        json!({
            "machine_name": self.machine,
            "timestamp": self.at(0),
            "master_scenario": {
                "file_name": "scenario_master.py",
                "file_path": "/rig/scenarios",
                "script": "print('master')",
                "scenarios": scenarios,
            }
        })
    }

    /// Start and stop bodies of each test, in order; test `i` runs from second `2i+1` to
    /// `2i+2` plus `i` tenths.
    pub(crate) fn test_events(&self) -> Vec<(Value, Value)> {
        self.tests
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let i = u32::try_from(i).expect("few tests");
                let start = json!({
                    "machine_name": self.machine,
                    "file_name": t.name,
                    "file_path": "/rig/tests",
                    "timestamp_start": self.at(2 * i + 1),
                });
                let mut stop = json!({
                    "machine_name": self.machine,
                    "file_name": t.name,
                    "file_path": "/rig/tests",
                    "status": t.status,
                    "timestamp_stop": format!("{}.{}00000", self.at(2 * i + 2), i % 10),
                });
                if let Some(message) = t.message {
                    stop["message"] = json!(message);
                }
                (start, stop)
            })
            .collect()
    }
}

/// The lamp rig's run: two scenarios, one test failing with a two-line message.
pub(crate) fn lamp_run(minute: u32) -> RunSpec<'static> {
    RunSpec {
        machine: "lamp-rig",
        minute,
        scenarios: &["scenario_01_lamp.py", "scenario_02_door.py"],
        tests: &[
            TestSpec {
                scenario: 0,
                name: "01_01_test_lamp_on.py",
                status: "passed",
                message: None,
            },
            TestSpec {
                scenario: 0,
                name: "01_02_test_lamp_off.py",
                status: "failed",
                message: Some("AssertionError: lamp still on\nafter 5 s"),
            },
            TestSpec {
                scenario: 1,
                name: "02_01_test_door_open.py",
                status: "warning",
                message: Some("door slow to open"),
            },
        ],
    }
}

/// A run where every test passes.
pub(crate) fn passing_run(machine: &'static str, minute: u32) -> RunSpec<'static> {
    RunSpec {
        machine,
        minute,
        scenarios: &["scenario_01_trunk.py"],
        tests: &[
            TestSpec {
                scenario: 0,
                name: "01_01_test_trunk_open.py",
                status: "passed",
                message: None,
            },
            TestSpec {
                scenario: 0,
                name: "01_02_test_trunk_close.py",
                status: "passed",
                message: None,
            },
        ],
    }
}

/// Writes `text` to `name` in `dir` and answers its path as a string.
/// What `child` prints on stdout, line by line as it comes, read on a thread of its own that
/// drains the pipe to the end (so the child never blocks on a full one).
pub(crate) fn stdout_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    rx
}

pub(crate) fn write_file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write a test file");
    path.to_string_lossy().into_owned()
}
