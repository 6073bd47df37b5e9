//! Minimal SVG line charts for load-test results, using only `std`.
//!
//! Fill in a [`Chart`] (named [`Series`] of `(x, y)` points plus optional dashed reference lines) and call
//! [`svg`] to get a standalone 800×500 SVG document. Each axis is linear or base-10 logarithmic. Non-finite
//! values, and non-positive values on a log axis, are skipped rather than drawn.

use std::fmt::Write;

/// One named line on the chart; points need not be sorted.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// How values are mapped onto an axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Linear,
    Log10,
}

/// A line chart: axes, series and optional horizontal reference lines.
#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_scale: Scale,
    pub y_scale: Scale,
    pub series: Vec<Series>,
    /// Optional horizontal reference lines (e.g. a goal: "p99 goal 10 ms"), drawn dashed with their label.
    pub hlines: Vec<(f64, String)>,
}

const WIDTH: f64 = 800.0;
const HEIGHT: f64 = 500.0;
// Plot area; the legend sits to the right of it.
const LEFT: f64 = 75.0;
const RIGHT: f64 = 630.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 440.0;
const PALETTE: [&str; 8] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

/// A resolved axis: range `lo..hi` in transformed units (log10 of the value on a log axis), drawn from pixel
/// position `p0` (at `lo`) to `p1` (at `hi`).
struct Axis {
    log: bool,
    lo: f64,
    hi: f64,
    p0: f64,
    p1: f64,
}

impl Axis {
    /// Range covering `values` (all finite, and positive for a log axis) with a little padding.
    /// With `zero_base`, a linear axis whose values are all ≥ 0 starts at 0.
    fn new(scale: Scale, values: impl Iterator<Item = f64>, zero_base: bool, (p0, p1): (f64, f64)) -> Axis {
        let log = scale == Scale::Log10;
        let ts = values.map(|v| if log { v.log10() } else { v });
        let (lo, hi) = ts.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), t| (lo.min(t), hi.max(t)));
        let (mut lo, mut hi) = if lo > hi { (0.0, 1.0) } else { (lo, hi) }; // no data: 0..1
        let nonneg = !log && lo >= 0.0;
        lo = if zero_base && nonneg { 0.0 } else { lo };
        if log && hi - lo < 1.0 {
            let mid = (lo + hi) / 2.0; // show at least one decade so there are ticks to read
            (lo, hi) = (mid - 0.5, mid + 0.5);
        } else if hi - lo <= 0.0 {
            let d = if hi.abs() > 1e-200 { hi.abs() * 0.1 } else { 1.0 };
            (lo, hi) = (lo - d, hi + d);
        }
        let pad = (hi - lo) * 0.05;
        (lo, hi) = (if nonneg { (lo - pad).max(0.0) } else { lo - pad }, hi + pad);
        if !(hi - lo).is_finite() || hi <= lo {
            (lo, hi) = (0.0, 1.0); // absurd magnitudes: give up gracefully rather than emit NaN
        }
        Axis { log, lo, hi, p0, p1 }
    }

    /// Pixel position of a transformed value.
    fn pix(&self, t: f64) -> f64 {
        self.p0 + (t - self.lo) / (self.hi - self.lo) * (self.p1 - self.p0)
    }

    /// Pixel position of a data value, if it can be shown.
    fn map(&self, v: f64) -> Option<f64> {
        let t = if self.log { v.log10() } else { v };
        t.is_finite().then(|| self.pix(t))
    }

    /// Tick positions (transformed units), each with a label, or `None` for an unlabelled grid line.
    fn ticks(&self) -> Vec<(f64, Option<String>)> {
        let inside = |t: f64| t >= self.lo - 1e-9 && t <= self.hi + 1e-9;
        if !self.log {
            let step = nice_step((self.hi - self.lo) / 6.0);
            let first = (self.lo / step - 1e-9).ceil() as i64;
            let values = (first..first + 50).map(|i| i as f64 * step).take_while(|&v| inside(v));
            return values.map(|v| (v, Some(fmt_num(v)))).collect();
        }
        let span = self.hi - self.lo;
        let stride = ((span / 10.0).ceil() as i32).max(1); // label every decade, unless there are too many
        let (labelled, minor): (&[f64], &[f64]) = match span {
            s if s < 2.0 => (&[1.0, 2.0, 5.0], &[]),
            s if s < 6.0 => (&[1.0], &[2.0, 5.0]),
            _ => (&[1.0], &[]),
        };
        let mut out = Vec::new();
        for d in self.lo.floor() as i32..=self.hi.ceil() as i32 {
            for &m in labelled.iter().chain(minor) {
                let t = m.log10() + d as f64;
                let show = labelled.contains(&m) && (m != 1.0 || d.rem_euclid(stride) == 0);
                if inside(t) {
                    out.push((t, show.then(|| fmt_num(m * 10f64.powi(d)))));
                }
            }
        }
        out
    }
}

/// Smallest 1/2/5 × 10^k that is ≥ `raw`.
fn nice_step(raw: f64) -> f64 {
    let mag = 10f64.powf(raw.log10().floor());
    mag * [1.0, 2.0, 5.0].into_iter().find(|&m| raw / mag <= m).unwrap_or(10.0)
}

/// Compact number: up to 4 significant digits with k/M/G/T suffixes, e.g. 20k, 1.5M, 0.25, 100.
fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if !v.is_finite() || a < 1e-12 {
        return if a < 1e-12 { "0" } else { "?" }.into();
    }
    let trim = |s: String| if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
    if !(1e-3..1e15).contains(&a) {
        let s = format!("{v:.3e}");
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        return format!("{}e{exp}", trim(mant.to_string()));
    }
    let units = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")];
    let (scaled, suffix) = units.into_iter().find(|&(u, _)| a >= u).map_or((v, ""), |(u, suffix)| (v / u, suffix));
    let decimals = (3 - scaled.abs().log10().floor() as i32).max(0) as usize;
    format!("{}{suffix}", trim(format!("{scaled:.decimals$}")))
}

/// Escape XML special characters for text content and attribute values.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

/// Append a `<line>` from `a` to `b` with extra attributes.
fn line(o: &mut String, (x1, y1): (f64, f64), (x2, y2): (f64, f64), attrs: &str) {
    let _ = writeln!(o, r#"<line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" {attrs}/>"#);
}

/// Append a `<text>` at `(x, y)` with extra attributes; the content is escaped.
fn text(o: &mut String, (x, y): (f64, f64), attrs: &str, content: &str) {
    let _ = writeln!(o, r#"<text x="{x:.1}" y="{y:.1}" {attrs}>{}</text>"#, esc(content));
}

/// The chart as a complete standalone SVG document (width 800, height 500).
pub fn svg(chart: &Chart) -> String {
    let ok = |v: f64, scale: Scale| v.is_finite() && (scale == Scale::Linear || v > 0.0);
    let data: Vec<Vec<(f64, f64)>> = (chart.series.iter())
        .map(|s| {
            let mut pts: Vec<(f64, f64)> =
                s.points.iter().copied().filter(|&(x, y)| ok(x, chart.x_scale) && ok(y, chart.y_scale)).collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            pts
        })
        .collect();
    let hlines: Vec<&(f64, String)> = chart.hlines.iter().filter(|h| ok(h.0, chart.y_scale)).collect();
    let x = Axis::new(chart.x_scale, data.iter().flatten().map(|p| p.0), false, (LEFT, RIGHT));
    let ys = data.iter().flatten().map(|p| p.1).chain(hlines.iter().map(|h| h.0));
    let y = Axis::new(chart.y_scale, ys, true, (BOTTOM, TOP));

    let mut o = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">
<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>
"#
    );
    text(&mut o, (WIDTH / 2.0, 30.0), r#"text-anchor="middle" font-size="16" font-weight="bold""#, &chart.title);
    let grid = |label: &Option<String>| if label.is_some() { r##"stroke="#dddddd""## } else { r##"stroke="#eeeeee""## };
    for (t, label) in x.ticks() {
        line(&mut o, (x.pix(t), TOP), (x.pix(t), BOTTOM), grid(&label));
        if let Some(l) = label {
            text(&mut o, (x.pix(t), BOTTOM + 18.0), r#"text-anchor="middle""#, &l);
        }
    }
    for (t, label) in y.ticks() {
        line(&mut o, (LEFT, y.pix(t)), (RIGHT, y.pix(t)), grid(&label));
        if let Some(l) = label {
            text(&mut o, (LEFT - 6.0, y.pix(t) + 4.0), r#"text-anchor="end""#, &l);
        }
    }
    let (w, h, mid) = (RIGHT - LEFT, BOTTOM - TOP, (TOP + BOTTOM) / 2.0);
    let _ = writeln!(o, r##"<rect x="{LEFT}" y="{TOP}" width="{w}" height="{h}" fill="none" stroke="#444444"/>"##);
    text(&mut o, ((LEFT + RIGHT) / 2.0, HEIGHT - 20.0), r#"text-anchor="middle""#, &chart.x_label);
    text(&mut o, (20.0, mid), &format!(r#"text-anchor="middle" transform="rotate(-90 20 {mid})""#), &chart.y_label);
    for (v, label) in hlines {
        let Some(p) = y.map(*v) else { continue };
        line(&mut o, (LEFT, p), (RIGHT, p), r##"stroke="#555555" stroke-width="1.5" stroke-dasharray="6 4""##);
        let halo = r##"fill="#555555" stroke="white" stroke-width="3" paint-order="stroke""##;
        text(&mut o, (LEFT + 6.0, p - 5.0), halo, label);
    }
    for (i, (series, pts)) in chart.series.iter().zip(&data).enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let xy: Vec<(f64, f64)> = pts.iter().filter_map(|&(a, b)| Some((x.map(a)?, y.map(b)?))).collect();
        if !xy.is_empty() {
            let pts = xy.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect::<Vec<_>>().join(" ");
            let _ = writeln!(o, r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{pts}"/>"#);
        }
        // Legend entry (swatch, marker, name) to the right of the plot; long names are shortened.
        let (lx, ly) = (RIGHT + 15.0, TOP + 10.0 + 20.0 * i as f64);
        line(&mut o, (lx, ly), (lx + 20.0, ly), &format!(r#"stroke="{colour}" stroke-width="2""#));
        for (a, b) in xy.iter().chain([&(lx + 10.0, ly)]) {
            let _ = writeln!(o, r#"<circle cx="{a:.1}" cy="{b:.1}" r="3" fill="{colour}"/>"#);
        }
        let name = &series.name;
        let short: String =
            if name.chars().count() > 20 { name.chars().take(19).chain(['…']).collect() } else { name.clone() };
        text(&mut o, (lx + 26.0, ly + 4.0), "", &short);
    }
    o.push_str("</svg>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use Scale::{Linear, Log10};

    fn chart(x_scale: Scale, y_scale: Scale, series: Vec<Vec<(f64, f64)>>) -> Chart {
        let series = series.into_iter().enumerate().map(|(i, points)| Series { name: format!("s{i}"), points });
        let (title, x_label, y_label) = ("t".into(), "rate (msg/s)".into(), "latency (ms)".into());
        let hlines = vec![(10.0, "p99 goal 10 ms".into())];
        Chart { title, x_label, y_label, x_scale, y_scale, series: series.collect(), hlines }
    }

    /// Values of attribute `name` on every line starting with `tag`.
    fn attr(doc: &str, tag: &str, name: &str) -> Vec<f64> {
        let key = format!(" {name}=\"");
        let lines = doc.lines().filter(|l| l.starts_with(tag));
        lines.filter_map(|l| l.split(&key).nth(1)?.split('"').next()?.parse().ok()).collect()
    }

    fn labels(ax: &Axis) -> Vec<String> {
        ax.ticks().into_iter().filter_map(|(_, l)| l).collect()
    }

    #[test]
    fn document_shape_and_edge_cases() {
        let nasty = vec![(-1.0, -5.0), (0.0, 0.0), (f64::NAN, 1.0), (1.0, f64::INFINITY), (1e-9, 1e12), (1e15, 1e-20)];
        let flat = vec![vec![(1.0, 3.0), (2.0, 3.0), (3.0, 3.0)], vec![(2.0, 1.0), (2.0, 5.0)]]; // all-equal y, x
        let cases = [vec![], vec![vec![]], vec![vec![(5.0, 7.0)]], flat, vec![vec![(0.0, 0.0); 2]], vec![nasty]];
        let scales = [(Linear, Linear, 0.0), (Linear, Log10, 10.0), (Log10, Linear, -1.0), (Log10, Log10, 0.0)];
        for case in cases {
            for (xs, ys, goal) in scales {
                let mut c = chart(xs, ys, case.clone());
                c.hlines.push((goal, "goal".into()));
                let doc = svg(&c);
                assert!(doc.starts_with("<svg") && doc.trim().ends_with("</svg>"));
                assert!(!doc.contains("NaN") && !doc.contains("inf"), "{case:?} {xs:?} {ys:?}\n{doc}");
            }
        }
    }

    #[test]
    fn one_polyline_per_non_empty_series() {
        let series = vec![vec![(1.0, 1.0), (2.0, 2.0)], vec![], vec![(3.0, 1.0)], vec![(1.0, -1.0), (2.0, 0.0)]];
        assert_eq!(svg(&chart(Linear, Linear, series.clone())).matches("<polyline").count(), 3);
        let log = svg(&chart(Linear, Log10, series)); // the last series has no positive y
        assert_eq!(log.matches("<polyline").count(), 2);
        assert_eq!(log.matches("<circle").count(), 3 + 4); // 3 markers + 4 legend markers
    }

    #[test]
    fn points_lie_inside_plot_area_and_are_sorted() {
        let pts = vec![(3000.0, 12.5), (1000.0, 1.0), (2000.0, 40.0), (10.0, 0.2)];
        for (xs, ys) in [(Linear, Linear), (Log10, Log10), (Linear, Log10)] {
            let doc = svg(&chart(xs, ys, vec![pts.clone()]));
            let (cx, cy) = (attr(&doc, "<circle", "cx"), attr(&doc, "<circle", "cy"));
            assert_eq!(cx.len(), 5); // the last one is the legend marker
            for (&a, &b) in cx.iter().zip(&cy).take(4) {
                assert!((LEFT..=RIGHT).contains(&a) && (TOP..=BOTTOM).contains(&b), "({a}, {b})");
            }
            assert!(cx[..4].windows(2).all(|w| w[0] < w[1]), "sorted by x: {cx:?}");
        }
        let y = Axis::new(Linear, [5.0, 10.0].into_iter(), true, (BOTTOM, TOP));
        assert_eq!((y.lo, y.map(0.0)), (0.0, Some(BOTTOM)));
        assert!(y.map(10.0).unwrap() > TOP);
    }

    #[test]
    fn ticks() {
        let log = |vals: [f64; 2]| labels(&Axis::new(Log10, vals.into_iter(), true, (0.0, 1.0)));
        assert_eq!(log([1.0, 10_000.0]), ["1", "10", "100", "1k", "10k"]);
        assert_eq!(log([0.01, 100.0]), ["0.01", "0.1", "1", "10", "100"]);
        assert_eq!(log([3.0, 40.0]), ["5", "10", "20"]); // under 2 decades: 2 and 5 are labelled too
        let many = log([1e-3, 1e20]); // too many decades: every third one is labelled
        assert_eq!((many.len(), &many[1][..]), (9, "1"));
        let lin = Axis::new(Linear, [0.0, 97.0].into_iter(), true, (0.0, 1.0));
        assert_eq!(labels(&lin), ["0", "20", "40", "60", "80", "100"]);
    }

    #[test]
    fn escaping() {
        let mut c = chart(Linear, Linear, vec![vec![(1.0, 1.0)]]);
        c.title = r#"a<b & "c">"#.into();
        c.series[0].name = "x<y".into();
        c.hlines = vec![(1.0, "goal > 1 & < 2".into())];
        let doc = svg(&c);
        assert!(doc.contains("a&lt;b &amp; &quot;c&quot;&gt;"));
        assert!(doc.contains("x&lt;y") && doc.contains("goal &gt; 1 &amp; &lt; 2"));
        assert!(!doc.contains("a<b") && !doc.contains("x<y"));
        assert_eq!(esc("'&'"), "&apos;&amp;&apos;");
    }

    #[test]
    fn tick_label_format() {
        let cases = [(20000.0, "20k"), (1_500_000.0, "1.5M"), (0.25, "0.25"), (100.0, "100"), (0.0, "0")];
        let more = [(-2500.0, "-2.5k"), (1e9, "1G"), (0.001, "0.001"), (0.3 + 0.6, "0.9"), (2e-5, "2e-5")];
        for (v, want) in cases.into_iter().chain(more) {
            assert_eq!(fmt_num(v), want, "{v}");
        }
    }
}
