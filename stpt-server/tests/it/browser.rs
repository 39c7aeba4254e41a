//! The pages in a real browser: headless Chromium driven over WebDriver (chromedriver's HTTP
//! API, spoken with ureq) against a server on a free port. The live view must follow a run
//! posted through the API without a reload, names and scripts must show as text, nothing
//! marked `hidden` may take space (the stale badge of a fresh run), and the pages are saved as
//! screenshots (to `docs/img/` when `STPT_UPDATE_SCREENSHOTS` is set).
//!
//! Chromium and chromedriver are Debian's `chromium` and `chromium-driver`. When the build
//! script does not find them on `PATH`, the test is reported as ignored (cfg
//! `stpt_browser_tests`); in CI it always runs, and fails without them.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::live::Server;
use crate::support::TestDb;

/// How long the page may take to show a change: a wait, not a timing assertion.
const SHOWS_WITHIN: Duration = Duration::from_secs(2);
const DESKTOP: (u32, u32) = (1280, 900);
const PHONE: (u32, u32) = (390, 844);
const NASTY_NAME: &str = "<script>alert(1)</script>.py";
const NASTY_SCRIPT: &str = "# opens the door\nimport door\n\ndef test():\n    html = \"<script>alert(2)</script>\"\n    assert door.open(timeout=5), html\n";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("reserve a port")
        .port()
}

fn find(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// chromedriver on a free port, killed on drop.
struct Driver {
    child: Child,
    base: String,
}

impl Driver {
    fn start(binary: &Path) -> Driver {
        let port = free_port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let driver = Driver {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let ready = ureq::get(&format!("{}/status", driver.base))
                .call()
                .ok()
                .and_then(|r| r.into_json::<Value>().ok())
                .is_some_and(|v| v["value"]["ready"] == true);
            if ready {
                return driver;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("chromedriver did not become ready");
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One WebDriver session on a headless Chromium, ended on drop.
struct Browser {
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn open(driver: &Driver, chromium: &Path) -> Browser {
        let profile = tempfile::tempdir().expect("profile directory");
        let args = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--hide-scrollbars".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let answer: Value = ureq::post(&format!("{}/session", driver.base))
            .send_json(json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": chromium.display().to_string(), "args": args},
            }}}))
            .unwrap_or_else(|e| panic!("new WebDriver session: {}", describe(e)))
            .into_json()
            .expect("session answer");
        let session = answer["value"]["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned();
        Browser {
            session: format!("{}/session/{session}", driver.base),
            _profile: profile,
        }
    }

    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.session);
        let request = ureq::request(method, &url);
        let answer = match body {
            Some(body) => request.send_json(body),
            None => request.call(),
        };
        let answer: Value = answer
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {}", describe(e)))
            .into_json()
            .expect("WebDriver answer");
        answer["value"].clone()
    }

    fn size(&self, (width, height): (u32, u32)) {
        self.command(
            "POST",
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        );
    }

    fn visit(&self, url: &str) {
        self.command("POST", "/url", Some(json!({ "url": url })));
    }

    /// Runs `body` (a function body using `arguments`) in the page.
    fn run(&self, body: &str, args: Value) -> Value {
        self.command(
            "POST",
            "/execute/sync",
            Some(json!({"script": body, "args": args})),
        )
    }

    /// Polls `condition` (an expression) until it is true; fails with `what` after the wait.
    fn shows(&self, condition: &str, what: &str) {
        let deadline = Instant::now() + SHOWS_WITHIN;
        loop {
            if self.run(&format!("return !!({condition});"), json!([])) == true {
                return;
            }
            if Instant::now() >= deadline {
                let text = self.run("return document.body.innerText;", json!([]));
                panic!(
                    "the page did not show {what}; it shows:\n{}",
                    text.as_str().unwrap_or("")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn text(&self, selector: &str) -> String {
        self.run(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;",
            json!([selector]),
        )
        .as_str()
        .unwrap_or_else(|| panic!("no element {selector}"))
        .to_owned()
    }

    /// Whether the element `selector` names takes space on the page (a hidden element or
    /// one inside a hidden parent does not).
    fn visible(&self, selector: &str) -> bool {
        self.run(
            "const e = document.querySelector(arguments[0]); \
             return !!e && e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden';",
            json!([selector]),
        ) == true
    }

    /// Fails when an element marked `hidden` takes space on the page: a stylesheet rule must
    /// never undo the attribute.
    fn hidden_stays_hidden(&self, page: &str) {
        let shown = self.run(
            "return [...document.querySelectorAll('[hidden]')] \
               .filter(e => e.getClientRects().length > 0) \
               .map(e => e.outerHTML.slice(0, 120));",
            json!([]),
        );
        assert_eq!(shown, json!([]), "hidden elements show on {page}");
    }

    fn fits_the_width(&self) -> bool {
        self.run(
            "return document.documentElement.scrollWidth <= window.innerWidth;",
            json!([]),
        ) == true
    }

    fn screenshot(&self, file: &str) {
        let encoded = self.command("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().expect("base64 screenshot"))
            .expect("decodable screenshot");
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
        // The README's pictures are refreshed on request only, so a test run leaves the
        // checkout clean; otherwise they go to cargo's scratch directory for a look.
        let dir = if std::env::var_os("STPT_UPDATE_SCREENSHOTS").is_some() {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/img")
        } else {
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots")
        };
        std::fs::create_dir_all(&dir).expect("screenshot directory");
        std::fs::write(dir.join(file), png).expect("write the screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = ureq::delete(&self.session).call();
    }
}

fn describe(error: ureq::Error) -> String {
    match error {
        ureq::Error::Status(code, response) => {
            format!("{code}: {}", response.into_string().unwrap_or_default())
        }
        other => other.to_string(),
    }
}

fn ago(seconds: i64) -> String {
    (Utc::now() - chrono::Duration::seconds(seconds)).to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn plan(machine: &str, at: i64) -> Value {
    let test = |name: &str, script: &str| json!({"file_name": name, "file_path": "/rig/tests", "script": script});
    json!({
        "machine_name": machine,
        "timestamp": ago(at),
        "master_scenario": {
            "file_name": "nightly.py", "file_path": "/rig", "script": "run_all()",
            "scenarios": [
                {"file_name": "lamp.py", "file_path": "/rig/scenarios", "script": "# lamp",
                 "tests": [test("lamp_on.py", "import lamp\n\nassert lamp.on()\n"),
                           test(NASTY_NAME, NASTY_SCRIPT)]},
                {"file_name": "door.py", "file_path": "/rig/scenarios", "script": "# door",
                 "tests": [test("door_open.py", "import door\n\nassert door.open()\n"),
                           test("door_close.py", "import door\n\nassert door.close()\n")]},
            ],
        },
    })
}

fn start_test(server: &Server, machine: &str, name: &str, at: i64) {
    server.post_json(
        "test_start",
        &json!({"machine_name": machine, "file_name": name, "file_path": "/rig/tests",
                "timestamp_start": ago(at)}),
    );
}

fn stop_test(server: &Server, machine: &str, name: &str, status: &str, at: i64, message: &str) {
    let mut body = json!({"machine_name": machine, "file_name": name, "file_path": "/rig/tests",
                          "status": status, "timestamp_stop": ago(at)});
    if !message.is_empty() {
        body["message"] = json!(message);
    }
    server.post_json("test_stop", &body);
}

/// Chromium and chromedriver; the test cannot run without them.
fn browser_binaries() -> (PathBuf, PathBuf) {
    let chromium = find(&["chromium", "chromium-browser", "google-chrome"]);
    let driver = find(&["chromedriver"]);
    match (chromium, driver) {
        (Some(c), Some(d)) => (c, d),
        _ => panic!(
            "the browser test needs chromium and chromedriver on PATH \
             (apt-get install chromium chromium-driver)"
        ),
    }
}

#[test]
#[cfg_attr(
    not(stpt_browser_tests),
    ignore = "install chromium and chromedriver to run the browser test"
)]
fn pages_follow_a_run_live_and_escape_what_they_show() {
    let (chromium, chromedriver) = browser_binaries();
    let db = TestDb::sqlite();
    let server = Server::start(db.url());
    let rig = "bench-rig-01";

    // A finished earlier run gives the estimates their history.
    server.post_json("dry_run", &plan(rig, 900));
    let earlier = [
        ("lamp_on.py", "passed", ""),
        (NASTY_NAME, "passed", ""),
        (
            "door_open.py",
            "failed",
            "AssertionError: door stayed shut after 5 s",
        ),
        ("door_close.py", "passed", ""),
    ];
    for (i, (name, status, message)) in earlier.iter().enumerate() {
        let at = 800 - 40 * i64::try_from(i).expect("few tests");
        start_test(&server, rig, name, at);
        stop_test(&server, rig, name, status, at - 30, message);
    }
    server.post_json("dry_run", &plan("lab-rig-02", 100));
    start_test(&server, "lab-rig-02", "lamp_on.py", 50);
    let machine = server.machine_id(rig);

    let driver = Driver::start(&chromedriver);
    let browser = Browser::open(&driver, &chromium);
    browser.size(DESKTOP);

    // The live view follows a new run without a reload.
    browser.visit(&format!("{}/machine/{machine}/last", server.base));
    browser.shows(
        "document.querySelector('#conn').dataset.state === 'live'",
        "a live connection",
    );
    browser.run("window.stillTheSamePage = true;", json!([]));
    let first_run = browser.text("#run-link");

    let created = server.post_json("dry_run", &plan(rig, 60));
    let run = created["run_id"].as_i64().expect("run id");
    browser.shows(
        &format!("document.querySelector('#run-link').textContent === '#{run}'"),
        "the new run",
    );
    assert_ne!(first_run, format!("#{run}"));
    browser.shows(
        "document.querySelector('#progress-text').textContent === '0 / 4'",
        "an empty progress",
    );
    browser.shows(
        "document.querySelectorAll('li[data-status=\"waiting\"]').length === 4",
        "four waiting tests",
    );
    // The run is fresh: the stale badge and note are there, hidden, and stay hidden.
    assert!(
        !browser.visible("#run-stale"),
        "a fresh run shows a stale badge"
    );
    assert!(
        !browser.visible("#run-stale-note"),
        "a fresh run shows a stale note"
    );
    browser.hidden_stays_hidden("the live page");
    browser.shows(
        "[...document.querySelectorAll('#tree li[data-test-pk]')].every(li => li.querySelector('a.history').getAttribute('href') === '/test/' + li.dataset.testPk + '/history')",
        "a history link on every test",
    );

    start_test(&server, rig, "lamp_on.py", 50);
    browser.shows(
        "[...document.querySelectorAll('li[data-status=\"running\"] .name')].map(e => e.textContent).join() === 'lamp_on.py'",
        "lamp_on.py running",
    );
    browser.shows(
        "document.querySelector('#run-status').textContent === 'running'",
        "the run running",
    );
    // The same tests ran before, so the time left is estimated.
    browser.shows(
        "/^[~≥]/.test(document.querySelector('#eta').textContent)",
        "an estimate of the time left",
    );

    stop_test(&server, rig, "lamp_on.py", "passed", 20, "");
    browser.shows(
        "document.querySelector('#progress-text').textContent === '1 / 4'",
        "one test finished",
    );
    browser.shows(
        "document.querySelector('.chip[data-status=\"passed\"] b').textContent === '1'",
        "one passed",
    );

    start_test(&server, rig, NASTY_NAME, 15);
    browser.shows(
        "document.querySelector('li[data-status=\"running\"]') !== null",
        "the second test running",
    );
    // The name is text: no element was made of it, and the whole name shows.
    let running = browser.text("li[data-status=\"running\"] .name");
    assert_eq!(running, NASTY_NAME);
    assert_eq!(
        browser.run(
            "return document.querySelectorAll('#tree script').length;",
            json!([])
        ),
        0
    );
    assert_eq!(
        browser.run("return window.stillTheSamePage === true;", json!([])),
        true
    );
    // Elapsed time comes from the run's recorded start (50 s ago), not the page's clock.
    browser.shows("(t => / min /.test(t) || parseInt(t) >= 45)(document.querySelector('#elapsed').textContent)", "the elapsed time since the run's start");
    browser.screenshot("page-live.png");

    // The machines page, updated live from the status stream.
    browser.visit(&format!("{}/", server.base));
    browser.shows(
        "document.querySelector('#conn').dataset.state === 'live'",
        "a live connection",
    );
    let badge = format!("tr[data-machine-id=\"{machine}\"] .badge");
    assert_eq!(browser.text(&badge), "running");
    // Failed, with tests still waiting: the run is waiting again.
    stop_test(
        &server,
        rig,
        NASTY_NAME,
        "failed",
        5,
        "AssertionError: <b>not bold</b>",
    );
    browser.shows(
        &format!("document.querySelector('{badge}').textContent === 'waiting'"),
        "the machine's new status",
    );
    browser.screenshot("page-machines.png");

    // A machine's runs, updated from the runs stream.
    browser.visit(&format!("{}/machine/{machine}", server.base));
    browser.shows(
        "document.querySelector('#conn').dataset.state === 'live'",
        "a live connection",
    );
    start_test(&server, rig, "door_open.py", 4);
    browser.shows(
        &format!(
            "document.querySelector('tr[data-run-id=\"{run}\"] .badge').textContent === 'running'"
        ),
        "the run's new status",
    );
    browser.screenshot("page-machine.png");

    // One run: the failure message is visible, details open on a click, the script is text.
    browser.visit(&format!("{}/machine/run_data/{run}", server.base));
    assert!(
        browser
            .text(".tests pre.message")
            .contains("AssertionError: <b>not bold</b>")
    );
    browser.run(
        "[...document.querySelectorAll('button.node[data-kind=\"test\"]')].find(b => b.textContent.includes(arguments[0])).click();",
        json!([NASTY_NAME]),
    );
    browser.shows(
        "!document.querySelector('#details').hidden",
        "the details panel",
    );
    browser.shows(
        "document.querySelector('#d-script').textContent.length > 0",
        "the script",
    );
    assert_eq!(browser.text("#d-script"), NASTY_SCRIPT);
    assert_eq!(browser.text("#d-name"), NASTY_NAME);
    assert_eq!(browser.text("#d-path"), "/rig/tests");
    assert_eq!(
        browser.text("#d-message"),
        "AssertionError: <b>not bold</b>"
    );
    assert!(
        browser.run(
            "return document.querySelectorAll('#d-script .tok-kw').length > 0;",
            json!([])
        ) == true,
        "the script is highlighted"
    );
    assert_eq!(
        browser.run(
            "return document.querySelectorAll('script').length;",
            json!([])
        ),
        1
    );
    browser.screenshot("page-run.png");

    // Phone width: nothing runs off the side.
    browser.size(PHONE);
    for path in [
        "/".to_owned(),
        format!("/machine/{machine}"),
        format!("/machine/{machine}/last"),
        format!("/machine/run_data/{run}"),
    ] {
        browser.visit(&format!("{}{path}", server.base));
        assert!(browser.fits_the_width(), "{path} is wider than a phone");
    }

    // Unknown ids get the friendly page.
    browser.visit(&format!("{}/machine/987654", server.base));
    assert_eq!(browser.text("h1"), "Not found");
}

#[test]
#[cfg_attr(
    not(stpt_browser_tests),
    ignore = "install chromium and chromedriver to run the browser test"
)]
fn a_silent_run_shows_the_stale_badge_and_a_fresh_one_does_not() {
    const SILENT_AFTER: Duration = Duration::from_secs(3);
    let (chromium, chromedriver) = browser_binaries();
    let db = TestDb::sqlite();
    let server = Server::start_with(db.url(), |config| {
        config.stale_after = SILENT_AFTER;
        // The sweep would close the run; this test looks at a run merely silent.
        config.stale_sweep_every = Duration::from_secs(3600);
    });
    let driver = Driver::start(&chromedriver);
    let browser = Browser::open(&driver, &chromium);
    browser.size(DESKTOP);
    let rig = "door-rig-03";
    server.post_json("dry_run", &plan(rig, 30));
    start_test(&server, rig, "lamp_on.py", 20);
    let machine = server.machine_id(rig);

    // Seen at once, the run is fresh.
    browser.visit(&format!("{}/machine/{machine}/last", server.base));
    browser.shows(
        "document.querySelector('#run-status').textContent === 'running'",
        "the run running",
    );
    assert!(
        !browser.visible("#run-stale"),
        "a fresh run shows a stale badge"
    );
    browser.hidden_stays_hidden("the live page");

    // Silent past the limit, it is stale: badge and note show, on the live page and the list.
    std::thread::sleep(SILENT_AFTER + Duration::from_millis(500));
    browser.visit(&format!("{}/machine/{machine}/last", server.base));
    browser.shows(
        "document.querySelector('#run-status').textContent === 'running'",
        "the run running",
    );
    browser.shows(
        "document.querySelector('#run-stale').getClientRects().length > 0",
        "the stale badge",
    );
    assert!(browser.text("#run-stale-note").starts_with("last event "));
    browser.visit(&format!("{}/machine/{machine}", server.base));
    assert!(
        browser.visible("tr .badge.s-stale"),
        "the run list marks the run"
    );
    browser.hidden_stays_hidden("the runs page");
}
