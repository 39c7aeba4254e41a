//! A test's output: the lines a rig's test prints while it runs, and how much of them is kept.
//!
//! The main types here are [`TestOutput`] (one batch of lines for one test: the event a runner
//! sends to `POST /api/v1/runs/<run>/tests/<index>/output`), [`OutputLine`], [`OutputLog`] (what
//! a store keeps of a test's output) and [`OutputLimit`], the rule that decides it: per test at
//! most `limit` bytes are kept, the first half as the *head* (the first lines, never dropped)
//! and the rest as the *tail* (the newest lines); what falls between is dropped and counted.
//!
//! Every line has an *offset*: the number of kept-format bytes (text plus a newline) the test
//! printed before it. A line belongs to the head when it ends within the head budget (the head
//! is a prefix, ending at `head_end`); any other line is kept while it starts within
//! `limit − head_end` bytes of the end, so nothing is dropped until the output passes the
//! limit, and then the newest lines fill what the head leaves. Stores keep the offsets, so
//! the head and the tail are told apart on reading by the first gap, whatever limit was in
//! force then. A line longer than [`OutputLimit::max_line_bytes`] keeps its beginning; the cut
//! is counted as dropped.
//!
//! **Invariant:** the rule is a pure function of the lines in arrival order and the limit, so
//! every store keeps exactly the same lines.

use serde::{Deserialize, Serialize};

use crate::model::{NodeId, RunId};
use crate::timestamp::Timestamp;

/// Which stream of the test a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum OutputStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl OutputStream {
    /// The lowercase name, as on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            OutputStream::Stdout => "stdout",
            OutputStream::Stderr => "stderr",
        }
    }

    /// Reads the lowercase name.
    pub fn parse(name: &str) -> Option<OutputStream> {
        match name {
            "stdout" => Some(OutputStream::Stdout),
            "stderr" => Some(OutputStream::Stderr),
            _ => None,
        }
    }
}

/// One line a test printed, without its line ending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutputLine {
    /// The text, as printed (ANSI colour codes included; pages render them safely).
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[^\x00]*$"))]
    pub text: String,
    /// Which stream printed it, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<OutputStream>,
    /// When it was printed, when known (any accepted timestamp form; answered as RFC 3339).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::timestamp::rfc3339::option"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::timestamp::Rfc3339>))]
    pub timestamp: Option<Timestamp>,
}

impl OutputLine {
    /// A line of standard output printed now.
    pub fn stdout(text: impl Into<String>) -> OutputLine {
        OutputLine {
            text: text.into(),
            stream: Some(OutputStream::Stdout),
            timestamp: Some(Timestamp::now()),
        }
    }

    /// A line of standard error printed now.
    pub fn stderr(text: impl Into<String>) -> OutputLine {
        OutputLine {
            stream: Some(OutputStream::Stderr),
            ..OutputLine::stdout(text)
        }
    }

    /// The bytes the line counts for against the limit: its text and a newline.
    pub fn bytes(&self) -> u64 {
        self.text.len() as u64 + 1
    }
}

/// The body of `POST /api/v1/runs/<run>/tests/<index>/output`: a batch of lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutputBatch {
    /// The reporting machine; the run must be its.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 256, pattern = r"^[^\x00]*\S[^\x00]*$")
    )]
    pub machine_name: String,
    /// Client-generated id making a retried delivery idempotent.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 128, pattern = r"^[^\x00]*\S[^\x00]*$")
    )]
    pub event_id: String,
    /// The lines, in the order printed.
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 10000))]
    pub lines: Vec<OutputLine>,
}

/// Most lines in one batch.
pub const MAX_BATCH_LINES: usize = 10_000;

/// One batch of a test's output, addressed to the test: the event a runner sends.
///
/// Serialised (in a spool file or a JSON-lines stream) it is the batch with `run_id` and
/// `index`; over HTTP those two are the path and the body is the [`OutputBatch`] (in a batch
/// of events, `POST /api/v1/events`, it is this whole).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TestOutput {
    /// The run, when the runner knows it (the answer to its dry run); a sink fills it in.
    /// Without it, the machine's newest run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub run_id: Option<RunId>,
    /// The test's position in the run's plan order, from 0.
    pub index: u32,
    /// The batch.
    #[serde(flatten)]
    pub batch: OutputBatch,
}

/// [`TestOutput`]'s fields as they arrive, side by side: read through this rather than
/// through `#[serde(flatten)]`, which buffers the batch's fields and loses the path of a bad
/// one, so an error names it (`lines[0].stream`), as every other event's does.
#[derive(Deserialize)]
struct TestOutputFields {
    #[serde(default)]
    run_id: Option<RunId>,
    index: u32,
    machine_name: String,
    event_id: String,
    lines: Vec<OutputLine>,
}

impl<'de> Deserialize<'de> for TestOutput {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let fields = TestOutputFields::deserialize(deserializer)?;
        Ok(TestOutput {
            run_id: fields.run_id,
            index: fields.index,
            batch: OutputBatch {
                machine_name: fields.machine_name,
                event_id: fields.event_id,
                lines: fields.lines,
            },
        })
    }
}

/// How much of one test's output a store keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimit {
    bytes: u64,
}

impl Default for OutputLimit {
    /// 1 MiB per test.
    fn default() -> Self {
        OutputLimit { bytes: 1 << 20 }
    }
}

impl OutputLimit {
    /// The smallest limit accepted, in bytes.
    pub const MIN_BYTES: u64 = 1024;
    /// The longest line kept whole, in bytes, whatever the limit.
    pub const LONGEST_LINE: u64 = 64 * 1024;

    /// A limit of `bytes` per test; `None` below [`OutputLimit::MIN_BYTES`].
    pub fn new(bytes: u64) -> Option<OutputLimit> {
        (bytes >= Self::MIN_BYTES).then_some(OutputLimit { bytes })
    }

    /// The limit in bytes.
    pub fn bytes(self) -> u64 {
        self.bytes
    }

    /// Bytes kept from the beginning.
    pub fn head_bytes(self) -> u64 {
        self.bytes / 2
    }

    /// Bytes kept from the end.
    pub fn tail_bytes(self) -> u64 {
        self.bytes - self.head_bytes()
    }

    /// The longest line kept whole (text and newline); longer ones keep their beginning.
    pub fn max_line_bytes(self) -> u64 {
        Self::LONGEST_LINE.min(self.tail_bytes())
    }

    /// `line` as kept: its text cut (at a character boundary) to fit
    /// [`max_line_bytes`](Self::max_line_bytes), and the bytes cut.
    pub fn fit(self, line: &OutputLine) -> (OutputLine, u64) {
        let max_text = usize::try_from(self.max_line_bytes() - 1).unwrap_or(usize::MAX);
        if line.text.len() <= max_text {
            return (line.clone(), 0);
        }
        let mut end = max_text;
        while !line.text.is_char_boundary(end) {
            end -= 1;
        }
        let kept = OutputLine {
            text: line.text[..end].to_owned(),
            ..line.clone()
        };
        (kept, (line.text.len() - end) as u64)
    }

    /// True when a line at `offset` of `bytes` bytes is in the head.
    pub fn in_head(self, offset: u64, bytes: u64) -> bool {
        offset + bytes <= self.head_bytes()
    }

    /// The lowest offset a tail line may start at once the test printed up to `end`, its
    /// head ending at `head_end`: lines outside the head that start before it are dropped.
    pub fn tail_start(self, head_end: u64, end: u64) -> u64 {
        (end + head_end).saturating_sub(self.bytes)
    }
}

/// A kept line and where it stands in the test's whole output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLine {
    /// Bytes the test printed before it (kept format).
    pub offset: u64,
    /// The line as kept.
    pub line: OutputLine,
}

/// What a store keeps of a test's output.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutputLog {
    /// The test.
    pub test_id: NodeId,
    /// The first lines, never dropped.
    pub head: Vec<OutputLine>,
    /// The newest lines after what was dropped (empty while nothing was dropped: every line
    /// is then in `head`).
    pub tail: Vec<OutputLine>,
    /// Lines received.
    pub total_lines: u64,
    /// Bytes received (each line's text and a newline).
    pub total_bytes: u64,
    /// Whole lines dropped between head and tail.
    pub dropped_lines: u64,
    /// Bytes dropped: the lines between head and tail, and the ends of over-long lines.
    pub dropped_bytes: u64,
}

impl OutputLog {
    /// Builds the log from the kept lines in offset order: the head runs up to the first gap.
    pub fn from_stored(
        test_id: NodeId,
        lines: impl IntoIterator<Item = StoredLine>,
        total_lines: u64,
        total_bytes: u64,
    ) -> OutputLog {
        let mut log = OutputLog {
            test_id,
            total_lines,
            total_bytes,
            ..OutputLog::default()
        };
        let mut end = 0;
        let mut kept_lines = 0u64;
        let mut kept_bytes = 0u64;
        for stored in lines {
            kept_lines += 1;
            kept_bytes += stored.line.bytes();
            if log.tail.is_empty() && stored.offset == end {
                end += stored.line.bytes();
                log.head.push(stored.line);
            } else {
                log.tail.push(stored.line);
            }
        }
        log.dropped_lines = total_lines.saturating_sub(kept_lines);
        log.dropped_bytes = total_bytes.saturating_sub(kept_bytes);
        log
    }

    /// Every kept line in order, with `None` where lines were dropped.
    pub fn lines(&self) -> impl Iterator<Item = Option<&OutputLine>> {
        let gap = (self.dropped_lines > 0 && !self.tail.is_empty()).then_some(None);
        self.head
            .iter()
            .map(Some)
            .chain(gap)
            .chain(self.tail.iter().map(Some))
    }
}

/// The notice that stands where lines were dropped, as pages and the CLI show it:
/// "… 1,234 lines (56 KiB) dropped …".
pub fn dropped_notice(lines: u64, bytes: u64) -> String {
    let size = if bytes < 1024 {
        format!("{bytes} bytes")
    } else if bytes < 1024 * 1024 {
        format!("{} KiB", (bytes + 512) / 1024)
    } else {
        format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
    };
    format!("… {} lines ({size}) dropped …", grouped(lines))
}

/// `n` with thousands separated by commas.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `text` without ANSI escape sequences (colours, cursor moves, titles) and control
/// characters other than tabs: a rig's output as plain text, never acting on a terminal.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            match chars.next() {
                // CSI: parameters and intermediates, then one final byte in @..~.
                Some('[') => {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                // OSC: up to BEL or ESC \.
                Some(']') => {
                    while let Some(c) = chars.next() {
                        if c == '\u{7}' {
                            break;
                        }
                        if c == '\u{1b}' {
                            chars.next_if_eq(&'\\');
                            break;
                        }
                    }
                }
                _ => {}
            }
        } else if !c.is_control() || c == '\t' {
            out.push(c);
        }
    }
    out
}

/// Where a test's output stands (kept format).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutputEnds {
    /// The end of the head.
    pub head_end: u64,
    /// The end of the output.
    pub end: u64,
}

/// One batch as a store appends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The lines, each cut to fit, with its offset.
    pub lines: Vec<StoredLine>,
    /// Bytes received (before cutting).
    pub received: u64,
    /// Where the output stands afterwards.
    pub ends: OutputEnds,
}

/// The lines of one batch as a store appends them after `ends`.
pub fn place_batch(limit: OutputLimit, ends: OutputEnds, lines: &[OutputLine]) -> Placement {
    let mut placed = Vec::with_capacity(lines.len());
    let OutputEnds {
        mut head_end,
        mut end,
    } = ends;
    let mut received = 0;
    for line in lines {
        received += line.bytes();
        let (kept, _cut) = limit.fit(line);
        let bytes = kept.bytes();
        if head_end == end && limit.in_head(end, bytes) {
            head_end += bytes;
        }
        placed.push(StoredLine {
            offset: end,
            line: kept,
        });
        end += bytes;
    }
    Placement {
        lines: placed,
        received,
        ends: OutputEnds { head_end, end },
    }
}

/// True when `limit` keeps `line` with the output standing at `ends`: a head line, or one
/// starting at or after [`OutputLimit::tail_start`].
pub fn retained(limit: OutputLimit, ends: OutputEnds, line: &StoredLine) -> bool {
    line.offset < ends.head_end || line.offset >= limit.tail_start(ends.head_end, ends.end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str) -> OutputLine {
        OutputLine {
            text: text.to_owned(),
            stream: None,
            timestamp: None,
        }
    }

    #[test]
    fn over_the_limit_keeps_head_and_tail_and_counts_the_gap() {
        let limit = OutputLimit::new(1024).unwrap();
        let lines: Vec<OutputLine> = (0..100).map(|i| line(&format!("{i:09}"))).collect();
        let first = place_batch(limit, OutputEnds::default(), &lines);
        assert_eq!((first.received, first.ends.end), (1000, 1000));
        assert_eq!(first.ends.head_end, 510);
        let kept: Vec<StoredLine> = first
            .lines
            .iter()
            .filter(|l| retained(limit, first.ends, l))
            .cloned()
            .collect();
        assert_eq!(kept.len(), 100, "1000 bytes fit in 1024");
        let more: Vec<OutputLine> = (100..200).map(|i| line(&format!("{i:09}"))).collect();
        let second = place_batch(limit, first.ends, &more);
        let kept: Vec<StoredLine> = first
            .lines
            .into_iter()
            .chain(second.lines)
            .filter(|l| retained(limit, second.ends, l))
            .collect();
        let log = OutputLog::from_stored(7, kept, 200, 2000);
        assert_eq!(log.head.len(), 51, "512 bytes of head hold 51 lines of 10");
        assert_eq!(log.head[0].text, "000000000");
        assert_eq!(log.tail.last().map(|l| l.text.as_str()), Some("000000199"));
        assert_eq!(
            log.tail.len(),
            51,
            "the newest 514 bytes (1024 less the head)"
        );
        assert_eq!(log.dropped_lines, 98);
        assert_eq!(log.dropped_bytes, 980);
        assert_eq!(log.lines().filter(Option::is_none).count(), 1);
    }

    #[test]
    fn a_long_line_keeps_its_beginning_at_a_char_boundary() {
        let limit = OutputLimit::new(1024).unwrap();
        let text = "é".repeat(600);
        let (kept, cut) = limit.fit(&line(&text));
        assert!(kept.bytes() <= limit.max_line_bytes());
        assert_eq!(kept.text.len() as u64 + cut, text.len() as u64);
        assert!(kept.text.chars().all(|c| c == 'é'));
    }

    #[test]
    fn the_dropped_notice_reads_as_people_count() {
        assert_eq!(
            dropped_notice(1234, 56 * 1024),
            "… 1,234 lines (56 KiB) dropped …"
        );
        assert_eq!(dropped_notice(3, 100), "… 3 lines (100 bytes) dropped …");
        assert_eq!(
            dropped_notice(1_000_000, 3 * 1024 * 1024 / 2),
            "… 1,000,000 lines (1.5 MiB) dropped …"
        );
    }

    #[test]
    fn ansi_codes_and_control_characters_are_stripped() {
        assert_eq!(strip_ansi("\u{1b}[1;31mred\u{1b}[0m ok"), "red ok");
        assert_eq!(strip_ansi("\u{1b}]0;title\u{7}a\tb\u{8}"), "a\tb");
        assert_eq!(strip_ansi("<script>"), "<script>");
    }

    #[test]
    fn a_limit_below_the_minimum_is_refused() {
        assert_eq!(OutputLimit::new(10), None);
        assert_eq!(OutputLimit::default().bytes(), 1 << 20);
    }
}
