//! The body of every error answer the server gives: `{"error", "detail"[, "field"]}`.
//!
//! The main type here is [`ErrorBody`]: the server serialises it for every 4xx and 5xx (and the
//! connection guard's own refusals); the runner's HTTP sink and the CLI parse it. Parsing is
//! lenient about `detail`, so an answer that names an `error` is read as stpt's even when its
//! detail is missing or not a string.

use serde::{Deserialize, Deserializer, Serialize};

/// The body of every error answer, as the OpenAPI document names it (`Error`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = Error))]
pub struct ErrorBody {
    /// Short machine-readable kind, e.g. `invalid_field`, `not_found`, `method_not_allowed`.
    #[cfg_attr(feature = "openapi", schema(examples("invalid_field")))]
    pub error: String,
    /// What went wrong, for people.
    pub detail: String,
    /// The JSON path of the offending field of a payload, when one is to blame.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(examples("master_scenario.scenarios[0].file_name"))
    )]
    pub field: Option<String>,
}

impl ErrorBody {
    /// Reads an answer's body: `None` unless it is a JSON object with a string `error`.
    pub fn parse(text: &str) -> Option<ErrorBody> {
        serde_json::from_str(text).ok()
    }
}

impl<'de> Deserialize<'de> for ErrorBody {
    /// `error` must be a string; a missing or `null` `detail` reads as empty, any other
    /// non-string one as its JSON text.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            error: String,
            #[serde(default)]
            detail: serde_json::Value,
            #[serde(default)]
            field: Option<String>,
        }
        let raw = Raw::deserialize(deserializer)?;
        let detail = match raw.detail {
            serde_json::Value::String(detail) => detail,
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        };
        Ok(ErrorBody {
            error: raw.error,
            detail,
            field: raw.field,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_skips_an_absent_field() {
        let body = ErrorBody {
            error: "not_found".to_owned(),
            detail: "no such run".to_owned(),
            field: None,
        };
        let text = serde_json::to_string(&body).unwrap();
        assert_eq!(text, r#"{"error":"not_found","detail":"no such run"}"#);
        assert_eq!(ErrorBody::parse(&text), Some(body));
    }

    #[test]
    fn reads_a_lenient_detail_and_refuses_a_body_without_error() {
        let read = ErrorBody::parse(r#"{"error":"x","detail":{"a":1}}"#).unwrap();
        assert_eq!(read.detail, r#"{"a":1}"#);
        assert_eq!(ErrorBody::parse(r#"{"error":"x"}"#).unwrap().detail, "");
        assert_eq!(ErrorBody::parse(r#"{"detail":"x"}"#), None);
        assert_eq!(ErrorBody::parse(r#"{"error":3}"#), None);
        assert_eq!(ErrorBody::parse("<html>"), None);
    }
}
