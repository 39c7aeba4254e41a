//! Requests from the wrong place: a foreign `Host` (DNS rebinding), and writes a page on
//! another site could make a browser send (simple posts without JSON, a foreign `Origin`, a
//! login session without its CSRF value). Each is refused and changes nothing.

use rocket::http::{ContentType, Header, Status};
use rocket::local::blocking::LocalRequest;
use serde_json::Value;
use stpt_core::Store;
use stpt_core::testing::{builders, dump};
use stpt_server::config::{IngestAuth, ReadAccess};

use crate::test_app::TestApp;

/// An app with open ingest and public reads, served at `https://tracker.example.com/` and
/// answering `allowed_hosts` besides the local names.
fn app(allowed_hosts: &[&str]) -> TestApp {
    TestApp::sqlite()
        .with_access(ReadAccess::Public, IngestAuth::Open)
        .config(|config| {
            config.allowed_hosts = allowed_hosts.iter().map(|h| (*h).to_owned()).collect();
            config.public_url = Some("https://tracker.example.com/".to_owned());
        })
        .build()
}

fn answer(request: LocalRequest<'_>) -> (Status, Value) {
    let response = request.dispatch();
    let status = response.status();
    let body = response.into_string().unwrap_or_default();
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn dry_run_body() -> String {
    serde_json::to_string(&builders::dry_run("rig-a", 0, &[("s.py", &["a.py"])])).expect("json")
}

#[test]
fn cross_site_simple_writes_are_refused() {
    let app = app(&[]);
    let (client, db) = (&app.client, &app.db);
    let empty = dump(&**db);
    for content_type in [Some(ContentType::Plain), Some(ContentType::Form), None] {
        let mut request = client.post("/tm_api/dry_run/").body(dry_run_body());
        if let Some(ct) = content_type.clone() {
            request = request.header(ct);
        }
        let (status, body) = answer(request);
        assert_eq!(
            status,
            Status::UnsupportedMediaType,
            "{content_type:?}: {body}"
        );
        assert_eq!(body["error"], "unsupported_media_type");
    }
    assert_eq!(dump(&**db), empty, "a refused write changed the store");

    // JSON from a page of another site (or an opaque one) is refused too, an address or a
    // `localhost` name included: a page's origin must be the host the request is sent to.
    for origin in [
        "https://evil.example",
        "null",
        "http://203.0.113.5",
        "https://8.8.8.8:443",
        "http://[2001:db8::1]",
        "http://evil.localhost:8101",
    ] {
        let (status, body) = answer(
            client
                .post("/tm_api/dry_run/")
                .header(ContentType::JSON)
                .header(Header::new("Origin", origin))
                .body(dry_run_body()),
        );
        assert_eq!(status, Status::Forbidden, "{origin}: {body}");
        assert_eq!(body["error"], "cross_origin");
    }
    assert_eq!(dump(&**db), empty);

    for (host, origin) in [
        ("10.0.0.1:8000", "http://10.0.0.2:8000"),
        ("localhost:8000", "http://evil.localhost:8000"),
    ] {
        let (status, body) = answer(
            client
                .post("/tm_api/dry_run/")
                .header(ContentType::JSON)
                .header(Header::new("Host", host))
                .header(Header::new("Origin", origin))
                .body(dry_run_body()),
        );
        assert_eq!(status, Status::Forbidden, "{origin} to {host}: {body}");
    }
    assert_eq!(dump(&**db), empty);

    // A page of the host the request goes to writes, by address too.
    let (status, body) = answer(
        client
            .post("/tm_api/dry_run/")
            .header(ContentType::JSON)
            .header(Header::new("Host", "10.0.0.1:8000"))
            .header(Header::new("Origin", "http://10.0.0.1:8000"))
            .body(dry_run_body()),
    );
    assert_eq!(status, Status::Created, "{body}");

    // The server's own pages and non-browser clients write as before.
    let (status, _) = answer(
        client
            .post("/tm_api/dry_run/")
            .header(ContentType::JSON)
            .header(Header::new("Origin", "https://tracker.example.com"))
            .body(dry_run_body()),
    );
    assert_eq!(status, Status::Created);
    let (status, _) = answer(
        client
            .post("/tm_api/dry_run/")
            .header(ContentType::new("application", "json; charset=utf-8"))
            .body(dry_run_body()),
    );
    assert_eq!(status, Status::Created);

    // A form post cannot abort a run; JSON (as `stpt abort` sends) can.
    let run_id = db
        .machine_by_name("rig-a")
        .unwrap()
        .and_then(|m| db.last_run(m.id).unwrap())
        .expect("a run")
        .run
        .id;
    let before = dump(&**db);
    let (status, _) = answer(
        client
            .post(format!("/api/v1/runs/{run_id}/abort"))
            .header(ContentType::Form),
    );
    assert_eq!(status, Status::UnsupportedMediaType);
    let (status, _) = answer(client.post(format!("/api/v1/runs/{run_id}/abort")));
    assert_eq!(status, Status::UnsupportedMediaType);
    assert_eq!(dump(&**db), before, "a refused abort changed the store");
    let (status, body) = answer(
        client
            .post(format!("/api/v1/runs/{run_id}/abort"))
            .header(ContentType::JSON)
            .body("{}"),
    );
    assert_eq!(status, Status::Ok, "{body}");
    assert_eq!(body["closed_as"], "aborted");
}

#[test]
fn a_write_with_a_login_session_needs_its_csrf_value() {
    let app = app(&[]);
    let client = &app.client;
    app.access()
        .add_user("erin", None, "a long enough password")
        .expect("user");
    let login = client
        .get("/login/")
        .dispatch()
        .into_string()
        .unwrap_or_default();
    let marker = "name=\"csrf\" value=\"";
    let start = login.find(marker).expect("a CSRF field") + marker.len();
    let csrf = login[start..start + login[start..].find('"').expect("end")].to_owned();
    let response = client
        .post("/login/")
        .header(ContentType::Form)
        .body(format!(
            "csrf={csrf}&username=erin&password=a%20long%20enough%20password"
        ))
        .dispatch();
    assert_eq!(response.status(), Status::SeeOther);
    drop(response);

    let (status, body) = answer(
        client
            .post("/tm_api/dry_run/")
            .header(ContentType::JSON)
            .body(dry_run_body()),
    );
    assert_eq!(status, Status::Forbidden, "{body}");
    assert_eq!(body["error"], "csrf");
    let (status, _) = answer(
        client
            .post("/tm_api/dry_run/")
            .header(ContentType::JSON)
            .header(Header::new("X-CSRF-Token", csrf))
            .body(dry_run_body()),
    );
    assert_eq!(status, Status::Created);
}

#[test]
fn foreign_hosts_are_misdirected() {
    let app = app(&["stpt.lab", "*.rigs.example"]);
    let (client, db) = (&app.client, &app.db);
    for host in [
        "127.0.0.1:8000",
        "[::1]:8000",
        "localhost:8000",
        "stpt.lab",
        "r1.rigs.example:8000",
        "tracker.example.com",
    ] {
        let (status, _) = answer(
            client
                .get("/tm_api/machines")
                .header(Header::new("Host", host)),
        );
        assert_eq!(status, Status::Ok, "{host}");
    }
    for host in ["rebind.attacker.example:8000", "stpt.lab.attacker.example"] {
        for path in ["/tm_api/machines", "/", "/healthz"] {
            let (status, body) = answer(client.get(path).header(Header::new("Host", host)));
            assert_eq!(status, Status::MisdirectedRequest, "{host}{path}");
            assert_eq!(body["error"], "misdirected_request");
        }
        let (status, _) = answer(
            client
                .post("/tm_api/dry_run/")
                .header(Header::new("Host", host))
                .header(ContentType::JSON)
                .body(dry_run_body()),
        );
        assert_eq!(status, Status::MisdirectedRequest);
    }
    assert_eq!(dump(&**db), dump(&stpt_core::MemoryStore::new()));
}
