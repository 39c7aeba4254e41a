//! Serving under a base path (`--base-path /stpt`) on a real port: every page's links, assets,
//! forms and script URLs point under the prefix and answer; the seed API, the v1 API, the
//! WebSockets and `/docs` answer under it; nothing answers outside it; redirects and cookies
//! stay under it.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::live::Server;
use crate::test_app::{TestApp, TestAppBuilder};

const PREFIX: &str = "/stpt";

/// The server root without the prefix: `http://127.0.0.1:PORT`.
fn root(server: &Server) -> String {
    server
        .base
        .strip_suffix(PREFIX)
        .expect("the base ends with the prefix")
        .to_owned()
}

fn seeded() -> (TestAppBuilder, Server, i64, i64) {
    let app = TestApp::sqlite().config(|config| config.base_path = PREFIX.to_owned());
    let server = app.serve();
    let plan = json!({
        "machine_name": "rig-1",
        "timestamp": "2024-01-01T10:00:00Z",
        "master_scenario": {"file_name": "all.py", "file_path": "/rig", "scenarios": [
            {"file_name": "s.py", "file_path": "/rig", "tests": [
                {"file_name": "t1.py", "file_path": "/rig/tests"}]}]},
    });
    // Two runs, so the second has an earlier one to compare with.
    server.post_json("dry_run", &plan);
    let run = server.post_json("dry_run", &plan)["run_id"]
        .as_i64()
        .expect("a run id");
    server.post_json(
        "test_start",
        &json!({"machine_name": "rig-1", "file_name": "t1.py", "file_path": "/rig/tests",
                "timestamp_start": "2024-01-01T10:00:01Z"}),
    );
    server.post_json(
        "test_stop",
        &json!({"machine_name": "rig-1", "file_name": "t1.py", "file_path": "/rig/tests",
                "status": "passed", "timestamp_stop": "2024-01-01T10:00:02Z"}),
    );
    let machine = server.machine_id("rig-1");
    (app, server, machine, run)
}

/// Every URL in a URL-bearing attribute of `page` (`href`, `src`, `action`, `data-*`), with
/// its attribute's name.
fn urls(page: &str) -> Vec<(String, String)> {
    let attribute =
        regex::Regex::new(r#"\s(href|src|action|data-[a-z-]+)="([^"]*)""#).expect("a pattern");
    attribute
        .captures_iter(page)
        .filter(|c| &c[1] == "href" || &c[1] == "src" || &c[1] == "action" || c[2].starts_with('/'))
        .map(|c| (c[1].to_owned(), c[2].replace("&amp;", "&")))
        .collect()
}

fn status_of(url: &str) -> u16 {
    match ureq::get(url).call() {
        Ok(answer) => answer.status(),
        Err(ureq::Error::Status(code, _)) => code,
        Err(e) => panic!("GET {url}: {e}"),
    }
}

#[test]
fn every_page_link_points_under_the_prefix_and_answers() {
    let (_db, server, machine, run) = seeded();
    let root = root(&server);
    let pages = [
        "/".to_owned(),
        format!("/machine/{machine}"),
        format!("/machine/{machine}/last"),
        format!("/machine/{machine}/trend"),
        format!("/machine/run_data/{run}"),
        "/runs".to_owned(),
        "/test/1/history".to_owned(),
        "/login".to_owned(),
        "/password-reset".to_owned(),
        "/docs".to_owned(),
    ];
    let mut followed = BTreeSet::new();
    for page in &pages {
        let answer = ureq::get(&format!("{}{page}", server.base))
            .call()
            .unwrap_or_else(|e| panic!("GET {PREFIX}{page}: {e}"));
        let html = answer.into_string().expect("a page");
        assert!(
            html.contains(&format!("<body data-base=\"{PREFIX}\"")),
            "{page} does not give its script the prefix"
        );
        let found = urls(&html);
        assert!(!found.is_empty(), "{page} has no links");
        for (attribute, url) in found {
            if url.starts_with('#') || url.starts_with("https://") || url.starts_with("http://") {
                continue;
            }
            assert!(
                url.starts_with(&format!("{PREFIX}/")) || url == PREFIX,
                "{page} points at {url:?}, outside {PREFIX}"
            );
            // A form's action is submitted with its fields, not fetched bare.
            if attribute != "action" {
                followed.insert(url);
            }
        }
    }
    for url in &followed {
        let status = status_of(&format!("{root}{url}"));
        assert_eq!(status, 200, "{url} answers {status}");
    }
    assert!(followed.iter().any(|u| u == "/stpt/static/app.js"));
    assert!(followed.iter().any(|u| u == "/stpt/static/style.css"));
}

#[test]
fn the_api_answers_under_the_prefix_and_nothing_outside_it() {
    let (_db, server, machine, run) = seeded();
    let root = root(&server);
    for path in [
        "/tm_api/machines/".to_owned(),
        format!("/tm_api/machine_last_data/{machine}/"),
        format!("/api/v1/runs/{run}"),
        "/healthz".to_owned(),
        "/docs/openapi.json".to_owned(),
        "/static/app.js".to_owned(),
    ] {
        assert_eq!(
            status_of(&format!("{}{path}", server.base)),
            200,
            "{PREFIX}{path}"
        );
        let outside = ureq::get(&format!("{root}{path}")).call();
        let Err(ureq::Error::Status(404, answer)) = outside else {
            panic!("{path} outside the prefix answers {outside:?}");
        };
        let body: Value = answer.into_json().expect("a JSON 404");
        assert_eq!(body["error"], "not_found", "{path}");
        assert!(
            body["detail"].as_str().is_some_and(|d| d.contains(&path)),
            "the 404 names the path as sent: {body}"
        );
    }
    // A prefix is a whole segment: `/stptx` is not under `/stpt`.
    assert_eq!(status_of(&format!("{root}/stptx/tm_api/machines/")), 404);
    // Ingest outside the prefix changes nothing.
    let outside = ureq::post(&format!("{root}/tm_api/test_start/")).send_json(
        json!({"machine_name": "elsewhere", "file_name": "t1.py", "file_path": "/rig/tests",
               "timestamp_start": "2024-01-01T10:00:01Z"}),
    );
    assert!(matches!(outside, Err(ureq::Error::Status(404, _))));
    assert!(
        server.get("/tm_api/machines/")["results"]
            .as_array()
            .is_some_and(|machines| machines.len() == 1)
    );
    // The documentation tells "try it" where the API is.
    let document = server.get("/docs/openapi.json");
    assert_eq!(document["servers"][0]["url"], PREFIX);
}

#[test]
fn websockets_answer_under_the_prefix() {
    let (_db, server, machine, _run) = seeded();
    let mut socket = server.socket(&format!("{PREFIX}/ws/machine/{machine}/last/"));
    let first = socket.next_json();
    assert!(first.is_object(), "a first message: {first}");
}

#[test]
fn redirects_and_cookies_stay_under_the_prefix() {
    let app = TestApp::sqlite().config(|config| {
        config.base_path = PREFIX.to_owned();
        config.read_access = stpt_server::config::ReadAccess::Login;
    });
    let server = app.serve();
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let answer = match agent.get(&format!("{}/runs", server.base)).call() {
        Ok(answer) | Err(ureq::Error::Status(_, answer)) => answer,
        Err(e) => panic!("GET /runs: {e}"),
    };
    assert_eq!(answer.status(), 303);
    let location = answer.header("Location").expect("a redirect");
    assert!(
        location.starts_with("/stpt/login/?next="),
        "redirected to {location}"
    );
    let login = agent
        .get(&format!("{}/login/", server.base))
        .call()
        .expect("the login page");
    let cookies: Vec<&str> = login.all("Set-Cookie");
    assert!(!cookies.is_empty(), "the login page sets its CSRF cookie");
    for cookie in cookies {
        assert!(
            cookie.contains("Path=/stpt") && !cookie.contains("Path=/;"),
            "a cookie outside the prefix: {cookie}"
        );
    }
}
