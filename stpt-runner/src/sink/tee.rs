//! Sending every event to several sinks.
//!
//! The main type here is [`TeeSink`]. **Invariant:** each sink gets every event, whatever the
//! others answer; the first error (in the order the sinks were added) is returned.

use stpt_core::{Event, Sink, SinkError};

/// A sink that forwards each event to several sinks, in the order they were added.
#[derive(Default)]
pub struct TeeSink {
    sinks: Vec<Box<dyn Sink>>,
}

impl std::fmt::Debug for TeeSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeeSink")
            .field("sinks", &self.sinks.len())
            .finish()
    }
}

impl TeeSink {
    /// A tee over no sink yet.
    pub fn new() -> Self {
        TeeSink::default()
    }

    /// The same tee, also forwarding to `sink`.
    #[must_use]
    pub fn with(mut self, sink: impl Sink + 'static) -> Self {
        self.sinks.push(Box::new(sink));
        self
    }

    /// Also forwards to `sink`.
    pub fn push(&mut self, sink: Box<dyn Sink>) {
        self.sinks.push(sink);
    }
}

impl Sink for TeeSink {
    fn send(&mut self, event: &Event) -> Result<(), SinkError> {
        let mut first = None;
        for sink in &mut self.sinks {
            if let Err(e) = sink.send(event) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        let mut first = None;
        for sink in &mut self.sinks {
            if let Err(e) = sink.flush() {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use stpt_core::{EventKind, MemorySink};

    use super::*;

    struct Refusing;

    impl Sink for Refusing {
        fn send(&mut self, _event: &Event) -> Result<(), SinkError> {
            Err(SinkError::Rejected {
                destination: "refusing".into(),
                reason: "no".into(),
            })
        }
    }

    #[test]
    fn every_sink_gets_the_event_and_the_first_error_wins() {
        let (a, b) = (MemorySink::new(), MemorySink::new());
        let mut tee = TeeSink::new()
            .with(a.clone())
            .with(Refusing)
            .with(b.clone());
        let body = br#"{"machine_name": "m", "file_name": "a.py", "file_path": "/", "timestamp_start": "2018-12-30 13:01:57"}"#;
        let event = Event::parse(EventKind::TestStart, body).unwrap();
        let err = tee.send(&event).unwrap_err();
        assert!(
            matches!(err, SinkError::Rejected { destination, .. } if destination == "refusing")
        );
        assert_eq!(a.events(), std::slice::from_ref(&event));
        assert_eq!(b.events(), [event]);
        assert!(tee.flush().is_ok());
    }
}
