//! The grid strategy: every run of the plan, in plan order, at once. The plan holds the
//! grid's combinations and, with `random:`, each combination's trials (drawn when the plan is
//! expanded, deterministically from the sweep's label and the search's seed).

use super::{Outcome, Strategy};
use crate::sweep::Plan;

pub struct Grid;

impl Strategy for Grid {
    fn propose(&mut self, plan: &Plan, _outcome: &dyn Fn(usize) -> Outcome) -> Vec<usize> {
        (0..plan.runs.len()).collect()
    }
}
