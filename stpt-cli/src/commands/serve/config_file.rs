//! `stpt serve --config FILE`: a TOML file holding any of `stpt serve`'s options, and
//! `--print-config`, the settings in force.
//!
//! The file's keys are the options' long names with `_` for `-` (`database_url`,
//! `allowed_hosts`, `log_level`): every option clap knows is a key, so an option is declared
//! once, on `ServeArgs`, and the file follows. Precedence is file < environment < flag:
//! a value from the file is handed to clap as if given on the command line, but only for
//! options whose value came from neither a flag nor the environment (`ArgMatches::
//! value_source`), so clap's own parsers check it and the typed `ServeArgs` is built once.
//! The main functions here are [`effective`] and [`render`].

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::Path;

use anyhow::{Context, bail};
use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, Command};

/// Options that are secrets: `--print-config` says whether they are set, never their value.
pub(crate) const SECRET_KEYS: &[&str] = &["secret_key", "smtp_password"];

/// Options that are not settings (and so are not keys of the file).
const NOT_SETTINGS: &[&str] = &["config", "print_config", "help"];

/// The matches of `stpt serve` with the file's settings merged in, and the keys the file set.
pub(crate) struct Effective {
    /// Every option's value and where it came from.
    pub(crate) matches: ArgMatches,
    /// Keys whose value came from the file.
    pub(crate) from_file: BTreeSet<String>,
}

/// Parses `argv` (starting at `serve`) with `file`'s settings for the options neither a flag
/// nor the environment gave.
pub(crate) fn effective(
    serve: &Command,
    argv: &[OsString],
    file: Option<&Path>,
) -> anyhow::Result<Effective> {
    let given = serve.clone().try_get_matches_from(argv)?;
    let Some(file) = file else {
        return Ok(Effective {
            matches: given,
            from_file: BTreeSet::new(),
        });
    };
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the config file {}", file.display()))?;
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", file.display()))?;
    let mut extra = Vec::new();
    let mut from_file = BTreeSet::new();
    for (key, value) in &table {
        let arg = serve
            .get_arguments()
            .find(|arg| arg.get_id().as_str() == key && !NOT_SETTINGS.contains(&key.as_str()));
        let Some(arg) = arg else {
            bail!(
                "{}: unknown key `{key}` (the keys are `stpt serve`'s options with _ for -: {})",
                file.display(),
                keys(serve).join(", ")
            );
        };
        let args =
            as_arguments(arg, value).with_context(|| format!("{}: key `{key}`", file.display()))?;
        // Checked alone, so a bad value is reported with its key.
        let mut alone = vec![OsString::from("serve")];
        alone.extend(args.iter().cloned());
        if let Err(e) = serve.clone().try_get_matches_from(alone) {
            bail!("{}: key `{key}`: {}", file.display(), clap_message(&e));
        }
        let overridden = matches!(
            given.value_source(key),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        );
        if !overridden {
            extra.extend(args);
            from_file.insert(key.clone());
        }
    }
    let mut merged = argv.to_vec();
    merged.extend(extra);
    Ok(Effective {
        matches: serve.clone().try_get_matches_from(merged)?,
        from_file,
    })
}

/// The keys a file may hold, in declaration order.
fn keys(serve: &Command) -> Vec<&str> {
    serve
        .get_arguments()
        .map(|arg| arg.get_id().as_str())
        .filter(|id| !NOT_SETTINGS.contains(id))
        .collect()
}

/// A file value as the command-line arguments that give it (`--port=8000`).
fn as_arguments(arg: &clap::Arg, value: &toml::Value) -> anyhow::Result<Vec<OsString>> {
    let Some(long) = arg.get_long() else {
        bail!("this option has no long name");
    };
    let flag = |text: &str| OsString::from(format!("--{long}={text}"));
    let scalar = |value: &toml::Value| -> anyhow::Result<String> {
        Ok(match value {
            toml::Value::String(text) => text.clone(),
            toml::Value::Integer(n) => n.to_string(),
            toml::Value::Float(x) => x.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            _ => bail!("expected a string, a number or a boolean"),
        })
    };
    Ok(match (arg.get_action(), value) {
        (ArgAction::SetTrue, toml::Value::Boolean(true)) => {
            vec![OsString::from(format!("--{long}"))]
        }
        (ArgAction::SetTrue, toml::Value::Boolean(false)) => Vec::new(),
        (ArgAction::SetTrue, _) => bail!("expected true or false"),
        (ArgAction::Append, toml::Value::Array(items)) => items
            .iter()
            .map(|item| scalar(item).map(|text| flag(&text)))
            .collect::<anyhow::Result<_>>()?,
        (_, toml::Value::Array(_)) => bail!("expected one value, not a list"),
        (_, value) => vec![flag(&scalar(value)?)],
    })
}

/// The first line of a clap error, without its `error: ` prefix.
fn clap_message(error: &clap::Error) -> String {
    let rendered = error.render().to_string();
    let first = rendered.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_owned()
}

/// The settings in force as a TOML file (secrets hidden), each with where it came from.
pub(crate) fn render(serve: &Command, effective: &Effective) -> String {
    let mut out = String::from(
        "# The settings `stpt serve` would run with; secrets are hidden.\n\
         # Each line says where its value came from: the default, the environment, a flag or the\n\
         # config file.\n",
    );
    for arg in serve.get_arguments() {
        let id = arg.get_id().as_str();
        if NOT_SETTINGS.contains(&id) {
            continue;
        }
        let source = match effective.matches.value_source(id) {
            _ if effective.from_file.contains(id) => "config file".to_owned(),
            Some(ValueSource::CommandLine) => "flag".to_owned(),
            Some(ValueSource::EnvVariable) => match arg.get_env() {
                Some(name) => format!("environment, {}", name.to_string_lossy()),
                None => "environment".to_owned(),
            },
            Some(ValueSource::DefaultValue) => "default".to_owned(),
            _ => "not set".to_owned(),
        };
        let raw: Vec<String> = effective
            .matches
            .get_raw(id)
            .map(|values| {
                values
                    .map(|value| value.to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        if SECRET_KEYS.contains(&id) {
            if raw.is_empty() {
                out.push_str(&format!("# {id} is not set\n"));
            } else {
                out.push_str(&format!("# {id} = <hidden>  # {source}\n"));
            }
            continue;
        }
        let value = match arg.get_action() {
            ArgAction::SetTrue => Some(toml::Value::Boolean(
                raw.first().is_some_and(|v| v == "true"),
            )),
            ArgAction::Append => Some(toml::Value::Array(raw.iter().map(|v| typed(v)).collect())),
            _ => raw.first().map(|v| typed(v)),
        };
        match value {
            Some(value) => out.push_str(&format!("{id} = {value}  # {source}\n")),
            None => out.push_str(&format!("# {id} is not set\n")),
        }
    }
    out
}

/// A raw value as TOML: a number when it is one, else a string.
fn typed(raw: &str) -> toml::Value {
    raw.parse::<i64>().map_or_else(
        |_| toml::Value::String(raw.to_owned()),
        toml::Value::Integer,
    )
}
