//! Small line charts drawn on the server as SVG, so the history pages need no script.
//!
//! The main item here is [`line_chart`]: values (oldest first, `None` for a gap) become an
//! `<svg>` with a polyline, a dot per value and the largest value labelled. The output holds
//! only numbers and fixed text, so templates may insert it unescaped.

use std::fmt::Write;

/// Width and height of the drawing area, in SVG units.
const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 160.0;
const PAD: f64 = 18.0;

/// An SVG line chart of `values` (oldest first); `unit` follows the top label ("s", "%").
pub(super) fn line_chart(values: &[Option<f64>], unit: &str, label: &str) -> String {
    let top = values.iter().flatten().copied().fold(0.0_f64, f64::max);
    let scale = if top > 0.0 { top } else { 1.0 };
    let step = if values.len() > 1 {
        (WIDTH - 2.0 * PAD) / (values.len() - 1) as f64
    } else {
        0.0
    };
    let point = |i: usize, v: f64| {
        let x = PAD + step * i as f64;
        let y = HEIGHT - PAD - (v / scale) * (HEIGHT - 2.0 * PAD);
        (x, y)
    };
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{label}" xmlns="http://www.w3.org/2000/svg">"#
    );
    let _ = write!(
        svg,
        r#"<line class="axis" x1="{PAD}" y1="{y}" x2="{x2}" y2="{y}"/>"#,
        y = HEIGHT - PAD,
        x2 = WIDTH - PAD
    );
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| point(i, v)))
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect();
    if !points.is_empty() {
        let _ = write!(
            svg,
            r#"<polyline class="line" fill="none" points="{}"/>"#,
            points.join(" ")
        );
    }
    for (i, v) in values.iter().enumerate() {
        if let Some(v) = v {
            let (x, y) = point(i, *v);
            let _ = write!(
                svg,
                r#"<circle class="point" cx="{x:.1}" cy="{y:.1}" r="3"><title>{v:.2} {unit}</title></circle>"#
            );
        }
    }
    let _ = write!(
        svg,
        r#"<text class="label" x="{PAD}" y="12">{top:.1} {unit}</text><text class="label" x="{PAD}" y="{y}">0</text></svg>"#,
        y = HEIGHT - 4.0
    );
    svg
}

#[cfg(test)]
mod tests {
    use super::line_chart;

    #[test]
    fn draws_a_point_per_value_and_skips_gaps() {
        let svg = line_chart(&[Some(1.0), None, Some(2.0)], "s", "durations");
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains("2.0 s"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(!line_chart(&[], "s", "none").contains("<polyline"));
    }
}
