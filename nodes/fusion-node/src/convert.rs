//! ROS messages of the contract to the fusion library's types, and back.

use edgefuse_fusion::lidar::LabelledCloud;
use edgefuse_fusion::types::{
    Box3, CameraFrame, CameraModel, Detection2D, EgoState, ImuSample, LidarPoint, LidarScan,
    ObjectClass, RadarDetection, RadarScan, Track, Transform3, UltrasonicRange, WheelTwist,
};
use edgefuse_ingest::speed;
use edgefuse_msgs::edgefuse_msgs::{TrackedObject, TrackedObjectArray};
use edgefuse_msgs::geometry_msgs::{
    Point, Pose, PoseWithCovariance, Quaternion, Twist, TwistWithCovariance, Vector3,
};
use edgefuse_msgs::nav_msgs::Odometry;
use edgefuse_msgs::sensor_msgs::{CameraInfo, Imu, PointCloud2, PointField, Range};
use edgefuse_msgs::std_msgs::Header;
use edgefuse_msgs::{geometry_msgs, radar_msgs, vision_msgs};

/// Why a message cannot be converted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConvertError {
    /// A required field is missing or has the wrong layout.
    #[error("field '{field}': {reason}")]
    Field {
        /// The field (for PointCloud2: the point field name).
        field: String,
        /// What is wrong.
        reason: String,
    },
}

fn field_err(field: &str, reason: impl Into<String>) -> ConvertError {
    ConvertError::Field {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Nanoseconds of a header stamp.
pub fn stamp_ns(h: &Header) -> i64 {
    h.stamp.as_nanos()
}

/// Points dropped while converting a cloud, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CloudSkips {
    /// A coordinate was NaN or infinite.
    pub non_finite: u64,
}

/// The byte offset of a 4-byte field `name` of type `datatype`, `None` when absent.
fn field_reader(
    cloud: &PointCloud2,
    name: &'static str,
    datatype: u8,
    type_name: &str,
) -> Result<Option<usize>, ConvertError> {
    let expected = format!("{type_name} ({datatype})");
    Ok(numeric_field(cloud, name, &[datatype], &expected)?.map(|f| f.offset))
}

/// A cloud's point step and point count, when `data` holds that many points.
fn point_layout(cloud: &PointCloud2) -> Result<(usize, usize), ConvertError> {
    let step = cloud.point_step as usize;
    let n = (cloud.width as usize).saturating_mul(cloud.height as usize);
    if step == 0 || n.saturating_mul(step) > cloud.data.len() {
        return Err(field_err(
            "data",
            format!("{} bytes for {n} points of {step} bytes", cloud.data.len()),
        ));
    }
    Ok((step, n))
}

/// The 4-byte word at `off` of one point's bytes (the field readers checked that it fits the
/// point step), in the cloud's byte order.
fn word_at(point: &[u8], off: usize, big_endian: bool) -> u32 {
    // One bounds check for the four bytes.
    let b: [u8; 4] = point
        .get(off..off + 4)
        .and_then(|w| w.try_into().ok())
        .unwrap_or([0; 4]);
    if big_endian {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    }
}

/// A numeric point field: its name, byte offset and `PointField` datatype.
#[derive(Debug, Clone, Copy)]
struct NumericField {
    name: &'static str,
    offset: usize,
    datatype: u8,
}

impl NumericField {
    /// The field's value in one point's bytes (the field was checked to fit the point step),
    /// in the cloud's byte order.
    fn read(self, point: &[u8], big_endian: bool) -> f64 {
        let o = self.offset;
        let bytes = |n: usize| -> [u8; 8] {
            let mut b = [0u8; 8];
            b[..n].copy_from_slice(&point[o..o + n]);
            if big_endian {
                b[..n].reverse();
            }
            b
        };
        match self.datatype {
            PointField::INT8 => f64::from(point[o] as i8),
            PointField::UINT8 => f64::from(point[o]),
            PointField::INT16 => {
                let b = bytes(2);
                f64::from(i16::from_le_bytes([b[0], b[1]]))
            }
            PointField::UINT16 => {
                let b = bytes(2);
                f64::from(u16::from_le_bytes([b[0], b[1]]))
            }
            PointField::INT32 => f64::from(word_at(point, o, big_endian) as i32),
            PointField::UINT32 => f64::from(word_at(point, o, big_endian)),
            PointField::FLOAT32 => f64::from(f32::from_bits(word_at(point, o, big_endian))),
            _ => f64::from_le_bytes(bytes(8)),
        }
    }
}

/// The field `name` when present with one of `datatypes` (named in `expected` for the error).
fn numeric_field(
    cloud: &PointCloud2,
    name: &'static str,
    datatypes: &[u8],
    expected: &str,
) -> Result<Option<NumericField>, ConvertError> {
    let Some(f) = cloud.fields.iter().find(|f| f.name == name) else {
        return Ok(None);
    };
    if !datatypes.contains(&f.datatype) || f.count != 1 {
        return Err(field_err(
            name,
            format!(
                "datatype {} count {}, expected {expected} count 1",
                f.datatype, f.count
            ),
        ));
    }
    let offset = f.offset as usize;
    if offset + PointField::size_of(f.datatype) > cloud.point_step as usize {
        return Err(field_err(
            name,
            format!(
                "offset {offset} does not fit point_step {}",
                cloud.point_step
            ),
        ));
    }
    Ok(Some(NumericField {
        name,
        offset,
        datatype: f.datatype,
    }))
}

/// How a cloud carries each point's time, by field name and datatype, as the common drivers
/// write it.
#[derive(Debug, Clone, Copy)]
enum PointTime {
    /// None: every point at the header stamp.
    None,
    /// Seconds after the header stamp: FLOAT32 `t` (the topic contract), FLOAT32 `time`
    /// (velodyne_pointcloud).
    AfterStampS(NumericField),
    /// Nanoseconds after the header stamp: UINT32 `t` (ouster-ros), UINT32 `time_stamp`
    /// (Autoware's nebula, `PointXYZIRCAEDT`).
    AfterStampNs(NumericField),
    /// Absolute seconds: FLOAT64 `timestamp` (the Hesai ROS 2 driver); the header stamp is
    /// taken off.
    AbsoluteS(NumericField),
}

impl PointTime {
    /// The first of `t`, `time`, `time_stamp`, `timestamp` that the cloud has with a datatype
    /// its driver writes. The contract's `t` of another datatype is an error; the others of
    /// another datatype are passed over (as before they were read at all: no per-point time).
    fn of(cloud: &PointCloud2) -> Result<Self, ConvertError> {
        use PointField as F;
        if let Some(f) = numeric_field(cloud, "t", &[F::FLOAT32, F::UINT32], "FLOAT32 or UINT32")? {
            return Ok(if f.datatype == F::FLOAT32 {
                PointTime::AfterStampS(f)
            } else {
                PointTime::AfterStampNs(f)
            });
        }
        // Of one of `datatypes` (else passed over), and then within the point.
        let lenient = |name: &'static str, datatypes: &[u8], expected: &str| {
            let typed = cloud
                .fields
                .iter()
                .any(|f| f.name == name && datatypes.contains(&f.datatype));
            if typed {
                numeric_field(cloud, name, datatypes, expected)
            } else {
                Ok(None)
            }
        };
        if let Some(f) = lenient("time", &[F::FLOAT32, F::FLOAT64], "FLOAT32 or FLOAT64")? {
            return Ok(PointTime::AfterStampS(f));
        }
        if let Some(f) = lenient("time_stamp", &[F::UINT32], "UINT32")? {
            return Ok(PointTime::AfterStampNs(f));
        }
        if let Some(f) = lenient("timestamp", &[F::FLOAT64], "FLOAT64")? {
            return Ok(PointTime::AbsoluteS(f));
        }
        Ok(PointTime::None)
    }

    /// Refuses a cloud whose first point's time is not within `MAX_AFTER_STAMP_S` of the
    /// header stamp: the field is not in the unit its name and type say (a `timestamp` in
    /// nanoseconds, say), and every point would be placed seconds or years away.
    fn check(
        self,
        first_point: Option<&[u8]>,
        big_endian: bool,
        stamp_ns: i64,
    ) -> Result<(), ConvertError> {
        const MAX_AFTER_STAMP_S: f64 = 10.0;
        let (
            Some(p),
            PointTime::AfterStampS(f) | PointTime::AfterStampNs(f) | PointTime::AbsoluteS(f),
        ) = (first_point, self)
        else {
            return Ok(());
        };
        let t_s = f64::from(self.after_stamp_s(p, big_endian, stamp_ns));
        if t_s.is_finite() && t_s.abs() > MAX_AFTER_STAMP_S {
            let name = match self {
                PointTime::AfterStampS(_) => "seconds after the header stamp",
                PointTime::AfterStampNs(_) => "nanoseconds after the header stamp",
                _ => "absolute seconds",
            };
            return Err(field_err(
                f.name,
                format!("the first point is {t_s:.3e} s from the header stamp, read as {name}: not a time within {MAX_AFTER_STAMP_S} s of it"),
            ));
        }
        Ok(())
    }

    /// A point's time after the header stamp `stamp_ns`, s.
    fn after_stamp_s(self, point: &[u8], big_endian: bool, stamp_ns: i64) -> f32 {
        match self {
            PointTime::None => 0.0,
            PointTime::AfterStampS(f) => f.read(point, big_endian) as f32,
            PointTime::AfterStampNs(f) => (f.read(point, big_endian) * 1e-9) as f32,
            PointTime::AbsoluteS(f) => {
                // Whole seconds apart first, so that the fraction keeps its precision.
                let t_s = f.read(point, big_endian);
                let whole_s = t_s.floor();
                let stamp_whole_s = stamp_ns.div_euclid(1_000_000_000);
                let stamp_frac_s = stamp_ns.rem_euclid(1_000_000_000) as f64 * 1e-9;
                ((whole_s - stamp_whole_s as f64) + (t_s - whole_s) - stamp_frac_s) as f32
            }
        }
    }
}

/// `sensor_msgs/PointCloud2` to a scan: FLOAT32 (or FLOAT64) `x y z`; optional `intensity` (FLOAT32, or
/// the integer or FLOAT64 type some drivers write); each point's time from the field that the
/// common drivers write (see [`PointTime`]: the contract's FLOAT32 `t`, ouster-ros' UINT32 `t`,
/// velodyne's `time`, nebula's `time_stamp`, Hesai's absolute `timestamp`), else the header
/// stamp.
pub fn lidar_scan(
    cloud: &PointCloud2,
    base_from_sensor: Transform3,
) -> Result<(LidarScan, CloudSkips), ConvertError> {
    use PointField as F;
    let coordinate = |name: &'static str| {
        numeric_field(cloud, name, &[F::FLOAT32, F::FLOAT64], "FLOAT32 or FLOAT64")?
            .ok_or_else(|| field_err(name, "missing"))
    };
    let (x, y, z) = (coordinate("x")?, coordinate("y")?, coordinate("z")?);
    // The contract's FLOAT32 coordinates read as words; FLOAT64 ones (some drivers) rounded.
    let all_f32 = [x, y, z].iter().all(|f| f.datatype == F::FLOAT32);
    let intensity = numeric_field(
        cloud,
        "intensity",
        &[F::FLOAT32, F::FLOAT64, F::UINT8, F::UINT16, F::UINT32],
        "FLOAT32, FLOAT64, UINT8, UINT16 or UINT32",
    )?;
    let time = PointTime::of(cloud)?;
    let (step, n) = point_layout(cloud)?;
    let big = cloud.is_bigendian;
    let stamp = stamp_ns(&cloud.header);
    time.check(cloud.data.chunks_exact(step).take(n).next(), big, stamp)?;
    let read = |p: &[u8], f: NumericField| {
        if all_f32 {
            f32::from_bits(word_at(p, f.offset, big))
        } else {
            f.read(p, big) as f32
        }
    };
    let mut skips = CloudSkips::default();
    let mut points = Vec::with_capacity(n);
    for p in cloud.data.chunks_exact(step).take(n) {
        let pt = LidarPoint {
            x_m: read(p, x),
            y_m: read(p, y),
            z_m: read(p, z),
            intensity: intensity.map_or(0.0, |f| f.read(p, big) as f32),
            t_s: time.after_stamp_s(p, big, stamp),
        };
        if !(pt.x_m.is_finite() && pt.y_m.is_finite() && pt.z_m.is_finite() && pt.t_s.is_finite()) {
            skips.non_finite += 1;
            continue;
        }
        points.push(pt);
    }
    Ok((
        LidarScan {
            stamp_ns: stamp,
            points,
            base_from_sensor,
        },
        skips,
    ))
}

/// The `cluster` value of a ground point on `/perception/lidar/labelled_points`.
pub const LABEL_GROUND: i32 = -2;
/// The `cluster` value of a non-ground voxel in no kept cluster (noise, or a cluster dropped
/// for its size).
pub const LABEL_UNCLUSTERED: i32 = -1;

/// A sweep's labelled cloud as `sensor_msgs/PointCloud2` in `base_link` at the sweep's stamp:
/// float32 `x y z` and int32 `cluster` (the cluster index from 0, [`LABEL_GROUND`] for the
/// deskewed ground points, [`LABEL_UNCLUSTERED`] for the other non-ground voxel centroids).
/// Ground points come first, then the voxels.
pub fn labelled_cloud_msg(stamp_ns: i64, cloud: &LabelledCloud) -> PointCloud2 {
    let names = [
        ("x", PointField::FLOAT32),
        ("y", PointField::FLOAT32),
        ("z", PointField::FLOAT32),
        ("cluster", PointField::INT32),
    ];
    let n = cloud.ground_m.len() + cloud.voxels_m.len();
    let mut data = Vec::with_capacity(n * 16);
    let mut push = |p: &[f32; 3], label: i32| {
        for v in p {
            data.extend_from_slice(&v.to_le_bytes());
        }
        data.extend_from_slice(&label.to_le_bytes());
    };
    for p in &cloud.ground_m {
        push(p, LABEL_GROUND);
    }
    for (p, k) in cloud.voxels_m.iter().zip(&cloud.voxel_cluster) {
        let label = k
            .and_then(|k| i32::try_from(k).ok())
            .unwrap_or(LABEL_UNCLUSTERED);
        push(p, label);
    }
    PointCloud2 {
        header: Header::new(stamp_ns, "base_link"),
        height: 1,
        width: n as u32,
        fields: names
            .iter()
            .enumerate()
            .map(|(i, (name, datatype))| PointField {
                name: (*name).into(),
                offset: 4 * i as u32,
                datatype: *datatype,
                count: 1,
            })
            .collect(),
        is_bigendian: false,
        point_step: 16,
        row_step: 16 * n as u32,
        data,
        is_dense: true,
    }
}

/// A labelled cloud from `/perception/lidar/labelled_points` (any field order and point step,
/// either byte order): points labelled [`LABEL_GROUND`] are ground, the others voxels. A
/// missing or mistyped field, a short `data`, or a label below [`LABEL_GROUND`] is refused
/// with the field and the reason.
pub fn labelled_cloud(msg: &PointCloud2) -> Result<LabelledCloud, ConvertError> {
    let offset = |name: &'static str, datatype, type_name| {
        field_reader(msg, name, datatype, type_name)?.ok_or_else(|| field_err(name, "missing"))
    };
    let x = offset("x", PointField::FLOAT32, "FLOAT32")?;
    let y = offset("y", PointField::FLOAT32, "FLOAT32")?;
    let z = offset("z", PointField::FLOAT32, "FLOAT32")?;
    let label = offset("cluster", PointField::INT32, "INT32")?;
    let (step, n) = point_layout(msg)?;
    let word = |p: &[u8], off: usize| word_at(p, off, msg.is_bigendian);
    let mut out = LabelledCloud::default();
    for p in msg.data.chunks_exact(step).take(n) {
        let point = [x, y, z].map(|o| f32::from_bits(word(p, o)));
        match word(p, label) as i32 {
            LABEL_GROUND => out.ground_m.push(point),
            LABEL_UNCLUSTERED => {
                out.voxels_m.push(point);
                out.voxel_cluster.push(None);
            }
            k if k >= 0 => {
                out.voxels_m.push(point);
                out.voxel_cluster.push(Some(k as u32));
            }
            k => return Err(field_err("cluster", format!("label {k} is below -2"))),
        }
    }
    Ok(out)
}

/// `radar_msgs/RadarScan` to a scan.
pub fn radar_scan(msg: &radar_msgs::RadarScan, base_from_sensor: Transform3) -> RadarScan {
    RadarScan {
        stamp_ns: stamp_ns(&msg.header),
        detections: msg
            .returns
            .iter()
            .map(|r| RadarDetection {
                range_m: f64::from(r.range),
                azimuth_rad: f64::from(r.azimuth),
                elevation_rad: f64::from(r.elevation),
                doppler_mps: f64::from(r.doppler_velocity),
                amplitude_db: f64::from(r.amplitude),
            })
            .collect(),
        base_from_sensor,
    }
}

/// A detector's class string to a class (common COCO-style aliases included).
pub fn class_of(class_id: &str) -> ObjectClass {
    match class_id.to_ascii_lowercase().as_str() {
        "car" | "van" | "vehicle" => ObjectClass::Car,
        "truck" | "bus" | "trailer" => ObjectClass::Truck,
        "pedestrian" | "person" => ObjectClass::Pedestrian,
        "cyclist" | "bicycle" | "bicyclist" | "motorcycle" => ObjectClass::Cyclist,
        _ => ObjectClass::Unknown,
    }
}

/// `sensor_msgs/CameraInfo` (pinhole `k`) and the optical frame's mounting to a camera model.
pub fn camera_model(
    info: &CameraInfo,
    base_from_optical: Transform3,
) -> Result<CameraModel, ConvertError> {
    let k = info.k;
    if !(k[0] > 0.0 && k[4] > 0.0 && k.iter().all(|v| v.is_finite())) {
        return Err(field_err("k", format!("not a pinhole matrix: {k:?}")));
    }
    if info.width == 0 || info.height == 0 {
        return Err(field_err("width/height", "image size is zero"));
    }
    Ok(CameraModel {
        fx_px: k[0],
        fy_px: k[4],
        cx_px: k[2],
        cy_px: k[5],
        width_px: info.width,
        height_px: info.height,
        base_from_optical,
    })
}

/// `vision_msgs/Detection2DArray` to a camera frame (best hypothesis per detection).
pub fn camera_frame(msg: &vision_msgs::Detection2DArray, model: CameraModel) -> CameraFrame {
    CameraFrame {
        stamp_ns: stamp_ns(&msg.header),
        detections: msg
            .detections
            .iter()
            .map(|d| {
                let best = d
                    .results
                    .iter()
                    .max_by(|a, b| a.hypothesis.score.total_cmp(&b.hypothesis.score));
                Detection2D {
                    center_u_px: d.bbox.center.position.x,
                    center_v_px: d.bbox.center.position.y,
                    width_px: d.bbox.size_x,
                    height_px: d.bbox.size_y,
                    class: best.map_or(ObjectClass::Unknown, |h| class_of(&h.hypothesis.class_id)),
                    score: best.map_or(0.0, |h| h.hypothesis.score),
                }
            })
            .collect(),
        model,
    }
}

/// `sensor_msgs/Range` to an ultrasonic reading of sensor `index`.
pub fn ultrasonic(msg: &Range, index: u8, base_from_sensor: Transform3) -> UltrasonicRange {
    UltrasonicRange {
        stamp_ns: stamp_ns(&msg.header),
        sensor: index,
        range_m: f64::from(msg.range),
        min_range_m: f64::from(msg.min_range),
        max_range_m: f64::from(msg.max_range),
        field_of_view_rad: f64::from(msg.field_of_view),
        base_from_sensor,
    }
}

/// `sensor_msgs/Imu` to a sample.
pub fn imu(msg: &Imu, base_from_imu: Transform3) -> ImuSample {
    let v = |v: &Vector3| nalgebra::Vector3::new(v.x, v.y, v.z);
    ImuSample {
        stamp_ns: stamp_ns(&msg.header),
        gyro_radps: v(&msg.angular_velocity),
        accel_mps2: v(&msg.linear_acceleration),
        base_from_imu,
    }
}

/// `geometry_msgs/TwistWithCovarianceStamped` (in `base_link`) to wheel odometry.
pub fn wheel_twist(msg: &geometry_msgs::TwistWithCovarianceStamped) -> WheelTwist {
    wheel_twist_of(&msg.header, &msg.twist)
}

/// The wheel odometry of a `nav_msgs/Odometry` (its twist, in its child frame, the vehicle's
/// `base_link` as REP 105 has it), for vehicles that publish their speed so.
pub fn wheel_twist_from_odometry(msg: &Odometry) -> WheelTwist {
    wheel_twist(&speed::from_odometry(msg))
}

/// The wheel odometry of a `geometry_msgs/TwistStamped` (no variances: the defaults of a
/// twist without them apply).
pub fn wheel_twist_from_twist_stamped(msg: &geometry_msgs::TwistStamped) -> WheelTwist {
    wheel_twist(&speed::from_twist_stamped(msg))
}

/// The wheel odometry of an Autoware `VelocityReport` (longitudinal speed and heading rate in
/// `base_link`; it carries no variances, so the defaults of a twist without them apply).
pub fn wheel_twist_from_velocity_report(
    msg: &edgefuse_msgs::autoware_vehicle_msgs::VelocityReport,
) -> WheelTwist {
    wheel_twist(&speed::from_velocity_report(msg))
}

fn wheel_twist_of(header: &Header, twist: &TwistWithCovariance) -> WheelTwist {
    let c = &twist.covariance;
    WheelTwist {
        stamp_ns: stamp_ns(header),
        speed_mps: twist.twist.linear.x,
        yaw_rate_radps: twist.twist.angular.z,
        speed_var: if c[0] > 0.0 { c[0] } else { 0.05 * 0.05 },
        yaw_rate_var: if c[35] > 0.0 { c[35] } else { 0.01 * 0.01 },
    }
}

/// The ego estimate as `nav_msgs/Odometry` (`odom` -> `base_link`).
pub fn odometry(ego: &EgoState) -> Odometry {
    let mut pose_cov = [0.0; 36];
    pose_cov[0] = ego.variances[0];
    pose_cov[7] = ego.variances[1];
    pose_cov[35] = ego.variances[2];
    let mut twist_cov = [0.0; 36];
    twist_cov[0] = ego.variances[3];
    twist_cov[35] = ego.variances[4];
    Odometry {
        header: Header::new(ego.stamp_ns, "odom"),
        child_frame_id: "base_link".into(),
        pose: PoseWithCovariance {
            pose: Pose {
                position: Point {
                    x: ego.x_m,
                    y: ego.y_m,
                    z: 0.0,
                },
                orientation: Quaternion::from_yaw(ego.yaw_rad),
            },
            covariance: pose_cov,
        },
        twist: TwistWithCovariance {
            twist: Twist {
                linear: Vector3 {
                    x: ego.speed_mps,
                    y: 0.0,
                    z: 0.0,
                },
                angular: Vector3 {
                    x: 0.0,
                    y: 0.0,
                    z: ego.yaw_rate_radps,
                },
            },
            covariance: twist_cov,
        },
    }
}

/// Confirmed tracks as `edgefuse_msgs/TrackedObjectArray` in `odom`.
pub fn tracked_objects(stamp_ns: i64, tracks: &[Track]) -> TrackedObjectArray {
    TrackedObjectArray {
        header: Header::new(stamp_ns, "odom"),
        objects: tracks
            .iter()
            .map(|t| {
                let c = &t.covariance;
                let mut pose_cov = [0.0; 36];
                pose_cov[0] = c[0];
                pose_cov[1] = c[1];
                pose_cov[6] = c[4];
                pose_cov[7] = c[5];
                let mut twist_cov = [0.0; 36];
                twist_cov[0] = c[10];
                twist_cov[1] = c[11];
                twist_cov[6] = c[14];
                twist_cov[7] = c[15];
                TrackedObject {
                    id: t.id,
                    classification: t.class.code(),
                    existence_probability: t.existence as f32,
                    pose: PoseWithCovariance {
                        pose: Pose {
                            position: Point {
                                x: t.shape.x_m,
                                y: t.shape.y_m,
                                z: t.shape.z_m,
                            },
                            orientation: Quaternion::from_yaw(t.shape.yaw_rad),
                        },
                        covariance: pose_cov,
                    },
                    size: Vector3 {
                        x: t.shape.length_m,
                        y: t.shape.width_m,
                        z: t.shape.height_m,
                    },
                    twist: TwistWithCovariance {
                        twist: Twist {
                            linear: Vector3 {
                                x: t.vx_mps,
                                y: t.vy_mps,
                                z: 0.0,
                            },
                            angular: Vector3 {
                                x: 0.0,
                                y: 0.0,
                                z: t.yaw_rate_radps,
                            },
                        },
                        covariance: twist_cov,
                    },
                }
            })
            .collect(),
    }
}

/// A ground-truth object's box (for scoring).
pub fn truth_box(o: &TrackedObject) -> Box3 {
    let p = &o.pose.pose;
    Box3 {
        x_m: p.position.x,
        y_m: p.position.y,
        z_m: p.position.z,
        yaw_rad: p.orientation.yaw_rad(),
        length_m: o.size.x,
        width_m: o.size.y,
        height_m: o.size.z,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgefuse_msgs::RosMessage;

    fn cloud(points: &[[f32; 5]]) -> PointCloud2 {
        let names = ["x", "y", "z", "intensity", "t"];
        PointCloud2 {
            header: Header::new(5, "lidar_top"),
            height: 1,
            width: points.len() as u32,
            fields: names
                .iter()
                .enumerate()
                .map(|(i, n)| PointField {
                    name: (*n).into(),
                    offset: 4 * i as u32,
                    datatype: PointField::FLOAT32,
                    count: 1,
                })
                .collect(),
            is_bigendian: false,
            point_step: 20,
            row_step: 20 * points.len() as u32,
            data: points
                .iter()
                .flat_map(|p| p.iter().flat_map(|v| v.to_le_bytes()))
                .collect(),
            is_dense: false,
        }
    }

    #[test]
    fn labelled_clouds_survive_the_message_and_bad_ones_are_refused() {
        let cloud = LabelledCloud {
            ground_m: vec![[1.0, 2.0, -0.1], [3.0, -4.0, 0.05]],
            voxels_m: vec![[10.0, 0.5, 1.0], [10.2, 0.6, 1.2], [-7.0, 3.0, 0.4]],
            voxel_cluster: vec![Some(0), None, Some(3)],
        };
        let msg = labelled_cloud_msg(42, &cloud);
        assert_eq!((msg.width, msg.point_step, msg.data.len()), (5, 16, 80));
        assert_eq!(msg.header.frame_id, "base_link");
        let msg = PointCloud2::decode(&msg.encode().unwrap()).unwrap();
        assert_eq!(labelled_cloud(&msg).unwrap(), cloud);
        // Big-endian data with the label first and padding reads the same.
        let mut be = msg.clone();
        be.is_bigendian = true;
        be.point_step = 20;
        for f in &mut be.fields {
            f.offset = if f.name == "cluster" { 0 } else { f.offset + 4 };
        }
        be.data = msg
            .data
            .chunks_exact(16)
            .flat_map(|p| {
                let w = |i: usize| [p[i + 3], p[i + 2], p[i + 1], p[i]];
                [w(12), w(0), w(4), w(8), [0; 4]].concat()
            })
            .collect();
        assert_eq!(labelled_cloud(&be).unwrap(), cloud);
        let mut no_label = msg.clone();
        no_label.fields.pop();
        let e = labelled_cloud(&no_label).unwrap_err().to_string();
        assert!(e.contains("'cluster': missing"), "{e}");
        let mut float_label = msg.clone();
        float_label.fields[3].datatype = PointField::FLOAT32;
        let e = labelled_cloud(&float_label).unwrap_err().to_string();
        assert!(e.contains("INT32"), "{e}");
        let mut bad = msg.clone();
        bad.data[12..16].copy_from_slice(&(-5i32).to_le_bytes());
        let e = labelled_cloud(&bad).unwrap_err().to_string();
        assert!(e.contains("-5"), "{e}");
        let mut short = msg;
        short.data.truncate(70);
        assert!(labelled_cloud(&short).is_err());
    }

    #[test]
    fn cloud_fields_are_read_by_name_and_bad_points_counted() {
        let c = cloud(&[
            [1.0, 2.0, 3.0, 4.0, 0.05],
            [f32::NAN, 0.0, 0.0, 0.0, 0.0],
            [-1.0, -2.0, -3.0, 9.0, 0.09],
        ]);
        let c = PointCloud2::decode(&c.encode().unwrap()).unwrap();
        let (scan, skips) = lidar_scan(&c, Transform3::identity()).unwrap();
        assert_eq!(skips.non_finite, 1);
        assert_eq!(scan.points.len(), 2);
        assert_eq!(
            scan.points[1],
            LidarPoint {
                x_m: -1.0,
                y_m: -2.0,
                z_m: -3.0,
                intensity: 9.0,
                t_s: 0.09
            }
        );
        let mut bad = c.clone();
        bad.fields[2].datatype = PointField::INT32;
        let e = lidar_scan(&bad, Transform3::identity())
            .unwrap_err()
            .to_string();
        assert!(e.contains("'z'") && e.contains("FLOAT32 or FLOAT64"), "{e}");
        // A time field of a type no driver writes is refused, naming what is read.
        let mut bad_time = c.clone();
        bad_time.fields[4].datatype = PointField::INT16;
        let e = lidar_scan(&bad_time, Transform3::identity())
            .unwrap_err()
            .to_string();
        assert!(e.contains("'t'") && e.contains("FLOAT32 or UINT32"), "{e}");
        // One whose 8 bytes run past the point step too.
        let mut past_step = c.clone();
        past_step.fields[4].name = "timestamp".into();
        past_step.fields[4].datatype = PointField::FLOAT64;
        let e = lidar_scan(&past_step, Transform3::identity())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("'timestamp'") && e.contains("point_step 20"),
            "{e}"
        );
        // A `timestamp` in nanoseconds where absolute seconds are read: refused, not placed
        // years away; a `time` of a type no driver writes is passed over (no per-point time).
        let stamped = |value: f64, name: &str, datatype: u8| {
            let mut cloud = c.clone();
            cloud.fields.truncate(3);
            cloud.fields.push(PointField {
                name: name.into(),
                offset: 12,
                datatype,
                count: 1,
            });
            cloud.data = (0..cloud.width)
                .flat_map(|_| {
                    [1.0f32, 2.0, 3.0]
                        .iter()
                        .flat_map(|v| v.to_le_bytes())
                        .chain(value.to_le_bytes())
                        .collect::<Vec<u8>>()
                })
                .collect();
            lidar_scan(&cloud, Transform3::identity())
        };
        let stamp_s = 5e-9;
        assert!(
            (stamped(stamp_s + 0.05, "timestamp", PointField::FLOAT64)
                .unwrap()
                .0
                .points[0]
                .t_s
                - 0.05)
                .abs()
                < 1e-6
        );
        let e = stamped(1.7e18, "timestamp", PointField::FLOAT64)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("'timestamp'") && e.contains("absolute seconds"),
            "{e}"
        );
        let (passed_over, _) = stamped(0.05, "time", PointField::INT16).unwrap();
        assert!(passed_over.points.iter().all(|p| p.t_s == 0.0));
        let mut short = c;
        short.data.truncate(30);
        let e = lidar_scan(&short, Transform3::identity())
            .unwrap_err()
            .to_string();
        assert!(e.contains("data"), "{e}");
    }
}
