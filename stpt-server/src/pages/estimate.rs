//! How long each test of a run should take: the median of the same test's durations (same
//! file path and name) in the machine's previous few runs.
//!
//! The main item here is [`expected_durations`]; the live page adds them up for the time left.

use std::collections::HashMap;

use stpt_core::{PageRequest, RunTree, Store, StoreError};

/// Earlier runs looked at.
const HISTORY: u64 = 5;

/// Expected seconds per test id of `run`, for the tests that ran before.
pub(super) fn expected_durations(
    store: &dyn Store,
    run: &RunTree,
) -> Result<HashMap<i64, f64>, StoreError> {
    let earlier = store.runs(run.machine.id, PageRequest::new(1, HISTORY + 1))?;
    let mut seen: HashMap<(String, String), Vec<f64>> = HashMap::new();
    for summary in earlier.items.iter().filter(|r| r.id != run.run.id) {
        let Some(tree) = store.run(summary.id)? else {
            continue;
        };
        for test in tree.scenarios.iter().flat_map(|s| &s.tests) {
            if let Some(seconds) = test
                .duration_seconds()
                .filter(|_| test.status.is_finished())
            {
                seen.entry((test.file_path.clone(), test.file_name.clone()))
                    .or_default()
                    .push(seconds);
            }
        }
    }
    let mut expected = HashMap::new();
    for test in run.scenarios.iter().flat_map(|s| &s.tests) {
        if let Some(durations) = seen.get_mut(&(test.file_path.clone(), test.file_name.clone()))
            && let Some(median) = median(durations)
        {
            expected.insert(test.id, median);
        }
    }
    Ok(expected)
}

fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    match values.len() {
        0 => None,
        n if n % 2 == 1 => values.get(mid).copied(),
        _ => Some((values.get(mid - 1)? + values.get(mid)?) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }
}
