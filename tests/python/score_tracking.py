"""Tracking and ego scores with py-motmetrics, the independent scorer.

usage: score_tracking.py FRAMES.jsonl [--max-dist-m D]

FRAMES.jsonl: one JSON object per evaluated frame:
  {"stamp_ns": int,
   "truth": [{"id": int, "x": f, "y": f, "vx": f, "vy": f}],     # ground truth in odom
   "tracks": [{"id": int, "x": f, "y": f, "vx": f, "vy": f}],    # confirmed tracks in odom
   "ego": {"x": f, "y": f, "yaw": f}, "ego_truth": {"x": f, "y": f, "yaw": f}}
Prints JSON: MOTA, MOTP, ID switches, switches per 100 truth-track frames, position and velocity
RMSE over matched pairs, ego drift (final position error / distance travelled) and heading error.
"""

import json
import math
import sys

import motmetrics as mm
import numpy as np


def main():
    path = sys.argv[1]
    max_d = 2.0
    if '--max-dist-m' in sys.argv:
        max_d = float(sys.argv[sys.argv.index('--max-dist-m') + 1])
    acc = mm.MOTAccumulator(auto_id=True)
    pos_se, vel_se, n_pairs = 0.0, 0.0, 0
    truth_frames = 0
    dist_travelled = 0.0
    last_truth_ego = None
    ego_pos_err, heading_err = [], []
    frames = [json.loads(line) for line in open(path) if line.strip()]
    by_frame = {}
    for f in frames:
        truth, tracks = f['truth'], f['tracks']
        truth_frames += len(truth)
        gt = np.array([[t['x'], t['y']] for t in truth]).reshape(-1, 2)
        hy = np.array([[t['x'], t['y']] for t in tracks]).reshape(-1, 2)
        d = mm.distances.norm2squared_matrix(gt, hy, max_d2=max_d * max_d)
        frame_id = acc.update([t['id'] for t in truth], [t['id'] for t in tracks], d)
        by_frame[frame_id] = ({t['id']: t for t in truth}, {t['id']: t for t in tracks})
        e, et = f.get('ego'), f.get('ego_truth')
        if e and et:
            if last_truth_ego is not None:
                dist_travelled += math.hypot(et['x'] - last_truth_ego['x'], et['y'] - last_truth_ego['y'])
            last_truth_ego = et
            ego_pos_err.append(math.hypot(e['x'] - et['x'], e['y'] - et['y']))
            dyaw = (e['yaw'] - et['yaw'] + math.pi) % (2 * math.pi) - math.pi
            heading_err.append(abs(math.degrees(dyaw)))
    # Matched pairs (as motmetrics matched them) for the RMSE.
    for (frame_id, _), e in acc.mot_events.iterrows():
        if e['Type'] in ('MATCH', 'SWITCH'):
            tr, hy_by = by_frame[frame_id]
            a, b = tr[e['OId']], hy_by[e['HId']]
            pos_se += (a['x'] - b['x']) ** 2 + (a['y'] - b['y']) ** 2
            vel_se += (a['vx'] - b['vx']) ** 2 + (a['vy'] - b['vy']) ** 2
            n_pairs += 1
    mh = mm.metrics.create()
    s = mh.compute(acc, metrics=['mota', 'motp', 'num_switches', 'num_false_positives', 'num_misses', 'num_objects'], name='all')
    row = s.loc['all']
    out = {
        'frames': len(frames),
        'truth_track_frames': truth_frames,
        'mota': float(row['mota']),
        'motp_m': math.sqrt(float(row['motp'])) if not math.isnan(float(row['motp'])) else None,
        'id_switches': int(row['num_switches']),
        'switches_per_100_truth_frames': 100.0 * int(row['num_switches']) / max(truth_frames, 1),
        'false_positives': int(row['num_false_positives']),
        'misses': int(row['num_misses']),
        'pos_rmse_m': math.sqrt(pos_se / n_pairs) if n_pairs else None,
        'vel_rmse_mps': math.sqrt(vel_se / n_pairs) if n_pairs else None,
        'matched_pairs': n_pairs,
        'ego_distance_m': dist_travelled,
        'ego_final_error_m': ego_pos_err[-1] if ego_pos_err else None,
        'ego_drift_pct': 100.0 * ego_pos_err[-1] / dist_travelled if ego_pos_err and dist_travelled > 0 else None,
        'ego_max_heading_error_deg': max(heading_err) if heading_err else None,
    }
    print(json.dumps(out))


if __name__ == '__main__':
    main()
