//! A token bucket: the DRM submission-rate limit of a cgroup's entry
//! (`submissions.max_rate`, submissions per second). The bucket holds up to one second's
//! worth of submissions, refills continuously, and a submission that finds it empty waits
//! for the next token rather than failing.

/// Nanoseconds per second.
const NS_PER_S: u64 = 1_000_000_000;

/// A rate limit and its bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenBucket {
    /// Submissions per second; 0 for no limit.
    pub rate: u64,
    /// Tokens in the bucket, in billionths of a submission.
    nano_tokens: u64,
    /// When the bucket was last refilled (ns, any monotonic clock).
    last_ns: u64,
}

impl TokenBucket {
    /// A full bucket for `rate` submissions per second (0: no limit), at time `now_ns`.
    pub fn new(rate: u64, now_ns: u64) -> Self {
        TokenBucket {
            rate,
            nano_tokens: rate.saturating_mul(NS_PER_S),
            last_ns: now_ns,
        }
    }

    fn refill(&mut self, now_ns: u64) {
        let elapsed = now_ns.saturating_sub(self.last_ns);
        self.last_ns = self.last_ns.max(now_ns);
        let cap = self.rate.saturating_mul(NS_PER_S);
        self.nano_tokens = self
            .nano_tokens
            .saturating_add(elapsed.saturating_mul(self.rate))
            .min(cap);
    }

    /// How long a submission at `now_ns` must wait for a token (0: it may go now).
    pub fn wait_ns(&mut self, now_ns: u64) -> u64 {
        if self.rate == 0 {
            return 0;
        }
        self.refill(now_ns);
        let missing = NS_PER_S.saturating_sub(self.nano_tokens);
        missing.div_ceil(self.rate)
    }

    /// Takes a token for a submission at `now_ns` (after [`Self::wait_ns`] said 0).
    pub fn take(&mut self, now_ns: u64) {
        if self.rate == 0 {
            return;
        }
        self.refill(now_ns);
        self.nano_tokens = self.nano_tokens.saturating_sub(NS_PER_S);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bursts_then_paces() {
        let mut b = TokenBucket::new(10, 0);
        for _ in 0..10 {
            assert_eq!(b.wait_ns(0), 0);
            b.take(0);
        }
        assert_eq!(
            b.wait_ns(0),
            NS_PER_S / 10,
            "the eleventh waits a tenth of a second"
        );
        assert_eq!(b.wait_ns(NS_PER_S / 10), 0);
        let mut free = TokenBucket::new(0, 0);
        assert_eq!(free.wait_ns(0), 0);
    }

    proptest! {
        /// Over any schedule of attempts, no more than rate * (elapsed + 1 s) submissions
        /// get through.
        #[test]
        fn never_exceeds_the_rate(rate in 1u64..1000, gaps in proptest::collection::vec(0u64..50_000_000, 1..300)) {
            let mut b = TokenBucket::new(rate, 0);
            let (mut now, mut passed) = (0u64, 0u64);
            for gap in gaps {
                now += gap;
                if b.wait_ns(now) == 0 {
                    b.take(now);
                    passed += 1;
                }
            }
            prop_assert!(passed <= rate + rate * now / NS_PER_S + 1);
        }
    }
}
