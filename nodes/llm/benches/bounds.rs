//! The physical bounds of this machine for the LLM engine, as JSON: how fast the cores can
//! read memory (one thread and all), and how fast the quantized kernels multiply when the
//! weights are already in cache (the compute bound) and when they stream from memory (a matrix
//! far larger than the caches). `README.md` turns them into tokens per second for the model.
//!
//!     cargo bench -p edgefuse-llm --bench bounds

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Instant;

use edgefuse_llm::quant::{BlockFormat, Matrix, WeightBytes};
use serde_json::json;

/// Median of `runs` timings of `f`, s.
fn median_s(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let t0 = Instant::now();
            f();
            t0.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

/// Read bandwidth, bytes/s: `threads` threads each summing its share of `buf`.
fn read_bandwidth(buf: &[u64], threads: usize) -> f64 {
    let chunk = buf.len().div_ceil(threads);
    let s = median_s(7, || {
        let total: u64 = std::thread::scope(|sc| {
            let hs: Vec<_> = buf
                .chunks(chunk)
                .map(|c| sc.spawn(move || c.iter().fold(0u64, |a, &v| a.wrapping_add(v))))
                .collect();
            hs.into_iter()
                .map(|h| h.join().unwrap())
                .fold(0, u64::wrapping_add)
        });
        std::hint::black_box(total);
    });
    (buf.len() * 8) as f64 / s
}

/// A `rows x cols` matrix of random blocks.
fn matrix(format: BlockFormat, rows: usize, cols: usize, seed: &mut u64) -> Matrix {
    let mut next = || {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (*seed >> 33) as u32
    };
    let nb = rows * cols / 32;
    let mut raw = Vec::with_capacity(nb * format.block_bytes());
    let f16 = |v: f32| half::f16::from_f32(v).to_bits().to_le_bytes();
    for _ in 0..nb {
        raw.extend(f16(0.01 + (next() % 100) as f32 * 1e-4));
        match format {
            BlockFormat::Q4_1 => {
                raw.extend(f16(-0.05));
                raw.extend((0..16).map(|_| next() as u8));
            }
            BlockFormat::Q8_0 => raw.extend((0..32).map(|_| next() as u8)),
        }
    }
    Matrix::Blocks {
        format,
        rows,
        cols,
        bytes: WeightBytes::copy_of(&raw).unwrap(),
    }
}

/// Blocks multiplied per second by `m.matmul` with `n` inputs (each block counted once per
/// input), median of `runs` calls.
fn kernel_rate(m: &Matrix, n: usize, runs: usize) -> f64 {
    let xs: Vec<f32> = (0..n * m.cols())
        .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.01)
        .collect();
    let mut out = vec![0f32; n * m.rows()];
    m.matmul(&xs, n, &mut out); // warm
    let s = median_s(runs, || m.matmul(&xs, n, &mut out));
    (m.rows() * m.cols() / 32 * n) as f64 / s
}

fn main() {
    let threads = rayon::current_num_threads();
    let buf: Vec<u64> = (0..64 << 20)
        .map(|i: u64| i.wrapping_mul(0x9E37_79B9))
        .collect();
    let bw1 = read_bandwidth(&buf, 1);
    let bwn = read_bandwidth(&buf, threads);
    drop(buf);
    let mut seed = 1u64;
    // In cache: 32768 x 576 Q4_1 (11.8 MB) and 16384 x 576 Q8_0 (10.0 MB), within the 32 MB
    // last-level cache and large enough that the thread pool's per-task cost (64 tasks a
    // call) is small, multiplied again and again.
    let q41_small = matrix(BlockFormat::Q4_1, 32768, 576, &mut seed);
    let q80_small = matrix(BlockFormat::Q8_0, 16384, 576, &mut seed);
    // From memory: 59 MB of Q4_1, beyond the caches.
    let q41_big = matrix(BlockFormat::Q4_1, 160 * 1024, 576, &mut seed);
    let rates = json!({
        "q4_1_in_cache_blocks_per_s_n1": kernel_rate(&q41_small, 1, 101),
        "q4_1_in_cache_blocks_per_s_n4": kernel_rate(&q41_small, 4, 101),
        "q8_0_in_cache_blocks_per_s_n1": kernel_rate(&q80_small, 1, 101),
        "q8_0_in_cache_blocks_per_s_n4": kernel_rate(&q80_small, 4, 101),
        "q4_1_from_memory_blocks_per_s_n1": kernel_rate(&q41_big, 1, 15),
        "q4_1_from_memory_blocks_per_s_n4": kernel_rate(&q41_big, 4, 15),
        "q4_1_from_memory_bytes": q41_big.memory_bytes(),
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "bench": "bounds",
            "threads": threads,
            "read_bandwidth_gbps_1_thread": bw1 * 1e-9,
            "read_bandwidth_gbps_all_threads": bwn * 1e-9,
            "kernels": rates,
        }))
        .unwrap()
    );
}
