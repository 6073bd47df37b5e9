//! Latency histograms (HDR, microseconds) and their summaries.

use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use serde::{Deserialize, Serialize};

/// Longest latency a histogram holds: 10 minutes, in µs.
const MAX_US: u64 = 600_000_000;

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 3).expect("valid histogram bounds")
}

/// Records a latency given in nanoseconds (negative or zero counts as 1 µs).
pub fn record_ns(hist: &mut Histogram<u64>, ns: i64) {
    let us = (ns / 1_000).clamp(1, MAX_US as i64) as u64;
    hist.record(us).expect("clamped into bounds");
}

pub fn to_bytes(hist: &Histogram<u64>) -> Vec<u8> {
    let mut out = Vec::new();
    V2Serializer::new().serialize(hist, &mut out).expect("serializing into a Vec cannot fail");
    out
}

pub fn from_bytes(bytes: &[u8]) -> Histogram<u64> {
    let mut hist: Histogram<u64> = Deserializer::new().deserialize(&mut &bytes[..]).expect("a histogram we wrote");
    hist.auto(true);
    hist
}

/// Percentiles of a histogram, in milliseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Summary {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Summary {
    pub fn of(hist: &Histogram<u64>) -> Summary {
        let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1_000.0;
        Summary {
            count: hist.len(),
            p50_ms: ms(0.5),
            p90_ms: ms(0.9),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
            max_ms: hist.max() as f64 / 1_000.0,
        }
    }

    /// `p50 / p99 / p99.9 / max` in a compact human form.
    pub fn brief(&self) -> String {
        if self.count == 0 {
            return "-".into();
        }
        format!("{} / {} / {} / {} ms", ms(self.p50_ms), ms(self.p99_ms), ms(self.p999_ms), ms(self.max_ms))
    }
}

fn ms(v: f64) -> String {
    if v < 10.0 { format!("{v:.2}") } else { format!("{v:.0}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_survive_serialization_and_merge() {
        let mut a = histogram();
        for us in 1..=1000 {
            record_ns(&mut a, us * 1_000);
        }
        let mut b = from_bytes(&to_bytes(&a));
        assert_eq!(b.len(), 1000);
        b.add(&a).unwrap();
        let s = Summary::of(&b);
        assert_eq!(s.count, 2000);
        assert!((s.p50_ms - 0.5).abs() < 0.01, "{s:?}");
        assert!((s.p99_ms - 0.99).abs() < 0.01, "{s:?}");
    }

    #[test]
    fn out_of_range_latencies_are_clamped() {
        let mut h = histogram();
        record_ns(&mut h, -5);
        record_ns(&mut h, i64::MAX);
        assert_eq!(h.len(), 2);
        assert_eq!(h.min(), 1);
    }
}
