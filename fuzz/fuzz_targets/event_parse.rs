//! Fuzzes ingest parsing and validation: any bytes, as any of the three event kinds, must
//! parse to an event or to a `WireError`, never panic; an accepted event must survive a
//! round trip through its own JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stpt_core::{Event, EventKind};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let kinds = EventKind::ALL;
    let kind = kinds[usize::from(selector) % kinds.len()];
    if let Ok(event) = Event::parse(kind, body) {
        let json = serde_json::to_vec(&event).expect("an accepted event serialises");
        let again = Event::parse(kind, &json).expect("an accepted event parses again");
        assert_eq!(again.machine_name(), event.machine_name());
    }
});
