//! The lumped network, integrated by backward Euler: stable at any step, and its energy
//! balance closes exactly when the heat through each link is computed from the end-of-step
//! temperatures that the solve used.

use super::{End, Thermal};

/// Scratch space for the network solve, sized once.
#[derive(Debug, Clone)]
pub struct NetworkWorkspace {
    /// Per link: its node, and its other node where that is one (else the far end is an
    /// ambient or a grid, at a temperature given each step).
    links: Vec<(usize, Option<usize>)>,
    matrix: Vec<f64>,
    rhs: Vec<f64>,
}

impl NetworkWorkspace {
    /// Space for `thermal`'s network.
    pub fn new(thermal: &Thermal) -> Self {
        let n = thermal.nodes.len();
        Self {
            links: thermal
                .links
                .iter()
                .map(|l| match l.b {
                    End::Node(j) => (l.a, Some(j)),
                    End::Ambient(_) | End::Grid { .. } => (l.a, None),
                })
                .collect(),
            matrix: vec![0.0; n * n],
            rhs: vec![0.0; n],
        }
    }

    /// Advances node temperatures `t` (°C) by `dt` s with node capacities `capacity` (J/K, one
    /// per node), link conductances `conductance` (W/K, one per link) and node heat inputs
    /// `power` (W). `far[l]` is the
    /// temperature (°C) of link `l`'s far end when that is an ambient or a grid (held over the
    /// step); heat through link `l` afterwards is `conductance·(t[a] − far[l])` W.
    pub fn step(
        &mut self,
        capacity: &[f64],
        conductance: &[f64],
        far: &[f64],
        power: &[f64],
        t: &mut [f64],
        dt: f64,
    ) {
        let n = t.len();
        if n == 0 {
            return;
        }
        let (a, b) = (&mut self.matrix, &mut self.rhs);
        a.iter_mut().for_each(|x| *x = 0.0);
        for i in 0..n {
            a[i * n + i] = capacity[i] / dt;
            b[i] = capacity[i] / dt * t[i] + power[i];
        }
        for (l, &(i, other)) in self.links.iter().enumerate() {
            let g = conductance[l];
            a[i * n + i] += g;
            match other {
                Some(j) => {
                    a[j * n + j] += g;
                    a[i * n + j] -= g;
                    a[j * n + i] -= g;
                }
                None => b[i] += g * far[l],
            }
        }
        // Gaussian elimination without pivoting: the matrix is symmetric and strictly
        // diagonally dominant (capacity/dt > 0 on the diagonal).
        for p in 0..n {
            let d = a[p * n + p];
            for r in p + 1..n {
                let f = a[r * n + p] / d;
                if f != 0.0 {
                    for c in p..n {
                        a[r * n + c] -= f * a[p * n + c];
                    }
                    b[r] -= f * b[p];
                }
            }
        }
        for p in (0..n).rev() {
            let s: f64 = (p + 1..n).map(|c| a[p * n + c] * t[c]).sum();
            t[p] = (b[p] - s) / a[p * n + p];
        }
    }
}
