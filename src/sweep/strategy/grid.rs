//! The grid strategy: every run of the plan, in plan order, at once (the first time it is
//! asked; nothing after, so that a sweep of many runs is not listed again at each run's end).
//! The plan holds the grid's combinations and, with `random:`, each combination's trials
//! (drawn when the plan is expanded, deterministically from the sweep's label and the
//! search's seed).

use super::{Proposal, RunResult, Strategy};
use crate::sweep::Plan;

#[derive(Default)]
pub struct Grid {
    proposed: bool,
}

impl Strategy for Grid {
    fn propose(&mut self, plan: &Plan, _result: &dyn Fn(usize) -> RunResult) -> Vec<Proposal> {
        if std::mem::replace(&mut self.proposed, true) {
            return Vec::new();
        }
        (0..plan.runs.len()).map(Proposal::Run).collect()
    }
}
