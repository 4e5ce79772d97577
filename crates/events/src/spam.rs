//! A token bucket per event source and object, so an always-failing object cannot flood the API.

use jiff::Timestamp;

/// `burst` tokens to start with, one more every `refill_secs`, never more than `burst`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    tokens: f64,
    burst: f64,
    refill_secs: f64,
    last: Timestamp,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub fn new(burst: u32, refill_secs: f64, now: Timestamp) -> Self {
        TokenBucket {
            tokens: f64::from(burst),
            burst: f64::from(burst),
            refill_secs,
            last: now,
        }
    }

    /// Takes a token if one is available at `now`.
    pub fn try_take(&mut self, now: Timestamp) -> bool {
        let elapsed = now.duration_since(self.last).as_secs_f64();
        if elapsed > 0.0 {
            let earned = if self.refill_secs > 0.0 {
                elapsed / self.refill_secs
            } else {
                self.burst
            };
            self.tokens = (self.tokens + earned).min(self.burst);
            self.last = now;
        }
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::SignedDuration;

    #[test]
    fn burst_then_one_per_refill_period() {
        let t0 = Timestamp::UNIX_EPOCH;
        let mut b = TokenBucket::new(3, 300.0, t0);
        assert!((0..3).all(|_| b.try_take(t0)));
        assert!(!b.try_take(t0));
        let t1 = t0 + SignedDuration::from_secs(299);
        assert!(!b.try_take(t1), "not yet refilled");
        let t2 = t0 + SignedDuration::from_secs(300);
        assert!(b.try_take(t2));
        assert!(!b.try_take(t2));
        // A long quiet spell refills to the burst, not beyond.
        let t3 = t2 + SignedDuration::from_hours(10);
        assert!((0..3).all(|_| b.try_take(t3)));
        assert!(!b.try_take(t3));
    }

    #[test]
    fn a_clock_going_backwards_earns_nothing() {
        let t0 = Timestamp::UNIX_EPOCH + SignedDuration::from_secs(1000);
        let mut b = TokenBucket::new(1, 300.0, t0);
        assert!(b.try_take(t0));
        assert!(!b.try_take(t0 - SignedDuration::from_secs(600)));
    }
}
