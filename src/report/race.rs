//! The report's "Race" section, for a sweep with `race:`: rounds × configurations with their
//! means and the tests that eliminated them, the winner (or the tied survivors), and the runs
//! the race saved against every seed of every configuration. From the sweep's record, which
//! `ddim-sweep run` recomputes from the runs' results whenever a run ends.

use super::format::{Align, Table};
use crate::metrics::names::{Direction, Metric};
use crate::store::sweep_file::{RaceEntry, RaceRecord};
use crate::sweep::strategy::race::{config_text, outcome_text};
use std::collections::BTreeMap;

/// The section's markdown, or None when the sweep did not race.
pub fn section(race: Option<&RaceRecord>) -> Option<String> {
    let rec = race?;
    let mut md = String::from("## Race\n\n");
    let (direction, best) = match Metric::named(&rec.metric).map(|m| m.direction) {
        Some(Direction::Higher) => ("higher is better", "highest"),
        _ => ("lower is better", "lowest"),
    };
    md.push_str(&format!(
        "Configurations raced on `{}` ({direction}) over seeds [{}], one seed per round; from round {} on, each \
         configuration is compared with the round's best ({best} mean) by a one-sided paired t-test over their seeds, \
         the round's p-values corrected by Holm's method, and eliminated when the corrected p is below {}.\n\n",
        super::md::text(&rec.metric),
        super::md::text(&rec.seeds.join(", ")),
        rec.min_seeds,
        rec.alpha
    ));
    let outcome = outcome_text(rec);
    let outcome = outcome.strip_prefix("race").unwrap_or(&outcome);
    md.push_str(&format!("**Race{}.**\n\n", super::md::text(outcome)));
    let saved = rec.full_runs.saturating_sub(rec.runs_used);
    md.push_str(&format!(
        "Runs: {} trained or started of the {} that every seed of every configuration would take: {} saved ({:.0}%).\n\n",
        rec.runs_used,
        rec.full_runs,
        saved,
        100.0 * saved as f64 / rec.full_runs.max(1) as f64
    ));
    md.push_str(&rounds_table(rec));
    md.push_str(&format!(
        "\nEach cell: the configuration's mean over the seeds so far; from the first test on, its difference \
         from the best mean, the test's p and Holm's corrected p. **best**: the round's {best} mean. \
         **out**: eliminated there.\n\n",
    ));
    if !rec.damaged.is_empty() {
        md.push_str(
            "**Damaged, waiting for repair**: the race needs these runs, whose files are damaged; the decisions above \
             were recorded before and are kept until the runs are repaired (or retried with `run --retry-failed`):\n\n",
        );
        for e in &rec.damaged {
            md.push_str(&format!(
                "- round {}, {}: {}\n",
                e.round,
                super::md::text(&config_text(&e.config)),
                super::md::text(e.note.as_deref().unwrap_or("damaged"))
            ));
        }
        md.push('\n');
    }
    Some(md)
}

/// Rounds as columns, configurations as rows (in the order they were first seen).
fn rounds_table(rec: &RaceRecord) -> String {
    let mut configs: Vec<&BTreeMap<String, String>> = Vec::new();
    for e in &rec.decisions {
        if !configs.contains(&&e.config) {
            configs.push(&e.config);
        }
    }
    let rounds = rec.decisions.iter().map(|e| e.round).max().unwrap_or(0);
    let mut t = Table::new().column("configuration", Align::Left).columns(
        (1..=rounds).map(|r| {
            let seed = rec
                .seeds
                .get(r - 1)
                .map_or("?".into(), |s| super::md::text(s));
            format!("round {r} (seed {seed})")
        }),
        Align::Left,
    );
    for c in configs {
        let name = super::md::text(&config_text(c));
        let mut cells = vec![if rec.winner.as_ref() == Some(c) {
            format!("**{name}** (winner)")
        } else {
            name
        }];
        for r in 1..=rounds {
            cells.push(
                rec.decisions
                    .iter()
                    .find(|e| e.round == r && &e.config == c)
                    .map(cell)
                    .unwrap_or_default(),
            );
        }
        t.row(cells);
    }
    t.markdown()
}

fn cell(e: &RaceEntry) -> String {
    let mean = e.mean.map_or("–".to_string(), |m| format!("{m:.5}"));
    if let Some(note) = &e.note {
        return format!("{mean} **out**: {}", super::md::text(note));
    }
    if e.best {
        return format!("{mean} **best**");
    }
    match (e.mean_diff, e.p, e.p_holm) {
        (Some(d), Some(p), Some(h)) => format!(
            "{mean} ({d:+.5}, p {p:.3}, Holm {h:.3}){}",
            if e.eliminated { " **out**" } else { "" }
        ),
        _ => mean,
    }
}

/// The decisions as JSON rows: `{round, config, n, mean, mean_diff, p, p_holm, eliminated,
/// best, note}`.
pub fn json(rec: Option<&RaceRecord>) -> serde_json::Value {
    match rec {
        Some(r) => serde_json::to_value(&r.decisions).unwrap_or_default(),
        None => serde_json::Value::Array(Vec::new()),
    }
}

/// The race's outcome as JSON: winner, survivors, rounds, runs used against the full set.
pub fn summary_json(rec: Option<&RaceRecord>) -> serde_json::Value {
    match rec {
        Some(r) => serde_json::json!({
            "metric": r.metric,
            "seeds": r.seeds,
            "min_seeds": r.min_seeds,
            "alpha": r.alpha,
            "finished": r.finished,
            "rounds_completed": r.rounds_completed,
            "winner": r.winner,
            "survivors": r.survivors,
            "runs_used": r.runs_used,
            "full_runs": r.full_runs,
        }),
        None => serde_json::Value::Null,
    }
}

/// `race.csv`: one row per decision.
pub fn csv(rec: &RaceRecord) -> String {
    let opt = |v: Option<f64>| v.map(|x| format!("{x}")).unwrap_or_default();
    let mut t = String::from("round,config,n,mean,mean_diff,p,p_holm,eliminated,best,note\n");
    for e in &rec.decisions {
        t.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{}\n",
            e.round,
            super::format::csv_cell(&config_text(&e.config)),
            e.n,
            opt(e.mean),
            opt(e.mean_diff),
            opt(e.p),
            opt(e.p_holm),
            e.eliminated,
            e.best,
            super::format::csv_cell(e.note.as_deref().unwrap_or(""))
        ));
    }
    t
}
