//! `--label KEY=VALUE` arguments: parsed and checked as the server checks a dry run's labels.

use stpt_core::wire::check_label;

/// Parses `KEY=VALUE` (the value after the first `=`, and `KEY:VALUE` too) for clap,
/// refusing what the server would refuse.
pub(crate) fn parse(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .or_else(|| text.split_once(':'))
        .ok_or_else(|| format!("{text:?} is not KEY=VALUE (e.g. branch=main)"))?;
    check_label(key, value).map_err(|e| e.to_string())?;
    Ok((key.to_owned(), value.to_owned()))
}

/// Percent-encodes a query value (all but unreserved characters).
pub(crate) fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `label=KEY%3AVALUE` parameters, joined by `&` (empty for no label).
pub(crate) fn query(labels: &[(String, String)]) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("label={}", encode(&format!("{k}:{v}"))))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_split_at_the_first_equals_and_are_checked() {
        assert_eq!(
            parse("build=a=b").unwrap(),
            ("build".to_owned(), "a=b".to_owned())
        );
        assert_eq!(
            parse("branch:main").unwrap(),
            ("branch".to_owned(), "main".to_owned())
        );
        assert!(parse("branch").unwrap_err().contains("KEY=VALUE"));
        assert!(parse("bad key=x").unwrap_err().contains("labels"));
        assert_eq!(
            query(&[
                ("branch".to_owned(), "main".to_owned()),
                ("fw".to_owned(), "1 & 2".to_owned())
            ]),
            "label=branch%3Amain&label=fw%3A1%20%26%202"
        );
    }
}
