//! The fusion pipeline's memory over a long drive, printed as JSON (run: `cargo bench -p
//! edgefuse-fusion --bench memory`): the world of `common/drive.rs` (120k-point sweeps, 50 road
//! users, every other sensor at its nominal rate) through one [`Pipeline`] for `PERIODS` LiDAR
//! periods (five minutes of driving), under the fusion processes' allocator settings (no
//! trimming, so the resident set never shrinks and any growth stays visible). The process's
//! resident set (`VmRSS`) is read every 100 periods, and its peak (`VmHWM`) at the end; the
//! inputs of each period are generated and dropped before it is read. A pipeline whose state
//! is bounded (sync buffers, the retrodiction history, the health monitor's windows, the
//! tracks) holds a flat resident set after its first seconds.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;

#[path = "common/drive.rs"]
mod drive;

use drive::Drive;

const POINTS: usize = 120_000;
const OBJECTS: usize = 50;
const PERIODS: usize = 3_000;
const EVERY: usize = 100;

/// A `/proc/self/status` field, MB (`None` where there is no procfs).
fn status_mb(field: &str) -> Option<f64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line
        .trim_start_matches(field)
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

fn main() {
    drive::rerun_with_process_allocator_settings();
    let before_mb = status_mb("VmRSS:");
    let mut drive = Drive::new(POINTS, OBJECTS, 3);
    let mut rss_mb: Vec<(usize, Option<f64>)> = Vec::new();
    // Confirmed tracks, least and most, after the first 30 periods (nothing kept per period,
    // so the bench's own memory stays flat too).
    let (mut fewest, mut most) = (usize::MAX, 0);
    for period in 1..=PERIODS {
        let window = drive.prepare();
        let run = drive.run(window);
        if period > 30 {
            for c in &run.cycles {
                fewest = fewest.min(c.tracks.len());
                most = most.max(c.tracks.len());
            }
        }
        drop(run);
        if period % EVERY == 0 {
            rss_mb.push((period, status_mb("VmRSS:")));
        }
    }
    let at = |p: usize| rss_mb.iter().find(|(q, _)| *q == p).and_then(|(_, m)| *m);
    let line = json!({
        "bench": "fusion_memory",
        "points": POINTS,
        "objects": OBJECTS,
        "periods": PERIODS,
        "confirmed_tracks_min_max": [fewest, most],
        "rss_before_pipeline_mb": before_mb,
        "rss_mb_every_100_periods": rss_mb.iter().map(|(_, m)| *m).collect::<Vec<_>>(),
        "rss_growth_mb_from_period_500": at(PERIODS).zip(at(500)).map(|(a, b)| a - b),
        "peak_rss_mb": status_mb("VmHWM:"),
    });
    println!("{line}");
}
