"""Publish-to-receive latency of a PointCloud2 between two rclpy nodes (Fast DDS) in one
process, the rclpy side of tests/benches/transport_latency.rs.

usage: rclpy_latency.py POINTS COUNT RATE_HZ
Prints JSON: received, p50_ms, p99_ms, max_ms (latency = receive time - header stamp, both
time.time_ns()).
"""

import json
import sys
import threading
import time

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy, HistoryPolicy
from sensor_msgs.msg import PointCloud2, PointField


def main():
    points, count, rate = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    rclpy.init()
    qos = QoSProfile(reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST,
                     depth=10)
    pub_node = rclpy.create_node('latency_pub')
    sub_node = rclpy.create_node('latency_sub')
    lat = []

    def on_cloud(m):
        now = time.time_ns()
        lat.append(now - (m.header.stamp.sec * 1_000_000_000 + m.header.stamp.nanosec))

    sub_node.create_subscription(PointCloud2, '/bench/points', on_cloud, qos)
    pub = pub_node.create_publisher(PointCloud2, '/bench/points', qos)
    ex = SingleThreadedExecutor()
    ex.add_node(sub_node)
    spin = threading.Thread(target=ex.spin, daemon=True)
    spin.start()
    cloud = PointCloud2()
    cloud.header.frame_id = 'lidar_top'
    cloud.height, cloud.width = 1, points
    cloud.fields = [PointField(name=n, offset=4 * i, datatype=PointField.FLOAT32, count=1)
                    for i, n in enumerate(['x', 'y', 'z', 'intensity'])]
    cloud.point_step, cloud.row_step = 16, 16 * points
    cloud.data = bytes(range(256)) * (16 * points // 256) + bytes(16 * points % 256)
    deadline = time.time() + 10
    while pub.get_subscription_count() == 0 and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    for _ in range(count):
        t = time.time_ns()
        cloud.header.stamp.sec, cloud.header.stamp.nanosec = divmod(t, 1_000_000_000)
        pub.publish(cloud)
        time.sleep(1.0 / rate)
    time.sleep(1.0)
    ex.shutdown()
    lat.sort()
    pick = lambda p: lat[round((len(lat) - 1) * p)] / 1e6 if lat else None
    print(json.dumps({'received': len(lat), 'p50_ms': pick(0.5), 'p99_ms': pick(0.99),
                      'max_ms': pick(1.0)}))
    rclpy.shutdown()


if __name__ == '__main__':
    main()
