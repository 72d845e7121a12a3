"""A real ROS 2 peer (rclpy, Fast DDS) for the interop test.

usage: rclpy_peer.py publish SECONDS     publish sensor_msgs/Imu and PointCloud2 on the contract
                                         topics (every fifth cloud big-endian with float64
                                         x y z) and the vehicle's speed as nav_msgs/Odometry
                                         on /odom; print what was sent as JSON lines
       rclpy_peer.py subscribe SECONDS   print every nav_msgs/Odometry on /localization/odometry
                                         and diagnostic_msgs/DiagnosticArray on /diagnostics
                                         received, as JSON lines
"""

import json
import struct
import sys
import time

import rclpy
from rclpy.qos import qos_profile_sensor_data, QoSProfile, ReliabilityPolicy, HistoryPolicy
from sensor_msgs.msg import Imu, PointCloud2, PointField
from nav_msgs.msg import Odometry
from diagnostic_msgs.msg import DiagnosticArray


def emit(kind, **values):
    print(json.dumps({'kind': kind, **values}), flush=True)


def cloud_msg(sec, fields, step, layout, pts):
    """A dense PointCloud2 in `lidar_top` of `pts` packed with the struct `layout` (its first
    character gives the byte order), with `fields` [(name, offset, datatype)]."""
    cloud = PointCloud2()
    cloud.header.frame_id = 'lidar_top'
    cloud.header.stamp.sec = sec
    cloud.height = 1
    cloud.width = len(pts)
    cloud.fields = [PointField(name=nm, offset=o, datatype=dt, count=1) for nm, o, dt in fields]
    cloud.is_bigendian = layout.startswith('>')
    cloud.point_step = step
    cloud.row_step = step * len(pts)
    cloud.data = b''.join(struct.pack(layout, *p) for p in pts)
    cloud.is_dense = True
    return cloud


def publish(seconds):
    node = rclpy.create_node('rclpy_sensor_peer')
    imu_pub = node.create_publisher(Imu, '/sensors/imu', qos_profile_sensor_data)
    cloud_pub = node.create_publisher(PointCloud2, '/sensors/lidar/points', qos_profile_sensor_data)
    odom_pub = node.create_publisher(Odometry, '/odom', qos_profile_sensor_data)
    end = time.time() + seconds
    i = 0
    while time.time() < end:
        imu = Imu()
        imu.header.frame_id = 'imu_link'
        imu.header.stamp.sec = 1000 + i
        imu.header.stamp.nanosec = 500
        imu.angular_velocity.z = 0.01 * i
        imu.linear_acceleration.x = 0.5
        imu.linear_acceleration.z = 9.81
        imu_pub.publish(imu)
        emit('imu', sec=imu.header.stamp.sec, wz=imu.angular_velocity.z,
             ax=imu.linear_acceleration.x, az=imu.linear_acceleration.z)
        if i % 5 == 0:
            pts = [(1.0 + 0.01 * k, -2.0 + 0.004 * k, 0.5, float(k % 7)) for k in range(1000)]
            fields = [(nm, 4 * j, PointField.FLOAT32) for j, nm in enumerate(['x', 'y', 'z', 'intensity'])]
            cloud_pub.publish(cloud_msg(1000 + i, fields, 16, '<4f', pts))
            emit('cloud', sec=1000 + i, width=len(pts), first=list(pts[0]), last=list(pts[-1]))
        odom = Odometry()
        odom.header.frame_id = 'odom'
        odom.header.stamp.sec = 1000 + i
        odom.header.stamp.nanosec = 250
        odom.child_frame_id = 'base_link'
        odom.twist.twist.linear.x = 5.0 + 0.125 * i
        odom.twist.twist.angular.z = -0.015625 * i
        odom.twist.covariance[0] = 0.0025
        odom.twist.covariance[35] = 0.0001
        odom_pub.publish(odom)
        emit('odometry_sent', sec=odom.header.stamp.sec, vx=odom.twist.twist.linear.x,
             wz=odom.twist.twist.angular.z)
        if i % 5 == 2:
            # float64 x y z, float32 intensity, uint16 ring, 2 bytes of padding, big-endian.
            pts = [(-3.0 - 0.0123456789 * k, 4.0 + 0.001 * k, 1.25, float(k % 11), k % 32)
                   for k in range(500)]
            fields = [('x', 0, PointField.FLOAT64), ('y', 8, PointField.FLOAT64),
                      ('z', 16, PointField.FLOAT64), ('intensity', 24, PointField.FLOAT32),
                      ('ring', 28, PointField.UINT16)]
            cloud_pub.publish(cloud_msg(1000 + i, fields, 32, '>3dfH2x', pts))
            emit('cloud_be64', sec=1000 + i, width=len(pts), first=list(pts[0]),
                 last=list(pts[-1]))
        i += 1
        time.sleep(0.05)
    node.destroy_node()


def subscribe(seconds):
    node = rclpy.create_node('rclpy_output_peer')
    reliable = QoSProfile(reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST,
                          depth=50)

    def on_odom(m):
        p, v = m.pose.pose.position, m.twist.twist.linear
        emit('odometry', sec=m.header.stamp.sec, nanosec=m.header.stamp.nanosec,
             frame_id=m.header.frame_id, child_frame_id=m.child_frame_id,
             x=p.x, y=p.y, vx=v.x, qz=m.pose.pose.orientation.z, qw=m.pose.pose.orientation.w)

    def on_diag(m):
        emit('diagnostics', sec=m.header.stamp.sec,
             status=[{'level': int.from_bytes(s.level, 'little') if isinstance(s.level, bytes) else int(s.level),
                      'name': s.name, 'message': s.message, 'hardware_id': s.hardware_id,
                      'values': {kv.key: kv.value for kv in s.values}} for s in m.status])

    node.create_subscription(Odometry, '/localization/odometry', on_odom, reliable)
    node.create_subscription(DiagnosticArray, '/diagnostics', on_diag, reliable)
    end = time.time() + seconds
    while time.time() < end:
        rclpy.spin_once(node, timeout_sec=0.05)
    node.destroy_node()


def main():
    mode, seconds = sys.argv[1], float(sys.argv[2])
    rclpy.init()
    try:
        {'publish': publish, 'subscribe': subscribe}[mode](seconds)
    finally:
        rclpy.shutdown()


if __name__ == '__main__':
    main()
