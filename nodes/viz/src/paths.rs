//! The entity tree and the default blueprint. Everything spatial is under `world` (the `odom`
//! frame); the ego (`base_link`) is `world/ego`, with each sensor under it at its `/tf_static`
//! mounting.

use edgefuse_fusion::budget::Stage;
use rerun::blueprint::components::{PanelState, PlayState};
use rerun::blueprint::{
    Blueprint, BlueprintPanel, ContainerLike, Horizontal, SelectionPanel, Spatial2DView,
    Spatial3DView, Tabs, TextDocumentView, TextLogView, TimePanel, TimeSeriesView, Vertical,
};

/// The `odom` frame.
pub const WORLD: &str = "world";
/// `base_link`: its transform is `odom_from_base` at each cycle.
pub const EGO: &str = "world/ego";
/// The ego's trail (the last 500 m).
pub const EGO_TRAIL: &str = "world/ego_trail";
/// The LiDAR mounting.
pub const LIDAR: &str = "world/ego/lidar";
/// Raw LiDAR points (live topics), sensor frame.
pub const LIDAR_RAW: &str = "world/ego/lidar/points";
/// Deskewed ground points, `base_link` at the cycle time (a child of the ego, not of the LiDAR).
pub const LIDAR_GROUND: &str = "world/ego/lidar_ground";
/// Voxel centroids of the non-ground points in a kept cluster, coloured by cluster.
pub const LIDAR_CLUSTERS: &str = "world/ego/lidar_clusters";
/// Voxel centroids of the non-ground points in no kept cluster (walls, vegetation, noise),
/// grey, one in [`crate::BACKGROUND_STRIDE`].
pub const LIDAR_UNCLUSTERED: &str = "world/ego/lidar_unclustered";
/// Boxes fitted to the clusters that passed the object gate, `base_link`.
pub const LIDAR_BOXES: &str = "world/ego/lidar_boxes";
/// The front radar mounting.
pub const RADAR: &str = "world/ego/radar_front";
/// Radar returns, sensor frame.
pub const RADAR_RETURNS: &str = "world/ego/radar_front/returns";
/// Doppler (radial velocity) arrows at the returns.
pub const RADAR_DOPPLER: &str = "world/ego/radar_front/doppler";
/// The front camera (mounting and pinhole, optical frame).
pub const CAMERA: &str = "world/ego/camera_front";
/// The camera image, when the bag has one.
pub const CAMERA_IMAGE: &str = "world/ego/camera_front/image";
/// The detector's 2D boxes.
pub const CAMERA_DETECTIONS: &str = "world/ego/camera_front/detections";
/// Confirmed tracks projected into the camera.
pub const CAMERA_TRACKS: &str = "world/ego/camera_front/tracks";
/// Confirmed tracks, `odom`.
pub const TRACKS: &str = "world/tracks";
/// Track velocity arrows.
pub const TRACK_VELOCITY: &str = "world/tracks/velocity";
/// Ground-truth objects (simulated drives).
pub const GROUND_TRUTH: &str = "world/ground_truth";
/// The deadline beside the stage latencies, ms.
pub const DEADLINE: &str = "timing/deadline_ms";
/// The whole cycle's time, ms.
pub const CYCLE_TOTAL: &str = "timing/cycle_ms";
/// Deadline misses so far.
pub const DEADLINE_MISSES: &str = "deadline_misses";
/// Driver requests.
pub const HMI_REQUEST: &str = "hmi/request";
/// HMI responses.
pub const HMI_RESPONSE: &str = "hmi/response";
/// HMI alerts.
pub const HMI_ALERT: &str = "hmi/alert";
/// The maintenance report (Markdown).
pub const MAINTENANCE_REPORT: &str = "maintenance/report";
/// Where blueprint errors are attributed.
pub const BLUEPRINT: &str = "blueprint";

/// A stage's latency, ms.
pub fn stage(stage: Stage) -> String {
    format!("timing/stage/{}", stage.as_str())
}

/// An ultrasonic sensor's mounting.
pub fn ultrasonic(name: &str) -> String {
    format!("world/ego/ultrasonic/{}", entity_part(name))
}

/// An ultrasonic sensor's cone at its range.
pub fn ultrasonic_cone(name: &str) -> String {
    format!("{}/cone", ultrasonic(name))
}

/// A health indicator of a component (`lidar`, `radar_front`, `ultrasonic/rear_left`).
pub fn health(component: &str, key: &str) -> String {
    // Empty parts (a leading `/` of a ROS node name) are left out.
    let parts: Vec<String> = component
        .split('/')
        .chain(key.split('/'))
        .filter(|p| !p.trim().is_empty())
        .map(entity_part)
        .collect();
    format!("health/{}", parts.join("/"))
}

/// A name made safe as one entity path part: letters, digits, `_`, `-`, `.`, each run of
/// anything else one `_` (none at the ends); `_` for a name with nothing else.
fn entity_part(name: &str) -> String {
    let mut s = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
            s.push(c);
        } else if !s.is_empty() && !s.ends_with('_') {
            s.push('_');
        }
    }
    while s.ends_with('_') && s.len() > 1 {
        s.pop();
    }
    if s.is_empty() {
        "_".into()
    } else {
        s
    }
}

/// The default layout: the 3D scene on the left (from the ego, and in `odom`); the camera, the stage latencies,
/// sensor health and the HMI text on the right.
pub fn blueprint() -> Blueprint {
    // The same odom scene twice: seen from the ego (the view's frame follows base_link), and
    // fixed in odom.
    let chase = Spatial3DView::new("ego view")
        .with_origin(EGO)
        .with_contents([format!("/{WORLD}/**")]);
    let scene = Spatial3DView::new("odom").with_origin(WORLD);
    let camera = Spatial2DView::new("front camera").with_origin(CAMERA);
    let timing = TimeSeriesView::new("stage latency (ms) and deadline").with_origin("timing");
    let health = TimeSeriesView::new("sensor health").with_origin("health");
    let misses = TimeSeriesView::new("deadline misses").with_origin(DEADLINE_MISSES);
    let hmi = TextLogView::new("HMI").with_origin("hmi");
    let report = TextDocumentView::new("maintenance report").with_origin(MAINTENANCE_REPORT);
    let right = Vertical::new([
        ContainerLike::from(camera),
        ContainerLike::from(Tabs::new([
            ContainerLike::from(timing),
            ContainerLike::from(misses),
        ])),
        ContainerLike::from(health),
        ContainerLike::from(Tabs::new([
            ContainerLike::from(hmi),
            ContainerLike::from(report),
        ])),
    ]);
    let left = Tabs::new([ContainerLike::from(chase), ContainerLike::from(scene)]);
    Blueprint::new(
        Horizontal::new([ContainerLike::from(left), ContainerLike::from(right)])
            .with_column_shares([3.0, 2.0]),
    )
    .with_blueprint_panel(BlueprintPanel::new().with_state(PanelState::Collapsed))
    .with_selection_panel(SelectionPanel::new().with_state(PanelState::Collapsed))
    // Follow the newest data: live streams stay current, a file opens at its end.
    .with_time_panel(
        TimePanel::new()
            .with_timeline(crate::TIMELINE)
            .with_play_state(PlayState::Following),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_single_entity_parts() {
        assert_eq!(ultrasonic("rear left"), "world/ego/ultrasonic/rear_left");
        assert_eq!(
            health("ultrasonic/rear_left", "stuck_value/range_m"),
            "health/ultrasonic/rear_left/stuck_value/range_m"
        );
        // Live /diagnostics names: the node's leading slash and ": " do not make odd parts.
        assert_eq!(
            health("/fusion_node: cycle", "lidar_ms"),
            "health/fusion_node_cycle/lidar_ms"
        );
        assert_eq!(health("", "x"), "health/x");
        assert_eq!(ultrasonic("%%"), "world/ego/ultrasonic/_");
    }
}
