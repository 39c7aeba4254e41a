//! Points in time as runners send them and as the read API shows them.
//!
//! The main type here is [`Timestamp`]: a UTC instant with microsecond precision. It parses the
//! seed's naive `YYYY-MM-DD HH:MM:SS[.ffffff]` (taken as UTC) and RFC 3339, and serialises back
//! in the seed's format, so an accepted payload echoes with the same meaning. stpt's own shapes
//! (the model the `/api/v1` answers are made of) serialise theirs as RFC 3339 with the zone
//! instead, through [`rfc3339`].

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDateTime, SubsecRound, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A UTC instant, microsecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

/// A string that is neither the seed's timestamp format nor RFC 3339, or names an instant
/// outside years 1 to 9999 UTC.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid timestamp {value:?}: expected \"YYYY-MM-DD HH:MM:SS[.ffffff]\" (UTC) or RFC 3339")]
pub struct InvalidTimestamp {
    /// The string that was given.
    pub value: String,
}

impl Timestamp {
    /// The seed's display format for read responses (two spaces between date and time).
    pub const DISPLAY_FORMAT: &'static str = "%d-%m-%Y  %H:%M:%S";

    /// The current time.
    pub fn now() -> Self {
        Timestamp::from_datetime(Utc::now())
    }

    /// Wraps a chrono instant, dropping sub-microsecond digits.
    pub fn from_datetime(at: DateTime<Utc>) -> Self {
        Timestamp(at.trunc_subsecs(6))
    }

    /// Microseconds since the Unix epoch; how stores persist it.
    pub fn as_micros(self) -> i64 {
        self.0.timestamp_micros()
    }

    /// The inverse of [`Timestamp::as_micros`]; `None` when out of chrono's range.
    pub fn from_micros(micros: i64) -> Option<Self> {
        DateTime::from_timestamp_micros(micros).map(Timestamp)
    }

    /// The chrono instant.
    pub fn as_datetime(self) -> DateTime<Utc> {
        self.0
    }

    /// The seed's read-API form, e.g. `30-12-2018  13:01:57`.
    pub fn display(self) -> String {
        self.0.format(Self::DISPLAY_FORMAT).to_string()
    }

    /// RFC 3339 with microseconds, for the versioned API and exports.
    pub fn to_rfc3339(self) -> String {
        self.0.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    }

    /// Seconds (with fraction) from `self` to `later`; negative if `later` is earlier.
    pub fn seconds_until(self, later: Timestamp) -> f64 {
        (later.as_micros() - self.as_micros()) as f64 / 1_000_000.0
    }
}

impl FromStr for Timestamp {
    type Err = InvalidTimestamp;

    /// Also refuses an instant outside years 1 to 9999 UTC (the seed's Python datetimes), so
    /// every accepted timestamp echoes in the documented four-digit-year form.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        let parsed = DateTime::parse_from_rfc3339(trimmed)
            .map(|at| at.with_timezone(&Utc))
            .ok()
            .or_else(|| {
                ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
                    .into_iter()
                    .find_map(|format| NaiveDateTime::parse_from_str(trimmed, format).ok())
                    .map(|naive| naive.and_utc())
            });
        match parsed {
            Some(at) if (1..=9999).contains(&at.year()) => Ok(Timestamp::from_datetime(at)),
            _ => Err(InvalidTimestamp {
                value: s.to_owned(),
            }),
        }
    }
}

impl fmt::Display for Timestamp {
    /// The seed's wire format: microseconds only when non-zero, as Python's `str(datetime)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.timestamp_subsec_micros() == 0 {
            write!(f, "{}", self.0.format("%Y-%m-%d %H:%M:%S"))
        } else {
            write!(f, "{}", self.0.format("%Y-%m-%d %H:%M:%S%.6f"))
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Serde helpers for the timestamps of stpt's own shapes (`#[serde(with = "rfc3339")]`, or
/// `rfc3339::option` for an `Option<Timestamp>`): written as RFC 3339 in UTC with microseconds
/// and `Z` (`2018-12-30T13:01:57.461401Z`), read in every form [`Timestamp`] parses, so a
/// client reads answers of older servers too.
pub mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Timestamp;

    /// Writes `at` as RFC 3339.
    pub fn serialize<S: Serializer>(at: &Timestamp, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&at.to_rfc3339())
    }

    /// Reads a timestamp in any accepted form.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        Timestamp::deserialize(deserializer)
    }

    /// The same for an optional timestamp (`null` when absent).
    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};

        use super::Timestamp;

        /// Writes `at` as RFC 3339, or `null`.
        pub fn serialize<S: Serializer>(
            at: &Option<Timestamp>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match at {
                Some(at) => serializer.serialize_str(&at.to_rfc3339()),
                None => serializer.serialize_none(),
            }
        }

        /// Reads a timestamp in any accepted form, or `null`.
        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<Timestamp>, D::Error> {
            Option::<Timestamp>::deserialize(deserializer)
        }
    }
}

/// The OpenAPI description of a timestamp in stpt's own shapes (see [`rfc3339`]).
#[cfg(feature = "openapi")]
#[derive(Debug, Clone, Copy)]
pub struct Rfc3339;

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Rfc3339 {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::DateTime,
            )))
            .pattern(Some(RFC3339_PATTERN))
            .description(Some(
                "An instant in RFC 3339, in UTC with microseconds: `YYYY-MM-DDTHH:MM:SS.ffffffZ`.",
            ))
            .examples(["2018-12-30T13:01:57.461401Z"])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Rfc3339 {}

/// The shape [`Timestamp::to_rfc3339`] writes.
pub const RFC3339_PATTERN: &str = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$";

/// What a timestamp looks like on the wire, for the OpenAPI document: the seed's naive form
/// (with a space or `T`) and RFC 3339, years 0001 to 9999. A string of this shape can still
/// name no instant (30 February) or be carried out of that range by its offset, which parsing
/// refuses.
pub const WIRE_PATTERN: &str = r"^(000[1-9]|00[1-9]\d|0[1-9]\d{2}|[1-9]\d{3})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt ]([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,9})?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)?$";

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(WIRE_PATTERN))
            .description(Some(
                "UTC. Accepted as `YYYY-MM-DD HH:MM:SS[.ffffff]` (naive, taken as UTC) or \
                 RFC 3339; answered as `YYYY-MM-DD HH:MM:SS[.ffffff]`.",
            ))
            .examples(["2018-12-30 13:01:57"])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Timestamp {}

/// A human duration the way the seed's pages say it ("3 minutes", "1 hour, 2 minutes"): the
/// two largest adjacent units, "0 minutes" under a minute.
pub fn human_duration(seconds: i64) -> String {
    const UNITS: [(i64, &str); 6] = [
        (60 * 60 * 24 * 365, "year"),
        (60 * 60 * 24 * 30, "month"),
        (60 * 60 * 24 * 7, "week"),
        (60 * 60 * 24, "day"),
        (60 * 60, "hour"),
        (60, "minute"),
    ];
    let seconds = seconds.max(0);
    let name = |count: i64, unit: &str| {
        if count == 1 {
            format!("{count} {unit}")
        } else {
            format!("{count} {unit}s")
        }
    };
    for (i, (size, unit)) in UNITS.iter().enumerate() {
        let count = seconds / size;
        if count == 0 {
            continue;
        }
        let mut text = name(count, unit);
        if let Some((next_size, next_unit)) = UNITS.get(i + 1) {
            let next = (seconds - count * size) / next_size;
            if next > 0 {
                text.push_str(", ");
                text.push_str(&name(next, next_unit));
            }
        }
        return text;
    }
    "0 minutes".to_owned()
}

#[cfg(test)]
mod pattern_tests {
    use super::*;

    fn shaped(text: &str) -> bool {
        regex::Regex::new(WIRE_PATTERN)
            .expect("the pattern compiles")
            .is_match(text)
    }

    #[test]
    fn every_accepted_form_has_the_documented_shape() {
        for text in [
            "2018-12-30 13:01:57",
            "2018-12-30 13:01:57.123456",
            "2018-12-30T13:01:57",
            "2018-12-30T13:01:57Z",
            "2018-12-30T13:01:57.5+02:00",
            "2018-12-30 13:01:57-05:30",
        ] {
            assert!(text.parse::<Timestamp>().is_ok(), "{text}");
            assert!(shaped(text), "{text}");
        }
        // RFC 3339 answers have theirs.
        let rfc = regex::Regex::new(RFC3339_PATTERN).expect("the pattern compiles");
        for at in [
            Timestamp::now(),
            "2018-12-30 13:01:57".parse().expect("valid"),
        ] {
            assert!(rfc.is_match(&at.to_rfc3339()), "{}", at.to_rfc3339());
        }
        // Serialised timestamps have the shape too.
        for at in [
            Timestamp::now(),
            "2018-12-30 13:01:57".parse().expect("valid"),
        ] {
            assert!(shaped(&at.to_string()), "{at}");
        }
        for text in [
            "yesterday",
            "30-12-2018 13:01:57",
            "2018-12-30",
            "2018-13-30 13:01:57",
        ] {
            assert!(text.parse::<Timestamp>().is_err(), "{text}");
            assert!(!shaped(text), "{text}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_seed_format_and_echoes_it() {
        let ts: Timestamp = "2018-12-30 13:01:57.461401".parse().unwrap();
        assert_eq!(ts.to_string(), "2018-12-30 13:01:57.461401");
        assert_eq!(ts.display(), "30-12-2018  13:01:57");
        let whole: Timestamp = "2018-12-30 13:01:57".parse().unwrap();
        assert_eq!(whole.to_string(), "2018-12-30 13:01:57");
    }

    #[test]
    fn parses_rfc3339_into_utc() {
        let ts: Timestamp = "2018-12-30T14:01:57.5+01:00".parse().unwrap();
        assert_eq!(ts.to_string(), "2018-12-30 13:01:57.500000");
        assert_eq!(ts.to_rfc3339(), "2018-12-30T13:01:57.500000Z");
    }

    #[test]
    fn refuses_instants_outside_years_1_to_9999_utc() {
        // The seed's Python datetimes span years 1 to 9999; an offset must not carry an instant
        // out of that range, or the echo would not be a timestamp any client can read.
        for text in [
            "0000-01-01 00:00:00",
            "0000-01-01T20:19:10.08+20:34",
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:30:00-01:00",
        ] {
            assert!(text.parse::<Timestamp>().is_err(), "{text}");
        }
        for text in ["0001-01-01 00:00:00", "9999-12-31 23:59:59.999999"] {
            let at: Timestamp = text.parse().expect(text);
            assert_eq!(at.to_string(), text);
        }
    }

    #[test]
    fn rejects_other_text() {
        let err = "30/12/2018".parse::<Timestamp>().unwrap_err();
        assert_eq!(err.value, "30/12/2018");
        assert!("2018-13-30 13:01:57".parse::<Timestamp>().is_err());
    }

    #[test]
    fn own_shapes_write_rfc3339_and_read_every_form() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Shape {
            #[serde(with = "rfc3339")]
            at: Timestamp,
            #[serde(default, with = "rfc3339::option")]
            maybe: Option<Timestamp>,
        }
        let at: Timestamp = "2018-12-30 13:01:57.5".parse().unwrap();
        let shape = Shape {
            at,
            maybe: Some(at),
        };
        let json = serde_json::to_value(&shape).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"at": "2018-12-30T13:01:57.500000Z", "maybe": "2018-12-30T13:01:57.500000Z"})
        );
        assert_eq!(serde_json::from_value::<Shape>(json).unwrap(), shape);
        // The seed's form (an older server's answer) reads too; absent and null are none.
        let old = serde_json::json!({"at": "2018-12-30 13:01:57.500000", "maybe": null});
        let read: Shape = serde_json::from_value(old).unwrap();
        assert_eq!((read.at, read.maybe), (at, None));
        let read: Shape =
            serde_json::from_value(serde_json::json!({"at": "2018-12-30T14:01:57.5+01:00"}))
                .unwrap();
        assert_eq!((read.at, read.maybe), (at, None));
    }

    #[test]
    fn micros_round_trip() {
        let ts: Timestamp = "2018-12-30 13:01:57.461401".parse().unwrap();
        assert_eq!(Timestamp::from_micros(ts.as_micros()), Some(ts));
    }

    #[test]
    fn human_durations_read_like_the_seed() {
        assert_eq!(human_duration(5), "0 minutes");
        assert_eq!(human_duration(60), "1 minute");
        assert_eq!(human_duration(3 * 60 + 59), "3 minutes");
        assert_eq!(human_duration(3600 + 120), "1 hour, 2 minutes");
        assert_eq!(human_duration(2 * 86400 + 5), "2 days");
    }
}
