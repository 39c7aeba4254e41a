//! Property: whatever sequence of events a machine sends, the `MemoryStore` touches the test
//! the rules pick, every stored aggregate equals a naive recount from the tests' own statuses,
//! at most one test runs per run, and a refused event changes nothing
//! (`stpt_core::testing::sequences`, which the diesel stores run too).

use proptest::prelude::*;
use stpt_core::MemoryStore;
use stpt_core::testing::sequences::{check_sequence, plan, step};

proptest! {
    // Enough cases to reach cancels, supersessions and re-plans often, yet a few seconds long.
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn aggregates_equal_a_recount_after_every_event(
        first in plan(),
        steps in prop::collection::vec(step(), 0..40),
    ) {
        check_sequence(&MemoryStore::new(), first, steps)?;
    }
}
