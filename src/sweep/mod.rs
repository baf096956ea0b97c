//! Sweeps: the spec (YAML), its expansion into content-addressed runs, and the sweep's record.

pub mod plan;
pub mod record;
pub mod spec;

pub use plan::{expand, state_of, Plan, PlannedRun, RunState};
pub use spec::SweepSpec;
