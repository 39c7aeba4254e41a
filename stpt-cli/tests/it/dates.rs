//! Dates in the terminal: one human format in every table and sentence, RFC 3339 with a zone
//! in every `--json` output.

use serde_json::Value;

use crate::support::{Server, lamp_run, passing_run, write_file};

/// The timestamp fields of `value` at any depth (keys holding "timestamp" or ending in `_at`),
/// as `key = value`.
fn timestamps(value: &Value, found: &mut Vec<(String, String)>) {
    match value {
        Value::Object(fields) => {
            for (key, field) in fields {
                match field {
                    Value::String(text) if key.contains("timestamp") || key.ends_with("_at") => {
                        found.push((key.clone(), text.clone()));
                    }
                    other => timestamps(other, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| timestamps(item, found)),
        _ => {}
    }
}

/// Whether `text` at `at` matches `pattern`, where `d` is any digit.
fn matches_at(text: &[u8], at: usize, pattern: &str) -> bool {
    pattern.len() + at <= text.len()
        && pattern.bytes().enumerate().all(|(i, p)| match p {
            b'd' => text[at + i].is_ascii_digit(),
            other => text[at + i] == other,
        })
}

/// Every date in human `text`: each must read `YYYY-MM-DD HH:MM:SS UTC`, none `DD-MM-YYYY`.
fn human_dates(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut count = 0;
    for at in 0..bytes.len() {
        assert!(
            !matches_at(bytes, at, "dd-dd-dddd"),
            "a day-first date in:\n{text}"
        );
        if matches_at(bytes, at, "dddd-dd-dd") {
            assert!(
                matches_at(bytes, at, "dddd-dd-dd dd:dd:dd UTC"),
                "not the human format at {at}:\n{text}"
            );
            count += 1;
        }
    }
    count
}

#[test]
fn people_see_one_format_and_json_says_rfc3339_with_a_zone() {
    let server = Server::start();
    server.post_run(&lamp_run(0));
    let second = server.post_run(&lamp_run(10));
    server.post_run(&passing_run("trunk-rig", 20));
    // An ongoing run to abort.
    server.post("dry_run", &passing_run("door-rig", 30).dry_run());
    let id = second.to_string();

    let mut human = 0;
    for args in [
        &["show", &id][..],
        &["runs", "lamp-rig"][..],
        &["history", "lamp-rig", "01_02_test_lamp_off.py"][..],
        &["abort", "4"][..],
    ] {
        let output = server.stpt(args);
        assert_eq!(output.code, Some(0), "{}", output.snapshot());
        human += human_dates(&output.stdout);
    }
    assert!(human >= 6, "{human} dates seen");

    let events = write_file(
        server.dir.path(),
        "dry_run.json",
        &passing_run("new-rig", 40).dry_run().to_string(),
    );
    let mut found = Vec::new();
    for args in [
        &["show", &id, "--json"][..],
        &["export", &id, "--format", "json"][..],
        &["runs", "lamp-rig", "--json"][..],
        &["history", "lamp-rig", "01_02_test_lamp_off.py", "--json"][..],
        &["diff", &id, "--json"][..],
        &["abort", "4", "--json"][..],
        &["send", &events, "--json"][..],
    ] {
        let output = server.stpt(args);
        assert_eq!(output.code, Some(0), "{args:?}: {}", output.snapshot());
        for line in output.stdout.lines().filter(|l| l.starts_with('{')) {
            if let Ok(value) = serde_json::from_str::<Value>(line) {
                timestamps(&value, &mut found);
            }
        }
        if let Ok(value) = serde_json::from_str::<Value>(&output.stdout) {
            timestamps(&value, &mut found);
        }
    }
    let tail = server.stpt(&["tail", "trunk-rig", "--exit-status", "--json"]);
    assert_eq!(tail.code, Some(0), "{}", tail.snapshot());
    for line in tail.stdout.lines() {
        timestamps(
            &serde_json::from_str(line).expect("a JSON line"),
            &mut found,
        );
    }
    assert!(found.len() > 30, "{found:?}");
    for (key, text) in &found {
        assert!(
            chrono::DateTime::parse_from_rfc3339(text).is_ok() && text.ends_with('Z'),
            "{key} = {text:?} is not RFC 3339 in UTC"
        );
    }
    for key in ["timestamp", "timestamp_start", "run_timestamp", "closed_at"] {
        assert!(found.iter().any(|(k, _)| k == key), "no {key} in {found:?}");
    }
}
