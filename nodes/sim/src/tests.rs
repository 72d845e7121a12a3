//! Crate tests: determinism, LiDAR against an independent surface oracle, ground-truth
//! consistency of radar and camera, scenario sanity, errors and the faults sidecar.

use super::*;
use crate::math::V3;
use crate::sensors::{Camera, Lidar, Radar};
use crate::world::{Obb, World};

fn world_of(def: &ScenarioDef, duration_s: f64) -> World {
    World::simulate(def, duration_s + 1.5)
}

fn builtin(name: &str) -> ScenarioDef {
    match builtin_scenario(name) {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    }
}

fn f32_at(data: &[u8], off: usize) -> f32 {
    f32::from_le_bytes([data[off], data[off + 1], data[off + 2], data[off + 3]])
}

#[test]
fn all_builtins_parse() {
    for (name, text) in BUILTIN_SCENARIOS {
        let def = builtin(name);
        assert_eq!(def.name, *name);
        assert_eq!(def.sha256, definition_hash(text));
        assert_eq!(def.sha256.len(), 64);
    }
}

#[test]
fn unknown_scenario_is_a_named_error() {
    let err = builtin_scenario("motorway_merge").err();
    match err {
        Some(SimError::UnknownScenario {
            ref name,
            ref known,
        }) => {
            assert_eq!(name, "motorway_merge");
            assert_eq!(known.len(), 4);
            let msg = err.map(|e| e.to_string()).unwrap_or_default();
            assert!(
                msg.contains("motorway_merge")
                    && msg.contains("highway_cut_in")
                    && msg.contains("parking"),
                "{msg}"
            );
        }
        other => panic!("expected UnknownScenario, got {other:?}"),
    }
}

#[test]
fn bad_fields_are_named() {
    let text = BUILTIN_SCENARIOS[0].1;
    // Missing/unknown field from the YAML layer.
    let broken = text.replacen("duration_s: 20.0", "duration_sec: 20.0", 1);
    let e = parse_scenario(&broken, "my.yaml")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("my.yaml") && e.contains("duration_sec"), "{e}");
    // Non-positive duration.
    let zero = text.replacen("duration_s: 20.0", "duration_s: 0", 1);
    assert!(matches!(
        parse_scenario(&zero, "z.yaml"),
        Err(SimError::NonPositiveDuration { .. })
    ));
    // Semantic range check names the field path.
    let neg = text.replacen("range_noise_m: 0.02", "range_noise_m: -0.02", 1);
    match parse_scenario(&neg, "n.yaml") {
        Err(SimError::InvalidField { input, field, .. }) => {
            assert_eq!(input, "n.yaml");
            assert_eq!(field, "sensors.lidar.range_noise_m");
        }
        other => panic!("{other:?}"),
    }
    // Override of the duration is checked too.
    let dir = tempfile::tempdir().map_err(|e| e.to_string());
    let dir = match dir {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let r = generate(
        &builtin("parking"),
        &GenerateOptions {
            duration_s: Some(-1.0),
            seed: None,
        },
        &dir.path().join("b"),
    );
    assert!(matches!(r, Err(SimError::NonPositiveDuration { .. })));
}

fn gen(def: &ScenarioDef, dur: f64, dir: &Path) -> GenerateReport {
    match generate(
        def,
        &GenerateOptions {
            duration_s: Some(dur),
            seed: None,
        },
        dir,
    ) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    }
}

fn mcap_bytes(dir: &Path) -> Vec<u8> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match std::fs::read(dir.join(format!("{name}_0.mcap"))) {
        Ok(b) => b,
        Err(e) => panic!("{}: {e}", dir.display()),
    }
}

#[test]
fn generation_is_deterministic_and_seed_sensitive() {
    let tmp = match tempfile::tempdir() {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    let def = builtin("highway_cut_in");
    let a = tmp.path().join("a").join("bag");
    let b = tmp.path().join("b").join("bag");
    let ra = gen(&def, 2.0, &a);
    let rb = gen(&def, 2.0, &b);
    assert_eq!(ra, rb);
    let (ba, bb) = (mcap_bytes(&a), mcap_bytes(&b));
    assert!(ba.len() > 100_000);
    assert_eq!(ba.len(), bb.len());
    // The whole file, summary section included, must be byte-identical.
    let first_diff = ba.iter().zip(bb.iter()).position(|(x, y)| x != y);
    assert_eq!(
        first_diff, None,
        "same definition and seed must give identical .mcap files"
    );
    let meta =
        |d: &std::path::Path| std::fs::read_to_string(d.join("metadata.yaml")).unwrap_or_default();
    assert_eq!(meta(&a), meta(&b));
    assert!(!meta(&a).is_empty());
    // The output directory must be empty.
    assert!(matches!(
        generate(&def, &GenerateOptions::default(), &a),
        Err(SimError::OutputNotEmpty { .. })
    ));
    // Another seed gives another bag.
    let c = tmp.path().join("c").join("bag");
    generate(
        &def,
        &GenerateOptions {
            duration_s: Some(2.0),
            seed: Some(43),
        },
        &c,
    )
    .map_err(|e| e.to_string())
    .ok();
    assert!(mcap_bytes(&c) != ba);
    // Rates: 2 s of 10 Hz LiDAR, 20 Hz radar, 100 Hz IMU, 12 ultrasonics at 20 Hz.
    let count = |t: &str| ra.per_topic.iter().find(|(n, _)| n == t).map(|c| c.1);
    assert_eq!(count(TOPIC_LIDAR), Some(20));
    assert_eq!(count(TOPIC_RADAR), Some(40));
    assert_eq!(count(TOPIC_IMU), Some(200));
    assert_eq!(count(TOPIC_GT_EGO), Some(200));
    assert_eq!(count(TOPIC_TWIST), Some(100));
    assert_eq!(count(TOPIC_CAMERA_DETECTIONS), Some(60));
    assert_eq!(count(TOPIC_TF_STATIC), Some(1));
    assert_eq!(
        count("/sensors/ultrasonic/rear_center_left/range"),
        Some(40)
    );
    assert_eq!(ra.per_topic.len(), 9 + 12);
}

#[test]
fn faults_sidecar_and_custom_data() {
    let tmp = match tempfile::tempdir() {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    for (name, _) in BUILTIN_SCENARIOS {
        let dir = tmp.path().join(name);
        let rep = gen(&builtin(name), 0.3, &dir);
        let text = std::fs::read_to_string(dir.join("faults.json")).unwrap_or_default();
        let faults: Vec<InjectedFault> =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(faults, rep.faults);
        let meta = std::fs::read_to_string(dir.join("metadata.yaml")).unwrap_or_default();
        assert!(
            meta.contains("edgefuse.scenario_sha256") && meta.contains("edgefuse.faults"),
            "{meta}"
        );
        if *name == "sensor_degradation" {
            let kinds: Vec<(&str, &str)> = faults
                .iter()
                .map(|f| (f.component.as_str(), f.kind.as_str()))
                .collect();
            assert_eq!(
                kinds,
                vec![
                    ("lidar", "blocked_sector"),
                    ("radar_front", "yaw_misalignment"),
                    ("imu", "gyro_bias"),
                    ("ultrasonic/rear_center_left", "stuck_value")
                ]
            );
            assert_eq!(faults[1].parameters.get("angle_deg"), Some(&2.0));
        } else {
            assert!(faults.is_empty(), "{name} must be clean");
        }
    }
}

/// Independent oracle: every LiDAR point, mapped back into `odom` with the pose of its own
/// firing time (`t` field), lies on the ground plane or on the surface of a box at that time.
#[test]
fn lidar_points_lie_on_surfaces_and_counts_in_range() {
    for (name, _) in BUILTIN_SCENARIOS {
        let def = builtin(name);
        let world = world_of(&def, 20.0);
        let mut lidar = Lidar::new(&def.sensors.lidar, None, 5);
        let base_from_lidar = sensors::base_from_mount(&def.sensors.lidar.mount);
        for t0 in [0.0, 6.0, 12.3] {
            let sweep = lidar.sweep(&world, t0, EPOCH_NS);
            assert!(
                (30_000..=130_000).contains(&sweep.points),
                "{name} t0={t0}: {} points",
                sweep.points
            );
            let data = &sweep.cloud.data;
            assert_eq!(data.len(), sweep.points * 20);
            let mut off_surface = 0;
            let mut max_t = 0.0f32;
            for (i, p) in data.chunks_exact(20).enumerate() {
                if i % 7 != 0 {
                    continue;
                }
                let (x, y, z, t) = (f32_at(p, 0), f32_at(p, 4), f32_at(p, 8), f32_at(p, 16));
                max_t = max_t.max(t);
                assert!((0.0..0.1).contains(&t));
                let ts = t0 + f64::from(t);
                let odom_from_lidar = world.odom_from_base(ts).compose(&base_from_lidar);
                let q = odom_from_lidar.point(V3::new(f64::from(x), f64::from(y), f64::from(z)));
                let tol = 0.15; // 2 cm noise, 5σ, plus column time quantisation of f32 t
                let on_ground = q.z.abs() < tol;
                let mut boxes: Vec<Obb> = world.statics.clone();
                boxes.extend(world.actor_boxes(ts));
                let on_box = boxes.iter().any(|b| b.on_surface(q, tol));
                if !(on_ground || on_box) {
                    off_surface += 1;
                }
            }
            assert_eq!(off_surface, 0, "{name} t0={t0}: points off every surface");
            assert!(max_t > 0.09, "column times span the sweep");
        }
    }
}

/// The points a sweep counts per actor are the points lying on that actor's surface, and the
/// per-sweep counts of [`lidar_points_per_actor`] cover every ground-truth stamp; in the parking
/// lot some parked cars are hidden behind their neighbours (no point at all).
#[test]
fn lidar_points_per_actor_are_the_points_on_each_actor() {
    let def = builtin("parking");
    let world = world_of(&def, 20.0);
    let mut lidar = Lidar::new(&def.sensors.lidar, None, 5);
    let base_from_lidar = sensors::base_from_mount(&def.sensors.lidar.mount);
    let t0 = 6.0;
    let sweep = lidar.sweep(&world, t0, EPOCH_NS);
    let mut on_actor = vec![0u32; world.actors.len()];
    for p in sweep.cloud.data.chunks_exact(20) {
        let (x, y, z, t) = (f32_at(p, 0), f32_at(p, 4), f32_at(p, 8), f32_at(p, 16));
        let ts = t0 + f64::from(t);
        let odom_from_lidar = world.odom_from_base(ts).compose(&base_from_lidar);
        let q = odom_from_lidar.point(V3::new(f64::from(x), f64::from(y), f64::from(z)));
        // Ground returns beside a box lie on its bottom face too.
        if q.z < 0.1 {
            continue;
        }
        if let Some(b) = world.actor_boxes(ts).iter().find(|b| b.on_surface(q, 0.1)) {
            on_actor[b.actor] += 1;
        }
    }
    for (i, (&counted, &found)) in sweep.actor_points.iter().zip(&on_actor).enumerate() {
        // Points within 0.1 m of the ground are left out of the surface count.
        let tol = 5 + counted / 10;
        assert!(
            counted.abs_diff(found) <= tol,
            "actor {i}: {counted} counted, {found} on its surface"
        );
    }
    let per_sweep = lidar_points_per_actor(&def).unwrap_or_default();
    assert_eq!(per_sweep.len(), 200);
    assert!(per_sweep.values().all(|m| m.len() == world.actors.len()));
    let hidden = per_sweep
        .values()
        .flat_map(|m| m.values())
        .filter(|n| **n == 0)
        .count();
    assert!(hidden > 0, "no hidden parked car");
}

/// A ray cast brute-force check: sample points along each direction at 1 cm steps and find the
/// first inside a box or below ground; compare with the analytic cast.
#[test]
fn ray_cast_matches_ray_marching() {
    let def = builtin("urban_intersection");
    let world = world_of(&def, 20.0);
    let boxes = sensors::all_boxes(&world, 8.0);
    let o = world.odom_from_base(8.0).point(V3::new(1.3, 0.0, 1.95));
    let inside = |p: V3| {
        p.z <= 0.0
            || boxes.iter().any(|b| {
                let (dx, dy) = (p.x - b.cx, p.y - b.cy);
                let lx = dx * b.cos + dy * b.sin;
                let ly = -dx * b.sin + dy * b.cos;
                lx.abs() <= b.half_len_m
                    && ly.abs() <= b.half_wid_m
                    && p.z >= b.z_min_m
                    && p.z <= b.z_max_m
            })
    };
    let mut checked = 0;
    for k in 0..240 {
        let az = k as f64 * 0.0261;
        let el = -0.35 + 0.5 * ((k * 37) % 100) as f64 / 100.0;
        let d = V3::new(el.cos() * az.cos(), el.cos() * az.sin(), el.sin());
        let analytic = world::cast(o, d, &boxes, true, 60.0).map(|h| h.0);
        let mut marched = None;
        let mut s = 0.0;
        while s < 60.0 {
            if inside(o + d * s) {
                marched = Some(s);
                break;
            }
            s += 0.01;
        }
        match (analytic, marched) {
            (Some(a), Some(m)) => {
                assert!((a - m).abs() <= 0.011, "az {az} el {el}: {a} vs {m}");
                checked += 1;
            }
            (None, None) => {}
            (a, m) => panic!("az {az} el {el}: analytic {a:?} vs marched {m:?}"),
        }
    }
    assert!(checked > 100);
}

/// Radar returns without clutter and ghosts: every return maps (with the nominal mounting) to a
/// point near an actor's surface, and its doppler matches the true radial velocity.
#[test]
fn radar_returns_match_ground_truth() {
    let mut def = builtin("highway_cut_in");
    def.sensors.radar_front.clutter_per_scan = 0.0;
    def.sensors.radar_front.ghost_probability = 0.0;
    let world = world_of(&def, 20.0);
    let mut radar = Radar::new(&def.sensors.radar_front, None, 1);
    let mut total = 0;
    for k in 0..40 {
        let t = 0.25 * k as f64;
        let scan = radar.scan(&world, t, EPOCH_NS);
        let sensor = radar.odom_from_sensor(&world, t);
        let v_s = radar.sensor_velocity(&world, t);
        let boxes = world.actor_boxes(t);
        for r in &scan.returns {
            let (rg, az, el) = (
                f64::from(r.range),
                f64::from(r.azimuth),
                f64::from(r.elevation),
            );
            let dir_s = V3::new(el.cos() * az.cos(), el.cos() * az.sin(), el.sin());
            // Horizontal position only: elevation noise is 1 deg.
            let p = sensor.point(dir_s * rg);
            let dir = sensor.dir(dir_s);
            // 4σ of range and azimuth noise.
            let tol = 0.4 + 4.0 * rg * def.sensors.radar_front.azimuth_noise_deg.to_radians();
            let best = boxes
                .iter()
                .position(|b| b.on_surface(V3::new(p.x, p.y, 0.5 * b.z_max_m), tol));
            let Some(i) = best else {
                panic!("t={t}: return {r:?} not on any actor")
            };
            let a = &world.actors[i].agent;
            let truth = (a.center_velocity(t) - v_s).dot(dir);
            assert!(
                (truth - f64::from(r.doppler_velocity)).abs() < 0.8,
                "t={t}: doppler {} vs {truth}",
                r.doppler_velocity
            );
            total += 1;
        }
    }
    assert!(total > 100, "{total} returns");
}

/// Independent oracle of a camera box: sample the 12 box edges densely, keep the samples in
/// front of the near plane, project, take the bounding box and clamp it to the image.
fn oracle_box(
    cam: &Camera,
    odom_from_cam: &crate::math::Iso,
    b: &Obb,
    w: f64,
    h: f64,
) -> Option<[f64; 4]> {
    let corners = b.corners();
    let mut bb: Option<[f64; 4]> = None;
    for i in 0..8usize {
        for j in (i + 1)..8 {
            if (i ^ j).count_ones() != 1 {
                continue;
            }
            for k in 0..=4000 {
                let f = f64::from(k) / 4000.0;
                let p = corners[i] + (corners[j] - corners[i]) * f;
                let q = odom_from_cam.inv_point(p);
                if q.z < sensors::NEAR_PLANE_M {
                    continue;
                }
                let (u, v) = cam.project(q);
                let (u, v) = (u.clamp(0.0, w), v.clamp(0.0, h));
                bb = Some(match bb {
                    None => [u, v, u, v],
                    Some(a) => [a[0].min(u), a[1].min(v), a[2].max(u), a[3].max(v)],
                });
            }
        }
    }
    bb
}

fn iou(a: [f64; 4], b: [f64; 4]) -> f64 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let area = |x: [f64; 4]| (x[2] - x[0]) * (x[3] - x[1]);
    inter / (area(a) + area(b) - inter)
}

fn det_box(d: &edgefuse_msgs::vision_msgs::Detection2D) -> [f64; 4] {
    let c = &d.bbox.center.position;
    [
        c.x - 0.5 * d.bbox.size_x,
        c.y - 0.5 * d.bbox.size_y,
        c.x + 0.5 * d.bbox.size_x,
        c.y + 0.5 * d.bbox.size_y,
    ]
}

/// Camera detections carry no identity; each one is associated by projection: its box
/// matches the (near-plane clipped, image-clamped) projection of exactly one actor, computed
/// by an independent edge-sampling oracle, and its class is that actor's (or the confusable one).
#[test]
fn camera_detections_match_projected_actors_without_ids() {
    for name in ["urban_intersection", "highway_cut_in"] {
        let mut def = builtin(name);
        def.sensors.camera_front.false_positives_per_frame = 0.0;
        let (w, h) = (
            f64::from(def.sensors.camera_front.width),
            f64::from(def.sensors.camera_front.height),
        );
        let world = world_of(&def, 20.0);
        let mut cam = Camera::new(&def.sensors.camera_front, 2);
        let mut n = 0;
        for k in 0..60 {
            let t = k as f64 / 3.0;
            let dets = cam.detect(&world, t, EPOCH_NS);
            let odom_from_cam = cam.odom_from_camera(&world, t);
            for d in &dets.detections {
                assert!(
                    d.id.is_empty(),
                    "detections must not carry truth ids: {}",
                    d.id
                );
                let db = det_box(d);
                // Association by projection: the actor whose oracle box is closest in the
                // worst edge; every edge must agree within 5 sigma of the corner noise.
                let best = world
                    .actors
                    .iter()
                    .enumerate()
                    .filter_map(|(i, a)| {
                        let b = a.obb(t, i);
                        oracle_box(&cam, &odom_from_cam, &b, w, h).map(|o| {
                            let err = (0..4).map(|e| (db[e] - o[e]).abs()).fold(0.0, f64::max);
                            (err, i)
                        })
                    })
                    .min_by(|x, y| x.0.total_cmp(&y.0));
                let Some((err, i)) = best else {
                    panic!("{name} t={t}: no actor in view for {db:?}")
                };
                let tol = 5.0 * def.sensors.camera_front.box_noise_px + 1.0;
                assert!(
                    err <= tol,
                    "{name} t={t}: box {db:?} is {err} px from every actor's projection"
                );
                let class = &d.results[0].hypothesis.class_id;
                let truth = world.actors[i].class;
                let confused = match truth {
                    ActorClass::Car => ActorClass::Truck,
                    ActorClass::Truck => ActorClass::Car,
                    ActorClass::Pedestrian => ActorClass::Cyclist,
                    ActorClass::Cyclist => ActorClass::Pedestrian,
                };
                assert!(
                    class == truth.class_id() || class == confused.class_id(),
                    "{name} t={t}: class {class} for a {truth:?}"
                );
                n += 1;
            }
        }
        assert!(n > 50, "{name}: {n} detections");
    }
}

/// A car alongside the ego whose rear is behind the camera (corners at z < 0 in the optical
/// frame) is clipped at the near plane, not dropped: its box reaches the image border and
/// matches the edge-sampling oracle.
#[test]
fn close_adjacent_car_is_clipped_not_dropped() {
    let mut def = builtin("highway_cut_in");
    def.world.static_objects.clear();
    let mut car = def.actors[0].clone();
    car.id = 1;
    car.class = ActorClass::Car;
    car.size_m = [4.6, 1.85, 1.5];
    // base_link at x = 0; camera at x = 1.9: the car spans x = 1.7 .. 6.3, y = 2.4 ± 0.93.
    car.path.start = [4.0, 2.4];
    car.path.heading_deg = 0.0;
    car.speed.initial_mps = def.ego.speed.initial_mps;
    car.speed.target_mps = def.ego.speed.initial_mps;
    car.speed.follow = false;
    car.events.clear();
    def.actors = vec![car];
    def.ego.events.clear();
    def.ego.speed.target_mps = def.ego.speed.initial_mps;
    def.sensors.camera_front.miss_probability = 0.0;
    def.sensors.camera_front.class_confusion = 0.0;
    def.sensors.camera_front.false_positives_per_frame = 0.0;
    if let Err(e) = def.validate("test") {
        panic!("{e}");
    }
    let (w, h) = (
        f64::from(def.sensors.camera_front.width),
        f64::from(def.sensors.camera_front.height),
    );
    let world = world_of(&def, 2.0);
    let mut cam = Camera::new(&def.sensors.camera_front, 4);
    let odom_from_cam = cam.odom_from_camera(&world, 0.0);
    let b = world.actors[0].obb(0.0, 0);
    let behind = b
        .corners()
        .iter()
        .filter(|c| odom_from_cam.inv_point(**c).z < sensors::NEAR_PLANE_M)
        .count();
    assert!(
        behind >= 2,
        "the set-up needs corners behind the near plane"
    );
    let boxes = sensors::all_boxes(&world, 0.0);
    let Some((pb, vis, _)) = cam.visible_box(&odom_from_cam, &boxes, world.statics.len()) else {
        panic!("a close adjacent car must be in view")
    };
    assert!(vis > 0.9, "nothing occludes it: {vis}");
    assert!(
        pb.0 == 0.0,
        "the clipped box reaches the left image border: {pb:?}"
    );
    let Some(o) = oracle_box(&cam, &odom_from_cam, &b, w, h) else {
        panic!("oracle sees nothing")
    };
    let got = [pb.0, pb.1, pb.2, pb.3];
    assert!(iou(got, o) > 0.97, "{got:?} vs oracle {o:?}");
    // The detector reports it in most frames.
    let mut hits = 0;
    for k in 0..30 {
        let t = k as f64 / 30.0;
        let dets = cam.detect(&world, t, EPOCH_NS);
        hits += usize::from(dets.detections.iter().any(|d| det_box(d)[0] < 8.0));
    }
    assert!(hits >= 10, "{hits} of 30 frames detect the adjacent car");
}

#[test]
fn blocked_sector_contains_any_span() {
    let sector = |a: f64, b: f64| sensors::BlockedSector {
        az_min_rad: a.to_radians(),
        az_max_rad: b.to_radians(),
        onset_s: 0.0,
        full_s: 1.0,
        max_dropout: 1.0,
    };
    let inside = |s: &sensors::BlockedSector, deg: f64| s.contains(deg.to_radians());
    let probes: Vec<f64> = (-180..180).map(|d| f64::from(d) + 0.5).collect();
    // Full circles, written either way.
    for s in [
        sector(0.0, 360.0),
        sector(-180.0, 180.0),
        sector(-90.0, 400.0),
    ] {
        assert!(probes.iter().all(|d| inside(&s, *d)));
        assert!(inside(&s, 180.0) && inside(&s, -180.0) && inside(&s, 0.0));
    }
    // Brute-force oracle: az is in [min, max] modulo 360.
    let oracle = |a: f64, b: f64, d: f64| {
        (-2..=2).any(|k| {
            let x = d + 360.0 * f64::from(k);
            x >= a && x <= b
        })
    };
    for (a, b) in [
        (20.0, 65.0),
        (170.0, 190.0),
        (-30.0, 250.0),
        (0.0, 270.0),
        (90.0, 359.0),
        (-200.0, -100.0),
    ] {
        let s = sector(a, b);
        for d in &probes {
            assert_eq!(inside(&s, *d), oracle(a, b, *d), "[{a}, {b}] at {d}");
        }
    }
    // A struct with max < min wraps through ±180 deg (350 .. 10).
    let s = sector(350.0, 10.0);
    assert!(inside(&s, 0.0) && inside(&s, 355.0) && inside(&s, 5.0));
    assert!(!inside(&s, 20.0) && !inside(&s, 180.0));
}

fn overlap(a: &Obb, b: &Obb) -> bool {
    // Separating-axis test of two rectangles in the ground plane.
    let axes = [
        (a.cos, a.sin),
        (-a.sin, a.cos),
        (b.cos, b.sin),
        (-b.sin, b.cos),
    ];
    let corners = |o: &Obb| {
        let mut v = Vec::new();
        for (sx, sy) in [(1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)] {
            let (lx, ly) = (sx * o.half_len_m, sy * o.half_wid_m);
            v.push((
                o.cx + lx * o.cos - ly * o.sin,
                o.cy + lx * o.sin + ly * o.cos,
            ));
        }
        v
    };
    let (ca, cb) = (corners(a), corners(b));
    axes.iter().all(|(ax, ay)| {
        let pa: Vec<f64> = ca.iter().map(|(x, y)| x * ax + y * ay).collect();
        let pb: Vec<f64> = cb.iter().map(|(x, y)| x * ax + y * ay).collect();
        let (amin, amax) = pa
            .iter()
            .fold((f64::MAX, f64::MIN), |m, v| (m.0.min(*v), m.1.max(*v)));
        let (bmin, bmax) = pb
            .iter()
            .fold((f64::MAX, f64::MIN), |m, v| (m.0.min(*v), m.1.max(*v)));
        amax > bmin && bmax > amin
    })
}

/// The built-in traffic never collides (ego with actors, actors with each other, ego with the
/// static world), and the ego stays below 3 m/s in the parking scenario.
#[test]
fn builtin_traffic_is_collision_free() {
    for (name, _) in BUILTIN_SCENARIOS {
        let def = builtin(name);
        let world = world_of(&def, def.duration_s);
        let mut t = 0.0;
        while t <= def.duration_s {
            let (x, y, yaw) = world.ego.center(t);
            let ego = Obb::new(
                x,
                y,
                def.ego.size_m,
                yaw,
                world::Material::Static(scenario::StaticKind::Wall),
                usize::MAX,
            );
            let actors = world.actor_boxes(t);
            for (i, a) in actors.iter().enumerate() {
                assert!(
                    !overlap(&ego, a),
                    "{name}: ego hits actor {} at t={t:.2}",
                    world.actors[i].id
                );
                for (j, b) in actors.iter().enumerate().skip(i + 1) {
                    assert!(
                        !overlap(a, b),
                        "{name}: actors {} and {} collide at t={t:.2}",
                        world.actors[i].id,
                        world.actors[j].id
                    );
                }
            }
            for s in &world.statics {
                if s.z_max_m > 0.3 {
                    assert!(
                        !overlap(&ego, s),
                        "{name}: ego hits a static {:?} at t={t:.2}",
                        s.material
                    );
                }
            }
            if *name == "parking" {
                assert!(world.ego.kin(t).speed_mps < 3.0);
            }
            t += 0.05;
        }
    }
}

#[test]
fn highway_ego_brakes_for_cut_in() {
    let def = builtin("highway_cut_in");
    let world = world_of(&def, 20.0);
    let v_min = (0..200)
        .map(|k| world.ego.kin(k as f64 * 0.1).speed_mps)
        .fold(f64::MAX, f64::min);
    assert!(v_min < 23.0, "ego should brake, min speed {v_min}");
}

#[test]
fn imu_at_rest_measures_gravity_and_parking_ultrasonics_are_close() {
    let def = builtin("parking");
    let world = world_of(&def, 20.0);
    let (w, f) = sensors::ImuModel::truth(
        &world,
        &sensors::base_from_mount(&def.sensors.imu.mount),
        19.5,
    );
    assert!(w.norm() < 1e-6, "{w:?}");
    assert!(
        (f.z - sensors::GRAVITY_MPS2).abs() < 1e-3 && f.x.abs() < 1e-3,
        "{f:?}"
    );
    assert!(
        world.ego.kin(19.5).speed_mps < 1e-3,
        "ego is parked at the end"
    );
    let boxes = sensors::all_boxes(&world, 19.5);

    let mut close = 0;
    for i in 0..def.sensors.ultrasonic.positions.len() {
        let Some(u) = sensors::Ultrasonic::new(&def.sensors.ultrasonic, i, None, 0) else {
            continue;
        };
        if let Some(d) = u.nearest(&world, 19.5, &boxes) {
            if (0.3..=2.0).contains(&d) {
                close += 1;
            }
        }
    }
    assert!(
        close >= 6,
        "{close} ultrasonic sensors see obstacles within 0.3-2 m"
    );
}

#[test]
fn degradation_faults_show_in_the_data() {
    let def = builtin("sensor_degradation");
    let world = world_of(&def, 20.0);
    // Radar misalignment: the same seed draws the same surface points and noise, so every
    // return of the faulty radar has a clean twin at the same range and elevation whose
    // azimuth is 2 deg larger (the sensor is physically yawed by +2 deg, tf stays nominal).
    let mut rdef = def.sensors.radar_front.clone();
    rdef.clutter_per_scan = 0.0;
    rdef.ghost_probability = 0.0;
    let noise_rad = rdef.azimuth_noise_deg.to_radians();
    let mut clean = Radar::new(&rdef, None, 3);
    let mut bad = Radar::new(&rdef, Some((0.0, 2f64.to_radians())), 3);
    let (mut matched, mut total) = (0usize, 0usize);
    let mut diffs: Vec<f64> = Vec::new();
    for k in 0..40 {
        let t = 0.5 * f64::from(k);
        let sc = clean.scan(&world, t, EPOCH_NS);
        let sb = bad.scan(&world, t, EPOCH_NS);
        for r in &sb.returns {
            total += 1;
            let twin = sc
                .returns
                .iter()
                .filter(|c| {
                    (c.range - r.range).abs() < 0.05 && (c.elevation - r.elevation).abs() < 1e-3
                })
                .min_by(|a, b| {
                    (a.azimuth - r.azimuth - 2f32.to_radians())
                        .abs()
                        .total_cmp(&(b.azimuth - r.azimuth - 2f32.to_radians()).abs())
                });
            if let Some(c) = twin {
                matched += 1;
                diffs.push(f64::from(r.azimuth) - f64::from(c.azimuth));
            }
        }
    }
    assert!(
        total > 100 && matched * 10 >= total * 9,
        "{matched} of {total} matched"
    );
    // Within noise: 4 sigma of the difference of two noisy azimuths.
    let tol = 4.0 * std::f64::consts::SQRT_2 * noise_rad;
    let good = diffs
        .iter()
        .filter(|d| (**d + 2f64.to_radians()).abs() <= tol)
        .count();
    assert!(
        good * 100 >= diffs.len() * 98,
        "{good} of {} within noise",
        diffs.len()
    );
    let mean = diffs.iter().sum::<f64>() / diffs.len() as f64;
    assert!(
        (mean.to_degrees() + 2.0).abs() < 0.05,
        "mean azimuth difference {} deg",
        mean.to_degrees()
    );
    // Blocked sector: late sweeps have no returns in 20..65 deg.
    let blocked = sensors::BlockedSector {
        az_min_rad: 20f64.to_radians(),
        az_max_rad: 65f64.to_radians(),
        onset_s: 2.0,
        full_s: 18.0,
        max_dropout: 1.0,
    };
    let mut lidar = Lidar::new(&def.sensors.lidar, Some(blocked), 9);
    let sector_points = |lidar: &mut Lidar, t0: f64| {
        let s = lidar.sweep(&world, t0, EPOCH_NS);
        s.cloud
            .data
            .chunks_exact(20)
            .filter(|p| {
                let az = f64::from(f32_at(p, 4))
                    .atan2(f64::from(f32_at(p, 0)))
                    .to_degrees();
                (21.0..64.0).contains(&az)
            })
            .count()
    };
    let early = sector_points(&mut lidar, 1.0);
    let mid = sector_points(&mut lidar, 10.0);
    let late = sector_points(&mut lidar, 18.5);
    assert!(
        early > 1000 && mid < early * 7 / 10 && late == 0,
        "{early} {mid} {late}"
    );
}

#[test]
#[ignore]
fn trace_ego() {
    let name = std::env::var("SCN").unwrap_or_else(|_| "parking".into());
    let def = builtin(&name);
    let world = world_of(&def, def.duration_s);
    for k in 0..=40 {
        let t = k as f64 * 0.5;
        let kin = world.ego.kin(t);
        let acts: Vec<String> = world
            .actors
            .iter()
            .filter(|a| a.class.is_vru() || a.agent.kin(t).speed_mps > 0.0)
            .map(|a| {
                let k = a.agent.kin(t);
                format!(
                    "{}:({:.1},{:.1},{:.1})",
                    a.id, k.pose.trans.x, k.pose.trans.y, k.speed_mps
                )
            })
            .collect();
        eprintln!(
            "t={t:4.1} ego ({:.2},{:.2}) yaw {:.0} v {:.2} | {}",
            kin.pose.trans.x,
            kin.pose.trans.y,
            kin.yaw_rad.to_degrees(),
            kin.speed_mps,
            acts.join(" ")
        );
    }
}

/// Full-length generation of every built-in scenario with timing (run with `--ignored`).
#[test]
#[ignore]
fn measure_full_generation() {
    let tmp = match tempfile::tempdir() {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    for (name, _) in BUILTIN_SCENARIOS {
        let def = builtin(name);
        let start = std::time::Instant::now();
        let rep = gen(&def, def.duration_s, &tmp.path().join(name));
        let wall = start.elapsed().as_secs_f64();
        eprintln!(
            "{name}: {} msgs, {:.1} s simulated in {wall:.2} s wall ({:.1}x), lidar points {}..{}, faults {}",
            rep.messages,
            rep.simulated_s,
            rep.simulated_s / wall,
            rep.lidar_points_min,
            rep.lidar_points_max,
            rep.faults.len()
        );
    }
}

/// Asserts that `def` fails validation with `InvalidField` naming `field` (and that generate
/// refuses it the same way, without panicking or hanging).
fn assert_invalid(def: &ScenarioDef, field: &str) {
    match def.validate("bad.yaml") {
        Err(SimError::InvalidField {
            input, field: f, ..
        }) => {
            assert_eq!(input, "bad.yaml");
            assert_eq!(f, field);
        }
        other => panic!("{field}: expected InvalidField, got {other:?}"),
    }
    let tmp = match tempfile::tempdir() {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    match generate(def, &GenerateOptions::default(), &tmp.path().join("bag")) {
        Err(SimError::InvalidField { field: f, .. }) => assert_eq!(f, field),
        other => panic!("{field}: generate gave {other:?}"),
    }
}

#[test]
fn duplicate_faults_are_rejected() {
    let base = builtin("sensor_degradation");
    for i in 0..base.faults.len() {
        let mut def = base.clone();
        def.faults.push(base.faults[i].clone());
        assert_invalid(&def, &format!("faults[{}]", base.faults.len()));
        let msg = def
            .validate("x")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(msg.contains(&format!("faults[{i}]")), "{msg}");
    }
    // Different ultrasonic positions may each be stuck.
    let mut def = base.clone();
    let FaultDef::StuckValue {
        onset_s, value_m, ..
    } = base.faults[3].clone()
    else {
        panic!("faults[3] is the stuck ultrasonic")
    };
    def.faults.push(FaultDef::StuckValue {
        component: "ultrasonic/front_left".into(),
        onset_s,
        value_m,
    });
    assert!(def.validate("x").is_ok());
}

/// Every fault is injected, not only the last of its kind: two stuck ultrasonics both read
/// their values, and faults.json lists exactly the definition's faults.
#[test]
fn all_faults_are_injected() {
    let mut def = builtin("sensor_degradation");
    def.faults.push(FaultDef::StuckValue {
        component: "ultrasonic/front_left".into(),
        onset_s: 0.1,
        value_m: 1.25,
    });
    let tmp = match tempfile::tempdir() {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    let dir = tmp.path().join("bag");
    let rep = gen(&def, 0.5, &dir);
    assert_eq!(rep.faults.len(), 5);
    assert_eq!(rep.faults[4].component, "ultrasonic/front_left");
    assert_eq!(rep.faults[4].onset_ns, EPOCH_NS + 100_000_000);
    let ranges = read_topic::<Range>(&dir, &ultrasonic_topic("front_left"));
    let late: Vec<f32> = ranges
        .iter()
        .filter(|r| r.header.stamp.as_nanos() >= EPOCH_NS + 100_000_000)
        .map(|r| r.range)
        .collect();
    assert!(
        late.len() >= 7 && late.iter().all(|r| *r == 1.25f32),
        "{late:?}"
    );
}

/// Each class of bad number is a named `InvalidField` (no panic in rand, no endless timeline
/// loop, no overflow of the nanosecond sums, no unbounded Poisson loop).
#[test]
fn bad_numbers_are_named_errors() {
    let base = builtin("sensor_degradation");
    type Mutate = fn(&mut ScenarioDef);
    fn case(field: &'static str, f: Mutate) -> (&'static str, Mutate) {
        (field, f)
    }
    let cases: Vec<(&str, Mutate)> = vec![
        case("sensors.imu.gyro_bias_radps", |d| {
            d.sensors.imu.gyro_bias_radps = f64::INFINITY
        }),
        case("sensors.imu.accel_bias_mps2", |d| {
            d.sensors.imu.accel_bias_mps2 = f64::NAN
        }),
        case("sensors.imu.gyro_noise_radps", |d| {
            d.sensors.imu.gyro_noise_radps = -1.0
        }),
        case("sensors.imu.accel_bias_walk_mps2_per_sqrt_s", |d| {
            d.sensors.imu.accel_bias_walk_mps2_per_sqrt_s = f64::NAN
        }),
        case("sensors.radar_front.phase_ms", |d| {
            d.sensors.radar_front.phase_ms = f64::NEG_INFINITY
        }),
        case("sensors.camera_front.phase_ms", |d| {
            d.sensors.camera_front.phase_ms = f64::NAN
        }),
        case("sensors.imu.phase_ms", |d| d.sensors.imu.phase_ms = 1e30),
        case("sensors.wheel_odometry.phase_ms", |d| {
            d.sensors.wheel_odometry.phase_ms = -1.0
        }),
        case("sensors.ultrasonic.phase_ms", |d| {
            d.sensors.ultrasonic.phase_ms = f64::INFINITY
        }),
        case("sensors.radar_front.latency_ms", |d| {
            d.sensors.radar_front.latency_ms = -5.0
        }),
        case("sensors.camera_front.latency_ms", |d| {
            d.sensors.camera_front.latency_ms = f64::INFINITY
        }),
        case("sensors.lidar.latency_ms", |d| {
            d.sensors.lidar.latency_ms = 1e300
        }),
        case("sensors.wheel_odometry.speed_noise_mps", |d| {
            d.sensors.wheel_odometry.speed_noise_mps = f64::NAN
        }),
        case("sensors.wheel_odometry.yaw_rate_noise_radps", |d| {
            d.sensors.wheel_odometry.yaw_rate_noise_radps = f64::INFINITY
        }),
        case("sensors.radar_front.clutter_per_scan", |d| {
            d.sensors.radar_front.clutter_per_scan = 1e12
        }),
        case("sensors.camera_front.false_positives_per_frame", |d| {
            d.sensors.camera_front.false_positives_per_frame = 1e9
        }),
        case("sensors.imu.rate_hz", |d| d.sensors.imu.rate_hz = 1e7),
        case("duration_s", |d| d.duration_s = 1e9),
        case("ego.rear_axle_to_center_m", |d| {
            d.ego.rear_axle_to_center_m = f64::NAN
        }),
        case("ego.path.start[0]", |d| d.ego.path.start[0] = 1e12),
        case("world.static[0].to", |d| {
            d.world.static_objects[0].to = Some([1e5, -1.9])
        }),
        case("faults[0].onset_s", |d| {
            if let FaultDef::BlockedSector { onset_s, .. } = &mut d.faults[0] {
                *onset_s = 1e300;
            }
        }),
        case("faults[0].full_s", |d| {
            if let FaultDef::BlockedSector {
                onset_s, full_s, ..
            } = &mut d.faults[0]
            {
                *full_s = *onset_s;
            }
        }),
        case("faults[0].azimuth_min_deg", |d| {
            if let FaultDef::BlockedSector {
                azimuth_min_deg, ..
            } = &mut d.faults[0]
            {
                *azimuth_min_deg = f64::NAN;
            }
        }),
        case("faults[0].azimuth_max_deg", |d| {
            if let FaultDef::BlockedSector {
                azimuth_max_deg, ..
            } = &mut d.faults[0]
            {
                *azimuth_max_deg = 10.0; // before azimuth_min_deg = 20
            }
        }),
        case("faults[1].angle_deg", |d| {
            if let FaultDef::YawMisalignment { angle_deg, .. } = &mut d.faults[1] {
                *angle_deg = f64::INFINITY;
            }
        }),
        case("faults[2].growth_radps_per_s", |d| {
            if let FaultDef::GyroBias {
                growth_radps_per_s, ..
            } = &mut d.faults[2]
            {
                *growth_radps_per_s = f64::NAN;
            }
        }),
        case("faults[2].onset_s", |d| {
            if let FaultDef::GyroBias { onset_s, .. } = &mut d.faults[2] {
                *onset_s = -1.0;
            }
        }),
        case("faults[3].value_m", |d| {
            if let FaultDef::StuckValue { value_m, .. } = &mut d.faults[3] {
                *value_m = f64::NAN;
            }
        }),
    ];
    for (field, mutate) in cases {
        let mut def = base.clone();
        mutate(&mut def);
        assert_invalid(&def, field);
    }
    // The same through the YAML layer: `-.inf` and `.nan` parse as floats.
    let text = BUILTIN_SCENARIOS
        .iter()
        .find(|(n, _)| *n == "sensor_degradation")
        .map(|(_, t)| *t)
        .unwrap_or_default();
    for (from, to, field) in [
        (
            "phase_ms: 3\n",
            "phase_ms: -.inf\n",
            "sensors.radar_front.phase_ms",
        ),
        (
            "gyro_bias_radps: 0.001",
            "gyro_bias_radps: .nan",
            "sensors.imu.gyro_bias_radps",
        ),
        ("duration_s: 20.0", "duration_s: 1.0e6", "duration_s"),
    ] {
        assert!(text.contains(from), "{from}");
        match parse_scenario(&text.replacen(from, to, 1), "t.yaml") {
            Err(SimError::InvalidField { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    // The duration override is capped too.
    let tmp = match tempfile::tempdir() {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    for d in [7200.0, f64::MAX] {
        match generate(
            &base,
            &GenerateOptions {
                duration_s: Some(d),
                seed: None,
            },
            &tmp.path().join("b"),
        ) {
            Err(SimError::InvalidField { input, field, .. }) => {
                assert_eq!(input, "GenerateOptions::duration_s");
                assert_eq!(field, "duration_s");
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(epoch_offset_ns(1e300), None);
    assert_eq!(epoch_offset_ns(f64::NAN), None);
    assert_eq!(epoch_offset_ns(1.5), Some(EPOCH_NS + 1_500_000_000));
}

fn read_topic<M: edgefuse_msgs::RosMessage>(bag: &Path, topic: &str) -> Vec<M> {
    let reader = match edgefuse_bag::BagReader::open(bag) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    reader
        .messages(&edgefuse_bag::ReadOptions {
            topics: Some(vec![topic.to_string()]),
            ..Default::default()
        })
        .map(|m| match m.and_then(|m| m.decode::<M>()) {
            Ok(m) => m,
            Err(e) => panic!("{topic}: {e}"),
        })
        .collect()
}

use edgefuse_msgs::nav_msgs::Odometry;
use edgefuse_msgs::sensor_msgs::{Imu, Range};

fn secs_of(h: &edgefuse_msgs::std_msgs::Header) -> f64 {
    (h.stamp.as_nanos() - EPOCH_NS) as f64 * 1e-9
}

/// IMU specific force in a generated bag against the ground-truth ego of the same bag: over
/// 0.5 s windows with a large acceleration (braking, turning), the mean measured specific
/// force equals the one derived from `/ground_truth/ego` (second differences of the IMU
/// position, rotated into the IMU frame, plus gravity) within bias and noise. Returns the
/// number of windows with a horizontal acceleration above 0.7 m/s².
fn check_imu_against_ground_truth(def: &ScenarioDef, bag: &Path) -> usize {
    let gt: Vec<Odometry> = read_topic(bag, TOPIC_GT_EGO);
    let imu: Vec<Imu> = read_topic(bag, TOPIC_IMU);
    let base_from_imu = sensors::base_from_mount(&def.sensors.imu.mount);
    let r = base_from_imu.trans;
    let pos = |o: &Odometry| {
        let yaw = o.pose.pose.orientation.yaw_rad();
        let (s, c) = yaw.sin_cos();
        let p = &o.pose.pose.position;
        V3::new(p.x + c * r.x - s * r.y, p.y + s * r.x + c * r.y, r.z)
    };
    // Truth at the inner GT samples: (t, specific force in the IMU frame).
    let mut truth: Vec<(f64, V3)> = Vec::new();
    for k in 1..gt.len().saturating_sub(1) {
        let (t0, t1, t2) = (
            secs_of(&gt[k - 1].header),
            secs_of(&gt[k].header),
            secs_of(&gt[k + 1].header),
        );
        let h = t1 - t0;
        assert!((t2 - t1 - h).abs() < 1e-9 && (h - 0.01).abs() < 1e-9);
        let a = (pos(&gt[k + 1]) - pos(&gt[k]) * 2.0 + pos(&gt[k - 1])) * (1.0 / (h * h));
        let yaw = gt[k].pose.pose.orientation.yaw_rad();
        let odom_from_base = crate::math::Iso::planar(0.0, 0.0, 0.0, yaw);
        let f_base = odom_from_base
            .rot
            .apply_inv(a + V3::new(0.0, 0.0, sensors::GRAVITY_MPS2));
        truth.push((t1, base_from_imu.rot.apply_inv(f_base)));
    }
    let i = &def.sensors.imu;
    let t_end = truth.last().map_or(0.0, |x| x.0);
    let win = 0.5;
    let n_win = ((t_end - 0.02) / win).floor() as usize;
    let tol = i.accel_bias_mps2
        + 3.0 * i.accel_bias_walk_mps2_per_sqrt_s * t_end.sqrt()
        + 4.0 * i.accel_noise_mps2 / 7.0
        + 0.05;
    let mean = |v: &[V3]| v.iter().fold(V3::default(), |a, b| a + *b) * (1.0 / v.len() as f64);
    let mut strong = 0;
    for w in 0..n_win {
        let (lo, hi) = (0.02 + w as f64 * win, 0.02 + (w + 1) as f64 * win);
        let tv: Vec<V3> = truth
            .iter()
            .filter(|(t, _)| *t >= lo && *t < hi)
            .map(|x| x.1)
            .collect();
        let mv: Vec<V3> = imu
            .iter()
            .filter(|m| (lo..hi).contains(&secs_of(&m.header)))
            .map(|m| {
                let a = &m.linear_acceleration;
                V3::new(a.x, a.y, a.z)
            })
            .collect();
        assert!(
            tv.len() >= 45 && mv.len() >= 45,
            "window {lo}: {} {}",
            tv.len(),
            mv.len()
        );
        let (ft, fm) = (mean(&tv), mean(&mv));
        let d = fm - ft;
        assert!(
            d.x.abs() < tol && d.y.abs() < tol && d.z.abs() < tol,
            "{} window [{lo:.2}, {hi:.2}): IMU {fm:?} vs ground truth {ft:?} (tol {tol})",
            def.name
        );
        if ft.x.hypot(ft.y) > 0.7 {
            strong += 1;
        }
    }
    strong
}

/// Checks in generated bags: IMU specific force while braking (sensor_degradation) and
/// turning (urban_intersection) matches the ground-truth ego; the stuck ultrasonic reads
/// exactly its value after onset; the gyro z bias grows as specified; an ultrasonic with
/// nothing in range reads `+inf` (REP 117).
#[test]
fn generated_bag_sensors_match_ground_truth_and_faults() {
    let tmp = match tempfile::tempdir() {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    // Turning: the urban ego turns left on an 8 m arc.
    let urban = builtin("urban_intersection");
    let dir_u = tmp.path().join("urban");
    gen(&urban, urban.duration_s, &dir_u);
    let turning = check_imu_against_ground_truth(&urban, &dir_u);
    assert!(
        turning >= 2,
        "urban_intersection: {turning} windows with |a| > 0.7 m/s2"
    );

    // Braking behind the lead car, with the four faults; no static world, so the ultrasonic
    // ring sees only traffic.
    let mut def = builtin("sensor_degradation");
    def.world.static_objects.clear();
    let dir = tmp.path().join("degradation");
    gen(&def, def.duration_s, &dir);
    let braking = check_imu_against_ground_truth(&def, &dir);
    assert!(
        braking >= 2,
        "sensor_degradation: {braking} windows with |a| > 0.7 m/s2"
    );

    // Stuck ultrasonic: exactly its value from the onset on, never before.
    let (stuck_comp, stuck_onset, stuck_value) = def
        .faults
        .iter()
        .find_map(|f| match f {
            FaultDef::StuckValue {
                component,
                onset_s,
                value_m,
            } => Some((component.clone(), *onset_s, *value_m)),
            _ => None,
        })
        .unwrap_or_default();
    let stuck_name = stuck_comp.trim_start_matches("ultrasonic/").to_string();
    let ranges: Vec<Range> = read_topic(&dir, &ultrasonic_topic(&stuck_name));
    let (after, before): (Vec<&Range>, Vec<&Range>) = ranges
        .iter()
        .partition(|r| secs_of(&r.header) >= stuck_onset);
    assert!(after.len() > 200 && before.len() > 100);
    assert!(after.iter().all(|r| r.range == stuck_value as f32));
    assert!(before.iter().all(|r| r.range != stuck_value as f32));

    // Gyro z bias: mean(gyro z − true yaw rate) over 2 s windows grows by growth · (t − onset)
    // relative to the window before the onset.
    let (g_onset, growth) = def
        .faults
        .iter()
        .find_map(|f| match f {
            FaultDef::GyroBias {
                onset_s,
                growth_radps_per_s,
                ..
            } => Some((*onset_s, *growth_radps_per_s)),
            _ => None,
        })
        .unwrap_or_default();
    let gt: Vec<Odometry> = read_topic(&dir, TOPIC_GT_EGO);
    let imu: Vec<Imu> = read_topic(&dir, TOPIC_IMU);
    let yaw_rate_at = |t: f64| {
        let k = ((t / 0.01).round() as usize).min(gt.len() - 1);
        gt[k].twist.twist.angular.z
    };
    let resid: Vec<(f64, f64)> = imu
        .iter()
        .map(|m| {
            let t = secs_of(&m.header);
            (t, m.angular_velocity.z - yaw_rate_at(t))
        })
        .collect();
    let window_mean = |lo: f64, hi: f64| {
        let v: Vec<f64> = resid
            .iter()
            .filter(|(t, _)| *t >= lo && *t < hi)
            .map(|x| x.1)
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    let b0 = window_mean(0.0, g_onset);
    let i = &def.sensors.imu;
    let tol = 3.0 * i.gyro_bias_walk_radps_per_sqrt_s * def.duration_s.sqrt()
        + 4.0 * i.gyro_noise_radps / 10.0
        + 2e-4;
    let mut lo = g_onset;
    while lo + 2.0 <= def.duration_s {
        let expected = growth * (lo + 1.0 - g_onset);
        let got = window_mean(lo, lo + 2.0) - b0;
        assert!(
            (got - expected).abs() < tol,
            "gyro z bias over [{lo}, {}): {got} vs {expected} (tol {tol})",
            lo + 2.0
        );
        lo += 2.0;
    }
    assert!(
        growth * (def.duration_s - 1.0 - g_onset) > 10.0 * tol,
        "the test must discriminate"
    );

    // REP 117: every reading of a sensor with no object within max_range (+ margin for the
    // 10 Hz ground-truth sampling) is exactly +inf; a finite reading has an object in range.
    let us = &def.sensors.ultrasonic;
    let objects: Vec<edgefuse_msgs::edgefuse_msgs::TrackedObjectArray> =
        read_topic(&dir, TOPIC_GT_OBJECTS);
    let mut clear = 0;
    for p in &us.positions {
        if format!("ultrasonic/{}", p.name) == stuck_comp {
            continue;
        }
        let m = sensors::base_from_mount(&p.mount).trans;
        for r in read_topic::<Range>(&dir, &ultrasonic_topic(&p.name)) {
            let t = secs_of(&r.header);
            let ego = &gt[((t / 0.01).round() as usize).min(gt.len() - 1)];
            let yaw = ego.pose.pose.orientation.yaw_rad();
            let (s, c) = yaw.sin_cos();
            let e = &ego.pose.pose.position;
            let (sx, sy) = (e.x + c * m.x - s * m.y, e.y + s * m.x + c * m.y);
            let objs = &objects[((t / 0.1).round() as usize).min(objects.len() - 1)];
            // Distance from the sensor to each object's rectangle in the ground plane.
            let nearest = objs
                .objects
                .iter()
                .map(|o| {
                    let q = o.pose.pose.orientation.yaw_rad();
                    let (qs, qc) = q.sin_cos();
                    let (dx, dy) = (sx - o.pose.pose.position.x, sy - o.pose.pose.position.y);
                    let lx = (dx * qc + dy * qs).abs() - 0.5 * o.size.x;
                    let ly = (-dx * qs + dy * qc).abs() - 0.5 * o.size.y;
                    lx.max(0.0).hypot(ly.max(0.0))
                })
                .fold(f64::INFINITY, f64::min);
            let margin = 2.0;
            if nearest > us.max_range_m + margin {
                assert_eq!(
                    r.range,
                    f32::INFINITY,
                    "{} at {t}: nothing in range",
                    p.name
                );
                clear += 1;
            }
            if r.range.is_finite() {
                assert!(
                    nearest <= f64::from(r.range) + margin,
                    "{} at {t}: reads {} but the nearest object is {nearest} m away",
                    p.name,
                    r.range
                );
            }
        }
    }
    assert!(clear > 1000, "{clear} readings with nothing in range");
}
