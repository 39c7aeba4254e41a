//! Running `stpt serve` as a service: its log (one line per request, text or JSON lines, its
//! level) and its config file (precedence file < environment < flag, `--print-config` with
//! secrets hidden, unknown keys and bad values refused with their key, the example file of
//! the deployment guide).

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::support::{STPT, lamp_run, stdout_lines, write_file};

/// `stpt serve` with only `env` in its environment (no `STPT_*` of the test's own), its
/// standard error kept.
struct LoggingServer {
    child: Child,
    url: String,
    stdout_lines: mpsc::Receiver<String>,
}

impl LoggingServer {
    fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> LoggingServer {
        let database = dir.join("stpt.db");
        let mut child = Command::new(STPT)
            .env_clear()
            .envs(env.iter().copied())
            .args(["serve", "--port", "0", "--database-url"])
            .arg(&database)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start stpt serve");
        let rx = stdout_lines(&mut child);
        let first = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("stpt serve says where it listens");
        let url = first
            .strip_prefix("stpt listening on ")
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("not a listening line: {first}"))
            .to_owned();
        LoggingServer {
            child,
            url,
            stdout_lines: rx,
        }
    }

    /// Three requests: a health check, a dry run of machine `lamp-rig`, an unknown path.
    fn make_requests(&self) {
        ureq::get(&format!("{}/healthz", self.url))
            .call()
            .expect("GET /healthz");
        ureq::post(&format!("{}/tm_api/dry_run", self.url))
            .send_json(lamp_run(0).dry_run())
            .expect("POST a dry run");
        let missing = ureq::get(&format!("{}/no/such/page", self.url)).call();
        assert!(matches!(missing, Err(ureq::Error::Status(404, _))));
    }

    /// Stops the server; answers its standard error and every stdout line after the first.
    fn stop(mut self) -> (String, Vec<String>) {
        // Time for the last request's line to be written.
        std::thread::sleep(Duration::from_millis(300));
        let _ = self.child.kill();
        let mut stderr = String::new();
        self.child
            .stderr
            .take()
            .expect("stderr of stpt serve")
            .read_to_string(&mut stderr)
            .expect("read stderr");
        let _ = self.child.wait();
        let stdout = self.stdout_lines.try_iter().collect();
        (stderr, stdout)
    }
}

#[test]
fn json_log_has_one_line_per_request_with_its_fields() {
    let dir = tempfile::tempdir().expect("temporary directory");
    // The format comes from the config file: the file is applied for real.
    let config = write_file(dir.path(), "stpt.toml", "log_format = \"json\"\n");
    let server = LoggingServer::start(dir.path(), &["--config", &config], &[]);
    server.make_requests();
    let (stderr, stdout) = server.stop();

    // Every line is JSON, Rocket's own included; nothing else reached stdout.
    let lines: Vec<Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    assert_eq!(stdout.len(), 1, "{stdout:?}");
    assert!(stdout[0].starts_with("ingest: open"), "{stdout:?}");

    let requests: Vec<&Value> = lines.iter().filter(|l| l.get("method").is_some()).collect();
    let paths: Vec<&str> = requests
        .iter()
        .map(|l| l["path"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        paths,
        ["/healthz", "/tm_api/dry_run", "/no/such/page"],
        "{stderr}"
    );
    let statuses: Vec<u64> = requests
        .iter()
        .map(|l| l["status"].as_u64().unwrap_or_default())
        .collect();
    assert_eq!(statuses, [200, 201, 404]);
    for line in &requests {
        assert_eq!(line["level"], "INFO", "{line}");
        assert!(line["duration_ms"].as_f64().is_some(), "{line}");
        assert_eq!(line["client"], "127.0.0.1", "{line}");
        assert!(line["timestamp"].is_string(), "{line}");
    }
    assert_eq!(requests[1]["method"], "POST");
    assert_eq!(requests[1]["machine"], "lamp-rig");
    assert!(requests[0].get("machine").is_none());
}

#[test]
fn text_log_has_one_line_per_request_and_warn_has_none() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let server = LoggingServer::start(dir.path(), &[], &[]);
    server.make_requests();
    let (stderr, _) = server.stop();
    let request_lines: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains(" INFO "))
        .collect();
    assert_eq!(request_lines.len(), 3, "{stderr}");
    assert!(request_lines[0].contains("GET /healthz 200"), "{stderr}");
    assert!(
        request_lines[1].contains("POST /tm_api/dry_run 201"),
        "{stderr}"
    );
    assert!(
        request_lines[1].contains("machine=\"lamp-rig\""),
        "{stderr}"
    );
    assert!(
        request_lines[2].contains("GET /no/such/page 404"),
        "{stderr}"
    );
    assert!(!stderr.contains("Rocket"), "{stderr}");

    let dir = tempfile::tempdir().expect("temporary directory");
    let server = LoggingServer::start(dir.path(), &[], &[("STPT_LOG", "warn")]);
    server.make_requests();
    let (stderr, _) = server.stop();
    assert!(!stderr.contains("/healthz"), "{stderr}");
}

/// `stpt serve --print-config` with `env` only, in `dir`.
fn print_config(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    Command::new(STPT)
        .env_clear()
        .envs(env.iter().copied())
        .current_dir(dir)
        .arg("serve")
        .args(args)
        .arg("--print-config")
        .output()
        .expect("run stpt serve --print-config")
}

#[test]
fn flags_beat_the_environment_which_beats_the_file() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = write_file(
        dir.path(),
        "stpt.toml",
        "body_limit = 1000\npool_size = 3\nstale_after = \"3h\"\n\
         allowed_hosts = [\"stpt.lab\", \"*.lab.example.com\"]\n\
         secret_key = \"file-secret-file-secret-file-secret\"\n",
    );
    let out = print_config(
        dir.path(),
        &["--config", &config, "--stale-after", "4h"],
        &[
            ("STPT_DB_POOL_SIZE", "5"),
            ("STPT_SMTP_PASSWORD", "smtp-password-from-env"),
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("body_limit = 1000  # config file\n"),
        "{text}"
    );
    assert!(
        text.contains("pool_size = 5  # environment, STPT_DB_POOL_SIZE\n"),
        "{text}"
    );
    assert!(text.contains("stale_after = \"4h\"  # flag\n"), "{text}");
    assert!(text.contains("port = 8000  # default\n"), "{text}");
    assert!(
        text.contains("allowed_hosts = [\"stpt.lab\", \"*.lab.example.com\"]  # config file\n"),
        "{text}"
    );
    // Secrets: said to be set, never shown.
    assert!(!text.contains("file-secret"), "{text}");
    assert!(!text.contains("smtp-password-from-env"), "{text}");
    assert!(
        text.contains("# secret_key = <hidden>  # config file\n"),
        "{text}"
    );
    assert!(
        text.contains("# smtp_password = <hidden>  # environment"),
        "{text}"
    );

    // What it printed is a config file that gives the same settings.
    let printed = write_file(dir.path(), "printed.toml", &text);
    let again = print_config(dir.path(), &["--config", &printed], &[]);
    let again = String::from_utf8_lossy(&again.stdout);
    assert!(again.contains("pool_size = 5  # config file\n"), "{again}");
    assert!(
        again.contains("stale_after = \"4h\"  # config file\n"),
        "{again}"
    );
}

#[test]
fn unknown_keys_and_bad_values_name_the_key() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let unknown = write_file(
        dir.path(),
        "unknown.toml",
        "port = 9000\ncolour = \"red\"\n",
    );
    let out = print_config(dir.path(), &["--config", &unknown], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("unknown key `colour`"), "{stderr}");
    assert!(stderr.contains("database_url"), "lists the keys: {stderr}");

    let bad = write_file(dir.path(), "bad.toml", "port = \"eighty\"\n");
    let out = print_config(dir.path(), &["--config", &bad], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("key `port`"), "{stderr}");
    assert!(stderr.contains("eighty"), "{stderr}");

    let list = write_file(dir.path(), "list.toml", "port = [1, 2]\n");
    let out = print_config(dir.path(), &["--config", &list], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("key `port`: expected one value"),
        "{stderr}"
    );

    let missing = print_config(dir.path(), &[], &[("STPT_CONFIG", "/no/such/stpt.toml")]);
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("/no/such/stpt.toml"), "{stderr}");
}

#[test]
fn the_deployment_guides_example_config_is_valid() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/deploy/stpt.toml");
    let dir = tempfile::tempdir().expect("temporary directory");
    let out = print_config(
        dir.path(),
        &["--config", example.to_str().expect("a UTF-8 path")],
        &[],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("log_format = \"json\"  # config file"),
        "{text}"
    );
}
