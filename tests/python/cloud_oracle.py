"""PointCloud2 oracle: LiDAR clouds in the point layouts of the common ROS 2 drivers, built
with numpy structured arrays and serialised by `rosbags`, with what each point must read as.

usage: cloud_oracle.py OUT.json

Writes [{"layout", "hex", "points": [[x, y, z, intensity, t_after_stamp_s], ...]}]: the CDR
bytes of a sensor_msgs/msg/PointCloud2 and, per point, its coordinates, its intensity and its
time after the header stamp in seconds, as the driver defines its fields (computed here in
float64 from the numpy values).
"""

import json
import sys

import numpy as np
from rosbags.typesys import Stores, get_typestore

TS = get_typestore(Stores.ROS2_KILTED)
PC2 = 'sensor_msgs/msg/PointCloud2'
PointField = TS.types['sensor_msgs/msg/PointField']
Header = TS.types['std_msgs/msg/Header']
Time = TS.types['builtin_interfaces/msg/Time']

DATATYPE = {'i1': 1, 'u1': 2, 'i2': 3, 'u2': 4, 'i4': 5, 'u4': 6, 'f4': 7, 'f8': 8}

STAMP_SEC, STAMP_NSEC = 1_700_000_123, 987_654_321
STAMP_S = STAMP_SEC + STAMP_NSEC * 1e-9


def layout(fields, itemsize, big=False):
    """A numpy dtype of `fields` [(name, code, offset)] in `itemsize` bytes."""
    order = '>' if big else '<'
    return np.dtype({
        'names': [f[0] for f in fields],
        'formats': [order + f[1] for f in fields],
        'offsets': [f[2] for f in fields],
        'itemsize': itemsize,
    })


# (name, fields, point_step, big-endian, time meaning)
LAYOUTS = [
    # The topic contract: float32 x y z intensity t (s after the stamp).
    ('contract', [('x', 'f4', 0), ('y', 'f4', 4), ('z', 'f4', 8), ('intensity', 'f4', 12),
                  ('t', 'f4', 16)], 20, False, 'after_s'),
    # ouster-ros: aligned x y z, float32 intensity, uint32 t (ns after the stamp) and more.
    ('ouster', [('x', 'f4', 0), ('y', 'f4', 4), ('z', 'f4', 8), ('intensity', 'f4', 16),
                ('t', 'u4', 20), ('reflectivity', 'u2', 24), ('ring', 'u2', 26),
                ('ambient', 'u2', 28), ('range', 'u4', 32)], 48, False, 'after_ns'),
    # velodyne_pointcloud: float32 intensity, uint16 ring, float32 time (s after the stamp).
    ('velodyne', [('x', 'f4', 0), ('y', 'f4', 4), ('z', 'f4', 8), ('intensity', 'f4', 16),
                  ('ring', 'u2', 20), ('time', 'f4', 24)], 32, False, 'after_s'),
    # Autoware nebula PointXYZIRCAEDT: uint8 intensity, uint32 time_stamp (ns after).
    ('nebula', [('x', 'f4', 0), ('y', 'f4', 4), ('z', 'f4', 8), ('intensity', 'u1', 12),
                ('return_type', 'u1', 13), ('channel', 'u2', 14), ('azimuth', 'f4', 16),
                ('elevation', 'f4', 20), ('distance', 'f4', 24), ('time_stamp', 'u4', 28)],
     32, False, 'after_ns'),
    # Hesai: float32 intensity, uint16 ring, float64 timestamp (absolute s).
    ('hesai', [('x', 'f4', 0), ('y', 'f4', 4), ('z', 'f4', 8), ('intensity', 'f4', 12),
               ('ring', 'u2', 16), ('timestamp', 'f8', 24)], 32, False, 'absolute_s'),
    # The same, written big-endian.
    ('hesai_big_endian', [('x', 'f4', 0), ('y', 'f4', 4), ('z', 'f4', 8),
                          ('intensity', 'f4', 12), ('ring', 'u2', 16), ('timestamp', 'f8', 24)],
     32, True, 'absolute_s'),
    # float64 x y z (some simulators' and drivers' clouds), big-endian, float32 t.
    ('float64_xyz_big_endian', [('x', 'f8', 0), ('y', 'f8', 8), ('z', 'f8', 16),
                                ('intensity', 'f4', 24), ('t', 'f4', 28)], 32, True, 'after_s'),
    # No per-point time: every point at the stamp; uint16 intensity.
    ('no_time', [('x', 'f4', 0), ('y', 'f4', 4), ('z', 'f4', 8), ('intensity', 'u2', 12)],
     16, False, 'none'),
]

TIME_FIELD = {'after_s': ('t', 'time'), 'after_ns': ('t', 'time_stamp'),
              'absolute_s': ('timestamp',), 'none': ()}


def cloud(rng, name, fields, step, big, meaning, n=257):
    dtype = layout(fields, step, big)
    arr = np.zeros(n, dtype=dtype)
    # Stored in the field's type (a float32 field rounds to nearest, as astype does).
    arr['x'] = rng.uniform(-80, 80, n)
    arr['y'] = rng.uniform(-80, 80, n)
    arr['z'] = rng.uniform(-3, 5, n)
    kind = dict((f[0], f[1]) for f in fields)['intensity']
    if kind.startswith('f'):
        arr['intensity'] = rng.uniform(0, 255, n)
    else:
        arr['intensity'] = rng.integers(0, np.iinfo(np.dtype(kind)).max, n)
    offsets_s = np.sort(rng.uniform(0.0, 0.1, n))
    names = dict((f[0], f[1]) for f in fields)
    time_name = next((t for t in TIME_FIELD[meaning] if t in names), None)
    if meaning == 'after_s':
        arr[time_name] = offsets_s.astype(np.float32)
        t_after = arr[time_name].astype(np.float64)
    elif meaning == 'after_ns':
        arr[time_name] = np.round(offsets_s * 1e9).astype(np.uint32)
        t_after = arr[time_name].astype(np.float64) * 1e-9
    elif meaning == 'absolute_s':
        arr[time_name] = STAMP_S + offsets_s
        # The absolute stamps' whole seconds first, so that their fractions keep precision.
        whole = np.floor(arr[time_name])
        t_after = (whole - STAMP_SEC) + (arr[time_name] - whole) - STAMP_NSEC * 1e-9
    else:
        t_after = np.zeros(n)
    msg = TS.types[PC2](
        header=Header(stamp=Time(sec=STAMP_SEC, nanosec=STAMP_NSEC), frame_id='lidar_top'),
        height=1,
        width=n,
        fields=[PointField(name=f[0], offset=f[2], datatype=DATATYPE[f[1]], count=1)
                for f in fields],
        is_bigendian=big,
        point_step=step,
        row_step=step * n,
        data=np.frombuffer(arr.tobytes(), dtype=np.uint8),
        is_dense=True,
    )
    data = bytes(TS.serialize_cdr(msg, PC2, little_endian=True))
    points = [[float(arr['x'][i]), float(arr['y'][i]), float(arr['z'][i]),
               float(arr['intensity'][i]), float(t_after[i])] for i in range(n)]
    return {'layout': name, 'hex': data.hex(), 'points': points}


def main():
    rng = np.random.default_rng(20261207)
    out = [cloud(rng, *spec) for spec in LAYOUTS]
    json.dump(out, open(sys.argv[1], 'w'))
    print(f'wrote {len(out)} clouds')


if __name__ == '__main__':
    main()
