//! Search strategies: which of a plan's runs to train, given what has come of its runs so
//! far. The orchestrator asks its strategy at the start and again whenever a run ends, and
//! hands the runs it proposes anew to the executor: the plan is open.
//!
//! - [`grid::Grid`]: every run of the plan at once: the grid's combinations and, with
//!   `random:`, the trials [`random::RandomSearch`] drew when the plan was expanded.
//! - [`race::RaceStrategy`]: configurations in rounds of seeds, the losers of each round's
//!   tests eliminated (`race:`).
//! - [`search::SearchStrategy`]: trials chosen as results arrive by a sampler
//!   ([`tpe::Tpe`], or random draws), each a new point the planner admits (`search:`).

pub mod grid;
pub mod race;
pub mod random;
pub mod search;

/// Declares the model-based samplers (`search: sampler: NAME`): each is one file `NAME.rs`
/// beside this one with a type that implements [`search::Sampler`], registered by one line
/// of [`samplers!`]'s list (which declares its module too).
macro_rules! samplers {
    ($($module:ident :: $sampler:ident),* $(,)?) => {
        $(pub mod $module;)*
        /// The samplers with a model, by name (their module's), in the order listed.
        pub static MODEL_SAMPLERS: &[(&str, search::MakeSampler)] =
            &[$((stringify!($module), || Box::new($module::$sampler))),*];
    };
}

samplers! {
    tpe::Tpe,
    gp::Gp,
}

use super::Plan;
use crate::store::{RunState, Status};
use std::collections::BTreeMap;

/// What has come of one run so far, as a strategy needs it.
#[derive(Debug, Clone, PartialEq)]
pub enum RunResult {
    /// Not ended: not started, queued, running, or to be resumed.
    Pending,
    /// Completed with these final metrics (`run.json`).
    Completed(BTreeMap<String, f64>),
    /// Failed (with its reason), and not to be retried by this invocation.
    Failed(String),
    /// Stopped early by the sweep's stop rule.
    Stopped(String),
    /// Its files are damaged (why): it has no result a strategy may use, and it is not
    /// trained until repaired; a strategy waits for it rather than decide without it.
    Damaged(String),
}

impl RunResult {
    /// A run's outcome from its files.
    pub fn of(run: &super::PlannedRun) -> RunResult {
        let rd = run.run_dir();
        match rd.state() {
            RunState::Completed | RunState::Failed | RunState::Stopped => {}
            RunState::Damaged => return RunResult::Damaged(rd.damage().unwrap_or_default()),
            _ => return RunResult::Pending,
        }
        let Ok(Some(info)) = rd.read_info() else {
            return RunResult::Pending;
        };
        let reason = info.reason.clone().unwrap_or_default();
        match info.status {
            Status::Completed => RunResult::Completed(info.metrics),
            Status::Failed => RunResult::Failed(reason),
            Status::Stopped => RunResult::Stopped(reason),
            _ => RunResult::Pending,
        }
    }
}

/// What a strategy asks to train.
#[derive(Debug, Clone, PartialEq)]
pub enum Proposal {
    /// A run of the plan (an index into `plan.runs`).
    Run(usize),
    /// A new point, trial `trial` of a search: the planner admits it as a run (validated as
    /// flags are, content-addressed) and tells the strategy its index ([`Strategy::admitted`]).
    Point {
        trial: usize,
        point: Vec<(String, serde_yaml::Value)>,
    },
}

/// Which runs a stop rule may compare a run with.
#[derive(Debug, Clone, PartialEq)]
pub enum StopPeers {
    /// Every other run that has reached the epoch (a grid's, a race's): which ones have
    /// depends on timing.
    Any,
    /// A search's trial `trial`: only the runs of trials `0 ..= trial-q` (as (trial, run)),
    /// what the determinism contract lets it depend on; the rule waits for those still
    /// running to reach the epoch or end.
    Earlier {
        trial: usize,
        runs: Vec<(usize, usize)>,
    },
}

/// Proposes runs from what has ended (ask/tell).
pub trait Strategy {
    /// The runs to train now, in the order to start them, given each run's outcome: runs of
    /// the plan, or new points. Runs that need nothing more may be proposed again: the caller
    /// starts only the ones still to train, and asks again while new ones come.
    fn propose(&mut self, plan: &Plan, result: &dyn Fn(usize) -> RunResult) -> Vec<Proposal>;

    /// The proposed point of trial `trial` is run `run` of the plan.
    fn admitted(&mut self, _trial: usize, _run: usize) {}

    /// Lines worth saying about what the strategy learnt since last asked.
    fn notes(&mut self) -> Vec<String> {
        Vec::new()
    }

    /// What the strategy decided, for the sweep's record; `None` when it decides nothing.
    fn decisions(&self) -> Option<crate::store::sweep_file::RaceRecord> {
        None
    }

    /// Which runs the stop rule may compare `run` with.
    fn stop_peers(&self, _run: usize) -> StopPeers {
        StopPeers::Any
    }

    /// A search's trials so far, for the sweep's record.
    fn search(&self, _plan: &Plan) -> Option<crate::store::sweep_file::SearchRecord> {
        None
    }
}

/// The plan's strategy: a search with `search:`, a race with `race:`, else every run. A
/// search continues from the sweep's record (`previous`: its checked decisions, its
/// forgotten runs) and forgets the runs of `forget` (`run --forget`).
pub fn for_plan(
    plan: &Plan,
    previous: Option<&crate::store::sweep_file::SweepRecord>,
    forget: &[String],
) -> Box<dyn Strategy + Send> {
    if let Some(s) = &plan.search {
        let mut s = s.clone();
        s.rung_model = plan
            .stop
            .as_ref()
            .is_some_and(|st| st.rule.rung_eta().is_some());
        let mut search = search::SearchStrategy::new(s, &plan.label)
            .resuming(previous.and_then(|r| r.search.as_ref()));
        search.forget(forget);
        return Box::new(search);
    }
    match &plan.race {
        Some(r) => Box::new(race::RaceStrategy::new(r.clone())),
        None => Box::new(grid::Grid::default()),
    }
}
