//! `loadtest plot --out-dir DIR report.json …`: SVG charts from the JSON reports —
//! latency percentiles against offered rate (direct, group, room) and deliveries/s against
//! room size (room).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::args::fail;
use crate::plot::{Chart, Scale, Series, svg};

pub fn run(rest: &[String]) -> bool {
    let mut out_dir = PathBuf::from(".");
    let mut inputs = Vec::new();
    let mut words = rest.iter();
    while let Some(word) = words.next() {
        match word.as_str() {
            "--out-dir" => out_dir = words.next().map(PathBuf::from).unwrap_or_else(|| fail("--out-dir needs a value")),
            file => inputs.push(PathBuf::from(file)),
        }
    }
    if inputs.is_empty() {
        fail("plot: no report files given");
    }
    std::fs::create_dir_all(&out_dir).unwrap_or_else(|e| fail(e));
    for input in &inputs {
        let text = std::fs::read_to_string(input).unwrap_or_else(|e| fail(format!("{}: {e}", input.display())));
        let report: Value = serde_json::from_str(&text).unwrap_or_else(|e| fail(format!("{}: {e}", input.display())));
        let stem = input.file_stem().and_then(|s| s.to_str()).unwrap_or("report");
        for (name, chart) in charts(&report) {
            let path = out_dir.join(format!("{stem}-{name}.svg"));
            write(&path, &svg(&chart));
        }
    }
    true
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| fail(format!("{}: {e}", path.display())));
    eprintln!("loadtest: wrote {}", path.display());
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// `(x, y)` of every step of a result: x from the step's `offered`, y from `path`.
fn step_points(result: &Value, path: &[&str]) -> Vec<(f64, f64)> {
    let steps = result["steps"].as_array().cloned().unwrap_or_default();
    steps
        .iter()
        .filter(|s| s["warmup"] != true)
        .map(|s| (num(&s["offered"]), num(path.iter().fold(s, |v, key| &v[*key]))))
        .collect()
}

fn charts(report: &Value) -> Vec<(&'static str, Chart)> {
    let results = report["results"].as_array().cloned().unwrap_or_default();
    let latency = |title: String, x_label: &str, lines: &[(&str, &[&str])], results: &[&Value], hlines| Chart {
        title,
        x_label: x_label.into(),
        y_label: "latency (ms)".into(),
        x_scale: Scale::Log10,
        y_scale: Scale::Log10,
        series: results
            .iter()
            .flat_map(|r| {
                let target = r["target"].as_str().unwrap_or("?").to_string();
                lines
                    .iter()
                    .map(move |(name, path)| Series { name: format!("{target} {name}"), points: step_points(r, path) })
            })
            .collect(),
        hlines,
    };
    let all: Vec<&Value> = results.iter().collect();
    match report["workload"].as_str() {
        Some("direct") => vec![(
            "latency",
            latency(
                format!("one-to-one: {} pairs", report["params"]["pairs"]),
                "offered messages/s",
                &[
                    ("ack p50", &["ack", "p50_ms"]),
                    ("ack p99", &["ack", "p99_ms"]),
                    ("receive p99", &["recv", "p99_ms"]),
                    ("receive p99.9", &["recv", "p999_ms"]),
                ],
                &all,
                vec![(10.0, "p99 ack goal at 20k/s: 10 ms".into()), (100.0, "100 ms".into())],
            ),
        )],
        Some("group") => vec![(
            "latency",
            latency(
                format!("groups: {} × {} members", report["params"]["groups"], report["params"]["members"]),
                "offered messages/s",
                &[("ack p99", &["ack", "p99_ms"]), ("receive p99", &["recv", "p99_ms"])],
                &all,
                vec![(200.0, "200 ms".into())],
            ),
        )],
        Some("room") => {
            let mut charts = Vec::new();
            let sizes = |target: &str| -> Vec<(f64, f64)> {
                results
                    .iter()
                    .filter(|r| r["target"] == target)
                    .map(|r| (num(&r["size"]), num(&r["best_delivery_rate"])))
                    .collect()
            };
            charts.push((
                "deliveries",
                Chart {
                    title: "room: deliveries/s by room size".into(),
                    x_label: "members".into(),
                    y_label: "deliveries/s".into(),
                    x_scale: Scale::Log10,
                    y_scale: Scale::Linear,
                    series: ["xinshi", "baseline"]
                        .iter()
                        .map(|t| Series { name: t.to_string(), points: sizes(t) })
                        .filter(|s| !s.points.is_empty())
                        .collect(),
                    hlines: vec![(1_000_000.0, "goal: 1M/s".into())],
                },
            ));
            let mut latency_chart =
                latency("room: delivery p99 by offered deliveries/s".into(), "offered deliveries/s", &[], &[], vec![]);
            latency_chart.series = results
                .iter()
                .map(|r| Series {
                    name: format!("{} {} members", r["target"].as_str().unwrap_or("?"), r["size"]),
                    points: step_points(r, &["recv", "p99_ms"]),
                })
                .collect();
            charts.push(("latency", latency_chart));
            charts
        }
        _ => Vec::new(),
    }
}
