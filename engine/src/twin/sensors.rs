//! The sensor stage: sampling the sensors that are due, with their bias and seeded noise, and
//! the noise-free predictions that estimators compare measurements with.

use std::sync::Arc;

use rand_distr::{Distribution, StandardNormal};

use super::{Reading, Twin};
use crate::model::SensorKind;

impl Twin {
    /// Samples the sensors due at this step.
    pub(super) fn sample_sensors(&mut self) -> bool {
        self.sample_since(self.state.steps.saturating_sub(1))
    }

    /// Samples every sensor now, due or not.
    pub(super) fn sample_all_sensors(&mut self) {
        self.sample(|_| true);
    }

    /// Samples, once, every sensor due at some step after step `before` up to now.
    pub(super) fn sample_since(&mut self, before: u64) -> bool {
        let now = self.state.steps;
        self.sample(|period| now / period > before / period || now == 0)
    }

    fn sample(&mut self, due: impl Fn(u64) -> bool) -> bool {
        let mut any = false;
        let model = Arc::clone(&self.model);
        for (i, s) in model.sensors.iter().enumerate() {
            let fresh = due(s.period_steps);
            self.readings[i].fresh = fresh;
            if !fresh {
                continue;
            }
            any = true;
            let expected = self.true_value(&s.kind) + self.state.tunables.bias[i];
            let std = self.state.tunables.noise_std[i];
            let noise = if std > 0.0 {
                let z: f64 = StandardNormal.sample(&mut self.state.rng);
                std * z
            } else {
                0.0
            };
            self.readings[i] = Reading {
                value: expected + noise,
                expected,
                fresh,
            };
        }
        any
    }

    /// The latest reading of every sensor, in model order.
    pub fn readings(&self) -> &[Reading] {
        &self.readings
    }

    /// Noise-free prediction of sensor `s` now (true value plus bias, in the sensor's unit),
    /// whether or not it is due to sample: what an estimator compares a measurement with.
    pub fn predict(&self, s: usize) -> f64 {
        self.true_value(&self.model.sensors[s].kind) + self.state.tunables.bias[s]
    }

    /// Noise- and bias-free value of a sensor quantity now.
    fn true_value(&self, kind: &SensorKind) -> f64 {
        let st = &self.state;
        match *kind {
            SensorKind::JointPosition(j) => st.joint_position[j],
            SensorKind::JointVelocity(j) => st.joint_velocity[j],
            SensorKind::DriveTorque(d) => st.drive_torque[d],
            SensorKind::MotorCurrent(d) => st.drive_torque[d] / st.tunables.drive[d][4],
            SensorKind::BodyAcceleration { body, axis } => {
                let k = st.world.kinematics(body);
                let specific = st.acceleration[body] - self.model.gravity;
                (k.rotation.inverse() * specific).dot(&axis)
            }
            SensorKind::ReactionForce(j, c) => c.of(&st.reaction_force[j]),
            SensorKind::ReactionTorque(j, c) => c.of(&st.reaction_torque[j]),
            SensorKind::BearingLoad(b) => {
                let j = self.model.bearings[b].joint;
                self.model
                    .bearing_force(b, &st.reaction_force[j], &st.reaction_torque[j])
                    .norm()
            }
            SensorKind::Temperature(of) => st.thermal.temperature(&self.model, of),
            SensorKind::ThermalGrowth {
                of,
                alpha,
                length,
                reference,
            } => alpha * length * (st.thermal.temperature(&self.model, of) - reference),
            SensorKind::Wear(e) => self.wear(e),
            SensorKind::Vibration { element, gain } => gain * self.severity(element),
            SensorKind::Damage(s) => self.damage(s),
        }
    }
}
