//! Small line charts drawn on the server as SVG, so the history pages need no script.
//!
//! The main item here is [`line_chart`]: one value per run (oldest first, `None` for a gap)
//! becomes an `<svg>` as wide as its card. Positions are percentages of the drawing and the
//! labels sit outside it (the stylesheet leaves them a margin), so the chart fills any width
//! and its text keeps its size: value labels on the left (top, middle, 0), run numbers under
//! the x axis, and a title on every point. The output holds only numbers and fixed text
//! (escaped all the same), so templates may insert it unescaped.

use std::fmt::Write;

use super::rendering::duration;

/// The most run numbers under the x axis; on a phone every other one is left out (`minor`).
const X_LABELS: usize = 10;

/// What the values measure, which decides their labels and the top of the scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unit {
    /// Seconds, labelled as the pages write durations; the scale tops at the largest value.
    Seconds,
    /// A percentage; the scale tops at 100.
    Percent,
}

impl Unit {
    fn label(self, value: f64) -> String {
        match self {
            Unit::Seconds if value == 0.0 => "0".to_owned(),
            Unit::Seconds => duration(value),
            Unit::Percent => format!("{value:.0} %"),
        }
    }
}

/// One run's value: the run's id labels it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Point {
    pub(super) run_id: i64,
    pub(super) value: Option<f64>,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The indices of the points whose run numbers label the x axis: all of them when few, else
/// `X_LABELS` spread evenly, first and last included.
fn labelled(count: usize) -> Vec<usize> {
    if count <= X_LABELS {
        return (0..count).collect();
    }
    let mut picked: Vec<usize> = (0..X_LABELS)
        .map(|k| (k * (count - 1) + (X_LABELS - 1) / 2) / (X_LABELS - 1))
        .collect();
    picked.dedup();
    picked
}

/// An SVG line chart of `points` (oldest first), described to screen readers as `label`.
pub(super) fn line_chart(points: &[Point], unit: Unit, label: &str) -> String {
    let largest = points
        .iter()
        .filter_map(|p| p.value)
        .fold(0.0_f64, f64::max);
    let top = match unit {
        Unit::Percent => 100.0,
        Unit::Seconds if largest > 0.0 => largest,
        Unit::Seconds => 1.0,
    };
    let x = |i: usize| {
        if points.len() > 1 {
            100.0 * i as f64 / (points.len() - 1) as f64
        } else {
            50.0
        }
    };
    let y = |v: f64| 100.0 - 100.0 * (v / top).clamp(0.0, 1.0);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
        escape(label)
    );
    for (at, value) in [(0.0, top), (50.0, top / 2.0)] {
        let _ = write!(
            svg,
            r#"<line class="grid" x1="0%" y1="{at}%" x2="100%" y2="{at}%"/><text class="y" x="-8" y="{at}%" dy="4">{}</text>"#,
            escape(&unit.label(value))
        );
    }
    let _ = write!(
        svg,
        r#"<line class="axis" x1="0%" y1="100%" x2="100%" y2="100%"/><text class="y" x="-8" y="100%" dy="4">{}</text>"#,
        escape(&unit.label(0.0))
    );
    let present: Vec<(f64, f64)> = points
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.value.map(|v| (x(i), y(v))))
        .collect();
    for pair in present.windows(2) {
        if let [(x1, y1), (x2, y2)] = pair {
            let _ = write!(
                svg,
                r#"<line class="line" x1="{x1:.2}%" y1="{y1:.2}%" x2="{x2:.2}%" y2="{y2:.2}%"/>"#
            );
        }
    }
    for (i, point) in points.iter().enumerate() {
        if let Some(value) = point.value {
            let _ = write!(
                svg,
                r#"<circle class="point" cx="{:.2}%" cy="{:.2}%" r="3.5"><title>#{}: {}</title></circle>"#,
                x(i),
                y(value),
                point.run_id,
                escape(&unit.label(value))
            );
        }
    }
    let shown = labelled(points.len());
    for (k, &i) in shown.iter().enumerate() {
        if let Some(point) = points.get(i) {
            let minor = k % 2 == 1 && k + 1 < shown.len();
            let _ = write!(
                svg,
                r#"<text class="x{}" x="{:.2}%" y="100%" dy="18">#{}</text>"#,
                if minor { " minor" } else { "" },
                x(i),
                point.run_id
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::{Point, Unit, labelled, line_chart};

    fn points(values: &[Option<f64>]) -> Vec<Point> {
        values
            .iter()
            .zip(1..)
            .map(|(value, run_id)| Point {
                run_id,
                value: *value,
            })
            .collect()
    }

    #[test]
    fn draws_a_point_per_value_and_skips_gaps() {
        let svg = line_chart(
            &points(&[Some(1.0), None, Some(2.0)]),
            Unit::Seconds,
            "durations",
        );
        assert_eq!(svg.matches("<circle").count(), 2);
        assert_eq!(svg.matches(r#"class="line""#).count(), 1);
        assert!(svg.contains(">2.0 s</text>"), "{svg}");
        assert!(svg.contains("<title>#3: 2.0 s</title>"), "{svg}");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        let empty = line_chart(&[], Unit::Seconds, "none");
        assert!(!empty.contains("<circle") && !empty.contains(r#"class="line""#));
    }

    #[test]
    fn labels_the_x_axis_with_run_numbers_and_scales_percentages_to_100() {
        let svg = line_chart(
            &points(&[Some(50.0), Some(100.0), Some(0.0)]),
            Unit::Percent,
            "pass rate",
        );
        for run in ["#1", "#2", "#3"] {
            assert!(svg.contains(&format!(">{run}</text>")), "{svg}");
        }
        assert!(svg.contains(">100 %</text>") && svg.contains(">50 %</text>"));
        assert!(svg.contains(r#"cx="0.00%" cy="50.00%""#), "{svg}");
    }

    #[test]
    fn sub_second_values_are_labelled_readably_and_escaped() {
        let svg = line_chart(&points(&[Some(0.0002)]), Unit::Seconds, "a<b");
        assert!(svg.contains(">&lt; 0.1 s</text>"), "{svg}");
        assert!(svg.contains(r#"aria-label="a&lt;b""#));
        assert!(
            svg.contains(r#"cx="50.00%""#),
            "one point sits in the middle"
        );
    }

    #[test]
    fn at_most_ten_run_numbers_spread_from_first_to_last() {
        assert_eq!(labelled(3), [0, 1, 2]);
        assert_eq!(labelled(100), [0, 11, 22, 33, 44, 55, 66, 77, 88, 99]);
        assert_eq!(labelled(12), [0, 1, 2, 4, 5, 6, 7, 9, 10, 11]);
        let svg = line_chart(
            &(1..=12)
                .map(|run_id| Point {
                    run_id,
                    value: Some(1.0),
                })
                .collect::<Vec<_>>(),
            Unit::Seconds,
            "twelve runs",
        );
        assert_eq!(svg.matches(r#"<text class="x"#).count(), 10);
        assert_eq!(svg.matches(r#"<text class="x minor""#).count(), 4);
        assert!(svg.contains(r#"<text class="x" x="100.00%" y="100%" dy="18">#12</text>"#));
    }
}
