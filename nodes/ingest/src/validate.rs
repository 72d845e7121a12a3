//! Validation and normalisation of sensor messages: pure functions, no transport.
//!
//! Each returns the message to forward (cleaned) with what it dropped, or a [`Reject`] naming
//! why the whole message is refused. Reasons are static strings so they can be counted.

use edgefuse_msgs::geometry_msgs::TwistWithCovarianceStamped;
use edgefuse_msgs::radar_msgs::RadarScan;
use edgefuse_msgs::sensor_msgs::{CameraInfo, Imu, PointCloud2, PointField, Range};
use edgefuse_msgs::vision_msgs::Detection2DArray;

/// Why a message is refused as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, thiserror::Error)]
#[error("{0}")]
pub struct Reject(pub &'static str);

/// Plausibility limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Closest valid return, m.
    pub min_range_m: f64,
    /// Farthest valid return, m.
    pub max_range_m: f64,
    /// Largest plausible |acceleration| per axis, m/s^2.
    pub max_abs_accel_mps2: f64,
    /// Largest plausible |angular rate| per axis, rad/s.
    pub max_abs_gyro_radps: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            min_range_m: 0.3,
            max_range_m: 250.0,
            max_abs_accel_mps2: 160.0,
            max_abs_gyro_radps: 35.0,
        }
    }
}

fn frame_ok(frame_id: &str) -> Result<(), Reject> {
    if frame_id.trim().is_empty() {
        Err(Reject("empty frame_id"))
    } else {
        Ok(())
    }
}

/// Points kept and dropped by [`clean_cloud`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CloudCounts {
    /// Points forwarded.
    pub kept: usize,
    /// Points with a non-finite x, y or z.
    pub non_finite: usize,
    /// Points outside `[min_range_m, max_range_m]` from the sensor.
    pub out_of_range: usize,
}

/// A big-endian cloud's bytes in little-endian order: every element of every field reversed
/// (bytes outside the fields, padding, as they are). The fields were checked to lie inside
/// the point; one of an unknown datatype cannot be reordered and refuses the cloud.
fn little_endian_data(cloud: &PointCloud2) -> Result<Vec<u8>, Reject> {
    // (offset, element size, element count) per field: bounded by the message's field list,
    // while the elements are visited point by point, so never more than the data holds.
    let mut fields: Vec<(usize, usize, usize)> = Vec::with_capacity(cloud.fields.len());
    for f in &cloud.fields {
        let size = PointField::size_of(f.datatype);
        if size == 0 {
            return Err(Reject("big-endian cloud with a field of unknown datatype"));
        }
        fields.push((f.offset as usize, size, f.count as usize));
    }
    let (step, w) = (cloud.point_step as usize, cloud.width as usize);
    let row = cloud.row_step as usize;
    let mut data = cloud.data.clone();
    for r in 0..cloud.height as usize {
        let points = &mut data[r * row..r * row + w * step];
        for p in points.chunks_exact_mut(step) {
            for &(o, size, count) in &fields {
                for e in p[o..o + size * count].chunks_exact_mut(size) {
                    e.reverse();
                }
            }
        }
    }
    Ok(data)
}

/// Checks a cloud's layout (FLOAT32 or FLOAT64 `x y z`, every field inside the point and
/// none overlapping another, data size) and drops points that are non-finite or out of range; the result is
/// dense (`height` 1) and little-endian (a big-endian cloud's fields are reordered), with the
/// input's fields.
pub fn clean_cloud(
    cloud: &PointCloud2,
    limits: &Limits,
) -> Result<(PointCloud2, CloudCounts), Reject> {
    frame_ok(&cloud.header.frame_id)?;
    let step = cloud.point_step as usize;
    if cloud
        .fields
        .iter()
        .any(|f| f.offset as usize + PointField::size_of(f.datatype) * f.count as usize > step)
    {
        return Err(Reject("field outside the point"));
    }
    let mut spans: Vec<(usize, usize)> = cloud
        .fields
        .iter()
        .map(|f| {
            let o = f.offset as usize;
            (o, o + PointField::size_of(f.datatype) * f.count as usize)
        })
        .collect();
    spans.sort_unstable();
    if spans.windows(2).any(|w| w[1].0 < w[0].1) {
        return Err(Reject("fields overlap"));
    }
    let coordinate = |name: &str| -> Result<(usize, u8), Reject> {
        let f = cloud
            .fields
            .iter()
            .find(|f| f.name == name)
            .ok_or(Reject("missing x, y or z field"))?;
        if !matches!(f.datatype, PointField::FLOAT32 | PointField::FLOAT64) || f.count != 1 {
            return Err(Reject("x, y or z is not FLOAT32 or FLOAT64"));
        }
        Ok((f.offset as usize, f.datatype))
    };
    let xyz = [coordinate("x")?, coordinate("y")?, coordinate("z")?];
    let (w, h) = (cloud.width as usize, cloud.height as usize);
    let row = cloud.row_step as usize;
    if step == 0 || row < w.saturating_mul(step) || cloud.data.len() != row.saturating_mul(h) {
        return Err(Reject("data size does not match width, height and steps"));
    }
    let reordered;
    let bytes: &[u8] = if cloud.is_bigendian {
        reordered = little_endian_data(cloud)?;
        &reordered
    } else {
        &cloud.data
    };
    let mut data = Vec::with_capacity(w * h * step);
    let mut counts = CloudCounts::default();
    let (min2, max2) = (limits.min_range_m.powi(2), limits.max_range_m.powi(2));
    // A coordinate of one point (little-endian now; the field fits the point).
    let read = |p: &[u8], (o, datatype): (usize, u8)| -> f64 {
        if datatype == PointField::FLOAT32 {
            let mut b = [0u8; 4];
            b.copy_from_slice(&p[o..o + 4]);
            f64::from(f32::from_le_bytes(b))
        } else {
            let mut b = [0u8; 8];
            b.copy_from_slice(&p[o..o + 8]);
            f64::from_le_bytes(b)
        }
    };
    for r in 0..h {
        let row_bytes = &bytes[r * row..r * row + w * step];
        for p in row_bytes.chunks_exact(step) {
            let [x, y, z] = xyz.map(|c| read(p, c));
            if !(x.is_finite() && y.is_finite() && z.is_finite()) {
                counts.non_finite += 1;
                continue;
            }
            let d2 = x * x + y * y + z * z;
            if d2 < min2 || d2 > max2 {
                counts.out_of_range += 1;
                continue;
            }
            data.extend_from_slice(p);
            counts.kept += 1;
        }
    }
    let kept = u32::try_from(counts.kept).map_err(|_| Reject("too many points"))?;
    Ok((
        PointCloud2 {
            header: cloud.header.clone(),
            height: 1,
            width: kept,
            fields: cloud.fields.clone(),
            is_bigendian: false,
            point_step: cloud.point_step,
            row_step: kept * cloud.point_step,
            data,
            is_dense: true,
        },
        counts,
    ))
}

/// Drops radar returns that are non-finite, at a negative or implausible range, or behind the
/// sensor (|azimuth| > 90 deg); returns the scan and the number dropped.
pub fn clean_radar(scan: &RadarScan, limits: &Limits) -> Result<(RadarScan, usize), Reject> {
    frame_ok(&scan.header.frame_id)?;
    let mut out = RadarScan {
        header: scan.header.clone(),
        returns: Vec::with_capacity(scan.returns.len()),
    };
    for r in &scan.returns {
        let finite = [
            r.range,
            r.azimuth,
            r.elevation,
            r.doppler_velocity,
            r.amplitude,
        ]
        .iter()
        .all(|v| v.is_finite());
        let range = f64::from(r.range);
        if finite
            && range >= limits.min_range_m
            && range <= limits.max_range_m
            && r.azimuth.abs() <= std::f32::consts::FRAC_PI_2
        {
            out.returns.push(*r);
        }
    }
    let dropped = scan.returns.len() - out.returns.len();
    Ok((out, dropped))
}

/// Checks a camera's intrinsics: an image size and positive focal lengths.
pub fn check_camera_info(info: &CameraInfo) -> Result<(), Reject> {
    frame_ok(&info.header.frame_id)?;
    let (fx, fy) = (info.k[0], info.k[4]);
    if info.width == 0 || info.height == 0 {
        return Err(Reject("zero image size"));
    }
    let focal_ok = fx.is_finite() && fy.is_finite() && fx > 0.0 && fy > 0.0;
    if !focal_ok || info.k.iter().any(|v| !v.is_finite()) {
        return Err(Reject("focal length not positive or K not finite"));
    }
    Ok(())
}

/// Drops 2D boxes that are non-finite, empty, or whose centre lies outside the image
/// (`image` = width, height in pixels, when camera_info has been seen).
pub fn clean_detections(
    det: &Detection2DArray,
    image: Option<(u32, u32)>,
) -> Result<(Detection2DArray, usize), Reject> {
    frame_ok(&det.header.frame_id)?;
    let mut out = Detection2DArray {
        header: det.header.clone(),
        detections: Vec::with_capacity(det.detections.len()),
    };
    for d in &det.detections {
        let b = &d.bbox;
        let (cx, cy) = (b.center.position.x, b.center.position.y);
        let ok = [cx, cy, b.size_x, b.size_y].iter().all(|v| v.is_finite())
            && b.size_x > 0.0
            && b.size_y > 0.0
            && image.is_none_or(|(w, h)| {
                (0.0..=f64::from(w)).contains(&cx) && (0.0..=f64::from(h)).contains(&cy)
            });
        if ok {
            out.detections.push(d.clone());
        }
    }
    let dropped = det.detections.len() - out.detections.len();
    Ok((out, dropped))
}

/// Checks an ultrasonic range (REP 117: `+inf` means nothing in range, `-inf` too close).
pub fn check_range(r: &Range) -> Result<(), Reject> {
    frame_ok(&r.header.frame_id)?;
    if r.range.is_nan() {
        return Err(Reject("range is NaN"));
    }
    if !(r.min_range.is_finite() && r.max_range.is_finite() && r.min_range <= r.max_range) {
        return Err(Reject("bad min_range/max_range"));
    }
    if r.range.is_finite() && (r.range < r.min_range || r.range > r.max_range) {
        return Err(Reject("range outside min_range..max_range"));
    }
    Ok(())
}

/// Checks an IMU sample: finite, and within the plausibility limits.
pub fn check_imu(imu: &Imu, limits: &Limits) -> Result<(), Reject> {
    frame_ok(&imu.header.frame_id)?;
    let a = &imu.linear_acceleration;
    let w = &imu.angular_velocity;
    let all = [a.x, a.y, a.z, w.x, w.y, w.z];
    if !all.iter().all(|v| v.is_finite()) {
        return Err(Reject("non-finite acceleration or rate"));
    }
    if [a.x, a.y, a.z]
        .iter()
        .any(|v| v.abs() > limits.max_abs_accel_mps2)
    {
        return Err(Reject("acceleration beyond limit"));
    }
    if [w.x, w.y, w.z]
        .iter()
        .any(|v| v.abs() > limits.max_abs_gyro_radps)
    {
        return Err(Reject("angular rate beyond limit"));
    }
    Ok(())
}

/// Checks a wheel twist: finite.
pub fn check_twist(t: &TwistWithCovarianceStamped) -> Result<(), Reject> {
    let tw = &t.twist.twist;
    let all = [
        tw.linear.x,
        tw.linear.y,
        tw.linear.z,
        tw.angular.x,
        tw.angular.y,
        tw.angular.z,
    ];
    if all.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(Reject("non-finite twist"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn cloud(points: &[[f32; 3]]) -> PointCloud2 {
        let mut data = Vec::new();
        for p in points {
            for v in p {
                data.extend_from_slice(&v.to_le_bytes());
            }
            data.extend_from_slice(&5.0f32.to_le_bytes());
        }
        let field = |name: &str, offset| PointField {
            name: name.into(),
            offset,
            datatype: PointField::FLOAT32,
            count: 1,
        };
        let mut c = PointCloud2 {
            height: 1,
            width: points.len() as u32,
            fields: vec![
                field("x", 0),
                field("y", 4),
                field("z", 8),
                field("intensity", 12),
            ],
            point_step: 16,
            row_step: 16 * points.len() as u32,
            data,
            ..PointCloud2::default()
        };
        c.header.frame_id = "lidar_top".into();
        c
    }

    #[test]
    fn cloud_drops_bad_points_and_keeps_the_layout() {
        let c = cloud(&[
            [1.0, 2.0, 0.5],
            [f32::NAN, 0.0, 0.0],
            [0.01, 0.0, 0.0],
            [f32::INFINITY, 1.0, 1.0],
            [300.0, 0.0, 0.0],
            [-5.0, 3.0, 1.0],
        ]);
        let (out, counts) = clean_cloud(&c, &Limits::default()).unwrap();
        assert_eq!(
            counts,
            CloudCounts {
                kept: 2,
                non_finite: 2,
                out_of_range: 2
            }
        );
        assert_eq!(out.width, 2);
        assert_eq!(out.data.len(), 32);
        assert_eq!(&out.data[..16], &c.data[..16]);
        assert_eq!(&out.data[16..], &c.data[80..]);
        let mut bad = c.clone();
        bad.data.pop();
        assert_eq!(
            clean_cloud(&bad, &Limits::default()).unwrap_err().0,
            "data size does not match width, height and steps"
        );
        let mut bad = c.clone();
        bad.fields[2].datatype = PointField::FLOAT64;
        assert_eq!(
            clean_cloud(&bad, &Limits::default()).unwrap_err().0,
            "fields overlap"
        );
        let mut bad = c;
        bad.header.frame_id.clear();
        assert_eq!(
            clean_cloud(&bad, &Limits::default()).unwrap_err().0,
            "empty frame_id"
        );
    }

    /// A cloud as some drivers write it: FLOAT64 `x y z`, FLOAT32 intensity, UINT16 ring, two
    /// bytes of padding (32-byte points), in either byte order.
    fn wide_cloud(points: &[[f64; 3]], big_endian: bool) -> PointCloud2 {
        let mut data = Vec::new();
        for (k, p) in points.iter().enumerate() {
            let (intensity, ring) = (k as f32 * 1.5, k as u16 * 3 + 1);
            if big_endian {
                p.iter()
                    .for_each(|v| data.extend_from_slice(&v.to_be_bytes()));
                data.extend_from_slice(&intensity.to_be_bytes());
                data.extend_from_slice(&ring.to_be_bytes());
            } else {
                p.iter()
                    .for_each(|v| data.extend_from_slice(&v.to_le_bytes()));
                data.extend_from_slice(&intensity.to_le_bytes());
                data.extend_from_slice(&ring.to_le_bytes());
            }
            data.extend_from_slice(&[0xAB, 0xCD]);
        }
        let field = |name: &str, offset, datatype| PointField {
            name: name.into(),
            offset,
            datatype,
            count: 1,
        };
        let mut c = PointCloud2 {
            height: 1,
            width: points.len() as u32,
            fields: vec![
                field("x", 0, PointField::FLOAT64),
                field("y", 8, PointField::FLOAT64),
                field("z", 16, PointField::FLOAT64),
                field("intensity", 24, PointField::FLOAT32),
                field("ring", 28, PointField::UINT16),
            ],
            is_bigendian: big_endian,
            point_step: 32,
            row_step: 32 * points.len() as u32,
            data,
            ..PointCloud2::default()
        };
        c.header.frame_id = "lidar_top".into();
        c
    }

    #[test]
    fn a_big_endian_cloud_of_float64_coordinates_is_forwarded_little_endian() {
        let points = [
            [1.0, 2.0, 0.5],
            [f64::NAN, 0.0, 0.0],
            [-5.25, 3.0, 1.0e-3],
            [300.0, 0.0, 0.0],
            [12.345_678_901_234, -0.1, 2.0],
        ];
        let kept = [points[0], points[2], points[4]];
        let limits = Limits::default();
        let (out, counts) = clean_cloud(&wide_cloud(&points, true), &limits).unwrap();
        assert_eq!(
            (counts.kept, counts.non_finite, counts.out_of_range),
            (3, 1, 1)
        );
        // Byte for byte the little-endian cloud of the kept points (their intensity and ring
        // are those of their input index, so compare with the little-endian input cleaned).
        let (le, le_counts) = clean_cloud(&wide_cloud(&points, false), &limits).unwrap();
        assert_eq!(le_counts, counts);
        assert_eq!(out, le);
        assert!(!out.is_bigendian);
        let x = |k: usize| f64::from_le_bytes(out.data[32 * k..32 * k + 8].try_into().unwrap());
        assert_eq!([x(0), x(1), x(2)], kept.map(|p| p[0]));
        let ring = u16::from_le_bytes(out.data[32 + 28..32 + 30].try_into().unwrap());
        assert_eq!(ring, 7);
        // A field of unknown datatype cannot be reordered: refused, big-endian only.
        let mut odd = wide_cloud(&points, true);
        odd.fields[4].datatype = 42;
        assert_eq!(
            clean_cloud(&odd, &limits).unwrap_err().0,
            "big-endian cloud with a field of unknown datatype"
        );
        let mut odd_le = wide_cloud(&points, false);
        odd_le.fields[4].datatype = 42;
        assert_eq!(clean_cloud(&odd_le, &limits).unwrap().1.kept, 3);
        // A field of 2 elements of 2 bytes each is reordered element by element.
        let mut pair = wide_cloud(&points, true);
        pair.fields[4].count = 2;
        let mut pair_le = wide_cloud(&points, false);
        pair_le.fields[4].count = 2;
        for (c, big) in [(&mut pair, true), (&mut pair_le, false)] {
            for k in 0..points.len() {
                let pad = (k as u16 * 7).to_le_bytes();
                let pad = if big { [pad[1], pad[0]] } else { pad };
                c.data[32 * k + 30..32 * k + 32].copy_from_slice(&pad);
            }
        }
        assert_eq!(
            clean_cloud(&pair, &limits).unwrap(),
            clean_cloud(&pair_le, &limits).unwrap()
        );
        // An empty big-endian cloud whose field claims billions of elements: no points, so
        // nothing to reorder (and no memory for them).
        let mut huge = wide_cloud(&[], true);
        huge.point_step = u32::MAX;
        huge.fields[4].count = u32::MAX / 4;
        huge.fields[4].datatype = PointField::UINT8;
        huge.fields[4].offset = 100;
        assert_eq!(clean_cloud(&huge, &limits).unwrap().1.kept, 0);
        let mut outside = wide_cloud(&points, false);
        outside.fields[4].offset = 31;
        assert_eq!(
            clean_cloud(&outside, &limits).unwrap_err().0,
            "field outside the point"
        );
        let mut int_x = wide_cloud(&points, false);
        int_x.fields[0].datatype = PointField::INT32;
        assert_eq!(
            clean_cloud(&int_x, &limits).unwrap_err().0,
            "x, y or z is not FLOAT32 or FLOAT64"
        );
    }

    #[test]
    fn imu_ranges_and_detections() {
        let mut imu = Imu::default();
        imu.header.frame_id = "imu".into();
        imu.linear_acceleration.z = 9.81;
        assert!(check_imu(&imu, &Limits::default()).is_ok());
        imu.angular_velocity.z = f64::NAN;
        assert!(check_imu(&imu, &Limits::default()).is_err());
        imu.angular_velocity.z = 0.0;
        imu.linear_acceleration.x = 500.0;
        assert_eq!(
            check_imu(&imu, &Limits::default()).unwrap_err().0,
            "acceleration beyond limit"
        );

        let mut r = Range {
            min_range: 0.2,
            max_range: 5.0,
            range: 1.0,
            ..Range::default()
        };
        r.header.frame_id = "us_fl".into();
        assert!(check_range(&r).is_ok());
        r.range = f32::INFINITY;
        assert!(check_range(&r).is_ok());
        r.range = f32::NAN;
        assert!(check_range(&r).is_err());
        r.range = 7.0;
        assert!(check_range(&r).is_err());

        let mut det = Detection2DArray::default();
        det.header.frame_id = "cam".into();
        let mut d = edgefuse_msgs::vision_msgs::Detection2D::default();
        d.bbox.center.position.x = 100.0;
        d.bbox.center.position.y = 50.0;
        d.bbox.size_x = 20.0;
        d.bbox.size_y = 10.0;
        det.detections.push(d.clone());
        d.bbox.center.position.x = 5000.0;
        det.detections.push(d.clone());
        d.bbox.center.position.x = 10.0;
        d.bbox.size_x = 0.0;
        det.detections.push(d);
        let (out, dropped) = clean_detections(&det, Some((1280, 720))).unwrap();
        assert_eq!((out.detections.len(), dropped), (1, 2));
    }
}
