//! What a run logs: `scalars.csv` (one row per epoch) and sample grids.

pub mod csv;
pub mod grid;
