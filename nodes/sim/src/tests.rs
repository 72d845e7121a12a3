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
    assert_eq!(first_diff, None, "same definition and seed must give identical .mcap files");
    let meta = |d: &std::path::Path| std::fs::read_to_string(d.join("metadata.yaml")).unwrap_or_default();
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

#[test]
fn camera_boxes_contain_projected_centres() {
    let mut def = builtin("urban_intersection");
    def.sensors.camera_front.false_positives_per_frame = 0.0;
    let world = world_of(&def, 20.0);
    let mut cam = Camera::new(&def.sensors.camera_front, 2);
    let mut n = 0;
    for k in 0..60 {
        let t = k as f64 / 3.0;
        let dets = cam.detect(&world, t, EPOCH_NS);
        let odom_from_cam = cam.odom_from_camera(&world, t);
        for d in &dets.detections {
            let Ok(id) = d.id.parse::<u64>() else {
                panic!("true detections carry the actor id")
            };
            let Some(i) = world.actors.iter().position(|a| a.id == id) else {
                panic!("id {id}")
            };
            let b = world.actors[i].obb(t, i);
            let c = odom_from_cam.inv_point(V3::new(b.cx, b.cy, 0.5 * b.z_max_m));
            assert!(c.z > 0.0);
            // The centre may be outside the image for partly visible objects: clip it.
            let (u, v) = cam.project(c);
            let (u, v) = (
                u.clamp(0.0, f64::from(def.sensors.camera_front.width)),
                v.clamp(0.0, f64::from(def.sensors.camera_front.height)),
            );
            let m = 8.0; // 4σ of the corner noise
            let bb = &d.bbox;
            assert!(
                (u - bb.center.position.x).abs() <= 0.5 * bb.size_x + m
                    && (v - bb.center.position.y).abs() <= 0.5 * bb.size_y + m,
                "t={t} id={id}: centre ({u}, {v}) outside {bb:?}"
            );
            n += 1;
        }
    }
    assert!(n > 50, "{n} detections");
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
    // Radar misalignment: same RNG, nominal vs faulty azimuths differ by -2 deg.
    let mut clean = Radar::new(&def.sensors.radar_front, None, 3);
    let mut bad = Radar::new(&def.sensors.radar_front, Some((0.0, 2f64.to_radians())), 3);
    assert!(!clean.scan(&world, 5.0, EPOCH_NS).returns.is_empty());
    assert!(!bad.scan(&world, 5.0, EPOCH_NS).returns.is_empty());
    // The physical sensor is yawed by +2 deg, so a fixed point appears 2 deg further right.
    let sensor_clean = clean.odom_from_sensor(&world, 5.0);
    let sensor_bad = bad.odom_from_sensor(&world, 5.0);
    let p = V3::new(60.0, 3.0, 0.5);
    let az = |s: &crate::math::Iso| {
        let q = s.inv_point(p);
        q.y.atan2(q.x)
    };
    assert!((az(&sensor_bad) - az(&sensor_clean) + 2f64.to_radians()).abs() < 1e-9);
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
