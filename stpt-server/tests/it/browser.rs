//! The pages in a real browser: headless Chromium driven over WebDriver (chromedriver's HTTP
//! API, spoken with ureq) against a server on a free port. The live view must follow a run
//! posted through the API without a reload, names and scripts must show as text, and nothing
//! marked `hidden` may take space (the stale badge of a fresh run). A realistic run (a rig's
//! nightly history and tonight's run under way) checks how every page reads: one moment and
//! one duration format, history links beside their tests, amber warnings, charts as wide as
//! their card with labelled axes, sensible estimates, the documentation page; its pages are
//! the README's pictures, saved to `docs/img/` when `STPT_UPDATE_SCREENSHOTS` is set (else to
//! cargo's scratch directory, with the other pages, for a look).
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
use crate::test_app::{TestApp, TestClock};

/// How long the page may take to show a change: a wait, not a timing assertion.
const SHOWS_WITHIN: Duration = Duration::from_secs(2);
const DESKTOP: (u32, u32) = (1280, 900);
const PHONE: (u32, u32) = (390, 844);
const TALL: (u32, u32) = (1280, 1400);
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

/// One WebDriver session on a headless Chromium, ended on drop (before its chromedriver is
/// killed).
struct Browser {
    session: String,
    _profile: tempfile::TempDir,
    _driver: Driver,
}

impl Browser {
    /// A desktop-sized browser on a chromedriver of its own: how every test starts.
    fn desktop() -> Browser {
        let (chromium, chromedriver) = browser_binaries();
        let browser = Browser::open(Driver::start(&chromedriver), &chromium);
        browser.size(DESKTOP);
        browser
    }

    fn open(driver: Driver, chromium: &Path) -> Browser {
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
            _driver: driver,
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

    fn png(&self) -> Vec<u8> {
        let encoded = self.command("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().expect("base64 screenshot"))
            .expect("decodable screenshot");
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
        png
    }

    /// Saves one of the README's pictures. They are refreshed on request only
    /// (`STPT_UPDATE_SCREENSHOTS`), so a test run leaves the checkout clean; otherwise they go
    /// to cargo's scratch directory for a look.
    fn screenshot(&self, file: &str) {
        let dir = if std::env::var_os("STPT_UPDATE_SCREENSHOTS").is_some() {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/img")
        } else {
            scratch()
        };
        std::fs::create_dir_all(&dir).expect("screenshot directory");
        std::fs::write(dir.join(file), self.png()).expect("write the screenshot");
    }

    /// Saves a picture of a page the README does not show, always to the scratch directory.
    fn look(&self, file: &str) {
        let dir = scratch();
        std::fs::create_dir_all(&dir).expect("screenshot directory");
        std::fs::write(dir.join(file), self.png()).expect("write the screenshot");
    }

    /// The page's visible text.
    fn visible_text(&self) -> String {
        self.run("return document.body.innerText;", json!([]))
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The page's visible prose: its text outside `code` and `pre` (where the documentation
    /// shows formats as examples), one text node a line.
    fn prose(&self) -> String {
        self.run(
            "const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT), out = []; \
             while (walk.nextNode()) { const e = walk.currentNode.parentElement; \
               if (!e || e.closest('code, pre, script') || e.getClientRects().length === 0) continue; \
               out.push(walk.currentNode.textContent); } \
             return out.join('\\n');",
            json!([]),
        )
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Checks what every page must: nothing hidden shows, moments in the one page format
    /// (`2026-11-30 18:50:30 UTC`, in `<time>` elements where the page writes them), no other
    /// date format, no literal backticks, and nothing wider than the window.
    fn page_is_sound(&self, page: &str) {
        self.hidden_stays_hidden(page);
        let text = self.prose();
        let date_like = regex::Regex::new(
            r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}[ T\u{a0}]+\d{1,2}:\d{2}(:\d{2})?(\.\d+)?([ \u{a0}]?(UTC|Z|[+-]\d{2}:?\d{2}))?",
        )
        .expect("pattern");
        let page_format =
            regex::Regex::new(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\u{a0}UTC$").expect("pattern");
        for found in date_like.find_iter(&text) {
            assert!(
                page_format.is_match(found.as_str()),
                "{page} shows a moment as {:?}",
                found.as_str()
            );
        }
        let times = self.run(
            "return [...document.querySelectorAll('time')].map(t => t.textContent);",
            json!([]),
        );
        for time in times.as_array().into_iter().flatten() {
            let time = time.as_str().unwrap_or_default();
            assert!(
                page_format.is_match(time),
                "{page} has <time>{time:?}</time>"
            );
        }
        assert!(!text.contains('`'), "{page} shows a literal backtick");
        assert!(self.fits_the_width(), "{page} is wider than the window");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = ureq::delete(&self.session).call();
    }
}

fn scratch() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots")
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
    let app = TestApp::sqlite();
    let server = app.serve();
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

    let browser = Browser::desktop();

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
    browser.page_is_sound("live");

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
    browser.page_is_sound("machines");

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
    browser.page_is_sound("machine");

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
    browser.page_is_sound("run");

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
    let clock = TestClock::default();
    // The sweep would close the run; this test looks at a run merely silent.
    let app = TestApp::sqlite()
        .stale(SILENT_AFTER, Duration::from_secs(3600))
        .clock(&clock);
    let server = app.serve();
    let browser = Browser::desktop();
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
    clock.advance(SILENT_AFTER + Duration::from_millis(500));
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

// --- a realistic run: the README's pictures and how every page looks ------------------

/// The rig of the README's pictures, its plan after the virtual testing machine's.
const RIG: &str = "lab-rig-01";
const SCENARIOS: [(&str, &str, &[&str]); 3] = [
    (
        "scenario_01_feature_lamp.py",
        "/rig/tests/01_feature_lamp",
        &[
            "01_01_test_lamp_on.py",
            "01_02_test_lamp_off.py",
            "01_03_test_lamp_dim.py",
        ],
    ),
    (
        "scenario_02_feature_door.py",
        "/rig/tests/02_feature_door",
        &["02_01_test_door_open.py", "02_02_test_door_close.py"],
    ),
    (
        "scenario_03_feature_trunk.py",
        "/rig/tests/03_feature_trunk",
        &["03_01_test_trunk_open.py", "03_02_test_trunk_lock.py"],
    ),
];
const LAMP_OFF_FAILS: &str = "AssertionError: lamp still on 5 s after lamp.off()";
const DOOR_WARNS: &str = "door opened in 6.2 s, over its 5 s budget";

/// `seconds` ago (fractions kept) in RFC 3339.
fn before_now(seconds: f64) -> String {
    let micros = (seconds * 1e6).round() as i64;
    (Utc::now() - chrono::Duration::microseconds(micros))
        .to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn realistic_plan(machine: &str, at: f64) -> Value {
    let scenarios: Vec<Value> = SCENARIOS
        .iter()
        .map(|(name, dir, tests)| {
            let tests: Vec<Value> = tests
                .iter()
                .map(|test| {
                    let feature = dir.rsplit('_').next().unwrap_or("rig");
                    json!({"file_name": test, "file_path": dir,
                           "script": format!("import {feature}\n\ndef test():\n    assert {feature}.check()\n")})
                })
                .collect();
            json!({"file_name": name, "file_path": "/rig/scenarios", "script": "run_tests()", "tests": tests})
        })
        .collect();
    json!({
        "machine_name": machine,
        "timestamp": before_now(at),
        "master_scenario": {"file_name": "nightly.py", "file_path": "/rig", "script": "run_all()",
                            "scenarios": scenarios},
    })
}

/// Where a test is: its directory.
fn dir_of(test: &str) -> &'static str {
    SCENARIOS
        .iter()
        .find(|(_, _, tests)| tests.contains(&test))
        .map_or("/rig", |(_, dir, _)| *dir)
}

/// Starts `test` `from` seconds ago and, with a status, stops it `to` seconds ago.
fn ran(server: &Server, machine: &str, test: &str, from: f64, stop: Option<(&str, f64, &str)>) {
    server.post_json(
        "test_start",
        &json!({"machine_name": machine, "file_name": test, "file_path": dir_of(test),
                "timestamp_start": before_now(from)}),
    );
    if let Some((status, to, message)) = stop {
        let mut body = json!({"machine_name": machine, "file_name": test, "file_path": dir_of(test),
                              "status": status, "timestamp_stop": before_now(to)});
        if !message.is_empty() {
            body["message"] = json!(message);
        }
        server.post_json("test_stop", &body);
    }
}

/// Eight nightly runs, a day apart: lamp_off fails every other night, the door warns now and
/// then, the trunk lost its device once.
fn nightly_history(server: &Server) -> Vec<i64> {
    let mut runs = Vec::new();
    for night in (1..=8_u32).rev() {
        let start = f64::from(night) * 86_400.0;
        let created = server.post_json("dry_run", &realistic_plan(RIG, start + 30.0));
        runs.push(created["run_id"].as_i64().expect("run id"));
        let mut at = start;
        for (i, test) in SCENARIOS.iter().flat_map(|(_, _, t)| t.iter()).enumerate() {
            let seconds =
                4.0 + f64::from((night * 7 + u32::try_from(i).unwrap_or(0) * 3) % 9) * 0.7;
            let (status, message) = match *test {
                "01_02_test_lamp_off.py" if night % 2 == 0 => ("failed", LAMP_OFF_FAILS),
                "02_01_test_door_open.py" if night % 3 == 0 => ("warning", DOOR_WARNS),
                "03_02_test_trunk_lock.py" if night == 5 => {
                    ("error", "device not found: /dev/ttyUSB1")
                }
                _ => ("passed", ""),
            };
            ran(server, RIG, test, at, Some((status, at - seconds, message)));
            at -= seconds + 1.0;
        }
    }
    runs
}

/// The texts of `selector`'s elements.
fn texts(browser: &Browser, selector: &str) -> Vec<String> {
    browser
        .run(
            "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent);",
            json!([selector]),
        )
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| t.as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Durations as every page writes them (`pages::rendering::duration` has the same table).
const DURATIONS: [(f64, &str); 12] = [
    (0.0, "< 0.1 s"),
    (0.0002, "< 0.1 s"),
    (0.05, "0.1 s"),
    (0.5, "0.5 s"),
    (1.0, "1.0 s"),
    (30.14, "30.1 s"),
    (59.94, "59.9 s"),
    (59.96, "1 min 00 s"),
    (65.0, "1 min 05 s"),
    (3599.4, "59 min 59 s"),
    (3725.0, "1 h 02 min"),
    (-1.0, "–"),
];

#[test]
#[cfg_attr(
    not(stpt_browser_tests),
    ignore = "install chromium and chromedriver to run the browser test"
)]
fn pages_show_a_realistic_run_readably() {
    let app = TestApp::sqlite();
    let server = app.serve();
    let nights = nightly_history(&server);
    let machine = server.machine_id(RIG);
    // Two more rigs, done for the day: one all green, one with a failure.
    for (rig, failing) in [
        ("bench-rig-02", "03_01_test_trunk_open.py"),
        ("hil-rig-03", ""),
    ] {
        server.post_json("dry_run", &realistic_plan(rig, 7200.0));
        let mut at = 7100.0;
        for test in SCENARIOS.iter().flat_map(|(_, _, t)| t.iter()) {
            let stop = if *test == failing {
                ("failed", at - 8.0, "AssertionError: trunk stayed shut")
            } else {
                ("passed", at - 5.0, "")
            };
            ran(&server, rig, test, at, Some(stop));
            at -= 10.0;
        }
    }

    // Tonight's run, under way: the lamp is done (lamp_off failed, lamp_dim took half a
    // second), the door warned, door_close is running.
    let created = server.post_json("dry_run", &realistic_plan(RIG, 62.0));
    let run = created["run_id"].as_i64().expect("run id");
    ran(
        &server,
        RIG,
        "01_01_test_lamp_on.py",
        60.0,
        Some(("passed", 54.0, "")),
    );
    ran(
        &server,
        RIG,
        "01_02_test_lamp_off.py",
        53.0,
        Some(("failed", 45.5, LAMP_OFF_FAILS)),
    );
    ran(
        &server,
        RIG,
        "01_03_test_lamp_dim.py",
        45.0,
        Some(("passed", 44.5, "")),
    );
    ran(
        &server,
        RIG,
        "02_01_test_door_open.py",
        44.0,
        Some(("warning", 37.8, DOOR_WARNS)),
    );
    // Started a second ago: the page must still read "of ~6.8 s" when a loaded machine takes
    // a few seconds to start the browser.
    ran(&server, RIG, "02_02_test_door_close.py", 1.0, None);

    let browser = Browser::desktop();

    // The live page: one duration format with the run page, a sensible time left.
    browser.visit(&format!("{}/machine/{machine}/last", server.base));
    browser.shows(
        "document.querySelector('#conn').dataset.state === 'live'",
        "a live connection",
    );
    browser.shows(
        "document.querySelector('.time[data-pk]') && document.querySelectorAll('li[data-status=\"running\"]').length === 1",
        "the running test",
    );
    for (seconds, text) in DURATIONS {
        assert_eq!(
            browser.run("return duration(arguments[0]);", json!([seconds])),
            json!(text),
            "the page's script writes {seconds} s otherwise"
        );
    }
    let live_times = texts(&browser, "#tree li .time");
    assert_eq!(live_times[0], "6.0 s", "{live_times:?}");
    assert_eq!(live_times[2], "0.5 s", "{live_times:?}");
    assert!(live_times[4].contains(" of ~"), "{live_times:?}");
    browser.shows(
        "/^~\\d/.test(document.querySelector('#eta').textContent)",
        "an estimate of the time left",
    );
    assert!(
        !browser.visible("#run-stale"),
        "a fresh run shows a stale badge"
    );
    browser.page_is_sound("the live page");
    browser.screenshot("page-live.png");

    // The machines and a machine's runs with its charts.
    browser.visit(&format!("{}/", server.base));
    browser.shows(
        "document.querySelector('#conn').dataset.state === 'live'",
        "a live connection",
    );
    browser.page_is_sound("the machines page");
    browser.screenshot("page-machines.png");
    browser.visit(&format!("{}/machine/{machine}", server.base));
    browser.page_is_sound("the runs page");
    charts_fill_their_card_and_label_their_axes(&browser, "the runs page", 2);
    // Tall enough to show the charts under the list.
    browser.size(TALL);
    browser.screenshot("page-machine.png");
    browser.size(DESKTOP);

    // One run: history links beside their tests, timestamps on one line, warnings amber.
    browser.visit(&format!("{}/machine/run_data/{run}", server.base));
    let tests = browser.run(
        "return [...document.querySelectorAll('ul.tests li')].map(li => { \
           const b = li.querySelector('button.node').getBoundingClientRect(); \
           const h = li.querySelector('a.history').getBoundingClientRect(); \
           return {name: li.querySelector('.name').textContent, same_line: h.top >= b.top - 1 && h.bottom <= b.bottom + 1, right_of: h.left >= b.right - 1}; });",
        json!([]),
    );
    for test in tests.as_array().expect("tests") {
        assert_eq!(
            (&test["same_line"], &test["right_of"]),
            (&json!(true), &json!(true)),
            "the history link of {} is not beside it",
            test["name"]
        );
    }
    let stamps = browser.run(
        "return [...document.querySelectorAll('.stats time')].map(t => t.getClientRects().length);",
        json!([]),
    );
    assert_eq!(stamps, json!([1, 1]), "a timestamp wraps");
    let run_times = texts(&browser, "ul.tests li .node .small");
    assert_eq!(
        run_times[..4],
        live_times[..4],
        "the run page and the live page write durations alike"
    );
    let boxes = browser.run(
        "const colour = s => getComputedStyle(document.querySelector('ul.tests li[data-status=\"' + s + '\"] pre.message')).backgroundColor; \
         return {failed: colour('failed'), warning: colour('warning')};",
        json!([]),
    );
    assert_ne!(
        boxes["failed"], boxes["warning"],
        "a warning looks like a failure"
    );
    assert_eq!(
        boxes["warning"], "rgb(255, 251, 235)",
        "the warning is not amber"
    );
    browser.run(
        "[...document.querySelectorAll('button.node[data-kind=\"test\"]')].find(b => b.textContent.includes('lamp_off')).click();",
        json!([]),
    );
    browser.shows(
        "document.querySelector('#d-message').textContent.length > 0",
        "the failure in the details",
    );
    browser.page_is_sound("the run page");
    browser.screenshot("page-run.png");

    // A test's history opened from an older run lists the newer runs too, and marks its own.
    let old_run = nights[2];
    let old_tree = server.get(&format!("/api/v1/runs/{old_run}"));
    let old_lamp_off = old_tree["scenarios"][0]["tests"][1]["id"]
        .as_i64()
        .expect("test id");
    browser.visit(&format!("{}/test/{old_lamp_off}/history", server.base));
    let rows = texts(&browser, "table.rows tbody tr td:first-child a");
    assert_eq!(
        rows.first().map(String::as_str),
        Some(&*format!("#{run}")),
        "{rows:?}"
    );
    assert_eq!(rows.len(), nights.len() + 1, "{rows:?}");
    assert!(
        browser.visible("tr.current .tag"),
        "the run it was opened from is not marked"
    );
    assert_eq!(browser.text("tr.current a"), format!("#{old_run}"));
    browser.page_is_sound("the history page");
    charts_fill_their_card_and_label_their_axes(&browser, "the history page", 1);
    browser.size(TALL);
    browser.screenshot("page-history.png");
    browser.size(DESKTOP);

    // Compare: headings inside their card, empty sections readable.
    browser.visit(&format!("{}/run/{run}/compare", server.base));
    let sections = browser.run(
        "return [...document.querySelectorAll('section.card')].map(s => { \
           const c = s.getBoundingClientRect(), text = document.createRange(); \
           text.selectNodeContents(s.querySelector('h2')); const h = text.getBoundingClientRect(); \
           return {title: s.querySelector('h2').textContent, inset: h.left - c.left, top: h.top - c.top, height: c.height}; });",
        json!([]),
    );
    for section in sections.as_array().expect("sections") {
        assert!(
            section["inset"].as_f64() >= Some(12.0) && section["top"].as_f64() >= Some(8.0),
            "the heading touches its card: {section}"
        );
        assert!(
            section["height"].as_f64() >= Some(60.0),
            "a thin bar: {section}"
        );
    }
    assert!(
        browser.visible_text().contains("None."),
        "no empty section says so"
    );
    browser.page_is_sound("the compare page");
    browser.look("page-compare.png");

    browser.visit(&format!("{}/machine/{machine}/trend", server.base));
    browser.page_is_sound("the trend page");
    charts_fill_their_card_and_label_their_axes(&browser, "the trend page", 2);
    browser.look("page-trend.png");

    // The documentation: a page of the site with the protocol and every route of the
    // OpenAPI document, all as text (no backticks, no inline script).
    browser.visit(&format!("{}/docs/", server.base));
    assert!(
        browser.visible("header.topbar nav a[href='/']"),
        "no navigation"
    );
    assert!(browser.visible(".docs .toc") && browser.visible("#protocol.card"));
    for section in [
        "statuses",
        "errors",
        "optional-fields-extensions",
        "read-api",
    ] {
        assert!(
            browser.visible(&format!("#{section}")),
            "no protocol section {section}"
        );
    }
    assert!(
        browser.text("#protocol").contains(
            "cancelled > running > waiting > unknown > failed > error > warning > passed"
        ),
        "the statuses are not on the page"
    );
    let shown = browser.run(
        "return [...document.querySelectorAll('.op-head')].map(h => \
           h.querySelector('.method').textContent + ' ' + h.querySelector('.path').textContent);",
        json!([]),
    );
    let shown: Vec<&str> = shown
        .as_array()
        .expect("operations")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let document = server.get("/docs/openapi.json");
    let mut routes = 0;
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("operations").keys() {
            routes += 1;
            let route = format!("{} {path}", method.to_uppercase());
            assert!(
                shown.contains(&route.as_str()),
                "{route} is not on the page"
            );
        }
    }
    assert_eq!(shown.len(), routes, "{shown:?}");
    assert_eq!(
        browser.run(
            "return [...document.scripts].map(s => s.getAttribute('src'));",
            json!([])
        ),
        json!(["/static/app.js"]),
        "the page has an inline script"
    );
    browser.page_is_sound("the documentation");
    browser.look("page-docs.png");
    browser.run(
        "document.getElementById('routes-history').scrollIntoView();",
        json!([]),
    );
    browser.look("page-docs-routes.png");

    // Phone width: nothing runs off the side.
    browser.size(PHONE);
    for path in [
        format!("/machine/{machine}"),
        format!("/machine/run_data/{run}"),
        format!("/test/{old_lamp_off}/history"),
        format!("/run/{run}/compare"),
        format!("/machine/{machine}/trend"),
        "/docs/".to_owned(),
    ] {
        browser.visit(&format!("{}{path}", server.base));
        browser.page_is_sound(&path);
    }
}

/// Every chart on the page spans most of its card, and labels both axes inside the card.
fn charts_fill_their_card_and_label_their_axes(browser: &Browser, page: &str, count: usize) {
    let charts = browser.run(
        "return [...document.querySelectorAll('svg.chart')].map(svg => { \
           const card = svg.closest('.card').getBoundingClientRect(), box = svg.getBoundingClientRect(); \
           const labels = [...svg.querySelectorAll('text.x')].map(t => t.getBoundingClientRect()); \
           return {share: box.width / card.width, x_labels: labels.length, \
                   inside: labels.every(l => l.left >= card.left && l.right <= card.right && l.bottom <= card.bottom)}; });",
        json!([]),
    );
    let charts = charts.as_array().expect("charts");
    assert_eq!(charts.len(), count, "{page}: {charts:?}");
    for chart in charts {
        assert!(
            chart["share"].as_f64() > Some(0.85),
            "{page}: a chart fills little of its card: {chart}"
        );
        assert!(
            chart["x_labels"].as_u64() >= Some(2),
            "{page}: no x-axis labels: {chart}"
        );
        assert_eq!(
            chart["inside"], true,
            "{page}: labels outside the card: {chart}"
        );
    }
}

#[test]
#[cfg_attr(
    not(stpt_browser_tests),
    ignore = "install chromium and chromedriver to run the browser test"
)]
fn estimates_from_sub_second_history_read_sensibly() {
    let app = TestApp::sqlite();
    let server = app.serve();
    // Two `--fast` runs: every test took a fraction of a millisecond.
    for night in [2.0, 1.0] {
        server.post_json("dry_run", &realistic_plan(RIG, night * 3600.0));
        for test in SCENARIOS.iter().flat_map(|(_, _, t)| t.iter()) {
            ran(
                &server,
                RIG,
                test,
                night * 3600.0 - 1.0,
                Some(("passed", night * 3600.0 - 1.0002, "")),
            );
        }
    }
    // Then a run at the real pace: the first test has run for four seconds.
    server.post_json("dry_run", &realistic_plan(RIG, 5.0));
    ran(&server, RIG, "01_01_test_lamp_on.py", 4.0, None);
    let machine = server.machine_id(RIG);

    let browser = Browser::desktop();
    browser.visit(&format!("{}/machine/{machine}/last", server.base));
    browser.shows(
        "document.querySelector('li[data-status=\"running\"] .time') && document.querySelector('li[data-status=\"running\"] .time').textContent !== ''",
        "the running test's time",
    );
    let running = browser.text("li[data-status=\"running\"] .time");
    assert!(
        running.ends_with("usually < 0.1 s") && !running.contains(" of "),
        "the running test reads {running:?}"
    );
    for waiting in texts(&browser, "li[data-status=\"waiting\"] .time") {
        assert_eq!(waiting, "usually < 0.1 s");
    }
    let eta = browser.text("#eta");
    assert_eq!(eta, "past the estimate", "the time left reads {eta:?}");
    browser.page_is_sound("the live page");
    browser.look("page-live-fast-history.png");
}

/// Posts a batch of output lines for the test at `index` of `run`.
fn print(server: &Server, machine: &str, run: i64, index: u32, event_id: &str, lines: &[&str]) {
    let lines: Vec<Value> = lines
        .iter()
        .map(|text| json!({"text": text, "stream": "stdout"}))
        .collect();
    ureq::post(&format!(
        "{}/api/v1/runs/{run}/tests/{index}/output",
        server.base
    ))
    .send_json(json!({"machine_name": machine, "event_id": event_id, "lines": lines}))
    .unwrap_or_else(|e| panic!("POST output: {}", describe(e)));
}

#[test]
#[cfg_attr(
    not(stpt_browser_tests),
    ignore = "install chromium and chromedriver to run the browser test"
)]
fn the_live_page_shows_the_running_tests_output_as_text() {
    let app = TestApp::sqlite();
    let server = app.serve();
    let rig = "serial-rig-04";
    let created = server.post_json("dry_run", &plan(rig, 60));
    let run = created["run_id"].as_i64().expect("run id");
    start_test(&server, rig, "lamp_on.py", 50);
    // Printed before the page opened: read from the store when it does.
    print(&server, rig, run, 0, "early", &["booting the lamp"]);
    let machine = server.machine_id(rig);

    let browser = Browser::desktop();
    browser.visit(&format!("{}/machine/{machine}/last", server.base));
    browser.shows(
        "document.querySelector('#conn').dataset.state === 'live'",
        "a live connection",
    );
    browser.shows(
        "document.querySelector('#output').textContent.includes('booting the lamp')",
        "the output printed before the page opened",
    );
    browser.run(
        "window.stillTheSamePage = true; window.alerted = false; \
         window.alert = () => { window.alerted = true; };",
        json!([]),
    );

    print(
        &server,
        rig,
        run,
        0,
        "live-1",
        &[
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(2)>",
            "\u{1b}[1;31mvoltage low\u{1b}[0m and \u{1b}[32mrecovered\u{1b}[0m",
        ],
    );
    browser.shows(
        "document.querySelector('#output').textContent.includes('recovered')",
        "the new lines without a reload",
    );
    let shown = browser.text("#output");
    assert!(
        shown.contains("<script>alert(1)</script>"),
        "the script tag is not shown as text: {shown:?}"
    );
    assert!(shown.contains("<img src=x onerror=alert(2)>"), "{shown:?}");
    assert!(
        shown.contains("voltage low and recovered"),
        "the coloured line lost its text: {shown:?}"
    );
    assert!(!shown.contains('\u{1b}'), "an ESC shows: {shown:?}");
    assert!(!shown.contains("[0m"), "a colour code shows: {shown:?}");
    assert_eq!(
        browser.run(
            "const o = document.querySelector('#output'); \
             return [o.querySelectorAll('script, img').length, window.alerted, window.stillTheSamePage, \
                     o.querySelector('.ansi-1.ansi-bold') ? o.querySelector('.ansi-1.ansi-bold').textContent : null, \
                     o.querySelector('.ansi-2') ? o.querySelector('.ansi-2').textContent : null];",
            json!([])
        ),
        json!([0, false, true, "voltage low", "recovered"]),
        "rig text became markup, alerted, reloaded, or lost its colours"
    );

    // Many lines: the pane follows the end; scrolled up it stays put; at the bottom again
    // it follows once more.
    let many: Vec<String> = (0..200).map(|i| format!("reading {i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    print(&server, rig, run, 0, "live-2", &many);
    browser.shows(
        "document.querySelector('#output').textContent.includes('reading 199')",
        "the long output",
    );
    let at_bottom = "(() => { const o = document.querySelector('#output'); \
                     return o.scrollTop + o.clientHeight >= o.scrollHeight - 4; })()";
    browser.shows(at_bottom, "the pane following the end");
    browser.run(
        "document.querySelector('#output').scrollTop = 0;",
        json!([]),
    );
    browser.shows(
        "!document.querySelector('#output-follow').hidden",
        "the follow button once scrolled up",
    );
    print(&server, rig, run, 0, "live-3", &["while scrolled up"]);
    browser.shows(
        "document.querySelector('#output').textContent.includes('while scrolled up')",
        "a line while scrolled up",
    );
    assert_eq!(
        browser.run(
            "return document.querySelector('#output').scrollTop;",
            json!([])
        ),
        json!(0),
        "the pane moved while the reader was scrolled up"
    );
    browser.run(
        "const o = document.querySelector('#output'); o.scrollTop = o.scrollHeight;",
        json!([]),
    );
    browser.shows(
        "document.querySelector('#output-follow').hidden",
        "the follow button gone at the bottom",
    );
    print(&server, rig, run, 0, "live-4", &many[..50]);
    print(&server, rig, run, 0, "live-5", &["the last line"]);
    browser.shows(
        "document.querySelector('#output').textContent.includes('the last line')",
        "the last line",
    );
    browser.shows(at_bottom, "the pane following the end again");

    // The next test takes the pane.
    stop_test(&server, rig, "lamp_on.py", "passed", 10, "");
    start_test(&server, rig, NASTY_NAME, 5);
    print(&server, rig, run, 1, "next-1", &["second test speaks"]);
    browser.shows(
        "document.querySelector('#output').textContent === 'second test speaks'",
        "only the second test's output",
    );
    assert_eq!(browser.text("#output-test"), NASTY_NAME);
    browser.hidden_stays_hidden("the live page with output");
}

#[test]
#[cfg_attr(
    not(stpt_browser_tests),
    ignore = "install chromium and chromedriver to run the browser test"
)]
fn pages_under_a_base_path_load_and_follow_a_run_live() {
    let app = TestApp::sqlite().config(|config| config.base_path = "/stpt".to_owned());
    let server = app.serve();
    assert!(server.base.ends_with("/stpt"));
    let rig = "proxied-rig";
    server.post_json("dry_run", &plan(rig, 100));
    let machine = server.machine_id(rig);
    let browser = Browser::desktop();

    // The machines page: its style sheet and script load from under the prefix, its socket
    // connects there, and a test starting shows without a reload.
    browser.visit(&format!("{}/", server.base));
    browser.shows(
        "document.querySelector('#conn').dataset.state === 'live'",
        "a live connection on the machines page",
    );
    assert_eq!(
        browser.run(
            "return [...document.styleSheets].some(s => s.href.endsWith('/stpt/static/style.css') && s.cssRules.length > 0);",
            json!([])
        ),
        true,
        "the style sheet loads from under the prefix"
    );
    browser.run("window.stillTheSamePage = true;", json!([]));
    let badge = format!("tr[data-machine-id=\"{machine}\"] .badge[data-status]");
    let before = browser.run(
        &format!("return document.querySelector('{badge}').dataset.status;"),
        json!([]),
    );
    assert_ne!(before, "running");
    start_test(&server, rig, "lamp_on.py", 50);
    browser.shows(
        &format!("document.querySelector('{badge}').dataset.status === 'running'"),
        "the machine running",
    );
    assert_eq!(
        browser.run("return window.stillTheSamePage === true;", json!([])),
        true
    );

    // The live page: a test stopping shows without a reload, and the links the script
    // writes stay under the prefix.
    browser.visit(&format!("{}/machine/{machine}/last", server.base));
    browser.shows(
        "document.querySelector('#conn').dataset.state === 'live'",
        "a live connection on the live page",
    );
    browser.run("window.stillTheSamePage = true;", json!([]));
    browser.shows(
        "[...document.querySelectorAll('li[data-status=\"running\"] .name')].map(e => e.textContent).join() === 'lamp_on.py'",
        "lamp_on.py running",
    );
    stop_test(&server, rig, "lamp_on.py", "passed", 20, "");
    browser.shows(
        "document.querySelector('#progress-text').textContent === '1 / 4'",
        "one test finished",
    );
    browser.shows(
        "document.querySelector('#run-link').getAttribute('href').startsWith('/stpt/machine/run_data/')",
        "the run link under the prefix",
    );
    browser.shows(
        "[...document.querySelectorAll('#tree li[data-test-pk] a.history')].every(a => a.getAttribute('href').startsWith('/stpt/test/'))",
        "history links under the prefix",
    );
    assert_eq!(
        browser.run("return window.stillTheSamePage === true;", json!([])),
        true
    );
}
