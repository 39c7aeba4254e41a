//! The pages' stylesheet, script and icon, compiled into the binary so a deployment is one
//! file and a page makes no request outside this server.

use rocket::http::{ContentType, Header};
use rocket::{Responder, get, routes};

/// One embedded file with its type; cached briefly so a redeploy is picked up soon.
#[derive(Responder)]
struct Asset {
    body: &'static [u8],
    kind: ContentType,
    cache: Header<'static>,
}

fn asset(file: &str) -> Option<(&'static [u8], ContentType)> {
    Some(match file {
        "style.css" => (
            include_bytes!("../../static/style.css").as_slice(),
            ContentType::CSS,
        ),
        "app.js" => (
            include_bytes!("../../static/app.js").as_slice(),
            ContentType::JavaScript,
        ),
        "icon.svg" => (
            include_bytes!("../../static/icon.svg").as_slice(),
            ContentType::SVG,
        ),
        _ => return None,
    })
}

#[get("/static/<file>")]
fn get_static(file: &str) -> Option<Asset> {
    asset(file).map(|(body, kind)| Asset {
        body,
        kind,
        cache: Header::new("Cache-Control", "public, max-age=300"),
    })
}

pub(super) fn routes() -> Vec<rocket::Route> {
    routes![get_static]
}
