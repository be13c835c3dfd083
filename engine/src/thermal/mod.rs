//! The thermal half of a model: a lumped network (nodes, conductances, convection to ambients),
//! integrated implicitly, and 3-D conduction grids ([`grid`]) stepped explicitly on the CPU
//! ([`cpu`]) or the GPU ([`gpu`]) behind one interface ([`GridStepper`]).
//!
//! Temperatures are in °C (differences in K), heat in J, power in W, conductance in W/K.
//! Mechanical losses (joint friction, motor copper loss) become heat sources; temperatures feed
//! back into viscous friction and into thermal-growth sensors. See ARCHITECTURE.md ("A step:
//! stages", "Multi-rate stepping") for the multi-rate scheme: the thermal part advances every `dt_thermal` with the losses averaged over
//! the interval.

pub mod conditions;
pub mod cpu;
#[cfg(feature = "gpu")]
pub mod gpu;
/// The GPU path's names in a build without the `gpu` feature: no adapter ever opens.
#[cfg(not(feature = "gpu"))]
#[path = "gpu_absent.rs"]
pub mod gpu;
pub mod grid;
pub mod kernels;
mod network;
pub mod stepper;

pub use grid::Grid;
pub use network::NetworkWorkspace;
pub use stepper::{
    Backend, BackendChoice, GridStepper, REQUIRE_GPU, choose, gpu_or_skip, gpu_required,
};

use crate::source::Source;

/// The compiled thermal part of a model (empty when the model has none).
#[derive(Debug, Clone, Default)]
pub struct Thermal {
    /// Thermal step in s (a whole number of mechanical steps).
    pub dt: f64,
    /// Mechanical steps per thermal step.
    pub steps_per_update: u64,
    /// Ambient temperatures.
    pub ambients: Vec<Ambient>,
    /// Lumped nodes.
    pub nodes: Vec<Node>,
    /// Conductances.
    pub links: Vec<Link>,
    /// Heat sources.
    pub heats: Vec<Heat>,
    /// Conduction grids.
    pub grids: Vec<Grid>,
}

impl Thermal {
    /// Whether the model has any thermal part.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.grids.is_empty()
    }

    /// Bytes of one twin's thermal state: its grids' temperature fields and scratch (two `f32`
    /// per node), their copy of the grid description (material per node, boundary per face
    /// node) and the lumped nodes.
    pub fn bytes_per_twin(&self) -> usize {
        let grids: usize = self
            .grids
            .iter()
            .map(|g| 8 * g.cells() + g.material_of.len() + 4 * g.face_bc.len())
            .sum();
        grids + 8 * self.nodes.len()
    }

    /// Node updates per thermal step over all grids, for `members` members, at the grids'
    /// sub-step counts with no convection (a lower bound used to choose a backend).
    pub fn node_updates(&self, members: usize) -> usize {
        self.grids
            .iter()
            .map(|g| {
                let cond = vec![0.0; g.condition_len()];
                g.cells() * g.substeps(self.dt, &cond).0 * members
            })
            .sum()
    }
}

/// An imposed temperature (air, coolant).
#[derive(Debug, Clone)]
pub struct Ambient {
    /// Name.
    pub name: String,
    /// Temperature in °C.
    pub temperature: Source,
}

/// A lumped thermal mass.
#[derive(Debug, Clone)]
pub struct Node {
    /// Name.
    pub name: String,
    /// Heat capacity in J/K (the model's value; tunable).
    pub capacity: f64,
    /// Initial temperature in °C.
    pub initial: f64,
}

/// The far end of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// A node.
    Node(usize),
    /// An ambient.
    Ambient(usize),
    /// A box of a grid: heat flows with the box's mean temperature (its observable
    /// `observable`) and enters the grid through its source `source`. The node side is implicit
    /// in the network solve; the grid side uses the mean of the previous thermal step.
    Grid {
        /// Grid index.
        grid: usize,
        /// Index into the grid's observables (the box mean).
        observable: usize,
        /// Index into the grid's sources (the box).
        source: usize,
    },
}

/// A conductance from node `a` to `b`.
#[derive(Debug, Clone)]
pub struct Link {
    /// Name.
    pub name: String,
    /// The node at one end.
    pub a: usize,
    /// The other end.
    pub b: End,
    /// Conductance in W/K (the model's value; tunable).
    pub conductance: f64,
}

/// Where the power of a heat source comes from.
#[derive(Debug, Clone)]
pub enum HeatOrigin {
    /// Friction power of a joint, W.
    Friction(usize),
    /// Copper loss `R·I²` of a drive, W.
    CopperLoss(usize),
    /// A prescribed power, W.
    Power(Source),
}

/// Where a heat source puts its heat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeatTarget {
    /// A node.
    Node(usize),
    /// Source box `source` of grid `grid`.
    Grid {
        /// Grid index.
        grid: usize,
        /// Index into the grid's sources.
        source: usize,
    },
}

/// A heat source.
#[derive(Debug, Clone)]
pub struct Heat {
    /// Name.
    pub name: String,
    /// Origin of the power.
    pub origin: HeatOrigin,
    /// Receiver.
    pub target: HeatTarget,
    /// Share of the origin's power.
    pub fraction: f64,
}
