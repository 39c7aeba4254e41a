//! `GET /metrics`: counters move with the events the server applies and refuses.

use rocket::http::{ContentType, Status};

use crate::test_app::TestApp;

fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
}

#[test]
fn metrics_count_applied_and_refused_events() {
    let app = TestApp::sqlite().build();
    let client = &app.client;
    let [dry, start, _] = stpt_core::testing::builders::seed_fixtures();
    let mut replayed: serde_json::Value = serde_json::from_str(dry).expect("fixture");
    replayed["event_id"] = "dry-1".into();
    let replayed = replayed.to_string();
    for (path, body) in [
        ("/tm_api/dry_run", replayed.as_str()),
        ("/tm_api/test_start", start),
        ("/tm_api/test_start", start),
        // The dry run delivered again (a retry): acknowledged, not applied.
        ("/tm_api/dry_run", replayed.as_str()),
    ] {
        client
            .post(path)
            .header(ContentType::JSON)
            .body(body)
            .dispatch();
    }
    let response = client.get("/metrics").dispatch();
    assert_eq!(response.status(), Status::Ok);
    assert!(
        response
            .content_type()
            .is_some_and(|t| t.top() == "text" && t.sub() == "plain")
    );
    let text = response.into_string().unwrap_or_default();
    assert_eq!(
        metric(&text, "stpt_events_applied_total{kind=\"dry_run\"}"),
        Some(1)
    );
    assert_eq!(
        metric(&text, "stpt_events_applied_total{kind=\"test_start\"}"),
        Some(1)
    );
    assert_eq!(
        metric(&text, "stpt_events_duplicate_total{kind=\"dry_run\"}"),
        Some(1),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "stpt_events_refused_total{kind=\"test_start\",reason=\"no_matching_test\"}"
        ),
        Some(1),
        "{text}"
    );
    assert_eq!(metric(&text, "stpt_ingest_seconds_count"), Some(4));
    assert_eq!(
        metric(&text, "stpt_ingest_seconds_bucket{le=\"+Inf\"}"),
        Some(4)
    );
    assert!(text.contains("# TYPE stpt_ingest_seconds histogram"));
    assert!(metric(&text, "stpt_live_listeners").is_some());
}
