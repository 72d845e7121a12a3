"""Ultrasonic oracle: a bag's parking-sensor readings as the Python `rosbags` reader decodes
them, with each sensor's side from `/tf_static`, for the HMI question set.

usage:
  ultrasonic_oracle.py BAG -> JSON: {"sensors": {name: {"frame", "yaw_deg", "side"}},
                                     "readings": [[name, stamp_ns, range_m or null, closer]]}
     range_m is null when nothing is in range (+inf, REP 117); closer is true for -inf (an
     obstacle under the minimum range, whose min_range is then given as range_m).
Side: the quadrant of the sensor's x axis in base_link (within 45 degrees of forward: ahead,
of backward: behind, else left / right), the rule the HMI states to the driver.
"""

import json
import math
import sys
from pathlib import Path

from rosbags.highlevel import AnyReader
from rosbags.typesys import Stores, get_typestore

PREFIX = '/sensors/ultrasonic/'
SUFFIX = '/range'


def qmul(a, b):
    aw, ax, ay, az = a
    bw, bx, by, bz = b
    return (aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw)


def main(bag):
    parent = {}
    sensors = {}
    readings = []
    with AnyReader([Path(bag)], default_typestore=get_typestore(Stores.ROS2_KILTED)) as reader:
        conns = [c for c in reader.connections
                 if c.topic == '/tf_static' or (c.topic.startswith(PREFIX) and c.topic.endswith(SUFFIX))]
        for conn, _t, raw in reader.messages(connections=conns):
            msg = reader.deserialize(raw, conn.msgtype)
            if conn.topic == '/tf_static':
                for ts in msg.transforms:
                    r = ts.transform.rotation
                    parent[ts.child_frame_id.lstrip('/')] = (ts.header.frame_id.lstrip('/'), (r.w, r.x, r.y, r.z))
                continue
            name = conn.topic[len(PREFIX):-len(SUFFIX)]
            sensors.setdefault(name, {'frame': msg.header.frame_id.lstrip('/')})
            stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            rng = float(msg.range)
            if math.isnan(rng):
                continue
            if rng == math.inf or rng > msg.max_range:
                readings.append([name, stamp, None, False])
            elif rng == -math.inf or rng < msg.min_range:
                readings.append([name, stamp, float(msg.min_range), True])
            else:
                readings.append([name, stamp, rng, False])
    for name, s in sensors.items():
        q, frame = (1.0, 0.0, 0.0, 0.0), s['frame']
        for _ in range(64):
            if frame == 'base_link':
                break
            p, r = parent[frame]
            q, frame = qmul(r, q), p
        else:
            raise SystemExit(f'no chain from {s["frame"]} to base_link')
        w, x, y, z = q
        ax, ay = 1 - 2 * (y * y + z * z), 2 * (x * y + w * z)
        yaw = math.degrees(math.atan2(ay, ax))
        s['yaw_deg'] = yaw
        if abs(ax) >= abs(ay):
            s['side'] = 'ahead' if ax >= 0 else 'behind'
        else:
            s['side'] = 'left' if ay > 0 else 'right'
    json.dump({'sensors': sensors, 'readings': readings}, sys.stdout)


if __name__ == '__main__':
    main(sys.argv[1])
