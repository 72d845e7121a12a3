"""Bag oracle: the Python `rosbags` and `mcap` + `mcap-ros2-support` readers on our bags, and
`rosbags` writing bags for our reader.

usage:
  bag_oracle.py read BAG            -> JSON per topic: type, count, log times, sha256 of each
                                       payload as rosbags re-serialises it; asserts that
                                       mcap-ros2-support decodes every message to the same
                                       values as rosbags and counts the same.
  bag_oracle.py write OUT STORAGE N -> writes a rosbag2 bag (STORAGE = mcap | sqlite3) with
                                       the contract's topics, N messages each, and prints JSON
                                       of every message's values.
  bag_oracle.py write_humble OUT N  -> a bag with Humble's Range (no variance) and Imu.
  bag_oracle.py time BAG            -> seconds rosbags takes to read and deserialise BAG.
  bag_oracle.py time_write BAG OUT  -> seconds rosbags takes to write BAG's payloads to OUT.
"""

import array as py_array
import hashlib
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from cdr_oracle import TS, plain, rand_msg, same


def mcap_files(bag):
    bag = Path(bag)
    return sorted(bag.glob('*.mcap')) if bag.is_dir() else [bag]


def ns_plain(obj):
    """mcap-ros2-support's decoded messages (classes with __slots__) as plain data."""
    if isinstance(obj, (bytes, bytearray, py_array.array)):
        return list(obj)
    if isinstance(obj, (list, tuple)):
        return [ns_plain(x) for x in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    slots = getattr(type(obj), '__slots__', None)
    if slots:
        return {k: ns_plain(getattr(obj, k)) for k in slots if not k.startswith('_')}
    return {k: ns_plain(v) for k, v in vars(obj).items() if not k.startswith('_')}


def read(bag):
    topics = {}
    decoded = []
    with AnyReader([Path(bag)], default_typestore=get_typestore(Stores.ROS2_KILTED)) as reader:
        for conn, t, raw in reader.messages():
            msg = reader.deserialize(raw, conn.msgtype)
            again = bytes(reader.typestore.serialize_cdr(msg, conn.msgtype, little_endian=True))
            e = topics.setdefault(conn.topic, {'type': conn.msgtype, 'count': 0, 'log_times': [], 'sha256': []})
            e['count'] += 1
            e['log_times'].append(t)
            e['sha256'].append(hashlib.sha256(again).hexdigest())
            if conn.topic != '/sensors/lidar/points' or e['count'] <= 3:
                decoded.append((conn.topic, t, plain_any(reader.typestore, msg)))
    # mcap-ros2-support: independent decoder, driven by the schema text in the file.
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory
    counts = {}
    by_key = {(tp, t): v for tp, t, v in decoded}
    for f in mcap_files(bag):
        with open(f, 'rb') as fh:
            r = make_reader(fh, decoder_factories=[DecoderFactory()])
            for schema, channel, message, ros_msg in r.iter_decoded_messages():
                counts[channel.topic] = counts.get(channel.topic, 0) + 1
                key = (channel.topic, message.log_time)
                if key in by_key:
                    same(by_key[key], ns_plain(ros_msg), f'{channel.topic}@{message.log_time}')
    for topic, e in topics.items():
        assert counts.get(topic) == e['count'], f'{topic}: mcap counts {counts.get(topic)}, rosbags {e["count"]}'
    return {'topics': topics, 'mcap_counts': counts, 'compared_values': len(decoded)}


def plain_any(typestore, msg):
    _, fields = typestore.fielddefs[msg.__msgtype__]
    out = {}
    for name, _ in fields:
        v = getattr(msg, name)
        if hasattr(v, '__msgtype__'):
            out[name] = plain_any(typestore, v)
        elif isinstance(v, list):
            out[name] = [plain_any(typestore, x) if hasattr(x, '__msgtype__') else plain(x) for x in v]
        else:
            out[name] = plain(v)
    return out


CONTRACT = [
    ('/sensors/imu', 'sensor_msgs/msg/Imu'),
    ('/sensors/lidar/points', 'sensor_msgs/msg/PointCloud2'),
    ('/sensors/ultrasonic/rear_center/range', 'sensor_msgs/msg/Range'),
    ('/sensors/camera/front/camera_info', 'sensor_msgs/msg/CameraInfo'),
    ('/vehicle/twist', 'geometry_msgs/msg/TwistWithCovarianceStamped'),
    ('/tf_static', 'tf2_msgs/msg/TFMessage'),
    ('/localization/odometry', 'nav_msgs/msg/Odometry'),
    ('/diagnostics', 'diagnostic_msgs/msg/DiagnosticArray'),
    ('/hmi/request', 'std_msgs/msg/String'),
]


def write(out, storage, n):
    plugin = StoragePlugin.MCAP if storage == 'mcap' else StoragePlugin.SQLITE3
    rng = random.Random(7)
    values = []
    with Writer(Path(out), version=9, storage_plugin=plugin) as w:
        conns = {topic: w.add_connection(topic, typ, typestore=TS) for topic, typ in CONTRACT}
        t = 1_700_000_000_000_000_000
        for i in range(n):
            for topic, typ in CONTRACT:
                t += 1_000_000 + rng.randrange(1000)
                msg = rand_msg(rng, typ)
                w.write(conns[topic], t, bytes(TS.serialize_cdr(msg, typ, little_endian=True)))
                values.append({'topic': topic, 'type': typ, 'log_time': t, 'value': plain(msg)})
    return values


def write_humble(out, n):
    """A bag recorded with Humble's definitions (sensor_msgs/Range without variance)."""
    ts = get_typestore(Stores.ROS2_HUMBLE)
    rng = random.Random(11)
    values = []
    topics = [('/sensors/ultrasonic/rear_center/range', 'sensor_msgs/msg/Range'), ('/sensors/imu', 'sensor_msgs/msg/Imu')]
    assert 'variance' not in [f for f, _ in ts.fielddefs['sensor_msgs/msg/Range'][1]]
    with Writer(Path(out), version=9, storage_plugin=StoragePlugin.MCAP) as w:
        conns = {topic: w.add_connection(topic, typ, typestore=ts) for topic, typ in topics}
        t = 1_700_000_000_000_000_000
        for _ in range(n):
            for topic, typ in topics:
                t += 1_000_000
                msg = rand_msg(rng, typ, ts)
                w.write(conns[topic], t, bytes(ts.serialize_cdr(msg, typ, little_endian=True)))
                values.append({'topic': topic, 'log_time': t, 'value': plain_any(ts, msg)})
    return values


def timing(bag):
    start = time.perf_counter()
    n = 0
    nbytes = 0
    with AnyReader([Path(bag)], default_typestore=get_typestore(Stores.ROS2_KILTED)) as reader:
        for conn, t, raw in reader.messages():
            reader.deserialize(raw, conn.msgtype)
            n += 1
            nbytes += len(raw)
    return {'seconds': time.perf_counter() - start, 'messages': n, 'payload_bytes': nbytes}


def time_write(bag, out):
    """Seconds rosbags takes to write the payloads of BAG (read beforehand) to a new bag."""
    with AnyReader([Path(bag)], default_typestore=get_typestore(Stores.ROS2_KILTED)) as reader:
        conns = [(c.topic, c.msgtype, c.msgdef) for c in reader.connections]
        msgs = [(conn.topic, t, bytes(raw)) for conn, t, raw in reader.messages()]
        typestore = reader.typestore
    start = time.perf_counter()
    with Writer(Path(out), version=9, storage_plugin=StoragePlugin.MCAP) as w:
        ids = {topic: w.add_connection(topic, typ, typestore=typestore) for topic, typ, _ in conns}
        for topic, t, raw in msgs:
            w.write(ids[topic], t, raw)
    return {'seconds': time.perf_counter() - start, 'messages': len(msgs)}


def main():
    cmd = sys.argv[1]
    if cmd == 'read':
        print(json.dumps(read(sys.argv[2])))
    elif cmd == 'write':
        print(json.dumps(write(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
    elif cmd == 'write_humble':
        print(json.dumps(write_humble(sys.argv[2], int(sys.argv[3]))))
    elif cmd == 'time_write':
        print(json.dumps(time_write(sys.argv[2], sys.argv[3])))
    elif cmd == 'time':
        print(json.dumps(timing(sys.argv[2])))
    else:
        raise SystemExit(f'unknown command {cmd!r}')


if __name__ == '__main__':
    main()
