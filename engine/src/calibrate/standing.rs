//! Where an online calibration stands at its latest assimilated row: the parameters'
//! posterior, wear and damage over the members, and the remaining life forecast from the
//! members as they are now. A live service publishes it; it costs no replay of the data, so
//! its work does not grow with the stream.

use std::sync::Arc;

use indexmap::IndexMap;
use serde::Serialize;

use super::outlook::{OUTPUTS, band_of};
use super::report::filter_posterior;
use super::{Assimilation, CalibrateOptions, ParameterSummary};
use crate::error::Result;
use crate::prognosis::{Band, RulSummary, apply_fleet_survival, forecast};
use crate::twin::Twin;

/// An online calibration's estimate at data time `time` (see the module doc).
#[derive(Debug, Clone, Serialize)]
pub struct Standing {
    /// Data time of the last assimilated measurement row, s from the run's start.
    pub time: f64,
    /// Posterior per parameter path, in the parameter's unit.
    pub parameters: IndexMap<String, ParameterSummary>,
    /// Per wear element: its quantity (wear element's unit) over the members.
    pub wear: IndexMap<String, Band>,
    /// Per stress section: Miner damage over the members.
    pub damage: IndexMap<String, Band>,
    /// Per event: time to the event in s from `time`, the inputs held at their last values.
    pub rul: IndexMap<String, RulSummary>,
}

impl Assimilation {
    /// Where the calibration stands (see [`Standing`]); `None` before any measurement row is
    /// assimilated. The remaining life (models with events) is forecast over
    /// `options.horizon` (default 100 h; the event times are resolved to 1/400 of it, as in a
    /// calibration's outlook) from every member's own state, weighted, with
    /// `options.rul_loss` and a fleet's lives (`options.fleet_lives`) as `twin calibrate`
    /// applies them.
    pub fn standing(&mut self, options: &CalibrateOptions) -> Result<Option<Standing>> {
        let Some(time) = self.last_assimilated() else {
            return Ok(None);
        };
        self.sync_fields()?;
        let model = Arc::clone(self.model());
        let filter = self.filter();
        let (x, w) = filter.samples();
        let (summaries, _) = filter_posterior((&x, &w), self.prior());
        let parameters = model
            .parameters
            .iter()
            .map(|p| p.path.clone())
            .zip(summaries)
            .collect();
        let twins = filter.ensemble().members();
        let weights = filter.member_weights();
        let wear = model
            .wear
            .iter()
            .enumerate()
            .map(|(e, el)| (el.name.clone(), band_of(twins, &weights, |t| t.wear(e))))
            .collect();
        let damage = model
            .sections
            .iter()
            .enumerate()
            .map(|(s, sec)| (sec.name.clone(), band_of(twins, &weights, |t| t.damage(s))))
            .collect();
        let mut rul = IndexMap::new();
        if !model.events.is_empty() {
            let horizon = options.horizon.unwrap_or(100.0 * 3600.0).max(model.dt_mech);
            let members = twins
                .iter()
                .zip(&weights)
                .enumerate()
                .map(|(i, (t, w))| {
                    let mut twin =
                        Twin::new(Arc::clone(&model), options.seed.wrapping_add(i as u64));
                    twin.restore(t.state())?;
                    Ok((twin, *w))
                })
                .collect::<Result<Vec<_>>>()?;
            let mut outlook =
                forecast(members, None, horizon, horizon / OUTPUTS, options.rul_loss)?;
            if let Some(lives) = &options.fleet_lives {
                apply_fleet_survival(&mut outlook, &model, lives, options.rul_loss);
            }
            rul = outlook.rul;
        }
        Ok(Some(Standing {
            time,
            parameters,
            wear,
            damage,
            rul,
        }))
    }
}
