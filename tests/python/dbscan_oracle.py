"""DBSCAN oracle: scikit-learn's DBSCAN on a point cloud, timed.

usage: dbscan_oracle.py CLOUD.npy EPS MIN_SAMPLES REPEATS LABELS_OUT

Fits sklearn.cluster.DBSCAN(eps=EPS, min_samples=MIN_SAMPLES, algorithm="kd_tree") REPEATS
times on the (n, 3) float32 cloud (one thread: n_jobs is left at its default), writes the labels
of the last fit to LABELS_OUT as little-endian int32 (-1 = noise) and prints one JSON object:
the wall time of each fit, their median, the cluster and noise counts and the versions.
Only `fit` is timed, not loading the file.
"""

import json
import statistics
import sys
import time

import numpy as np
import sklearn
from sklearn.cluster import DBSCAN


def main() -> None:
    cloud, eps, min_samples, repeats, labels_out = sys.argv[1:6]
    points = np.load(cloud)
    assert points.ndim == 2 and points.shape[1] == 3, points.shape
    times = []
    labels = None
    for _ in range(int(repeats)):
        model = DBSCAN(eps=float(eps), min_samples=int(min_samples), algorithm="kd_tree")
        start = time.perf_counter()
        model.fit(points)
        times.append(time.perf_counter() - start)
        labels = model.labels_
    np.asarray(labels, dtype="<i4").tofile(labels_out)
    print(
        json.dumps(
            {
                "points": int(points.shape[0]),
                "eps": float(eps),
                "min_samples": int(min_samples),
                "times_s": times,
                "median_s": statistics.median(times),
                "clusters": int(labels.max()) + 1 if labels.size else 0,
                "noise": int((labels == -1).sum()),
                "sklearn": sklearn.__version__,
                "numpy": np.__version__,
                "python": sys.version.split()[0],
            }
        )
    )


if __name__ == "__main__":
    main()
