//! DBSCAN side by side with scikit-learn: the clouds, the call into `tests/python/dbscan_oracle.py`
//! (which fits `sklearn.cluster.DBSCAN(eps, min_samples, algorithm="kd_tree")` and times it),
//! and the partition comparison.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use edgefuse_fusion::lidar::{remove_ground, GroundConfig};
use serde_json::Value;

#[path = "../../fusion/benches/common/scene.rs"]
mod scene;

/// The synthetic ground-removed scene of `fusion/benches/cluster.rs` (the same function, shared
/// by path): about `n` points, seed 42 in the benches.
pub fn synthetic_scene(n: usize, seed: u64) -> Vec<[f32; 3]> {
    scene::scene(n, seed)
}

/// The `index`-th LiDAR sweep of the sample drive `scenario`, in `base_link`, with the ground
/// removed by the fusion library's `remove_ground` (default configuration).
pub fn real_scan_without_ground(scenario: &str, index: usize) -> Result<Vec<[f32; 3]>> {
    use edgefuse_fusion::types::Input;
    use edgefuse_fusion_node::offline::{BagFeed, FeedItem};
    let bag = crate::sample_bag(scenario)?;
    let reader = edgefuse_bag::BagReader::open(&bag)?;
    let mut feed = BagFeed::with_ultrasonic(&reader, &[]);
    let scan = feed
        .by_ref()
        .filter_map(|item| match item {
            FeedItem::Input {
                input: Input::Lidar(s),
                ..
            } => Some(s),
            _ => None,
        })
        .nth(index)
        .with_context(|| format!("{scenario} has no LiDAR sweep {index}"))?;
    let base: Vec<[f32; 3]> = scan
        .points
        .iter()
        .map(|p| {
            let q = scan.base_from_sensor
                * nalgebra::Point3::new(f64::from(p.x_m), f64::from(p.y_m), f64::from(p.z_m));
            [q.x as f32, q.y as f32, q.z as f32]
        })
        .collect();
    let split = remove_ground(&base, &GroundConfig::default())?;
    Ok(base
        .iter()
        .zip(&split.is_ground)
        .filter(|(_, g)| !**g)
        .map(|(p, _)| *p)
        .collect())
}

/// Writes `points` as a NumPy `.npy` file: `<f4`, shape `(n, 3)`, C order.
pub fn write_npy(path: &Path, points: &[[f32; 3]]) -> Result<()> {
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, 3), }}",
        points.len()
    );
    // Magic (6) + version (2) + length (2) + header + '\n', padded to a multiple of 64.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + points.len() * 12);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&u16::try_from(header.len())?.to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for p in points {
        for c in p {
            out.extend_from_slice(&c.to_le_bytes());
        }
    }
    std::fs::File::create(path)
        .and_then(|mut f| f.write_all(&out))
        .with_context(|| format!("writing {}", path.display()))
}

/// scikit-learn's result on one cloud.
#[derive(Debug, Clone)]
pub struct SklearnRun {
    /// Per point, its cluster (-1 = noise), from the last fit.
    pub labels: Vec<i32>,
    /// Median wall time of `fit`, s.
    pub median_s: f64,
    /// The script's JSON report (per-run times, versions).
    pub report: Value,
}

/// Fits scikit-learn's DBSCAN `repeats` times on `points` (through a temporary `.npy` file).
pub fn sklearn_dbscan(
    points: &[[f32; 3]],
    eps: f32,
    min_samples: usize,
    repeats: usize,
) -> Result<SklearnRun> {
    let dir = tempfile::tempdir()?;
    let cloud = dir.path().join("cloud.npy");
    let labels_path = dir.path().join("labels.i32");
    write_npy(&cloud, points)?;
    let stdout = crate::run_python(
        "dbscan_oracle.py",
        &[
            cloud.to_str().context("temp path")?,
            &eps.to_string(),
            &min_samples.to_string(),
            &repeats.to_string(),
            labels_path.to_str().context("temp path")?,
        ],
    )?;
    let report: Value = serde_json::from_str(stdout.trim())
        .with_context(|| format!("dbscan_oracle.py printed {stdout}"))?;
    let bytes = std::fs::read(&labels_path)?;
    ensure!(
        bytes.len() == points.len() * 4,
        "{} label bytes for {} points",
        bytes.len(),
        points.len()
    );
    let labels = bytes
        .chunks_exact(4)
        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let Some(median_s) = report["median_s"].as_f64() else {
        bail!("no median_s in {report}");
    };
    Ok(SklearnRun {
        labels,
        median_s,
        report,
    })
}

/// How two partitions of the same points differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionDiff {
    /// Points whose label differs once each of our clusters is matched to the scikit-learn
    /// cluster it shares most points with (noise matches noise); 0 when the partitions agree.
    pub points: usize,
    /// Our clusters.
    pub ours_clusters: usize,
    /// Points we call noise.
    pub ours_noise: usize,
    /// scikit-learn's clusters.
    pub theirs_clusters: usize,
    /// Points scikit-learn calls noise.
    pub theirs_noise: usize,
}

impl PartitionDiff {
    /// Whether the partitions are the same: the same sets of points per cluster, the same noise.
    pub fn agree(&self) -> bool {
        self.points == 0 && self.ours_clusters == self.theirs_clusters
    }
}

/// Compares our labels (`None` = noise) with scikit-learn's (`-1` = noise).
pub fn compare_partitions(ours: &[Option<u32>], theirs: &[i32]) -> PartitionDiff {
    use std::collections::BTreeMap;
    assert_eq!(ours.len(), theirs.len(), "label counts differ");
    // Overlap counts of (our cluster, their cluster).
    let mut overlap: BTreeMap<(u32, i32), usize> = BTreeMap::new();
    for (o, t) in ours.iter().zip(theirs) {
        if let Some(o) = o {
            *overlap.entry((*o, *t)).or_default() += 1;
        }
    }
    // Each of our clusters is matched to the cluster of theirs it shares most points with
    // (never to noise); each of theirs goes to the one of ours that shares most with it.
    let mut best: BTreeMap<u32, (usize, i32)> = BTreeMap::new();
    for (&(o, t), &n) in &overlap {
        if t < 0 {
            continue;
        }
        let e = best.entry(o).or_insert((0, t));
        if n > e.0 {
            *e = (n, t);
        }
    }
    let mut owner: BTreeMap<i32, (usize, u32)> = BTreeMap::new();
    for (&o, &(n, t)) in &best {
        let e = owner.entry(t).or_insert((n, o));
        if n > e.0 {
            *e = (n, o);
        }
    }
    let matched: BTreeMap<u32, i32> = owner.iter().map(|(&t, &(_, o))| (o, t)).collect();
    let points = ours
        .iter()
        .zip(theirs)
        .filter(|(o, t)| match o {
            None => **t != -1,
            Some(o) => matched.get(o) != Some(*t),
        })
        .count();
    let ours_clusters = ours
        .iter()
        .flatten()
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let theirs_clusters = theirs
        .iter()
        .filter(|t| **t >= 0)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    PartitionDiff {
        points,
        ours_clusters,
        ours_noise: ours.iter().filter(|o| o.is_none()).count(),
        theirs_clusters,
        theirs_noise: theirs.iter().filter(|t| **t == -1).count(),
    }
}
