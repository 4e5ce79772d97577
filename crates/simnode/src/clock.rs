//! Maps the monotonic clock that drives timers to the wall-clock times the API shows.

use std::time::Duration;

use tokio::time::Instant;

/// A fixed pairing of a monotonic instant with a wall-clock time.
///
/// Timers use [`Instant`] (so tests can pause time); statuses need RFC 3339
/// timestamps, which are derived from the pairing.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    base: Instant,
    wall: jiff::Timestamp,
}

impl Clock {
    /// Pairs the current instant with the current wall-clock time.
    pub fn now() -> Self {
        Clock {
            base: Instant::now(),
            wall: jiff::Timestamp::now(),
        }
    }

    /// Pairs `base` with a given wall-clock time (for tests).
    pub fn fixed(base: Instant, wall: jiff::Timestamp) -> Self {
        Clock { base, wall }
    }

    /// The wall-clock time of `at`, with second precision.
    pub fn wall(&self, at: Instant) -> jiff::Timestamp {
        let delta = if at >= self.base {
            signed(at.duration_since(self.base))
        } else {
            -signed(self.base.duration_since(at))
        };
        let t = self.wall.checked_add(delta).unwrap_or(self.wall);
        jiff::Timestamp::from_second(t.as_second()).unwrap_or(t)
    }

    /// `at` formatted as the API's `Time`: `2006-01-02T15:04:05Z`.
    pub fn format(&self, at: Instant) -> String {
        format_ts(self.wall(at))
    }

    /// The instant a wall-clock time maps to (saturating at the base).
    pub fn instant(&self, wall: jiff::Timestamp) -> Instant {
        let secs = wall.as_second() - self.wall.as_second();
        if secs >= 0 {
            self.base + Duration::from_secs(secs.unsigned_abs())
        } else {
            self.base
                .checked_sub(Duration::from_secs(secs.unsigned_abs()))
                .unwrap_or(self.base)
        }
    }
}

/// Formats a timestamp as the API's `Time` (seconds, UTC, `Z`).
pub fn format_ts(t: jiff::Timestamp) -> String {
    jiff::fmt::strtime::format("%Y-%m-%dT%H:%M:%SZ", t).unwrap_or_else(|_| t.to_string())
}

fn signed(d: Duration) -> jiff::SignedDuration {
    jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn maps_instants_to_wall_time() {
        let base = Instant::now();
        let wall = jiff::Timestamp::from_second(1_700_000_000).unwrap();
        let c = Clock::fixed(base, wall);
        assert_eq!(c.format(base), "2023-11-14T22:13:20Z");
        assert_eq!(
            c.format(base + Duration::from_millis(61_500)),
            "2023-11-14T22:14:21Z"
        );
        assert_eq!(c.instant(wall), base);
    }
}
