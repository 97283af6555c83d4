//! The counts every workload uses (full or `--quick`).

use crate::plan::QUICK_DIVISOR;

/// The counts every workload uses; batch sizes and worker counts do not scale.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    pub quick: bool,
    pub w1_jobs: usize,
    pub w2_rounds: usize,
    pub w2_warmup: usize,
    pub w3_jobs: usize,
    pub w5_jobs: usize,
    pub w5m_jobs: usize,
    pub w5_calls: usize,
    pub w6_jobs: usize,
    pub w6_warmup: usize,
    pub w7_jobs: usize,
    pub w8_jobs: usize,
    pub w8c_jobs: usize,
    pub w9_jobs: usize,
    pub w9_fib_jobs: usize,
    pub w10_links: usize,
    pub w11_width: usize,
    pub w12_backlog: usize,
    pub w13_jobs: usize,
}

impl Sizes {
    pub fn new(quick: bool) -> Sizes {
        let n = |count: usize| if quick { count / QUICK_DIVISOR } else { count };
        Sizes {
            quick,
            w1_jobs: n(10_000),
            w2_rounds: n(500),
            w2_warmup: n(20),
            w3_jobs: n(200),
            w5_jobs: n(100_000),
            w5m_jobs: n(1_000_000),
            w5_calls: n(200),
            w6_jobs: n(5_000),
            w6_warmup: n(200),
            w7_jobs: n(10_000),
            w8_jobs: n(2_000),
            w8c_jobs: n(100_000),
            w9_jobs: n(10_000),
            w9_fib_jobs: n(200),
            w10_links: n(1_000),
            w11_width: n(10_000),
            w12_backlog: n(50_000),
            w13_jobs: n(5_000),
        }
    }
}
