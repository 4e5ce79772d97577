//! Latency histograms (microseconds) and their summaries.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// A histogram of microseconds, 1 µs to 10 minutes, 3 significant figures.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("constant histogram bounds are valid")
}

/// Records `d` (saturating at the histogram's top).
pub fn record(h: &mut Histogram<u64>, d: Duration) {
    let us = u64::try_from(d.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, 600_000_000);
    h.saturating_record(us);
}

/// What one measured operation did.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Successful operations.
    pub ok: u64,
    /// Failed operations (non-2xx or transport error).
    pub errors: u64,
    /// Wall time of the whole run.
    pub elapsed: Duration,
    /// Latency percentiles in microseconds: p50, p90, p99, max.
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    /// First error seen, for the report.
    pub first_error: Option<String>,
}

impl Summary {
    /// Summarizes `h` over `elapsed`.
    pub fn from(
        h: &Histogram<u64>,
        ok: u64,
        errors: u64,
        elapsed: Duration,
        first_error: Option<String>,
    ) -> Summary {
        Summary {
            ok,
            errors,
            elapsed,
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            max_us: h.max(),
            first_error,
        }
    }

    /// Successful operations per second.
    pub fn rate(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 { self.ok as f64 / s } else { 0.0 }
    }

    /// One line for humans.
    pub fn line(&self, what: &str) -> String {
        let mut s = format!(
            "{what}: {} ok, {} errors in {:.2}s = {:.0}/s; latency p50 {} p90 {} p99 {} max {}",
            self.ok,
            self.errors,
            self.elapsed.as_secs_f64(),
            self.rate(),
            ms(self.p50_us),
            ms(self.p90_us),
            ms(self.p99_us),
            ms(self.max_us)
        );
        if let Some(e) = &self.first_error {
            s.push_str(&format!(" (first error: {e})"));
        }
        s
    }

    /// As JSON.
    pub fn json(&self) -> Value {
        json!({
            "ok": self.ok, "errors": self.errors, "seconds": self.elapsed.as_secs_f64(), "per_second": self.rate(),
            "p50_ms": self.p50_us as f64 / 1000.0, "p90_ms": self.p90_us as f64 / 1000.0,
            "p99_ms": self.p99_us as f64 / 1000.0, "max_ms": self.max_us as f64 / 1000.0,
            "first_error": self.first_error,
        })
    }
}

/// Microseconds as a short millisecond string.
pub fn ms(us: u64) -> String {
    if us >= 100_000 {
        format!("{:.0}ms", us as f64 / 1000.0)
    } else {
        format!("{:.2}ms", us as f64 / 1000.0)
    }
}
