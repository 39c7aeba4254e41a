//! The tables, as diesel sees them; the same on SQLite and PostgreSQL.
//!
//! Timestamps are `BigInt` microseconds since the Unix epoch, statuses their lowercase names,
//! so no backend-specific type crosses this line.

diesel::table! {
    machines (id) {
        id -> BigInt,
        name -> Text,
        name_key -> Text,
        last_run_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    runs (id) {
        id -> BigInt,
        machine_id -> BigInt,
        timestamp -> BigInt,
        file_name -> Text,
        file_path -> Text,
        script -> Nullable<Text>,
        status -> Text,
        timestamp_start -> Nullable<BigInt>,
        timestamp_stop -> Nullable<BigInt>,
        scenarios_count -> BigInt,
        empty_scenarios -> BigInt,
        test_count -> BigInt,
        running_test_id -> Nullable<BigInt>,
        last_event_at -> BigInt,
        n_cancelled -> BigInt,
        n_running -> BigInt,
        n_waiting -> BigInt,
        n_unknown -> BigInt,
        n_failed -> BigInt,
        n_error -> BigInt,
        n_warning -> BigInt,
        n_passed -> BigInt,
        closed_at -> Nullable<BigInt>,
        closed_as -> Nullable<Text>,
        n_skipped -> BigInt,
    }
}

diesel::table! {
    scenarios (id) {
        id -> BigInt,
        run_id -> BigInt,
        position -> BigInt,
        file_name -> Text,
        file_path -> Text,
        script -> Nullable<Text>,
        status -> Text,
        timestamp_start -> Nullable<BigInt>,
        timestamp_stop -> Nullable<BigInt>,
        n_cancelled -> BigInt,
        n_running -> BigInt,
        n_waiting -> BigInt,
        n_unknown -> BigInt,
        n_failed -> BigInt,
        n_error -> BigInt,
        n_warning -> BigInt,
        n_passed -> BigInt,
        occurrence -> BigInt,
        n_skipped -> BigInt,
    }
}

diesel::table! {
    tests (id) {
        id -> BigInt,
        run_id -> BigInt,
        scenario_id -> BigInt,
        position -> BigInt,
        file_name -> Text,
        file_path -> Text,
        script -> Nullable<Text>,
        status -> Text,
        timestamp_start -> Nullable<BigInt>,
        timestamp_stop -> Nullable<BigInt>,
        message -> Nullable<Text>,
        attempts -> BigInt,
        machine_id -> BigInt,
        occurrence -> BigInt,
    }
}

diesel::table! {
    test_attempts (test_id, number) {
        test_id -> BigInt,
        number -> BigInt,
        status -> Text,
        timestamp_start -> Nullable<BigInt>,
        timestamp_stop -> Nullable<BigInt>,
        message -> Nullable<Text>,
    }
}

diesel::table! {
    applied_events (event_id) {
        event_id -> Text,
        kind -> Text,
        machine_id -> BigInt,
        run_id -> BigInt,
        test_id -> Nullable<BigInt>,
        applied_at -> BigInt,
    }
}

diesel::table! {
    run_labels (run_id, label_key) {
        run_id -> BigInt,
        label_key -> Text,
        label_value -> Text,
    }
}

diesel::joinable!(run_labels -> runs (run_id));
diesel::joinable!(runs -> machines (machine_id));
diesel::joinable!(scenarios -> runs (run_id));
diesel::joinable!(tests -> scenarios (scenario_id));
diesel::table! {
    test_output_lines (test_id, start_byte) {
        test_id -> BigInt,
        start_byte -> BigInt,
        stream -> Nullable<Text>,
        timestamp -> Nullable<BigInt>,
        text -> Text,
    }
}

diesel::table! {
    test_outputs (test_id) {
        test_id -> BigInt,
        head_end -> BigInt,
        end_byte -> BigInt,
        total_lines -> BigInt,
        total_bytes -> BigInt,
    }
}

diesel::table! {
    output_events (event_id) {
        event_id -> Text,
        machine_id -> BigInt,
        run_id -> BigInt,
        test_id -> BigInt,
        applied_at -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    machines,
    runs,
    run_labels,
    scenarios,
    tests,
    applied_events
);
diesel::allow_tables_to_appear_in_same_query!(
    tests,
    test_output_lines,
    test_outputs,
    output_events
);

diesel::table! {
    users (id) {
        id -> BigInt,
        name -> Text,
        email -> Nullable<Text>,
        password_hash -> Text,
        sessions_since -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    machine_tokens (id) {
        id -> BigInt,
        machine_name -> Text,
        machine_key -> Text,
        token_hash -> Text,
        created_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        user_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    password_resets (token_hash) {
        token_hash -> Text,
        user_id -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    server_secrets (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    webhooks (id) {
        id -> BigInt,
        url -> Text,
        on_event -> Text,
        machine_key -> Nullable<Text>,
        format -> Text,
        secret -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    webhook_outbox (id) {
        id -> BigInt,
        webhook_id -> BigInt,
        run_id -> BigInt,
        on_event -> Text,
        payload -> Text,
        attempts -> BigInt,
        next_attempt_at -> BigInt,
        delivered_at -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::joinable!(webhook_outbox -> webhooks (webhook_id));
diesel::allow_tables_to_appear_in_same_query!(webhooks, webhook_outbox);

diesel::table! {
    sessions (token_hash) {
        token_hash -> Text,
        user_id -> BigInt,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    access_revision (id) {
        id -> BigInt,
        revision -> BigInt,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(sessions, users);
