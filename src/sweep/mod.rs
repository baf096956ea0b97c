//! Sweeps: the spec (YAML), its expansion into content-addressed runs, and the sweep's record.

pub mod plan;
pub mod program;
pub mod record;
pub mod section;
pub mod spec;
pub mod stop;
pub mod strategy;

pub use plan::{expand, Plan, PlannedRun};
pub use spec::SweepSpec;
