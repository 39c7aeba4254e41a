//! `GET /docs/`: the API described as OpenAPI 3.1 (`/docs/openapi.json`) and as a page of the
//! site with the protocol (`pages::docs`).
//!
//! The document is generated (utoipa) from the handlers' `#[utoipa::path]` attributes, whose
//! paths, methods and parameters come from the Rocket route attributes next to them, and from
//! the wire and response types themselves, so it cannot drift from the code. A test checks
//! that every mounted API route is in it; the schema-driven fuzz test checks that the server
//! answers what it says.
//!
//! The connection guard's own refusals (a malformed, too large or too slow head: 400, 431,
//! 408) come with the same JSON body on any path; the ingest operations declare them.

use rocket::response::content::RawHtml;
use rocket::serde::json::{Json, Value};
use rocket::{get, routes};
use stpt_core::insights::{
    ComparedTest, DurationTrend, FlakyTest, RunComparison, RunPoint, TestKey,
};
use stpt_core::timestamp::Rfc3339;
use stpt_core::wire::{BatchAnswer, BatchOutcome, EventAnswer};
use stpt_core::{
    Attempt, Closure, DryRun, Event, EventKind, Machine, MasterScenarioPlan, Node, NodeKind,
    OutputBatch, OutputLine, OutputLog, OutputStream, RunSummary, RunTree, ScenarioPlan,
    ScenarioTree, Status, StatusCounts, TestOutput, TestPlan, TestResult, TestStart, TestStop,
    Timestamp,
};
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};

use super::ErrorBody;
use stpt_core::wire::{
    FlakyList, FoundRun, LastMasterScenario, MachineDeleted, MachineLastData, MachineListItem,
    MachineTrend, RunListItem, ScenarioBrief, ScriptDetail, TestBrief, TestHistory,
};

/// Adds the machine-token scheme the ingest operations name.
struct MachineToken;

impl utoipa::Modify for MachineToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.description = Some(
            "A machine token (`stpt token add`), needed under `--ingest-auth token`".to_owned(),
        );
        components.add_security_scheme("machine_token", SecurityScheme::Http(scheme));
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "stpt — System Test Progress Tracking",
        description = "Test rigs report a dry run, then a start and a stop per test. Every path is accepted with and without its trailing slash. Every error answer is JSON `{\"error\", \"detail\"[, \"field\"]}`; a method a path does not take is answered 405 with `Allow`. The connection guard in front of the app refuses a malformed head (400), one too large (431) or too slow (408), with the same JSON body."
    ),
    paths(
        super::ingest::post_dry_run,
        super::ingest::post_test_start,
        super::ingest::post_test_stop,
        super::read::get_test,
        super::read::get_scenario,
        super::read::get_master_scenario,
        super::read::list_machines,
        super::read::list_machine_runs,
        super::read::get_machine_last_data,
        super::runs::list_runs,
        super::v1::get_run,
        super::v1::abort_run,
        super::machines::delete_machine,
        super::output::post_test_output,
        super::output::get_test_output,
        super::batch::post_events,
        super::history::test_history,
        super::history::compare_runs,
        super::history::flaky_tests,
        super::history::machine_trend,
        crate::live::ws::machine_last,
        crate::live::ws::machine_runs,
        crate::live::ws::machine_status,
        crate::live::ws::machine_output,
        crate::pages::live::live_data,
        crate::pages::run::node_detail,
        crate::metrics::metrics,
        super::health::healthz,
        docs_page,
        openapi_json,
    ),
    components(schemas(
        ErrorBody, Timestamp, Rfc3339, Status, StatusCounts, DryRun, MasterScenarioPlan, ScenarioPlan,
        TestPlan, TestStart, TestStop, Machine, Node, NodeKind, Attempt, TestResult, RunSummary,
        Closure, ScenarioTree, RunTree, TestKey, ComparedTest, RunComparison, FlakyTest,
        DurationTrend, RunPoint, ScriptDetail, MachineListItem, RunListItem, MachineLastData,
        LastMasterScenario, ScenarioBrief, TestBrief, TestHistory, FlakyList, MachineTrend,
        MachineDeleted, FoundRun, OutputBatch, OutputLine,
        OutputStream, OutputLog, super::output::OutputAccepted, Event, EventKind, TestOutput,
        BatchAnswer, EventAnswer, BatchOutcome, super::batch::BatchEvent,
    )),
    modifiers(&MachineToken),
)]
struct ApiDoc;

/// The OpenAPI document of the server.
pub fn openapi() -> Value {
    let mut document = ApiDoc::openapi();
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    serde_json::to_value(document).unwrap_or_else(|e| {
        tracing::error!("cannot serialise the OpenAPI document: {e}");
        Value::Null
    })
}

#[utoipa::path(
    tag = "operations",
    summary = "This documentation as OpenAPI 3.1",
    responses(
        (status = 200, description = "the document", body = Object, content_type = "application/json"),
        (status = 401, description = "read access needs a login session or a machine token (`--read-access login`)", body = ErrorBody),
    )
)]
#[get("/docs/openapi.json")]
fn openapi_json(prefix: &rocket::State<crate::base_path::Prefix>) -> Json<Value> {
    Json(served_under(openapi(), &prefix.0))
}

/// The document with its `servers` naming the base path (so a reader's "try it" requests
/// go under it); as is without one.
fn served_under(mut document: Value, prefix: &str) -> Value {
    if !prefix.is_empty()
        && let Some(fields) = document.as_object_mut()
    {
        fields.insert(
            "servers".to_owned(),
            serde_json::json!([{ "url": prefix, "description": "this server's base path" }]),
        );
    }
    document
}

#[utoipa::path(
    tag = "operations",
    summary = "This documentation as a page",
    responses(
        (status = 200, description = "the page", body = String, content_type = "text/html"),
        (status = 303, description = "read access needs a login session (`--read-access login`): redirected to the login page"),
    )
)]
#[get("/docs")]
fn docs_page(prefix: &rocket::State<crate::base_path::Prefix>) -> RawHtml<String> {
    RawHtml(
        crate::pages::docs::page(&served_under(openapi(), &prefix.0)).unwrap_or_else(|e| {
            tracing::error!("cannot render the documentation page: {e}");
            "The documentation page could not be rendered; /docs/openapi.json has the API."
                .to_owned()
        }),
    )
}

pub(super) fn routes() -> Vec<rocket::Route> {
    routes![openapi_json, docs_page]
}
