//! Tracker configuration: every tunable with its unit and default.

use crate::types::ObjectClass;

/// Process noise of the IMM motion models for one object class.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessNoise {
    /// Standard deviation of the white acceleration driving the velocity, m/s^2.
    pub accel_std_mps2: f64,
    /// Standard deviation of the white turn acceleration driving the yaw rate of the
    /// constant-turn model, rad/s^2.
    pub turn_accel_std_radps2: f64,
}

/// Process noise per class: cars are stiff, pedestrians change direction quickly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassProcessNoise {
    /// Used while the fused class is [`ObjectClass::Unknown`].
    pub unknown: ProcessNoise,
    /// Cars and vans.
    pub car: ProcessNoise,
    /// Trucks and buses.
    pub truck: ProcessNoise,
    /// Pedestrians.
    pub pedestrian: ProcessNoise,
    /// Cyclists.
    pub cyclist: ProcessNoise,
}

impl ClassProcessNoise {
    /// The noise for `class`.
    pub fn for_class(&self, class: ObjectClass) -> ProcessNoise {
        match class {
            ObjectClass::Unknown => self.unknown,
            ObjectClass::Car => self.car,
            ObjectClass::Truck => self.truck,
            ObjectClass::Pedestrian => self.pedestrian,
            ObjectClass::Cyclist => self.cyclist,
        }
    }
}

impl Default for ClassProcessNoise {
    fn default() -> Self {
        Self {
            unknown: ProcessNoise {
                accel_std_mps2: 2.0,
                turn_accel_std_radps2: 0.6,
            },
            car: ProcessNoise {
                accel_std_mps2: 1.5,
                turn_accel_std_radps2: 0.4,
            },
            // Vans and trucks in town brake at 2 to 4 m/s^2 (the urban drive's van at 4 for
            // 0.3 s, 3 on average over 0.6 s): a white-noise acceleration's standard deviation
            // between half the largest acceleration and all of it is the usual choice. The
            // van's track lags its braking less at 3 than at 2 (`urban_intersection` velocity
            // RMSE 0.515 against 0.529 m/s, 0.522 at 2.5; `sensor_degradation` position 0.309
            // -> 0.306 m; the others the same).
            truck: ProcessNoise {
                accel_std_mps2: 3.0,
                turn_accel_std_radps2: 0.25,
            },
            pedestrian: ProcessNoise {
                accel_std_mps2: 1.2,
                turn_accel_std_radps2: 1.0,
            },
            cyclist: ProcessNoise {
                accel_std_mps2: 1.5,
                turn_accel_std_radps2: 0.6,
            },
        }
    }
}

/// LiDAR box measurement model and sensor statistics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LidarConfig {
    /// Centre noise floor per axis, m.
    pub pos_std_m: f64,
    /// Extra centre noise per metre of box extent along that axis (size-aware noise), m/m.
    pub pos_std_per_extent: f64,
    /// Yaw noise (mod pi), rad.
    pub yaw_std_rad: f64,
    /// Boxes whose length and width differ by less than this are treated as yaw-free, m.
    pub square_tolerance_m: f64,
    /// Size measurement noise per dimension, m.
    pub size_std_m: f64,
    /// Box centre height noise, m.
    pub z_std_m: f64,
    /// Viewpoint of the LiDAR in `base_link` (x, y), m: used for the visible-corner correction.
    pub viewpoint_base_m: [f64; 2],
    /// Horizontal angle between neighbouring LiDAR columns, rad: a box may be short by that
    /// much at each end without being a partial view.
    pub beam_spacing_rad: f64,
    /// Probability of detecting an object in range.
    pub detection_probability: f64,
    /// Clutter density in the (x, y) measurement space, 1/m^2.
    pub clutter_density_per_m2: f64,
    /// Range inside which an object is expected to be detected, m.
    pub max_range_m: f64,
    /// Existence probability of a track born from an unassociated box.
    pub birth_existence: f64,
    /// Two boxes near one moving track, seen at times far enough apart that the track moved at
    /// least this in between, are parts of its object when, moved to a common time with the
    /// track's velocity, they are within this of each other: the clustering's tolerance, m.
    pub part_gap_m: f64,
}

impl Default for LidarConfig {
    fn default() -> Self {
        Self {
            pos_std_m: 0.12,
            pos_std_per_extent: 0.03,
            yaw_std_rad: 0.08,
            square_tolerance_m: 0.4,
            size_std_m: 0.25,
            z_std_m: 0.2,
            viewpoint_base_m: [0.0, 0.0],
            beam_spacing_rad: 0.0062,
            detection_probability: 0.9,
            clutter_density_per_m2: 1e-3,
            max_range_m: 60.0,
            birth_existence: 0.3,
            part_gap_m: 0.5,
        }
    }
}

/// Radar measurement model and sensor statistics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RadarConfig {
    /// Range noise, m.
    pub range_std_m: f64,
    /// Azimuth noise, rad.
    pub azimuth_std_rad: f64,
    /// Range-rate (doppler) noise, m/s.
    pub doppler_std_mps: f64,
    /// Reflection-point spread as a fraction of the track's largest box extent (size-aware
    /// noise on range and azimuth), m/m.
    pub reflection_spread_per_extent: f64,
    /// Probability of detecting an object in the field of view.
    pub detection_probability: f64,
    /// Clutter density in (range, azimuth, range-rate) space, 1/(m rad m/s).
    pub clutter_density: f64,
    /// Full horizontal field of view, rad.
    pub fov_rad: f64,
    /// Maximum range, m.
    pub max_range_m: f64,
    /// Existence probability of a (tentative, radar-only) track born from a return.
    pub birth_existence: f64,
    /// The radar's amplitude calibration: a return of a target of radar cross section `rcs`
    /// (dBsm) at range `r` (m) has amplitude `rcs + amplitude_offset_db -
    /// amplitude_range_loss_db_per_decade * log10(r)` (the radar equation). A radar that
    /// reports RCS itself has offset 0 and loss 0. The tracker turns amplitudes back into RCS
    /// as class evidence.
    pub amplitude_offset_db: f64,
    /// See `amplitude_offset_db`: 40 dB per decade of range for a point target.
    pub amplitude_range_loss_db_per_decade: f64,
}

impl Default for RadarConfig {
    fn default() -> Self {
        Self {
            range_std_m: 0.25,
            azimuth_std_rad: 0.012,
            doppler_std_mps: 0.15,
            reflection_spread_per_extent: 0.25,
            detection_probability: 0.7,
            clutter_density: 1e-3,
            fov_rad: 2.0,
            max_range_m: 150.0,
            birth_existence: 0.1,
            amplitude_offset_db: 80.0,
            amplitude_range_loss_db_per_decade: 40.0,
        }
    }
}

/// Camera 2D-box measurement model and detector statistics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CameraConfig {
    /// Noise of the box-centre column, px.
    pub u_std_px: f64,
    /// Noise of the box-bottom row (ground contact), px; large: pitch and terrain errors.
    pub v_bottom_std_px: f64,
    /// Extra noise per pixel of box size, px/px.
    pub std_per_box_px: f64,
    /// Probability that the detector reports a visible object.
    pub detection_probability: f64,
    /// Clutter density in pixel space, 1/px (per measurement dimension used).
    pub clutter_density_per_px: f64,
    /// The detector's range: tracks farther than this are not expected to be detected, and take
    /// no detection, m (the front camera of the sample drives, `bags/scenarios/*.yaml`, detects
    /// to 120 m).
    pub max_range_m: f64,
    /// Detections with a lower score are ignored (not counted as rejected).
    pub min_score: f64,
}

impl Default for CameraConfig {
    fn default() -> Self {
        Self {
            u_std_px: 3.0,
            v_bottom_std_px: 10.0,
            std_per_box_px: 0.05,
            detection_probability: 0.8,
            clutter_density_per_px: 2e-3,
            max_range_m: 120.0,
            min_score: 0.3,
        }
    }
}

/// Ultrasonic measurement model and sensor statistics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UltrasonicConfig {
    /// Range noise including the box-model error, m.
    pub range_std_m: f64,
    /// Probability of an echo from an object in the cone.
    pub detection_probability: f64,
    /// The same, as evidence against the nearest track in the cone when an echo came but does
    /// not fit it: weaker than silence, since a reflector no track models (a kerb, a post, the
    /// part of a vehicle its box misses) may have answered first.
    pub mismatch_detection_probability: f64,
    /// False-echo density along the range axis, 1/m.
    pub clutter_density_per_m: f64,
}

impl Default for UltrasonicConfig {
    fn default() -> Self {
        Self {
            range_std_m: 0.15,
            detection_probability: 0.9,
            mismatch_detection_probability: 0.8,
            clutter_density_per_m: 0.05,
        }
    }
}

/// All tracker parameters. `Default` gives the values documented on each field's type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackerConfig {
    /// Chi-square gate for 1, 2 and 3 measurement dimensions (default: 99.9 % quantiles).
    pub gate_chi2: [f64; 3],
    /// Cost of leaving a gated pair unassigned (track miss + new measurement), in units of
    /// the assignment cost `d^2 + ln(det S / det R)`.
    pub non_assignment_cost: f64,
    /// Assignment costs are multiplied by this and rounded to integers for the Hungarian solver.
    pub cost_scale: f64,
    /// Per-class process noise.
    pub process_noise: ClassProcessNoise,
    /// Mean sojourn time in one IMM mode, s (sets the mode-switch probability per step).
    pub imm_mode_sojourn_s: f64,
    /// Initial velocity standard deviation of a LiDAR-born track, m/s.
    pub birth_velocity_std_mps: f64,
    /// Fastest object a two-point velocity initialisation pairs boxes for, m/s.
    pub two_point_max_speed_mps: f64,
    /// Likelihood ratio (target vs clutter) credited to a two-point pairing in the existence
    /// update.
    pub two_point_likelihood_ratio: f64,
    /// Time constant of the existence decay while predicting, s.
    pub existence_survival_time_s: f64,
    /// Existence at or above which a track may be confirmed.
    pub confirm_existence: f64,
    /// LiDAR associations needed to confirm.
    pub confirm_min_lidar_hits: u32,
    /// Radar associations needed to confirm a track without LiDAR support (with camera hits).
    pub confirm_min_radar_hits: u32,
    /// Camera associations needed to confirm a track without LiDAR support.
    pub confirm_min_camera_hits: u32,
    /// A track is confirmed only once its velocity standard deviation (max axis) is below
    /// this, m/s.
    pub confirm_max_velocity_std_mps: f64,
    /// A LiDAR track faster than this (m/s) is confirmed only once a box of it was at least
    /// `vehicle_min_extent_m` long: only vehicles move that fast.
    pub small_object_max_speed_mps: f64,
    /// See `small_object_max_speed_mps`, m.
    pub vehicle_min_extent_m: f64,
    /// At or above this speed (m/s, with the velocity known to `confirm_max_velocity_std_mps`)
    /// a LiDAR box's extents are taken along and across the direction of motion for the class
    /// evidence (length and width), below it as an unordered pair.
    pub class_min_speed_mps: f64,
    /// A track at `class_min_speed_mps` or faster whose direction of motion is known to this
    /// (velocity standard deviation over speed, rad) takes that direction as its heading when
    /// its length axis lies nearer across the motion than along it (road users move along
    /// their length).
    pub align_max_direction_std_rad: f64,
    /// Existence below which a track is deleted.
    pub delete_existence: f64,
    /// A confirmed track is deleted after this long without a position update, s.
    pub max_coast_confirmed_s: f64,
    /// A confirmed track hidden behind a nearer one (see `Tracker`'s occlusion test) is
    /// deleted after this long without a position update, s.
    pub max_coast_occluded_s: f64,
    /// A confirmed track that has stood still for 2 s and is hidden behind a nearer track is
    /// deleted after this long without a position update, s: a parked car stays where it is
    /// while the cars between it and the ego hide it, and so, likely, does anything else that
    /// stood (its existence still decays with `existence_survival_time_s`).
    pub max_coast_standing_occluded_s: f64,
    /// A tentative track is deleted after this long without a position update, s.
    pub max_coast_tentative_s: f64,
    /// Upper clamp of the existence probability.
    pub max_existence: f64,
    /// Re-identification: a track confirmed within this long (s) of a lost confirmed track's
    /// last position update, where that track would be now, continues its id (an object seen
    /// again after a gap of a few sweeps keeps its identity).
    pub reid_window_s: f64,
    /// See `reid_window_s`: how far outside the lost track's predicted footprint the new
    /// track's centre may be, m.
    pub reid_margin_m: f64,
    /// `reid_margin_m` for a lost car or truck, m: a vehicle seen in part has its centre
    /// placed behind the seen face with the class's extent, up to about 2 m off either way.
    pub reid_vehicle_margin_m: f64,
    /// See `reid_window_s`: how far the new track's velocity may be from the lost one's, m/s.
    pub reid_max_velocity_change_mps: f64,
    /// LiDAR model.
    pub lidar: LidarConfig,
    /// Radar model.
    pub radar: RadarConfig,
    /// Camera model.
    pub camera: CameraConfig,
    /// Ultrasonic model.
    pub ultrasonic: UltrasonicConfig,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            gate_chi2: [10.83, 13.82, 16.27],
            non_assignment_cost: 16.0,
            cost_scale: 1000.0,
            process_noise: ClassProcessNoise::default(),
            imm_mode_sojourn_s: 2.0,
            birth_velocity_std_mps: 8.0,
            two_point_max_speed_mps: 45.0,
            two_point_likelihood_ratio: 20.0,
            existence_survival_time_s: 10.0,
            confirm_existence: 0.9,
            confirm_min_lidar_hits: 3,
            confirm_min_radar_hits: 5,
            confirm_min_camera_hits: 3,
            confirm_max_velocity_std_mps: 1.0,
            small_object_max_speed_mps: 7.0,
            vehicle_min_extent_m: 1.2,
            class_min_speed_mps: 2.0,
            // Whether the heading lies nearer the motion or across it is a 45-degree question:
            // 0.1 rad of direction uncertainty settles it (0.05 kept a van's track, under a
            // truck's process noise, turned across its motion for good).
            align_max_direction_std_rad: 0.1,
            delete_existence: 0.05,
            max_coast_confirmed_s: 1.0,
            max_coast_occluded_s: 3.0,
            max_coast_standing_occluded_s: 10.0,
            max_coast_tentative_s: 0.35,
            max_existence: 0.999,
            reid_window_s: 1.5,
            reid_margin_m: 1.0,
            reid_vehicle_margin_m: 2.0,
            reid_max_velocity_change_mps: 3.0,
            lidar: LidarConfig::default(),
            radar: RadarConfig::default(),
            camera: CameraConfig::default(),
            ultrasonic: UltrasonicConfig::default(),
        }
    }
}

/// A configuration value out of its domain.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// A value that must be finite and strictly positive is not.
    #[error("config field `{field}` must be finite and > 0, got {value}")]
    NotPositive {
        /// The field name.
        field: &'static str,
        /// The offending value.
        value: f64,
    },
    /// A value that must be finite and non-negative is not.
    #[error("config field `{field}` must be finite and >= 0, got {value}")]
    NotNonNegative {
        /// The field name.
        field: &'static str,
        /// The offending value.
        value: f64,
    },
    /// A value that must be finite is not.
    #[error("config field `{field}` must be finite, got {value}")]
    NotFinite {
        /// The field name.
        field: &'static str,
        /// The offending value.
        value: f64,
    },
    /// A probability outside (0, 1).
    #[error("config field `{field}` must be a probability in (0, 1), got {value}")]
    NotProbability {
        /// The field name.
        field: &'static str,
        /// The offending value.
        value: f64,
    },
}

impl TrackerConfig {
    /// Checks every value's domain.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let pos = |field: &'static str, value: f64| {
            if value.is_finite() && value > 0.0 {
                Ok(())
            } else {
                Err(ConfigError::NotPositive { field, value })
            }
        };
        let prob = |field: &'static str, value: f64| {
            if value > 0.0 && value < 1.0 {
                Ok(())
            } else {
                Err(ConfigError::NotProbability { field, value })
            }
        };
        for g in self.gate_chi2 {
            pos("gate_chi2", g)?;
        }
        pos("non_assignment_cost", self.non_assignment_cost)?;
        pos("cost_scale", self.cost_scale)?;
        for class in ObjectClass::ALL {
            let n = self.process_noise.for_class(class);
            pos("process_noise.accel_std_mps2", n.accel_std_mps2)?;
            pos(
                "process_noise.turn_accel_std_radps2",
                n.turn_accel_std_radps2,
            )?;
        }
        pos("imm_mode_sojourn_s", self.imm_mode_sojourn_s)?;
        pos("birth_velocity_std_mps", self.birth_velocity_std_mps)?;
        pos("existence_survival_time_s", self.existence_survival_time_s)?;
        pos("two_point_max_speed_mps", self.two_point_max_speed_mps)?;
        pos(
            "two_point_likelihood_ratio",
            self.two_point_likelihood_ratio,
        )?;
        prob("confirm_existence", self.confirm_existence)?;
        pos(
            "confirm_max_velocity_std_mps",
            self.confirm_max_velocity_std_mps,
        )?;
        pos(
            "small_object_max_speed_mps",
            self.small_object_max_speed_mps,
        )?;
        pos("vehicle_min_extent_m", self.vehicle_min_extent_m)?;
        pos("class_min_speed_mps", self.class_min_speed_mps)?;
        pos(
            "align_max_direction_std_rad",
            self.align_max_direction_std_rad,
        )?;
        prob("delete_existence", self.delete_existence)?;
        pos("max_coast_confirmed_s", self.max_coast_confirmed_s)?;
        pos("max_coast_occluded_s", self.max_coast_occluded_s)?;
        pos(
            "max_coast_standing_occluded_s",
            self.max_coast_standing_occluded_s,
        )?;
        pos("max_coast_tentative_s", self.max_coast_tentative_s)?;
        prob("max_existence", self.max_existence)?;
        pos("reid_window_s", self.reid_window_s)?;
        pos("reid_margin_m", self.reid_margin_m)?;
        pos("reid_vehicle_margin_m", self.reid_vehicle_margin_m)?;
        pos(
            "reid_max_velocity_change_mps",
            self.reid_max_velocity_change_mps,
        )?;
        let l = &self.lidar;
        pos("lidar.pos_std_m", l.pos_std_m)?;
        pos("lidar.yaw_std_rad", l.yaw_std_rad)?;
        pos("lidar.size_std_m", l.size_std_m)?;
        pos("lidar.z_std_m", l.z_std_m)?;
        prob("lidar.detection_probability", l.detection_probability)?;
        pos("lidar.clutter_density_per_m2", l.clutter_density_per_m2)?;
        pos("lidar.max_range_m", l.max_range_m)?;
        prob("lidar.birth_existence", l.birth_existence)?;
        pos("lidar.part_gap_m", l.part_gap_m)?;
        let r = &self.radar;
        pos("radar.range_std_m", r.range_std_m)?;
        pos("radar.azimuth_std_rad", r.azimuth_std_rad)?;
        pos("radar.doppler_std_mps", r.doppler_std_mps)?;
        prob("radar.detection_probability", r.detection_probability)?;
        pos("radar.clutter_density", r.clutter_density)?;
        pos("radar.fov_rad", r.fov_rad)?;
        pos("radar.max_range_m", r.max_range_m)?;
        prob("radar.birth_existence", r.birth_existence)?;
        if !r.amplitude_offset_db.is_finite() {
            return Err(ConfigError::NotFinite {
                field: "radar.amplitude_offset_db",
                value: r.amplitude_offset_db,
            });
        }
        let loss = r.amplitude_range_loss_db_per_decade;
        if !(loss.is_finite() && loss >= 0.0) {
            return Err(ConfigError::NotNonNegative {
                field: "radar.amplitude_range_loss_db_per_decade",
                value: loss,
            });
        }
        let c = &self.camera;
        pos("camera.u_std_px", c.u_std_px)?;
        pos("camera.v_bottom_std_px", c.v_bottom_std_px)?;
        prob("camera.detection_probability", c.detection_probability)?;
        pos("camera.clutter_density_per_px", c.clutter_density_per_px)?;
        pos("camera.max_range_m", c.max_range_m)?;
        let u = &self.ultrasonic;
        pos("ultrasonic.range_std_m", u.range_std_m)?;
        prob("ultrasonic.detection_probability", u.detection_probability)?;
        prob(
            "ultrasonic.mismatch_detection_probability",
            u.mismatch_detection_probability,
        )?;
        pos("ultrasonic.clutter_density_per_m", u.clutter_density_per_m)?;
        Ok(())
    }
}
