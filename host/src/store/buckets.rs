//! Rate limits' token buckets as a claim sees them (issue 23). A limit lets `per` jobs start
//! every `window_us`: its bucket holds at most `burst` tokens and refills continuously at
//! `per / window_us` a µs; a job starts only with a token of each limit it names. The claim
//! reads the buckets, refills them to its own time, takes tokens as it admits jobs, and
//! writes back those it spent, in its transaction (on PostgreSQL after the gate lock, so
//! hosts take tokens one claim at a time). A job passed over for an empty bucket stays
//! queued, its attempt uncounted, and the claim says when the first such bucket has a token
//! again ([`Buckets::wake_at`]), for the dispatcher to claim then.

use std::collections::{BTreeSet, HashMap};

/// How early a claim may take a token: up to a whole token before it is whole, and never
/// more than [`MAX_LEAD_US`] early (a job held for a slow limit shows as running). A job
/// claimed early is not started early: the claim gives it the time its token is whole (its slot), and the
/// dispatcher holds it until then ([`Pacing::starts`]). So the claim's own round trips and
/// the dispatcher's wake-up happen before the slot instead of coming out of every interval
/// (taking tokens at claim time, a limit of 100 a second started 78 a second across two
/// PostgreSQL hosts), and starts keep the bucket's pace: at most `burst` at once after a
/// quiet while, then one every `window / per`.
const LEAD: f64 = 1.0;
/// The most a job is claimed before its slot, µs.
const MAX_LEAD_US: f64 = 20_000.0;
/// Slots come this much slower than `per` a `window`: 1 %, which over the `per` slots of a
/// window leaves 1 % of it (10 ms of a second) for the starts' own jitter, so that a start
/// handed to its worker late and a later one on time do not make `per + 1` in a window
/// (with 0.5 %, W13 still saw 101 in a second).
const PACE_MARGIN: f64 = 0.99;

/// What rate limits say of a claim (µs): when a limit a job was passed over for has a token
/// again, and the jobs claimed ahead of their token with the time each may start.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pacing {
    /// Claim again then.
    pub wake_at: Option<i64>,
    /// Jobs not to start before these times.
    pub starts: Vec<(crate::store::JobId, i64)>,
}

/// One limit's bucket.
#[derive(Clone, Debug, PartialEq)]
pub struct Bucket {
    /// Its stored name (`TENANT:name`).
    pub name: String,
    pub per: i64,
    pub window_us: i64,
    pub burst: i64,
    pub tokens: f64,
    /// When `tokens` was so (µs).
    pub refilled_at: i64,
}

impl Bucket {
    /// Tokens per µs.
    fn rate(&self) -> f64 {
        self.per.max(1) as f64 / self.window_us.max(1) as f64 * PACE_MARGIN
    }

    /// Tokens a claim may take early (see [`LEAD`]).
    fn lead(&self) -> f64 {
        (MAX_LEAD_US * self.rate()).min(LEAD)
    }

    /// Refills to `now`.
    fn refill(&mut self, now: i64) {
        let elapsed = (now - self.refilled_at).max(0) as f64;
        self.tokens = (self.tokens + elapsed * self.rate()).min(self.burst.max(1) as f64);
        self.refilled_at = now.max(self.refilled_at);
    }

    /// µs until a claim may take a token (see [`LEAD`]).
    fn ready_in(&self) -> i64 {
        ((1.0 - self.lead() - self.tokens).max(0.0) / self.rate()).ceil() as i64
    }

    /// When its next token is whole (µs): now, or a little later for a claim made early.
    fn whole_at(&self) -> i64 {
        self.refilled_at + ((1.0 - self.tokens).max(0.0) / self.rate()).ceil() as i64
    }
}

/// The buckets of one claim.
#[derive(Debug, Default)]
pub struct Buckets {
    buckets: HashMap<String, Bucket>,
    /// Limits a job was passed over for.
    empty: BTreeSet<String>,
    /// Limits the claim took tokens of.
    spent: BTreeSet<String>,
    wake_at: Option<i64>,
}

impl Buckets {
    /// `buckets` refilled to `now` (µs).
    pub fn new(buckets: Vec<Bucket>, now: i64) -> Buckets {
        let buckets = buckets
            .into_iter()
            .map(|mut bucket| {
                bucket.refill(now);
                (bucket.name.clone(), bucket)
            })
            .collect();
        Buckets { buckets, ..Buckets::default() }
    }

    /// Whether each of `limits` has a token (a limit since deleted limits nothing).
    pub fn allow(&mut self, limits: &[String]) -> bool {
        let mut allowed = true;
        for name in limits {
            let Some(bucket) = self.buckets.get(name) else { continue };
            if bucket.tokens < 1.0 - bucket.lead() {
                let at = bucket.refilled_at + bucket.ready_in();
                self.wake_at = Some(self.wake_at.map_or(at, |earliest| earliest.min(at)));
                self.empty.insert(name.clone());
                allowed = false;
            }
        }
        allowed
    }

    /// Takes a token of each of `limits` (after [`Buckets::allow`]); returns when the job
    /// may start (µs) if that is later than the claim: when the last of its tokens is whole.
    pub fn take(&mut self, limits: &[String]) -> Option<i64> {
        let mut start = None;
        for name in limits {
            if let Some(bucket) = self.buckets.get_mut(name) {
                let at = bucket.whole_at();
                if at > bucket.refilled_at {
                    start = Some(start.map_or(at, |start: i64| start.max(at)));
                }
                bucket.tokens -= 1.0;
                self.spent.insert(name.clone());
            }
        }
        start
    }

    /// Starts bucket `name` would allow now (0 without one).
    pub fn available(&self, name: &str) -> u64 {
        self.buckets.get(name).map_or(0, |bucket| bucket.tokens.max(0.0).floor() as u64)
    }

    /// The limits a job was passed over for (a page leaves their jobs out).
    pub fn empty(&self) -> Vec<String> {
        self.empty.iter().cloned().collect()
    }

    /// When the first bucket a job was passed over for has a token again (µs).
    pub fn wake_at(&self) -> Option<i64> {
        self.wake_at
    }

    /// The buckets the claim took tokens of, to write back.
    pub fn spent(&self) -> Vec<&Bucket> {
        self.spent.iter().filter_map(|name| self.buckets.get(name)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(per: i64, window_us: i64, burst: i64, tokens: f64) -> Bucket {
        Bucket { name: "l".into(), per, window_us, burst, tokens, refilled_at: 0 }
    }

    /// One token's interval at 100 a second, with the pace margin, µs.
    fn interval() -> i64 {
        (1_000_000.0 / (100.0 * PACE_MARGIN)).ceil() as i64
    }

    #[test]
    fn a_bucket_spends_its_burst_then_claims_a_token_ahead_for_a_later_start() {
        let limits = vec!["l".to_string()];
        let mut buckets = Buckets::new(vec![bucket(100, 1_000_000, 2, 2.0)], 0);
        for _ in 0..2 {
            assert!(buckets.allow(&limits));
            assert_eq!(buckets.take(&limits), None, "a whole token starts its job at once");
        }
        // A whole token early: the third is claimed now and starts when its token is whole.
        assert!(buckets.allow(&limits));
        assert_eq!(buckets.take(&limits), Some(interval()));
        assert!(!buckets.allow(&limits));
        assert_eq!(buckets.wake_at(), Some(interval()), "the next claim at that slot");
        assert_eq!(buckets.empty(), ["l"]);
        assert_eq!(buckets.spent()[0].tokens, -1.0);
        assert_eq!(buckets.available("l"), 0);
        // Refilled, never past the burst, which it allows at once.
        let later = Buckets::new(vec![bucket(100, 1_000_000, 2, 0.0)], 60_000_000);
        assert_eq!(later.buckets["l"].tokens, 2.0);
        assert_eq!(later.available("l"), 2);
        // A limit without a bucket (deleted) limits nothing.
        assert!(Buckets::default().allow(&limits));
    }

    #[test]
    fn slots_follow_the_bucket_however_late_within_the_lead_the_claims_come() {
        let limits = vec!["l".to_string()];
        // Empty at 0, claimed at 5 ms: its job starts when the token is whole.
        let mut buckets = Buckets::new(vec![bucket(100, 1_000_000, 1, 0.0)], 5_000);
        assert!(buckets.allow(&limits));
        let first = buckets.take(&limits).expect("a slot ahead");
        assert!((first - interval()).abs() <= 1, "{first}");
        assert!(!buckets.allow(&limits));
        // The next claim, made 3 ms after it may be, still starts one interval later.
        let at = buckets.wake_at().expect("when to claim again") + 3_000;
        let next = buckets.spent()[0].clone();
        let mut buckets = Buckets::new(vec![next], at);
        assert!(buckets.allow(&limits));
        let second = buckets.take(&limits).expect("a slot ahead");
        assert!((second - first - interval()).abs() <= 1, "{first} {second}");
    }

    #[test]
    fn a_slow_limit_is_claimed_at_most_the_lead_time_early() {
        let limits = vec!["l".to_string()];
        // One a minute, spent at 0: a claim is allowed 20 ms before the token is whole.
        let mut buckets = Buckets::new(vec![bucket(1, 60_000_000, 1, 0.0)], 0);
        assert!(!buckets.allow(&limits));
        let whole = (60_000_000.0 / PACE_MARGIN).ceil() as i64;
        let wake = buckets.wake_at().expect("when to claim");
        assert!((whole - wake - MAX_LEAD_US as i64).abs() <= 1, "{whole} {wake}");
    }
}
