//! The road world: static boxes, paths, and the traffic simulation (IDM car following,
//! speed events, quintic lane changes) precomputed on a fine time grid.

use edgefuse_fusion::geometry::wrap_angle_rad;

use crate::math::{Iso, V3};
use crate::scenario::{
    ActorClass, EgoDef, EventDef, PathDef, ScenarioDef, SegmentDef, SpeedDef, StaticKind,
};

/// Simulation grid step, seconds.
pub const GRID_DT_S: f64 = 0.005;

/// Longest piece a static segment is split into (keeps bounding circles small for culling).
const MAX_PIECE_M: f64 = 10.0;

/// What a box is, for reflectivity, RCS and class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Material {
    /// Static world object.
    Static(StaticKind),
    /// Actor of a class.
    Actor(ActorClass),
}

impl Material {
    /// Diffuse LiDAR reflectivity in [0, 1].
    pub fn reflectivity(self) -> f64 {
        match self {
            Material::Static(StaticKind::Barrier) => 0.45,
            Material::Static(StaticKind::Kerb) => 0.3,
            Material::Static(StaticKind::Building) => 0.25,
            Material::Static(StaticKind::Wall) => 0.3,
            Material::Static(StaticKind::ParkedCar) => 0.35,
            Material::Static(StaticKind::Pole) => 0.5,
            Material::Actor(ActorClass::Car) => 0.35,
            Material::Actor(ActorClass::Truck) => 0.5,
            Material::Actor(ActorClass::Pedestrian) => 0.2,
            Material::Actor(ActorClass::Cyclist) => 0.3,
        }
    }
    /// Radar cross section, dBsm.
    pub fn rcs_dbsm(self) -> f64 {
        match self {
            Material::Static(StaticKind::Barrier) => 5.0,
            Material::Static(StaticKind::Kerb) => -5.0,
            Material::Static(StaticKind::Building) => 15.0,
            Material::Static(StaticKind::Wall) => 10.0,
            Material::Static(StaticKind::ParkedCar) => 10.0,
            Material::Static(StaticKind::Pole) => 3.0,
            Material::Actor(ActorClass::Car) => 10.0,
            Material::Actor(ActorClass::Truck) => 20.0,
            Material::Actor(ActorClass::Pedestrian) => -8.0,
            Material::Actor(ActorClass::Cyclist) => -3.0,
        }
    }
}

/// An upright box (yaw only) standing on `z_min_m`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Obb {
    /// Centre x in `odom`, m.
    pub cx: f64,
    /// Centre y in `odom`, m.
    pub cy: f64,
    /// Bottom z, m.
    pub z_min_m: f64,
    /// Top z, m.
    pub z_max_m: f64,
    /// cos(yaw).
    pub cos: f64,
    /// sin(yaw).
    pub sin: f64,
    /// Half length, m.
    pub half_len_m: f64,
    /// Half width, m.
    pub half_wid_m: f64,
    /// Radius of the bounding circle in the ground plane, m.
    pub radius_m: f64,
    /// What it is.
    pub material: Material,
    /// Actor index (into `World::actors`) or `usize::MAX` for static boxes.
    pub actor: usize,
}

impl Obb {
    /// A box with centre `(cx, cy)` on the ground, size `[l, w, h]`, yaw.
    pub fn new(
        cx: f64,
        cy: f64,
        size_m: [f64; 3],
        yaw_rad: f64,
        material: Material,
        actor: usize,
    ) -> Obb {
        let (sin, cos) = yaw_rad.sin_cos();
        Obb {
            cx,
            cy,
            z_min_m: 0.0,
            z_max_m: size_m[2],
            cos,
            sin,
            half_len_m: 0.5 * size_m[0],
            half_wid_m: 0.5 * size_m[1],
            radius_m: (0.5 * size_m[0]).hypot(0.5 * size_m[1]),
            material,
            actor,
        }
    }

    /// Ray `o + t d` (d need not be unit) against the box: the entry parameter `t > 0`,
    /// or `None` (also when `o` is inside the box). Slab method in the box frame.
    #[inline]
    pub fn ray(&self, o: V3, d: V3) -> Option<f64> {
        let rx = o.x - self.cx;
        let ry = o.y - self.cy;
        let lox = rx * self.cos + ry * self.sin;
        let loy = -rx * self.sin + ry * self.cos;
        let ldx = d.x * self.cos + d.y * self.sin;
        let ldy = -d.x * self.sin + d.y * self.cos;
        let mut t0 = f64::NEG_INFINITY;
        let mut t1 = f64::INFINITY;
        for (orig, dir, lo, hi) in [
            (lox, ldx, -self.half_len_m, self.half_len_m),
            (loy, ldy, -self.half_wid_m, self.half_wid_m),
            (o.z, d.z, self.z_min_m, self.z_max_m),
        ] {
            if dir.abs() < 1e-12 {
                if orig < lo || orig > hi {
                    return None;
                }
            } else {
                let inv = 1.0 / dir;
                let (a, b) = ((lo - orig) * inv, (hi - orig) * inv);
                let (a, b) = if a < b { (a, b) } else { (b, a) };
                t0 = t0.max(a);
                t1 = t1.min(b);
                if t0 > t1 {
                    return None;
                }
            }
        }
        if t0 > 0.0 {
            Some(t0)
        } else {
            None
        }
    }

    /// Signed distance-like test: whether `p` lies within `tol_m` of the box surface.
    pub fn on_surface(&self, p: V3, tol_m: f64) -> bool {
        let rx = p.x - self.cx;
        let ry = p.y - self.cy;
        let lx = rx * self.cos + ry * self.sin;
        let ly = -rx * self.sin + ry * self.cos;
        let zc = 0.5 * (self.z_min_m + self.z_max_m);
        let hz = 0.5 * (self.z_max_m - self.z_min_m);
        let q = [
            lx.abs() - self.half_len_m,
            ly.abs() - self.half_wid_m,
            (p.z - zc).abs() - hz,
        ];
        let outside = V3::new(q[0].max(0.0), q[1].max(0.0), q[2].max(0.0)).norm();
        let inside = q[0].max(q[1]).max(q[2]).min(0.0);
        (outside + inside).abs() <= tol_m
    }

    /// The 8 corners in `odom`.
    pub fn corners(&self) -> [V3; 8] {
        let mut out = [V3::default(); 8];
        let mut i = 0;
        for sx in [-1.0, 1.0] {
            for sy in [-1.0, 1.0] {
                for z in [self.z_min_m, self.z_max_m] {
                    let lx = sx * self.half_len_m;
                    let ly = sy * self.half_wid_m;
                    out[i] = V3::new(
                        self.cx + lx * self.cos - ly * self.sin,
                        self.cy + lx * self.sin + ly * self.cos,
                        z,
                    );
                    i += 1;
                }
            }
        }
        out
    }

    /// A point given in box-normalised coordinates `(u, v, w)` ∈ [-1, 1]³, in `odom`.
    pub fn local_point(&self, u: f64, v: f64, w: f64) -> V3 {
        let lx = u * self.half_len_m;
        let ly = v * self.half_wid_m;
        let zc = 0.5 * (self.z_min_m + self.z_max_m);
        let hz = 0.5 * (self.z_max_m - self.z_min_m);
        V3::new(
            self.cx + lx * self.cos - ly * self.sin,
            self.cy + lx * self.sin + ly * self.cos,
            zc + w * hz,
        )
    }
}

/// Nearest hit of a ray over a set of boxes and optionally the ground plane `z = 0`.
/// Returns `(t, index)`, index `usize::MAX` for the ground.
#[inline]
pub fn cast(o: V3, d: V3, boxes: &[Obb], ground: bool, t_max: f64) -> Option<(f64, usize)> {
    let mut best = (t_max, usize::MAX);
    let mut hit = false;
    if ground && d.z < 0.0 && o.z > 0.0 {
        let t = -o.z / d.z;
        if t < best.0 {
            best = (t, usize::MAX);
            hit = true;
        }
    }
    for (i, b) in boxes.iter().enumerate() {
        if let Some(t) = b.ray(o, d) {
            if t < best.0 {
                best = (t, i);
                hit = true;
            }
        }
    }
    hit.then_some(best)
}

/// A chain of straights and arcs, parameterised by arc length.
#[derive(Debug, Clone)]
pub struct Path {
    /// Per segment: start x, start y, start heading, start s, length, curvature (1/m, + left).
    segs: Vec<[f64; 6]>,
}

/// A point on a path: position, heading and curvature.
#[derive(Debug, Clone, Copy)]
pub struct PathPoint {
    /// x, m.
    pub x: f64,
    /// y, m.
    pub y: f64,
    /// Heading, rad.
    pub heading_rad: f64,
}

impl Path {
    /// Builds a path from its definition.
    pub fn new(def: &PathDef) -> Path {
        let mut x = def.start[0];
        let mut y = def.start[1];
        let mut h = def.heading_deg.to_radians();
        let mut s = 0.0;
        let mut segs = Vec::new();
        for seg in &def.segments {
            let (len, k) = match seg {
                SegmentDef::Straight { straight_m } => (*straight_m, 0.0),
                SegmentDef::Arc { arc } => (
                    arc.radius_m * arc.angle_deg.to_radians().abs(),
                    arc.angle_deg.signum() / arc.radius_m,
                ),
            };
            segs.push([x, y, h, s, len, k]);
            let p = eval_seg(&[x, y, h, s, len, k], len);
            x = p.x;
            y = p.y;
            h = p.heading_rad;
            s += len;
        }
        // Continue straight beyond the end.
        segs.push([x, y, h, s, f64::INFINITY, 0.0]);
        Path { segs }
    }

    /// The point at arc length `s_m` (before 0: straight extension backwards).
    pub fn at(&self, s_m: f64) -> PathPoint {
        let mut seg = &self.segs[0];
        for g in &self.segs {
            if s_m >= g[3] {
                seg = g;
            } else {
                break;
            }
        }
        eval_seg(seg, s_m - seg[3])
    }
}

fn eval_seg(g: &[f64; 6], ds: f64) -> PathPoint {
    let (x0, y0, h0, k) = (g[0], g[1], g[2], g[5]);
    if k.abs() < 1e-12 || ds < 0.0 {
        PathPoint {
            x: x0 + ds * h0.cos(),
            y: y0 + ds * h0.sin(),
            heading_rad: h0,
        }
    } else {
        let h = h0 + k * ds;
        PathPoint {
            x: x0 + (h.sin() - h0.sin()) / k,
            y: y0 - (h.cos() - h0.cos()) / k,
            heading_rad: h,
        }
    }
}

/// Longitudinal state on the grid: arc length, speed, acceleration over the following step.
#[derive(Debug, Clone, Copy, Default)]
struct LonState {
    s_m: f64,
    v_mps: f64,
    a_mps2: f64,
}

/// A moving agent (ego or actor) with its precomputed longitudinal trajectory.
#[derive(Debug, Clone)]
pub struct Agent {
    path: Path,
    lane_changes: Vec<(f64, f64, f64)>,
    states: Vec<LonState>,
    /// Box size `[l, w, h]`, m.
    pub size_m: [f64; 3],
    /// Offset from the path point forward to the box centre (ego: rear axle to centre), m.
    pub center_offset_m: f64,
}

/// Kinematic sample of an agent's reference point (path point plus lateral offset).
#[derive(Debug, Clone, Copy)]
pub struct Kin {
    /// Pose of the reference point (z = 0) with yaw = heading.
    pub pose: Iso,
    /// Heading, rad.
    pub yaw_rad: f64,
    /// Speed along the path, m/s.
    pub speed_mps: f64,
}

fn quintic(u: f64) -> (f64, f64) {
    let u = u.clamp(0.0, 1.0);
    (
        u * u * u * (10.0 - 15.0 * u + 6.0 * u * u),
        30.0 * u * u * (1.0 - u) * (1.0 - u),
    )
}

impl Agent {
    /// Lateral offset (m, + left) and its rate (m/s) at `t_s`.
    fn lateral(&self, t_s: f64) -> (f64, f64) {
        let mut d = 0.0;
        let mut dd = 0.0;
        for &(at, off, dur) in &self.lane_changes {
            let (p, dp) = quintic((t_s - at) / dur);
            d += off * p;
            if t_s > at && t_s < at + dur {
                dd += off * dp / dur;
            }
        }
        (d, dd)
    }

    fn lon(&self, t_s: f64) -> LonState {
        let n = self.states.len();
        if n == 0 {
            return LonState::default();
        }
        let k = (t_s / GRID_DT_S).floor();
        let idx = if k < 0.0 { 0 } else { (k as usize).min(n - 1) };
        let st = self.states[idx];
        let tau = t_s - idx as f64 * GRID_DT_S;
        if tau < 0.0 {
            // Before t = 0: extrapolate at constant speed.
            return LonState {
                s_m: st.s_m + st.v_mps * tau,
                v_mps: st.v_mps,
                a_mps2: 0.0,
            };
        }
        let a = if idx + 1 < n { st.a_mps2 } else { 0.0 };
        LonState {
            s_m: st.s_m + st.v_mps * tau + 0.5 * a * tau * tau,
            v_mps: (st.v_mps + a * tau).max(0.0),
            a_mps2: a,
        }
    }

    /// Reference-point kinematics at `t_s`.
    pub fn kin(&self, t_s: f64) -> Kin {
        let lon = self.lon(t_s);
        let p = self.path.at(lon.s_m);
        let (d, dd) = self.lateral(t_s);
        let (s, c) = p.heading_rad.sin_cos();
        let x = p.x - d * s;
        let y = p.y + d * c;
        let slip = if lon.v_mps > 0.3 {
            dd.atan2(lon.v_mps)
        } else {
            0.0
        };
        let yaw = wrap_angle_rad(p.heading_rad + slip);
        Kin {
            pose: Iso::planar(x, y, 0.0, yaw),
            yaw_rad: yaw,
            speed_mps: lon.v_mps,
        }
    }

    /// Box centre `(x, y)` and yaw at `t_s`.
    pub fn center(&self, t_s: f64) -> (f64, f64, f64) {
        let k = self.kin(t_s);
        let (s, c) = k.yaw_rad.sin_cos();
        (
            k.pose.trans.x + self.center_offset_m * c,
            k.pose.trans.y + self.center_offset_m * s,
            k.yaw_rad,
        )
    }

    /// Velocity of the reference point in `odom` (central difference), m/s.
    pub fn velocity(&self, t_s: f64) -> V3 {
        let h = 0.002;
        let a = self.kin(t_s - h).pose.trans;
        let b = self.kin(t_s + h).pose.trans;
        (b - a) * (1.0 / (2.0 * h))
    }

    /// Yaw rate (central difference), rad/s.
    pub fn yaw_rate(&self, t_s: f64) -> f64 {
        let h = 0.002;
        wrap_angle_rad(self.kin(t_s + h).yaw_rad - self.kin(t_s - h).yaw_rad) / (2.0 * h)
    }

    /// Box velocity at its centre in `odom`: `v_ref + ω × r`, m/s.
    pub fn center_velocity(&self, t_s: f64) -> V3 {
        let (s, c) = self.kin(t_s).yaw_rad.sin_cos();
        let w = self.yaw_rate(t_s);
        let r = V3::new(self.center_offset_m * c, self.center_offset_m * s, 0.0);
        self.velocity(t_s) + V3::new(0.0, 0.0, w).cross(r)
    }
}

/// One actor of the world.
#[derive(Debug, Clone)]
pub struct Actor {
    /// Ground-truth id.
    pub id: u64,
    /// Class.
    pub class: ActorClass,
    /// Motion.
    pub agent: Agent,
}

impl Actor {
    /// The actor's box at `t_s`; `index` is its position in `World::actors`.
    pub fn obb(&self, t_s: f64, index: usize) -> Obb {
        let (x, y, yaw) = self.agent.center(t_s);
        Obb::new(
            x,
            y,
            self.agent.size_m,
            yaw,
            Material::Actor(self.class),
            index,
        )
    }
}

/// The simulated world over `[0, end_s]`.
#[derive(Debug, Clone)]
pub struct World {
    /// Static boxes.
    pub statics: Vec<Obb>,
    /// The ego vehicle (reference point = `base_link`).
    pub ego: Agent,
    /// Traffic.
    pub actors: Vec<Actor>,
}

struct Driver {
    speed: SpeedDef,
    events: Vec<EventDef>,
    target_mps: f64,
    brake: Option<(f64, f64)>,
    next_event: usize,
    vru: bool,
}

impl Driver {
    fn new(speed: &SpeedDef, events: &[EventDef], vru: bool) -> Driver {
        let mut events: Vec<EventDef> = events
            .iter()
            .filter(|e| !matches!(e, EventDef::LaneChange { .. }))
            .cloned()
            .collect();
        events.sort_by(|a, b| a.at_s().total_cmp(&b.at_s()));
        Driver {
            speed: speed.clone(),
            events,
            target_mps: speed.target_mps,
            brake: None,
            next_event: 0,
            vru,
        }
    }
}

fn lane_changes(events: &[EventDef]) -> Vec<(f64, f64, f64)> {
    events
        .iter()
        .filter_map(|e| match e {
            EventDef::LaneChange {
                at_s,
                offset_m,
                duration_s,
            } => Some((*at_s, *offset_m, *duration_s)),
            _ => None,
        })
        .collect()
}

fn agent(
    path: &PathDef,
    size_m: [f64; 3],
    center_offset_m: f64,
    events: &[EventDef],
    initial_mps: f64,
) -> Agent {
    Agent {
        path: Path::new(path),
        lane_changes: lane_changes(events),
        states: vec![LonState {
            s_m: 0.0,
            v_mps: initial_mps,
            a_mps2: 0.0,
        }],
        size_m,
        center_offset_m,
    }
}

fn static_boxes(def: &ScenarioDef) -> Vec<Obb> {
    let mut out = Vec::new();
    for s in &def.world.static_objects {
        let m = Material::Static(s.kind);
        match (s.from, s.to, s.center, s.size_m) {
            (Some(a), Some(b), _, _) => {
                let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
                let len = dx.hypot(dy);
                let yaw = dy.atan2(dx);
                let n = (len / MAX_PIECE_M).ceil().max(1.0) as usize;
                let piece = len / n as f64;
                let h = s.height_m.unwrap_or(1.0);
                let th = s.thickness_m.unwrap_or(0.3);
                for i in 0..n {
                    let f = (i as f64 + 0.5) / n as f64;
                    out.push(Obb::new(
                        a[0] + f * dx,
                        a[1] + f * dy,
                        [piece, th, h],
                        yaw,
                        m,
                        usize::MAX,
                    ));
                }
            }
            (_, _, Some(c), Some(size)) => out.push(Obb::new(
                c[0],
                c[1],
                size,
                s.yaw_deg.to_radians(),
                m,
                usize::MAX,
            )),
            _ => {}
        }
    }
    out
}

/// The nearest agent on `agents[i]`'s path ahead: `(gap_m, closing_speed_mps)`. The path is
/// sampled every metre (with the current lateral offset) up to `10 m + 4 s · v`; another agent
/// is on it when its box centre lies within the corridor of both half widths plus 0.3 m around
/// a sample. Same-direction agents (heading within 45° of the path tangent) and VRUs count.
fn find_leader(
    agents: &[Agent],
    snap: &[(f64, f64, f64, f64)],
    vrus: &[bool],
    i: usize,
    t: f64,
) -> Option<(f64, f64)> {
    let me = &agents[i];
    let lon = me.lon(t);
    let v = lon.v_mps;
    let look_m = (10.0 + 4.0 * v).min(150.0);
    let (d_lat, _) = me.lateral(t);
    let (xi, yi, _, _) = snap[i];
    let front_m = me.center_offset_m + 0.5 * me.size_m[0];
    let mut best: Option<(f64, f64)> = None;
    for (j, &(xj, yj, hj, vj)) in snap.iter().enumerate() {
        if j == i || (xj - xi).hypot(yj - yi) > look_m + me.center_offset_m + 15.0 {
            continue;
        }
        let other = &agents[j];
        let corridor = 0.5 * me.size_m[1]
            + 0.5 * other.size_m[1].max(if vrus[j] { other.size_m[0] } else { 0.0 })
            + 0.3;
        let mut d = 0.0;
        while d <= look_m {
            let p = me.path.at(lon.s_m + d);
            let (s, c) = p.heading_rad.sin_cos();
            let (px, py) = (p.x - d_lat * s, p.y + d_lat * c);
            let (dx, dy) = (xj - px, yj - py);
            let along = dx * c + dy * s;
            let across = -dx * s + dy * c;
            if along.abs() <= 0.5 && across.abs() <= corridor {
                let rel = wrap_angle_rad(hj - p.heading_rad);
                let same_dir = rel.abs() < 45f64.to_radians();
                if same_dir || vrus[j] {
                    let along_o = if same_dir {
                        0.5 * other.size_m[0]
                    } else {
                        0.5 * other.size_m[1]
                    };
                    let gap = d + along - front_m - along_o;
                    let v_lead = if same_dir { vj * rel.cos() } else { 0.0 };
                    if best.is_none_or(|(g, _)| gap < g) {
                        best = Some((gap, v - v_lead));
                    }
                }
                break;
            }
            d += 1.0;
        }
    }
    best
}

/// IDM acceleration of `me` given the gap to its leader, m/s².
fn idm(sp: &SpeedDef, v: f64, v0: f64, leader: Option<(f64, f64)>) -> f64 {
    let a_max = sp.max_accel_mps2;
    let b = sp.comfort_decel_mps2;
    let free = if v0 > 0.05 {
        a_max * (1.0 - (v / v0).powi(4))
    } else if v > 0.0 {
        -b
    } else {
        0.0
    };
    let free = free.max(-b);
    let inter = match leader {
        Some((gap, dv)) => {
            let s_star = sp.min_gap_m
                + (v * sp.time_headway_s + v * dv / (2.0 * (a_max * b).sqrt())).max(0.0);
            let gap = gap.max(0.1);
            -a_max * (s_star / gap).powi(2)
        }
        None => 0.0,
    };
    (free + inter).max(-9.0)
}

impl World {
    /// Builds the world and integrates all agents over `[0, end_s]` on the grid.
    pub fn simulate(def: &ScenarioDef, end_s: f64) -> World {
        let ego_def: &EgoDef = &def.ego;
        let mut agents: Vec<Agent> = Vec::with_capacity(def.actors.len() + 1);
        let mut drivers: Vec<Driver> = Vec::with_capacity(def.actors.len() + 1);
        agents.push(agent(
            &ego_def.path,
            ego_def.size_m,
            ego_def.rear_axle_to_center_m,
            &ego_def.events,
            ego_def.speed.initial_mps,
        ));
        drivers.push(Driver::new(&ego_def.speed, &ego_def.events, false));
        for a in &def.actors {
            agents.push(agent(
                &a.path,
                a.size_m,
                0.0,
                &a.events,
                a.speed.initial_mps,
            ));
            drivers.push(Driver::new(&a.speed, &a.events, a.class.is_vru()));
        }
        let steps = (end_s / GRID_DT_S).ceil() as usize + 1;
        let n = agents.len();
        let vrus: Vec<bool> = drivers.iter().map(|d| d.vru).collect();
        for k in 0..steps {
            let t = k as f64 * GRID_DT_S;
            // Current poses (box centres), headings and speeds.
            let snap: Vec<(f64, f64, f64, f64)> = agents
                .iter()
                .map(|ag| {
                    let st = ag.states[k];
                    let (x, y, yaw) = ag.center(t);
                    (x, y, yaw, st.v_mps)
                })
                .collect();
            for i in 0..n {
                let dr = &mut drivers[i];
                while dr.next_event < dr.events.len() && dr.events[dr.next_event].at_s() <= t {
                    match dr.events[dr.next_event] {
                        EventDef::SetSpeed { target_mps, .. } => {
                            dr.target_mps = target_mps;
                            dr.brake = None;
                        }
                        EventDef::Brake {
                            decel_mps2, to_mps, ..
                        } => {
                            dr.brake = Some((decel_mps2, to_mps));
                            dr.target_mps = to_mps;
                        }
                        EventDef::LaneChange { .. } => {}
                    }
                    dr.next_event += 1;
                }
                let st = agents[i].states[k];
                let v = st.v_mps;
                let leader = if dr.speed.follow {
                    find_leader(&agents, &snap, &vrus, i, t)
                } else {
                    None
                };
                let mut a = if let Some((decel, to)) = dr.brake {
                    if v > to {
                        -decel
                    } else {
                        dr.brake = None;
                        0.0
                    }
                } else {
                    idm(&dr.speed, v, dr.target_mps, None)
                };
                if let Some(stop) = dr.speed.stop_at_m {
                    let gap = stop - st.s_m + dr.speed.min_gap_m;
                    if gap < 30.0 + v * v {
                        let to_stop = if gap <= dr.speed.min_gap_m + 0.01 {
                            Some((0.1, v))
                        } else {
                            Some((gap, v))
                        };
                        a = a.min(idm(&dr.speed, v, dr.target_mps, to_stop));
                    }
                }
                if let Some(l) = leader {
                    a = a.min(idm(&dr.speed, v, dr.target_mps, Some(l)));
                }
                if v + a * GRID_DT_S < 0.0 {
                    a = -v / GRID_DT_S;
                }
                let ag = &mut agents[i];
                ag.states[k].a_mps2 = a;
                ag.states.push(LonState {
                    s_m: st.s_m + v * GRID_DT_S + 0.5 * a * GRID_DT_S * GRID_DT_S,
                    v_mps: (v + a * GRID_DT_S).max(0.0),
                    a_mps2: 0.0,
                });
            }
        }
        let mut agents = agents.into_iter();
        let ego = agents
            .next()
            .unwrap_or_else(|| agent(&ego_def.path, ego_def.size_m, 0.0, &[], 0.0));
        let actors = agents
            .zip(def.actors.iter())
            .map(|(ag, a)| Actor {
                id: a.id,
                class: a.class,
                agent: ag,
            })
            .collect();
        World {
            statics: static_boxes(def),
            ego,
            actors,
        }
    }

    /// All actor boxes at `t_s` (index = actor index).
    pub fn actor_boxes(&self, t_s: f64) -> Vec<Obb> {
        self.actors
            .iter()
            .enumerate()
            .map(|(i, a)| a.obb(t_s, i))
            .collect()
    }

    /// `odom_from_base` at `t_s`.
    pub fn odom_from_base(&self, t_s: f64) -> Iso {
        self.ego.kin(t_s).pose
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::PathDef;

    #[test]
    fn arc_path_is_continuous_and_turns() {
        let p = Path::new(&PathDef {
            start: [0.0, 0.0],
            heading_deg: 0.0,
            segments: vec![
                SegmentDef::Straight { straight_m: 10.0 },
                SegmentDef::Arc {
                    arc: crate::scenario::ArcDef {
                        radius_m: 10.0,
                        angle_deg: 90.0,
                    },
                },
            ],
        });
        let end = p.at(10.0 + 10.0 * std::f64::consts::FRAC_PI_2);
        assert!(
            (end.x - 20.0).abs() < 1e-9 && (end.y - 10.0).abs() < 1e-9,
            "{end:?}"
        );
        assert!((end.heading_rad - std::f64::consts::FRAC_PI_2).abs() < 1e-9);
        let beyond = p.at(40.0);
        assert!((beyond.x - 20.0).abs() < 1e-9 && beyond.y > 10.0);
    }

    #[test]
    fn ray_hits_box_face() {
        let b = Obb::new(
            10.0,
            0.0,
            [4.0, 2.0, 1.5],
            0.0,
            Material::Actor(ActorClass::Car),
            0,
        );
        let t = b.ray(V3::new(0.0, 0.0, 1.0), V3::new(1.0, 0.0, 0.0));
        assert_eq!(t, Some(8.0));
        assert!(b
            .ray(V3::new(0.0, 3.0, 1.0), V3::new(1.0, 0.0, 0.0))
            .is_none());
        assert!(b.on_surface(V3::new(8.0, 0.3, 1.0), 1e-9));
    }
}
