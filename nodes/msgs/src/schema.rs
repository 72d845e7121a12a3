//! `ros2msg` definition text of every type in the topic contract, and the concatenated
//! schema text (a type followed by each dependency under a `MSG:` separator) that rosbag2
//! writes into MCAP files and that `rosbags` and `mcap-ros2-support` parse.
//!
//! The standard packages' texts are the field lists of the ROS 2 Jazzy/Kilted definitions;
//! our own package's texts are the `.msg` files of `nodes/edgefuse_msgs`.

use std::collections::BTreeMap;

/// Separator line rosbag2 puts before each dependency definition.
pub const SEPARATOR: &str =
    "================================================================================";

/// Why a schema could not be assembled.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SchemaError {
    /// The type (or a type it references) has no definition here.
    #[error("no message definition for type '{0}'")]
    UnknownType(String),
}

/// (full type name, definition text) of every known type.
pub const DEFINITIONS: &[(&str, &str)] = &[
    ("builtin_interfaces/msg/Time", "int32 sec\nuint32 nanosec\n"),
    ("builtin_interfaces/msg/Duration", "int32 sec\nuint32 nanosec\n"),
    ("std_msgs/msg/Header", "builtin_interfaces/Time stamp\nstring frame_id\n"),
    ("std_msgs/msg/String", "string data\n"),
    ("rosgraph_msgs/msg/Clock", "builtin_interfaces/Time clock\n"),
    ("geometry_msgs/msg/Vector3", "float64 x\nfloat64 y\nfloat64 z\n"),
    ("geometry_msgs/msg/Point", "float64 x\nfloat64 y\nfloat64 z\n"),
    ("geometry_msgs/msg/Quaternion", "float64 x 0\nfloat64 y 0\nfloat64 z 0\nfloat64 w 1\n"),
    ("geometry_msgs/msg/Pose", "Point position\nQuaternion orientation\n"),
    ("geometry_msgs/msg/PoseWithCovariance", "Pose pose\nfloat64[36] covariance\n"),
    ("geometry_msgs/msg/Twist", "Vector3 linear\nVector3 angular\n"),
    ("geometry_msgs/msg/TwistWithCovariance", "Twist twist\nfloat64[36] covariance\n"),
    ("geometry_msgs/msg/TwistStamped", "std_msgs/Header header\nTwist twist\n"),
    (
        "geometry_msgs/msg/TwistWithCovarianceStamped",
        "std_msgs/Header header\nTwistWithCovariance twist\n",
    ),
    ("geometry_msgs/msg/Transform", "Vector3 translation\nQuaternion rotation\n"),
    (
        "geometry_msgs/msg/TransformStamped",
        "std_msgs/Header header\nstring child_frame_id\nTransform transform\n",
    ),
    ("tf2_msgs/msg/TFMessage", "geometry_msgs/TransformStamped[] transforms\n"),
    (
        "sensor_msgs/msg/PointField",
        "uint8 INT8    = 1\nuint8 UINT8   = 2\nuint8 INT16   = 3\nuint8 UINT16  = 4\n\
         uint8 INT32   = 5\nuint8 UINT32  = 6\nuint8 FLOAT32 = 7\nuint8 FLOAT64 = 8\n\n\
         string name\nuint32 offset\nuint8  datatype\nuint32 count\n",
    ),
    (
        "sensor_msgs/msg/PointCloud2",
        "std_msgs/Header header\nuint32 height\nuint32 width\nPointField[] fields\n\
         bool    is_bigendian\nuint32  point_step\nuint32  row_step\nuint8[] data\nbool is_dense\n",
    ),
    (
        "sensor_msgs/msg/RegionOfInterest",
        "uint32 x_offset\nuint32 y_offset\nuint32 height\nuint32 width\nbool do_rectify\n",
    ),
    (
        "sensor_msgs/msg/CameraInfo",
        "std_msgs/Header header\nuint32 height\nuint32 width\nstring distortion_model\n\
         float64[] d\nfloat64[9]  k\nfloat64[9]  r\nfloat64[12] p\nuint32 binning_x\n\
         uint32 binning_y\nRegionOfInterest roi\n",
    ),
    (
        "sensor_msgs/msg/Image",
        "std_msgs/Header header\nuint32 height\nuint32 width\nstring encoding\n\
         uint8 is_bigendian\nuint32 step\nuint8[] data\n",
    ),
    (
        "sensor_msgs/msg/Range",
        "uint8 ULTRASOUND=0\nuint8 INFRARED=1\n\nstd_msgs/Header header\nuint8 radiation_type\n\
         float32 field_of_view\nfloat32 min_range\nfloat32 max_range\nfloat32 range\n\
         float32 variance\n",
    ),
    (
        "sensor_msgs/msg/Imu",
        "std_msgs/Header header\ngeometry_msgs/Quaternion orientation\n\
         float64[9] orientation_covariance\ngeometry_msgs/Vector3 angular_velocity\n\
         float64[9] angular_velocity_covariance\ngeometry_msgs/Vector3 linear_acceleration\n\
         float64[9] linear_acceleration_covariance\n",
    ),
    (
        "radar_msgs/msg/RadarReturn",
        "float32 range\nfloat32 azimuth\nfloat32 elevation\nfloat32 doppler_velocity\n\
         float32 amplitude\n",
    ),
    ("radar_msgs/msg/RadarScan", "std_msgs/Header header\nradar_msgs/RadarReturn[] returns\n"),
    ("vision_msgs/msg/Point2D", "float64 x\nfloat64 y\n"),
    ("vision_msgs/msg/Pose2D", "vision_msgs/Point2D position\nfloat64 theta\n"),
    ("vision_msgs/msg/BoundingBox2D", "vision_msgs/Pose2D center\nfloat64 size_x\nfloat64 size_y\n"),
    ("vision_msgs/msg/ObjectHypothesis", "string class_id\nfloat64 score\n"),
    (
        "vision_msgs/msg/ObjectHypothesisWithPose",
        "ObjectHypothesis hypothesis\ngeometry_msgs/PoseWithCovariance pose\n",
    ),
    (
        "vision_msgs/msg/Detection2D",
        "std_msgs/Header header\nObjectHypothesisWithPose[] results\nBoundingBox2D bbox\nstring id\n",
    ),
    ("vision_msgs/msg/Detection2DArray", "std_msgs/Header header\nDetection2D[] detections\n"),
    (
        "nav_msgs/msg/Odometry",
        "std_msgs/Header header\nstring child_frame_id\ngeometry_msgs/PoseWithCovariance pose\n\
         geometry_msgs/TwistWithCovariance twist\n",
    ),
    (
        "autoware_vehicle_msgs/msg/VelocityReport",
        "std_msgs/Header header\nfloat32 longitudinal_velocity\nfloat32 lateral_velocity\n\
         float32 heading_rate\n",
    ),
    ("diagnostic_msgs/msg/KeyValue", "string key\nstring value\n"),
    (
        "diagnostic_msgs/msg/DiagnosticStatus",
        "byte OK=0\nbyte WARN=1\nbyte ERROR=2\nbyte STALE=3\n\nbyte level\nstring name\n\
         string message\nstring hardware_id\nKeyValue[] values\n",
    ),
    (
        "diagnostic_msgs/msg/DiagnosticArray",
        "std_msgs/Header header\nDiagnosticStatus[] status\n",
    ),
    (
        "edgefuse_msgs/msg/TrackedObject",
        include_str!("../../edgefuse_msgs/msg/TrackedObject.msg"),
    ),
    (
        "edgefuse_msgs/msg/TrackedObjectArray",
        include_str!("../../edgefuse_msgs/msg/TrackedObjectArray.msg"),
    ),
    (
        "edgefuse_msgs/msg/MaintenanceFinding",
        include_str!("../../edgefuse_msgs/msg/MaintenanceFinding.msg"),
    ),
    (
        "edgefuse_msgs/msg/MaintenanceReport",
        include_str!("../../edgefuse_msgs/msg/MaintenanceReport.msg"),
    ),
];

const PRIMITIVES: &[&str] = &[
    "bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16", "int32",
    "uint32", "int64", "uint64", "string", "wstring",
];

/// The definition text of one type (`pkg/msg/Name`), without dependencies.
pub fn definition(type_name: &str) -> Option<&'static str> {
    DEFINITIONS
        .iter()
        .find(|(n, _)| *n == type_name)
        .map(|(_, t)| *t)
}

/// Full names (`pkg/msg/Name`) of the complex types the fields of `text` refer to, in field
/// order; relative names resolve against `package`.
pub fn field_types(package: &str, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some(ty) = line.split_whitespace().next() else {
            continue;
        };
        if line[ty.len()..].contains('=') {
            // "TYPE NAME=VALUE": constants are primitives.
            continue;
        }
        let base = ty.split('[').next().unwrap_or(ty);
        let base = base.split("<=").next().unwrap_or(base);
        if PRIMITIVES.contains(&base) {
            continue;
        }
        let full = match base.split_once('/') {
            Some((pkg, name)) => format!("{pkg}/msg/{name}"),
            None if base == "Header" => "std_msgs/msg/Header".to_string(),
            None => format!("{package}/msg/{base}"),
        };
        out.push(full);
    }
    out
}

/// The `ros2msg` schema text of `type_name` with all its dependencies, as rosbag2 writes it:
/// the type's own text, then for each dependency (depth-first, each once) the separator line,
/// `MSG: pkg/Name` and its text.
pub fn schema_text(type_name: &str) -> Result<String, SchemaError> {
    let own = definition(type_name).ok_or_else(|| SchemaError::UnknownType(type_name.into()))?;
    let mut out = own.trim_end().to_string();
    out.push('\n');
    let mut seen = vec![type_name.to_string()];
    append_deps(type_name, own, &mut seen, &mut out)?;
    Ok(out)
}

fn append_deps(
    type_name: &str,
    text: &str,
    seen: &mut Vec<String>,
    out: &mut String,
) -> Result<(), SchemaError> {
    let package = type_name.split('/').next().unwrap_or("");
    for dep in field_types(package, text) {
        if seen.contains(&dep) {
            continue;
        }
        let dep_text = definition(&dep).ok_or_else(|| SchemaError::UnknownType(dep.clone()))?;
        seen.push(dep.clone());
        let short = dep.replacen("/msg/", "/", 1);
        out.push_str(SEPARATOR);
        out.push_str("\nMSG: ");
        out.push_str(&short);
        out.push('\n');
        out.push_str(dep_text.trim_end());
        out.push('\n');
        append_deps(&dep, dep_text, seen, out)?;
    }
    Ok(())
}

/// How a `ros2msg` schema text stored in a bag compares with our definition of its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaMatch {
    /// Same fields (after normalising comments, spacing, defaults, constants and the
    /// `byte`/`char`/`uint8` aliases); payloads decode as our type.
    Same,
    /// Humble's `sensor_msgs/msg/Range`: ours without the trailing `float32 variance`.
    RangeWithoutVariance,
    /// We have no definition of this type: nothing to compare.
    UnknownType,
    /// The fields differ: payloads cannot be decoded as our type.
    Different(String),
}

type Fields = Vec<(String, String)>;

/// Splits a concatenated schema text into its sections, `pkg/Name` -> normalised
/// `(type, name)` field list; the first section is `top`.
fn sections(top: &str, text: &str) -> BTreeMap<String, Fields> {
    let mut out = BTreeMap::new();
    let mut name = top.replacen("/msg/", "/", 1);
    let mut fields = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim();
        if t.len() >= 3 && t.chars().all(|c| c == '=') {
            out.insert(std::mem::take(&mut name), std::mem::take(&mut fields));
            while let Some(next) = lines.peek() {
                if next.trim().is_empty() {
                    lines.next();
                } else {
                    break;
                }
            }
            if let Some(header) = lines.next() {
                name = header
                    .trim()
                    .trim_start_matches("MSG:")
                    .trim()
                    .replacen("/msg/", "/", 1);
            }
            continue;
        }
        let package = name.split('/').next().unwrap_or("").to_string();
        if let Some(f) = normalise_field(&package, t) {
            fields.push(f);
        }
    }
    out.insert(name, fields);
    out
}

fn normalise_field(package: &str, line: &str) -> Option<(String, String)> {
    let line = line.split('#').next().unwrap_or("").trim();
    let mut tokens = line.split_whitespace();
    let ty = tokens.next()?;
    if line[ty.len()..].contains('=') {
        return None; // constant
    }
    let name = tokens.next()?.to_string();
    let (base, suffix) = match ty.find('[') {
        Some(i) => (&ty[..i], &ty[i..]),
        None => (ty, ""),
    };
    let base = match base {
        "byte" | "char" => "uint8".to_string(),
        b if PRIMITIVES.contains(&b.split("<=").next().unwrap_or(b)) => b.to_string(),
        "Header" => "std_msgs/Header".to_string(),
        b if b.contains('/') => b.replacen("/msg/", "/", 1),
        b => format!("{package}/{b}"),
    };
    Some((format!("{base}{suffix}"), name))
}

/// Compares the schema text a bag stores for `type_name` with our definition.
pub fn compare(type_name: &str, bag_text: &str) -> SchemaMatch {
    let Ok(ours_text) = schema_text(type_name) else {
        return SchemaMatch::UnknownType;
    };
    let ours = sections(type_name, &ours_text);
    let theirs = sections(type_name, bag_text);
    let top = type_name.replacen("/msg/", "/", 1);
    for (section, fields) in &ours {
        let Some(other) = theirs.get(section) else {
            if *section == top {
                return SchemaMatch::Different(format!("the schema text has no fields for {top}"));
            }
            continue; // a writer that left out a dependency: nothing to compare
        };
        if other == fields {
            continue;
        }
        if type_name == "sensor_msgs/msg/Range"
            && *section == top
            && fields.split_last().is_some_and(|(last, rest)| {
                last == &("float32".to_string(), "variance".to_string()) && rest == other.as_slice()
            })
        {
            return SchemaMatch::RangeWithoutVariance;
        }
        let show = |f: &Fields| {
            f.iter()
                .map(|(t, n)| format!("{t} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return SchemaMatch::Different(format!(
            "{section} has fields [{}] in the bag but [{}] in edgefuse",
            show(other),
            show(fields)
        ));
    }
    SchemaMatch::Same
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_definition_resolves() {
        for (name, _) in DEFINITIONS {
            schema_text(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn constants_are_not_dependencies() {
        let deps = field_types(
            "sensor_msgs",
            definition("sensor_msgs/msg/PointField").unwrap(),
        );
        assert!(deps.is_empty(), "{deps:?}");
    }

    #[test]
    fn odometry_lists_each_dependency_once() {
        let text = schema_text("nav_msgs/msg/Odometry").unwrap();
        assert_eq!(text.matches("MSG: geometry_msgs/Vector3\n").count(), 1);
        assert_eq!(text.matches("MSG: builtin_interfaces/Time\n").count(), 1);
        assert!(text.starts_with("std_msgs/Header header\n"));
    }

    #[test]
    fn schema_compare_ignores_comments_and_aliases_and_spots_differences() {
        let ours = schema_text("diagnostic_msgs/msg/DiagnosticArray").unwrap();
        assert_eq!(
            compare("diagnostic_msgs/msg/DiagnosticArray", &ours),
            SchemaMatch::Same
        );
        let commented = ours.replace("byte level", "# the level\nuint8  level   # ok..stale");
        assert_eq!(
            compare("diagnostic_msgs/msg/DiagnosticArray", &commented),
            SchemaMatch::Same
        );
        let changed = ours.replace("string hardware_id", "int32 hardware_id");
        assert!(
            matches!(compare("diagnostic_msgs/msg/DiagnosticArray", &changed), SchemaMatch::Different(d) if d.contains("hardware_id"))
        );
        let range = schema_text("sensor_msgs/msg/Range").unwrap();
        assert_eq!(compare("sensor_msgs/msg/Range", &range), SchemaMatch::Same);
        let humble = range.replace("float32 variance\n", "");
        assert_eq!(
            compare("sensor_msgs/msg/Range", &humble),
            SchemaMatch::RangeWithoutVariance
        );
        assert_eq!(
            compare("foo_msgs/msg/Bar", "int32 x"),
            SchemaMatch::UnknownType
        );
    }

    #[test]
    fn unknown_type_is_named() {
        assert_eq!(
            schema_text("foo_msgs/msg/Bar"),
            Err(SchemaError::UnknownType("foo_msgs/msg/Bar".into()))
        );
    }
}
