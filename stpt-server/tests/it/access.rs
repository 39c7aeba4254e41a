//! Access rules through Rocket's local client, on SQLite and PostgreSQL: ingest tokens (none,
//! unknown, right machine, wrong machine, revoked), read access (anonymous, token, logged in,
//! logged out), CSRF, login rate limiting, security headers, password reset, pruning; plus
//! the XSS check over every page.

use rocket::http::{ContentType, Header, Status};
use rocket::local::blocking::LocalResponse;
use serde_json::Value;
use stpt_core::testing::builders;
use stpt_core::{PageRequest, Status as TestStatus, Store, Timestamp};
use stpt_server::config::{IngestAuth, ReadAccess};

use crate::test_app::{TestApp, TestAppBuilder, on_both_backends};

const PASSWORD: &str = "a long enough password";

impl TestApp {
    fn post_event(&self, path: &str, body: &str, token: Option<&str>) -> (Status, Value) {
        let mut request = self.client.post(path).header(ContentType::JSON).body(body);
        if let Some(token) = token {
            request = request.header(Header::new("Authorization", format!("Bearer {token}")));
        }
        json(request.dispatch())
    }

    /// The CSRF value of the form on `path`.
    fn csrf(&self, path: &str) -> String {
        let html = self
            .client
            .get(path)
            .dispatch()
            .into_string()
            .unwrap_or_default();
        let marker = "name=\"csrf\" value=\"";
        let start = html.find(marker).expect("a CSRF field") + marker.len();
        let end = html[start..].find('"').expect("end of the CSRF value") + start;
        html[start..end].to_owned()
    }

    fn login(&self, name: &str, password: &str) -> LocalResponse<'_> {
        let csrf = self.csrf("/login/");
        self.client
            .post("/login/")
            .header(ContentType::Form)
            .body(form(&[
                ("csrf", &csrf),
                ("username", name),
                ("password", password),
                ("next", "/machine/1"),
            ]))
            .dispatch()
    }

    fn machine_names(&self) -> Vec<String> {
        self.db
            .machines(PageRequest::new(1, 100))
            .expect("machines")
            .items
            .into_iter()
            .map(|m| m.machine.name)
            .collect()
    }
}

fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn json(response: LocalResponse<'_>) -> (Status, Value) {
    let status = response.status();
    let text = response.into_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn dry_run(machine: &str) -> String {
    serde_json::to_string(&builders::dry_run(
        machine,
        0,
        &[("s.py", &["t1.py", "t2.py"])],
    ))
    .expect("serialisable")
}

fn location(response: &LocalResponse<'_>) -> String {
    response
        .headers()
        .get_one("Location")
        .unwrap_or_default()
        .to_owned()
}

fn ingest_rules(app: TestAppBuilder) {
    let app = app
        .with_access(ReadAccess::Public, IngestAuth::Token)
        .build();
    // A token can exist before its machine first reports; names match case-insensitively.
    let token_a = app.access().create_token("Rig-A").expect("token");
    let token_b = app.access().create_token("rig-b").expect("token");

    let (status, body) = app.post_event("/tm_api/dry_run/", &dry_run("rig-a"), None);
    assert_eq!(status, Status::Unauthorized, "{body}");
    assert_eq!(body["error"], "unauthorized");
    assert!(body["detail"].is_string());

    let (status, body) = app.post_event("/tm_api/dry_run/", &dry_run("rig-a"), Some("made-up"));
    assert_eq!(status, Status::Unauthorized, "{body}");
    assert!(app.machine_names().is_empty());

    let (status, body) = app.post_event("/tm_api/dry_run/", &dry_run("rig-a"), Some(&token_a));
    assert_eq!(status, Status::Created, "{body}");

    // Machine A's token writing for machine B: refused, and nothing changes.
    let (status, body) = app.post_event("/tm_api/dry_run/", &dry_run("rig-b"), Some(&token_a));
    assert_eq!(status, Status::Forbidden, "{body}");
    assert_eq!(body["error"], "forbidden");
    let start = serde_json::to_string(&builders::start("rig-a", "t1.py", 1)).expect("json");
    let (status, _) = app.post_event("/tm_api/test_start/", &start, Some(&token_b));
    assert_eq!(status, Status::Forbidden);
    assert_eq!(app.machine_names(), vec!["rig-a".to_owned()]);
    let run = app
        .db
        .machine_by_name("rig-a")
        .expect("query")
        .expect("machine");
    let last = app.db.last_run(run.id).expect("query").expect("run");
    assert_eq!(
        last.run.counts.get(TestStatus::Running),
        0,
        "the refused start changed nothing"
    );

    let (status, _) = app.post_event("/tm_api/test_start/", &start, Some(&token_a));
    assert_eq!(status, Status::Accepted);
    let stop = serde_json::to_string(&builders::stop("rig-a", "t1.py", TestStatus::Passed, 2))
        .expect("json");
    let (status, _) = app.post_event("/tm_api/test_stop/", &stop, Some(&token_a));
    assert_eq!(status, Status::Accepted);

    // Revoked: refused like an unknown token.
    assert_eq!(app.access().revoke_machine("RIG-A").expect("revoke"), 1);
    let (status, body) = app.post_event("/tm_api/dry_run/", &dry_run("rig-a"), Some(&token_a));
    assert_eq!(status, Status::Unauthorized);
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("revoked")
    );
    assert!(app.access().revoke_token(&token_b).expect("revoke"));
    let (status, _) = app.post_event("/tm_api/dry_run/", &dry_run("rig-b"), Some(&token_b));
    assert_eq!(status, Status::Unauthorized);
    assert_eq!(app.machine_names(), vec!["rig-a".to_owned()]);
}

fn read_rules(app: TestAppBuilder) {
    let app = app.with_access(ReadAccess::Login, IngestAuth::Open).build();
    let (status, _) = app.post_event("/tm_api/dry_run/", &dry_run("rig-a"), None);
    assert_eq!(
        status,
        Status::Created,
        "ingest stays open under read login"
    );
    let token = app.access().create_token("rig-a").expect("token");
    app.access()
        .add_user("alice", None, PASSWORD)
        .expect("user");

    // Anonymous: the API and WebSockets get 401 JSON, pages a redirect to the login.
    for path in [
        "/tm_api/machines",
        "/tm_api/machine_last_data/1",
        "/tm_api/test/1",
        "/api/v1/runs/1",
        "/page_api/live/1",
        "/ws/machine/status",
        "/docs/openapi.json",
        "/metrics",
    ] {
        let (status, body) = json(app.get_with(path, None));
        assert_eq!(status, Status::Unauthorized, "{path}: {body}");
        assert_eq!(body["error"], "unauthorized", "{path}");
    }
    for path in [
        "/",
        "/machine/1",
        "/machine/1/last/",
        "/machine/run_data/1",
        "/docs/",
        "/nothing/here",
    ] {
        let response = app.get_with(path, None);
        assert_eq!(response.status(), Status::SeeOther, "{path}");
        assert!(location(&response).starts_with("/login/?next=/"), "{path}");
    }
    // Always reachable: the way in and what it needs.
    for path in [
        "/login/",
        "/password-reset/",
        "/healthz",
        "/static/style.css",
    ] {
        assert_eq!(app.get_with(path, None).status(), Status::Ok, "{path}");
    }

    // A machine token reads the API and the metrics (so Prometheus can scrape them), but
    // is no login for pages.
    assert_eq!(
        app.get_with("/tm_api/machines", Some(&token)).status(),
        Status::Ok
    );
    let metrics = app.get_with("/metrics", Some(&token));
    assert_eq!(metrics.status(), Status::Ok);
    assert!(
        metrics
            .into_string()
            .unwrap_or_default()
            .contains("stpt_events_applied_total"),
        "the metrics text"
    );
    assert_eq!(app.get_with("/", Some(&token)).status(), Status::SeeOther);
    assert_eq!(
        app.get_with("/tm_api/machines", Some("made-up")).status(),
        Status::Unauthorized
    );

    // Wrong password: no session.
    let response = app.login("alice", "not the password at all");
    assert_eq!(response.status(), Status::Unauthorized);
    drop(response);
    assert_eq!(app.get_with("/", None).status(), Status::SeeOther);

    // Logged in: pages, API and the WebSocket route (no upgrade here, so not 401).
    let response = app.login("alice", PASSWORD);
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(
        location(&response),
        "/machine/1",
        "back where the login was asked"
    );
    drop(response);
    for path in [
        "/",
        "/machine/1",
        "/machine/1/last",
        "/tm_api/machines",
        "/api/v1/runs/1",
    ] {
        assert_eq!(app.get_with(path, None).status(), Status::Ok, "{path}");
    }
    assert_ne!(
        app.get_with("/ws/machine/status", None).status(),
        Status::Unauthorized
    );

    // Revoked token: 401 again (checked below, once the session is gone).
    app.access().revoke_token(&token).expect("revoke");

    // Logging out needs the form's CSRF value; then the session is gone.
    let response = app
        .client
        .post("/logout/")
        .header(ContentType::Form)
        .body("csrf=forged")
        .dispatch();
    assert_eq!(response.status(), Status::Forbidden);
    drop(response);
    assert_eq!(
        app.get_with("/", None).status(),
        Status::Ok,
        "still logged in"
    );
    let csrf = app.csrf("/logout/");
    let response = app
        .client
        .post("/logout/")
        .header(ContentType::Form)
        .body(form(&[("csrf", &csrf)]))
        .dispatch();
    assert_eq!(response.status(), Status::SeeOther);
    drop(response);
    assert_eq!(app.get_with("/", None).status(), Status::SeeOther);
    assert_eq!(
        app.get_with("/tm_api/machines", Some(&token)).status(),
        Status::Unauthorized,
        "the revoked token reads nothing"
    );

    // A new password ends every session issued before it.
    let response = app.login("alice", PASSWORD);
    assert_eq!(response.status(), Status::SeeOther);
    drop(response);
    assert_eq!(app.get_with("/", None).status(), Status::Ok);
    app.access()
        .set_password("alice", "another long password")
        .expect("passwd");
    assert_eq!(app.get_with("/", None).status(), Status::SeeOther);
}

fn login_hardening(app: TestAppBuilder) {
    let app = app.with_access(ReadAccess::Login, IngestAuth::Open).build();
    app.access().add_user("bob", None, PASSWORD).expect("user");

    // A login without the form's CSRF value is refused even with the right password.
    let response = app
        .client
        .post("/login/")
        .header(ContentType::Form)
        .body(form(&[
            ("csrf", "forged"),
            ("username", "bob"),
            ("password", PASSWORD),
        ]))
        .dispatch();
    assert_eq!(response.status(), Status::Forbidden);
    drop(response);

    // Too many failures: even the right password is refused for a while.
    for _ in 0..5 {
        assert_eq!(
            app.login("bob", "wrong password!!").status(),
            Status::Unauthorized
        );
    }
    assert_eq!(app.login("bob", PASSWORD).status(), Status::TooManyRequests);
    assert_eq!(app.get_with("/", None).status(), Status::SeeOther);

    // Security headers on pages, API answers and errors alike.
    for path in ["/login/", "/healthz", "/tm_api/machines"] {
        let response = app.get_with(path, None);
        let csp = response
            .headers()
            .get_one("Content-Security-Policy")
            .unwrap_or_default()
            .to_owned();
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(
            !csp.contains("script-src 'self' 'unsafe-inline'"),
            "{path}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        assert_eq!(
            response.headers().get_one("X-Content-Type-Options"),
            Some("nosniff")
        );
    }
}

fn password_reset(app: TestAppBuilder) {
    let app = app.with_access(ReadAccess::Login, IngestAuth::Open).build();
    app.access()
        .add_user("carol", Some("carol@example.com"), PASSWORD)
        .expect("user");
    assert!(
        app.access()
            .create_reset_link("nobody")
            .expect("query")
            .is_none()
    );
    let link = app
        .access()
        .create_reset_link("carol")
        .expect("link")
        .expect("user");
    let path = link.path();

    // Asking for a link by mail answers the same for known and unknown names (no mail here).
    for name in ["carol", "nobody"] {
        let csrf = app.csrf("/password-reset/");
        let response = app
            .client
            .post("/password-reset/")
            .header(ContentType::Form)
            .body(form(&[("csrf", &csrf), ("username", name)]))
            .dispatch();
        assert_eq!(response.status(), Status::SeeOther);
        assert_eq!(location(&response), "/password-reset/done");
    }

    assert_eq!(app.get_with(&path, None).status(), Status::Ok);
    let csrf = app.csrf(&path);
    let set = |password: &str, confirm: &str| {
        app.client
            .post(path.as_str())
            .header(ContentType::Form)
            .body(form(&[
                ("csrf", &csrf),
                ("password", password),
                ("confirm", confirm),
            ]))
            .dispatch()
    };
    assert_eq!(
        set("new password one", "different one!").status(),
        Status::BadRequest
    );
    assert_eq!(set("short", "short").status(), Status::BadRequest);
    let response = set("new password one", "new password one");
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(location(&response), "/password-reset-complete/");
    drop(response);

    // Single use: the link is dead now.
    assert_eq!(app.get_with(&path, None).status(), Status::NotFound);
    assert_eq!(
        set("third password!", "third password!").status(),
        Status::NotFound
    );
    let wrong = format!("/password-reset-confirm/{}/not-the-token/", link.user.id);
    assert_eq!(app.get_with(&wrong, None).status(), Status::NotFound);

    assert_eq!(app.login("carol", PASSWORD).status(), Status::Unauthorized);
    assert_eq!(
        app.login("carol", "new password one").status(),
        Status::SeeOther
    );
}

fn prune(app: TestAppBuilder) {
    let app = app
        .with_access(ReadAccess::Public, IngestAuth::Open)
        .build();
    for machine in ["rig-a", "rig-a", "rig-a", "rig-b", "rig-b"] {
        assert_eq!(
            app.post_event("/tm_api/dry_run/", &dry_run(machine), None)
                .0,
            Status::Created
        );
    }
    let runs_of = |name: &str| {
        let machine = app
            .db
            .machine_by_name(name)
            .expect("query")
            .expect("machine");
        let runs: Vec<i64> = app
            .db
            .runs(machine.id, PageRequest::new(1, 100))
            .expect("runs")
            .items
            .iter()
            .map(|r| r.id)
            .collect();
        (machine.id, runs)
    };
    let (a, runs_a) = runs_of("rig-a");
    let (_, runs_b) = runs_of("rig-b");
    assert_eq!((runs_a.len(), runs_b.len()), (3, 2));

    // Nothing is older than an hour ago.
    let hour_ago =
        Timestamp::from_micros(Timestamp::now().as_micros() - 3_600_000_000).expect("ts");
    assert_eq!(app.access().prune(hour_ago, None).expect("prune"), 0);

    // Everything is older than an hour ahead: one machine, then all; newest runs stay.
    let ahead = Timestamp::from_micros(Timestamp::now().as_micros() + 3_600_000_000).expect("ts");
    assert_eq!(app.access().prune(ahead, Some("RIG-A")).expect("prune"), 2);
    let newest_a = app.db.last_run(a).expect("query").expect("run").run.id;
    assert_eq!(runs_of("rig-a").1, vec![newest_a]);
    assert_eq!(runs_of("rig-b").1.len(), 2);
    assert_eq!(app.access().prune(ahead, None).expect("prune"), 1);
    assert_eq!(runs_of("rig-b").1.len(), 1);
    for old in runs_a.iter().filter(|id| **id != newest_a) {
        assert!(
            app.db.run(*old).expect("query").is_none(),
            "run {old} is gone"
        );
    }
    // The kept run still takes events.
    let start = serde_json::to_string(&builders::start("rig-a", "t1.py", 1)).expect("json");
    assert_eq!(
        app.post_event("/tm_api/test_start/", &start, None).0,
        Status::Accepted
    );
}

on_both_backends!(
    ingest_rules,
    read_rules,
    sessions_end_on_the_server,
    login_hardening,
    password_reset,
    prune
);

/// A session ends on the server: a copy of the cookie saved before logging out, changing the
/// password or removing the user reads nothing afterwards. The cookie's `Max-Age` and
/// `Expires` agree on its 14 days.
fn sessions_end_on_the_server(app: TestAppBuilder) {
    use rocket::http::Cookie;
    let app = app.with_access(ReadAccess::Login, IngestAuth::Open).build();
    app.access().add_user("gus", None, PASSWORD).expect("user");
    let saved_after_login = |app: &TestApp| {
        let response = app.login("gus", PASSWORD);
        assert_eq!(response.status(), Status::SeeOther);
        let header = response
            .headers()
            .get("Set-Cookie")
            .find(|c| c.starts_with("stpt_session="))
            .expect("a session cookie")
            .to_owned();
        let value = response
            .cookies()
            .get("stpt_session")
            .expect("the session cookie")
            .value()
            .to_owned();
        (header, value)
    };
    let reads = |app: &TestApp, saved: &str| {
        app.client
            .get("/tm_api/machines")
            .cookie(Cookie::new("stpt_session", saved.to_owned()))
            .dispatch()
            .status()
    };

    let (header, saved) = saved_after_login(&app);
    let max_age = header
        .split(';')
        .find_map(|p| p.trim().strip_prefix("Max-Age="))
        .expect("Max-Age");
    assert_eq!(max_age, "1209600", "{header}");
    let expires = header
        .split(';')
        .find_map(|p| p.trim().strip_prefix("Expires="))
        .expect("Expires");
    let expires = chrono::DateTime::parse_from_rfc2822(&expires.replace("GMT", "+0000"))
        .unwrap_or_else(|e| panic!("{expires}: {e}"));
    let days = (expires.timestamp() - chrono::Utc::now().timestamp()) as f64 / 86_400.0;
    assert!((13.9..=14.1).contains(&days), "{header}");
    assert_eq!(reads(&app, &saved), Status::Ok);

    // Logging out ends it for the saved copy too.
    let csrf = app.csrf("/logout/");
    let response = app
        .client
        .post("/logout/")
        .header(ContentType::Form)
        .body(format!("csrf={}", encode(&csrf)))
        .dispatch();
    assert_eq!(response.status(), Status::SeeOther);
    drop(response);
    assert_eq!(
        reads(&app, &saved),
        Status::Unauthorized,
        "the saved cookie still reads"
    );

    // So does a new password, and removing the user.
    let (_, saved) = saved_after_login(&app);
    assert_eq!(reads(&app, &saved), Status::Ok);
    app.access()
        .set_password("gus", "another long password")
        .expect("passwd");
    assert_eq!(reads(&app, &saved), Status::Unauthorized);
    app.access().set_password("gus", PASSWORD).expect("passwd");
    let (_, saved) = saved_after_login(&app);
    assert!(app.access().remove_user("gus").expect("remove"));
    assert_eq!(reads(&app, &saved), Status::Unauthorized);
}

/// Failed logins wait per (address, user): an attacker locks out only itself, and forwarding
/// headers count only from a trusted proxy.
#[test]
fn lockout_is_per_address_and_user() {
    let app = TestApp::sqlite()
        .with_access(ReadAccess::Login, IngestAuth::Open)
        .config(|config| config.trusted_proxies = vec!["10.9.0.0/16".parse().expect("range")])
        .untracked()
        .build();
    let (client, access) = (&app.client, app.access());
    access.add_user("root", None, PASSWORD).expect("user");
    let csrf_and_cookie = || {
        let page = client.get("/login/").dispatch();
        let cookie = page
            .cookies()
            .get("stpt_csrf")
            .expect("a CSRF cookie")
            .clone()
            .into_owned();
        let html = page.into_string().unwrap_or_default();
        let marker = "name=\"csrf\" value=\"";
        let start = html.find(marker).expect("a CSRF field") + marker.len();
        let end = html[start..].find('"').expect("end") + start;
        (html[start..end].to_owned(), cookie)
    };
    let login = |from: &str, forwarded: Option<&str>, password: &str| {
        let (csrf, cookie) = csrf_and_cookie();
        let mut request = client
            .post("/login/")
            .remote(from.parse().expect("address"))
            .cookie(cookie)
            .header(ContentType::Form)
            .body(form(&[
                ("csrf", &csrf),
                ("username", "root"),
                ("password", password),
            ]));
        if let Some(forwarded) = forwarded {
            request = request
                .header(Header::new("X-Forwarded-For", forwarded.to_owned()))
                .header(Header::new("X-Real-IP", forwarded.to_owned()));
        }
        request.dispatch().status()
    };
    // An attacker at one address, changing its forwarding headers at will.
    for i in 0..5 {
        let claimed = format!("198.51.100.{i}");
        assert_eq!(
            login("203.0.113.66:4000", Some(&claimed), "wrong password!!"),
            Status::Unauthorized
        );
    }
    assert_eq!(
        login("203.0.113.66:4000", Some("198.51.100.200"), PASSWORD),
        Status::TooManyRequests,
        "forged forwarding headers escaped the limit"
    );
    // The admin, elsewhere, logs in as usual.
    assert_eq!(login("192.0.2.10:5000", None, PASSWORD), Status::SeeOther);

    // Behind the trusted proxy, each forwarded client counts on its own.
    for _ in 0..5 {
        assert_eq!(
            login("10.9.0.2:6000", Some("198.51.100.7"), "wrong password!!"),
            Status::Unauthorized
        );
    }
    assert_eq!(
        login("10.9.0.2:6000", Some("198.51.100.7"), PASSWORD),
        Status::TooManyRequests
    );
    assert_eq!(
        login("10.9.0.2:6000", Some("198.51.100.8"), PASSWORD),
        Status::SeeOther
    );
}

/// Whatever `next` a login carries, the answer is never a server error: a local path is
/// followed (encoded as a valid URI), anything else goes to `/`.
#[test]
fn odd_next_values_are_followed_safely_or_dropped() {
    let app = TestApp::sqlite()
        .with_access(ReadAccess::Login, IngestAuth::Open)
        .build();
    app.access().add_user("dave", None, PASSWORD).expect("user");
    let cases = [
        ("/a%20b", "/a%20b"),
        ("/%C3%A4", "/%C3%A4"),
        ("/%3Cx%3E", "/%3Cx%3E"),
        ("/machine/1?x=%22", "/machine/1?x=%22"),
        ("/%25", "/%25"),
        ("/%FF", "/%EF%BF%BD"),
        ("//evil.example", "/"),
        ("https://evil.example/", "/"),
        ("/%5Cevil", "/"),
        ("/%0Aheader", "/"),
        ("", "/"),
    ];
    for (next, expected) in cases {
        let page = app.get_with(&format!("/login/?next={next}"), None);
        assert!(
            page.status().code < 500,
            "GET next={next}: {}",
            page.status()
        );
        drop(page);
        let csrf = app.csrf("/login/");
        let body = format!(
            "csrf={}&username=dave&password={}&next={next}",
            encode(&csrf),
            encode(PASSWORD)
        );
        let response = app
            .client
            .post("/login/")
            .header(ContentType::Form)
            .body(body)
            .dispatch();
        assert_eq!(response.status(), Status::SeeOther, "POST next={next}");
        assert_eq!(location(&response), expected, "POST next={next}");
    }
}

/// Names and scripts with HTML in them are shown as text on every page.
#[test]
fn html_in_names_is_shown_as_text() {
    let app = TestApp::sqlite()
        .with_access(ReadAccess::Public, IngestAuth::Open)
        .build();
    let evil = "<script>alert(1)</script>";
    let machine = format!("rig{evil}");
    let event = builders::dry_run(
        &machine,
        0,
        &[(
            &format!("scenario{evil}.py"),
            &[&format!("test{evil}.py") as &str],
        )],
    );
    let (status, body) = app.post_event(
        "/tm_api/dry_run/",
        &serde_json::to_string(&event).expect("json"),
        None,
    );
    assert_eq!(status, Status::Created, "{body}");
    let start = builders::start(&machine, &format!("test{evil}.py"), 1);
    let stop = builders::stop(&machine, &format!("test{evil}.py"), TestStatus::Failed, 2);
    for (path, event) in [("/tm_api/test_start/", start), ("/tm_api/test_stop/", stop)] {
        let body = serde_json::to_string(&event).expect("json");
        assert_eq!(app.post_event(path, &body, None).0, Status::Accepted);
    }
    let id = app
        .db
        .machine_by_name(&machine)
        .expect("query")
        .expect("machine")
        .id;
    let run = app.db.last_run(id).expect("query").expect("run").run.id;
    let mut checked = 0;
    for path in [
        "/".to_owned(),
        format!("/machine/{id}"),
        format!("/machine/{id}/last"),
        format!("/machine/run_data/{run}"),
        "/login/?next=/%3Cscript%3Ealert(1)%3C/script%3E".to_owned(),
        format!("/nothing/{}", encode(evil)),
    ] {
        let html = app
            .client
            .get(path.as_str())
            .dispatch()
            .into_string()
            .unwrap_or_default();
        assert!(
            !html.contains("<script>alert"),
            "{path} shows raw HTML:\n{html}"
        );
        if html.contains("&lt;script&gt;") || html.contains("&#60;script&#62;") {
            checked += 1;
        }
    }
    assert!(
        checked >= 3,
        "the name was shown (escaped) on the machine pages"
    );
}
