//! What the benchmarks share: timing a closure and printing its median and 95th percentile.
//! The percentile is the nearest rank (the ⌈0.95·n⌉-th fastest run): with fewer than 20 runs
//! that is the slowest one, so a figure meant as a p95 wants 20 runs or more.

use std::time::{Duration, Instant};

/// Times `f` over `runs` runs: the median and the 95th percentile.
pub fn time<T>(label: &str, runs: usize, mut f: impl FnMut() -> T) {
    let mut took: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed()
        })
        .collect();
    took.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{label:<58} median {:>8.2} ms   p95 {:>8.2} ms   ({runs} runs)",
        ms(took[runs / 2]),
        ms(took[(runs * 95).div_ceil(100) - 1])
    );
}
