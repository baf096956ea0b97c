//! Conclusions from replicates, read from the runs' final metrics (`run.json`): each
//! configuration's mean and 95% interval (Student's t), and the paired effect of each value of a
//! varying flag against each other value. A configuration is every flag but `seed`; the pairs
//! of an effect are completed runs that differ only in that flag (same seed, same other flags).

use super::format::{csv_cell, sig7, Align, Table};
use super::{metrics, LabelRuns, ReportRun};
use crate::stats::{mean_ci, paired, MeanCi, Paired};
use serde::Serialize;
use std::collections::BTreeMap;

/// One configuration: the values of its varying flags (seed aside) and its completed runs'
/// metrics.
#[derive(Debug, Clone)]
pub struct ConfigRow {
    pub flags: Vec<(String, String)>,
    /// Completed runs.
    pub n: usize,
    /// Per metric, over the completed runs that have it.
    pub metrics: BTreeMap<String, MeanCi>,
}

/// The paired effect of `flag = a` against `flag = b` on `metric` (A − B; which sign is
/// better is the metric's direction).
#[derive(Debug, Clone)]
pub struct EffectRow {
    pub flag: String,
    pub a: String,
    pub b: String,
    pub metric: String,
    pub paired: Paired,
}

/// The flags that tell configurations apart: the varying ones but `seed`.
pub fn config_flags(g: &LabelRuns) -> Vec<String> {
    g.varying.iter().filter(|v| *v != "seed").cloned().collect()
}

fn completed(r: &ReportRun) -> bool {
    r.flags.is_some() && r.entry.info.status == crate::store::Status::Completed
}

/// Flag names and values as text, in name order.
/// Borrowed from the runs' flag texts: grouping 10^5 runs copies no string.
type FlagKey<'a> = Vec<(&'a str, &'a str)>;

/// Every flag of a run except those in `leave_out`, as text: what must match.
fn key_without<'a>(r: &'a ReportRun, leave_out: &[&str]) -> FlagKey<'a> {
    r.flag_texts
        .iter()
        .filter(|(k, _)| !leave_out.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// The configurations of a label in sweep order, with their completed replicates' metrics.
pub fn configs(g: &LabelRuns) -> Vec<ConfigRow> {
    let shown = config_flags(g);
    let mut groups: Vec<(FlagKey, Vec<&ReportRun>)> = Vec::new();
    let mut at: std::collections::HashMap<FlagKey, usize> = std::collections::HashMap::new();
    for r in g.runs.iter().filter(|r| r.flags.is_some()) {
        let key = key_without(r, &["seed"]);
        match at.get(&key) {
            Some(&i) => groups[i].1.push(r),
            None => {
                at.insert(key.clone(), groups.len());
                groups.push((key, vec![r]));
            }
        }
    }
    groups
        .into_iter()
        .map(|(_, runs)| {
            let done: Vec<&&ReportRun> = runs.iter().filter(|r| completed(r)).collect();
            let metrics = metrics()
                .iter()
                .filter_map(|m| {
                    let xs: Vec<f64> = done
                        .iter()
                        .filter_map(|r| r.entry.info.metrics.get(*m).copied())
                        .collect();
                    (!xs.is_empty()).then(|| (m.to_string(), mean_ci(&xs)))
                })
                .collect();
            ConfigRow {
                flags: shown
                    .iter()
                    .map(|f| (f.clone(), runs[0].flag_text(f).to_string()))
                    .collect(),
                n: done.len(),
                metrics,
            }
        })
        .collect()
}

/// Whether the report shows configurations: some configuration has 2 completed replicates.
pub fn has_replicates(rows: &[ConfigRow]) -> bool {
    rows.iter().any(|c| c.n >= 2)
}

/// The values of `flag` among the runs, in sweep order.
fn values_of(g: &LabelRuns, flag: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for r in g.runs.iter().filter(|r| r.flags.is_some()) {
        let v = r.flag_text(flag);
        if seen.insert(v) {
            out.push(v.to_string());
        }
    }
    out
}

/// Paired effects of every varying flag (seed aside), every pair of its values (A before B in
/// sweep order) and every metric with at least one pair.
pub fn effects(g: &LabelRuns) -> Vec<EffectRow> {
    let mut out = Vec::new();
    let done: Vec<&ReportRun> = g.runs.iter().filter(|r| completed(r)).collect();
    for flag in config_flags(g) {
        let values = values_of(g, &flag);
        let pairs = pairs_of(&done, &flag, &values);
        for ((i, j, m), pairs) in pairs {
            out.push(EffectRow {
                flag: flag.clone(),
                a: values[i].clone(),
                b: values[j].clone(),
                metric: metrics()[m].to_string(),
                paired: paired_on(metrics()[m], &pairs),
            });
        }
    }
    out
}

/// [`paired`] with "A better" counted in the metric's direction.
fn paired_on(metric: &str, pairs: &[(f64, f64)]) -> Paired {
    let mut p = paired(pairs);
    if let Some(m) = crate::metrics::names::Metric::named(metric) {
        p.a_better = pairs
            .iter()
            .filter(|(a, b)| m.as_loss(*a) < m.as_loss(*b))
            .count();
    }
    p
}

/// For each pair of `flag`'s values (indices into `values`, A before B) and each metric
/// (an index into [`metrics()`]) with at least one pair: (metric at A, metric at B) of runs
/// equal in every other flag, each A-run (in sweep order) with the first such B-run that has
/// the metric. Linear in the runs: runs are grouped by their other flags once.
fn pairs_of(
    done: &[&ReportRun],
    flag: &str,
    values: &[String],
) -> BTreeMap<(usize, usize, usize), Vec<(f64, f64)>> {
    let index: std::collections::HashMap<&str, usize> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (v.as_str(), i))
        .collect();
    // Per group of equal other flags: the first value of each metric at each of flag's values.
    type Firsts = BTreeMap<(usize, usize), f64>;
    let mut groups: std::collections::HashMap<FlagKey, Firsts> = std::collections::HashMap::new();
    let keyed: Vec<(usize, FlagKey, &ReportRun)> = done
        .iter()
        .filter_map(|r| Some((*index.get(r.flag_text(flag))?, key_without(r, &[flag]), *r)))
        .collect();
    let all = metrics();
    for (v, key, r) in &keyed {
        let firsts = groups.entry(key.clone()).or_default();
        for (m, name) in all.iter().enumerate() {
            if let Some(x) = r.entry.info.metrics.get(*name) {
                firsts.entry((*v, m)).or_insert(*x);
            }
        }
    }
    let mut out: BTreeMap<(usize, usize, usize), Vec<(f64, f64)>> = BTreeMap::new();
    for (a, key, r) in &keyed {
        let firsts = &groups[key];
        for (m, name) in all.iter().enumerate() {
            let Some(xa) = r.entry.info.metrics.get(*name) else {
                continue;
            };
            for (&(b, mb), xb) in firsts.range((a + 1, 0)..) {
                if mb == m {
                    out.entry((*a, b, m)).or_default().push((*xa, *xb));
                }
            }
        }
    }
    out
}

/// `0.1234567 ± 0.0012345` (the interval's half width), or the mean alone for n = 1.
fn mean_cell(m: &MeanCi) -> String {
    let mean = sig7(m.mean);
    match m.ci95 {
        Some((lo, hi)) => format!("{mean} ± {}", sig7((hi - lo) / 2.0)),
        None => mean,
    }
}

/// The configurations table: varying flags, n, and each metric's mean ± half-interval, the
/// best mean of each metric in bold.
pub fn configs_markdown(rows: &[ConfigRow]) -> String {
    let metrics: Vec<&str> = metrics()
        .iter()
        .copied()
        .filter(|m| rows.iter().any(|r| r.metrics.contains_key(*m)))
        .collect();
    let names: Vec<String> = rows
        .first()
        .map(|r| r.flags.iter().map(|(k, _)| k.clone()).collect())
        .unwrap_or_default();
    // The best mean: the lowest, or the highest where higher is better.
    let best: Vec<Option<f64>> = metrics
        .iter()
        .map(|m| {
            let means = rows
                .iter()
                .filter_map(|r| r.metrics.get(*m).map(|x| x.mean));
            match crate::metrics::names::Metric::named(m) {
                Some(d) => d.best(means),
                None => means.min_by(f64::total_cmp),
            }
        })
        .collect();
    let mut table = Table::new()
        .columns(names, Align::Left)
        .column("n", Align::Right)
        .columns(metrics.iter().copied(), Align::Right);
    for r in rows {
        let mut cells: Vec<String> = r.flags.iter().map(|(_, v)| v.clone()).collect();
        cells.push(r.n.to_string());
        for (m, best) in metrics.iter().zip(&best) {
            cells.push(match r.metrics.get(*m) {
                Some(x) if Some(x.mean) == *best => format!("**{}**", mean_cell(x)),
                Some(x) => mean_cell(x),
                None => String::new(),
            });
        }
        table.row(cells);
    }
    table.markdown()
}

/// The effects table, the headline metric's rows first, then a sentence for each difference
/// the data supports, and one line for the rest: that none is supported, with the pairs that
/// the headline metric's effects of the size observed would need.
pub fn effects_markdown(rows: &[EffectRow], headline: &str) -> String {
    let mut order: Vec<&EffectRow> = rows.iter().collect();
    order.sort_by_key(|e| e.metric != headline);
    let mut table = Table::new()
        .columns(["flag", "A", "B", "metric"], Align::Left)
        .columns(["pairs", "mean A − B"], Align::Right)
        .column("95% interval", Align::Left)
        .column("A better in", Align::Right)
        .column("significant", Align::Left);
    for e in &order {
        let d = &e.paired.diff;
        table.row(vec![
            e.flag.clone(),
            e.a.clone(),
            e.b.clone(),
            e.metric.clone(),
            d.n.to_string(),
            sig7(d.mean),
            interval(e),
            format!("{} of {}", e.paired.a_better, d.n),
            if e.paired.significant() {
                "**yes**"
            } else {
                "no"
            }
            .to_string(),
        ]);
    }
    let mut md = table.markdown();
    md.push('\n');
    let supported: Vec<&&EffectRow> = order.iter().filter(|e| e.paired.significant()).collect();
    for e in &supported {
        md.push_str(&format!(
            "- {}
",
            sentence(e)
        ));
    }
    let tested = order
        .iter()
        .filter(|e| e.paired.diff.ci95.is_some())
        .count();
    let mut rest = match supported.len() {
        0 => format!("None of the {tested} comparisons shows a difference the data supports (each 95% interval includes 0)."),
        n if n < tested => format!("The other {} comparisons show no difference the data supports.", tested - n),
        _ => String::new(),
    };
    let needs: Vec<String> = order
        .iter()
        .filter(|e| e.metric == headline && !e.paired.significant())
        .filter_map(|e| {
            let n = pairs_needed(e)?;
            Some(format!(
                "{} for `{}` {} − {} (now {})",
                thousands(n),
                e.flag,
                e.a,
                e.b,
                e.paired.diff.n
            ))
        })
        .collect();
    if !needs.is_empty() {
        rest.push_str(&format!(
            " To find a `{headline}` effect of the size observed (5% level, 80% power) would take about this many pairs: {}.",
            needs.join(", ")
        ));
    }
    if !rest.is_empty() {
        // A paragraph of its own, not a continuation of the list above.
        if !supported.is_empty() {
            md.push('\n');
        }
        md.push_str(&format!("{}\n", rest.trim_start()));
    }
    md
}

/// `2,553,573`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `[lo, hi]`, or "(one pair)".
fn interval(e: &EffectRow) -> String {
    e.paired
        .diff
        .ci95
        .map(|(lo, hi)| format!("[{}, {}]", sig7(lo), sig7(hi)))
        .unwrap_or_else(|| "(one pair)".into())
}

/// The pairs a paired t-test needs to find an effect of the size observed
/// ([`crate::stats::pairs_for_power`]); None with fewer than 2 pairs.
fn pairs_needed(e: &EffectRow) -> Option<usize> {
    let d = &e.paired.diff;
    crate::stats::pairs_for_power(d.mean, d.sd?)
}

/// The conclusion of a difference the data supports.
fn sentence(e: &EffectRow) -> String {
    let d = &e.paired.diff;
    let a_wins = crate::metrics::names::Metric::named(&e.metric)
        .map_or(d.mean < 0.0, |m| m.as_loss(d.mean) < 0.0);
    let (better, worse) = if a_wins { (&e.a, &e.b) } else { (&e.b, &e.a) };
    format!(
        "`{}`: {better} is better than {worse} on {} by {} (95% interval of A − B {}, {} pairs): the data supports a difference.",
        e.flag,
        e.metric,
        sig7(d.mean.abs()),
        interval(e),
        d.n
    )
}

/// The JSON shape of a configuration (README: `configs`).
#[derive(Debug, Serialize)]
pub struct ConfigJson {
    pub flags: BTreeMap<String, String>,
    pub n: usize,
    pub metrics: BTreeMap<String, MetricJson>,
}

#[derive(Debug, Serialize)]
pub struct MetricJson {
    pub mean: f64,
    pub std: Option<f64>,
    pub ci95: Option<[f64; 2]>,
}

/// The JSON shape of an effect (README: `effects`).
#[derive(Debug, Serialize)]
pub struct EffectJson {
    pub flag: String,
    pub a: String,
    pub b: String,
    pub metric: String,
    pub pairs: usize,
    pub mean_diff: f64,
    pub ci95: Option<[f64; 2]>,
    pub a_better: usize,
    pub significant: bool,
    /// The pairs needed to find an effect of the size observed (5% level, 80% power).
    pub pairs_for_power: Option<usize>,
}

pub fn configs_json(rows: &[ConfigRow]) -> Vec<ConfigJson> {
    rows.iter()
        .map(|r| ConfigJson {
            flags: r.flags.iter().cloned().collect(),
            n: r.n,
            metrics: r
                .metrics
                .iter()
                .map(|(k, m)| {
                    let v = MetricJson {
                        mean: m.mean,
                        std: m.sd,
                        ci95: m.ci95.map(|(lo, hi)| [lo, hi]),
                    };
                    (k.clone(), v)
                })
                .collect(),
        })
        .collect()
}

pub fn effects_json(rows: &[EffectRow]) -> Vec<EffectJson> {
    rows.iter()
        .map(|e| EffectJson {
            flag: e.flag.clone(),
            a: e.a.clone(),
            b: e.b.clone(),
            metric: e.metric.clone(),
            pairs: e.paired.diff.n,
            mean_diff: e.paired.diff.mean,
            ci95: e.paired.diff.ci95.map(|(lo, hi)| [lo, hi]),
            a_better: e.paired.a_better,
            significant: e.paired.significant(),
            pairs_for_power: pairs_needed(e),
        })
        .collect()
}

/// Whether some effect has an interval (at least 2 pairs): only then is it worth a section.
pub fn has_intervals(rows: &[EffectRow]) -> bool {
    rows.iter().any(|e| e.paired.diff.ci95.is_some())
}

/// The report page's parts made from replicates and pairs.
#[derive(Debug, Default)]
pub struct Sections {
    /// The configurations table (and its charts), leading the Results section.
    pub configs: Option<String>,
    /// The configurations table alone, for the terminal.
    pub configs_table: Option<String>,
    /// The Effects section.
    pub effects: Option<String>,
}

/// The configurations table (when some configuration has 2 completed replicates) with a bar
/// chart per metric, and the Effects section (when some effect has 2 pairs) with its forest
/// plot; the pictures are drawn into `out` when `images`.
pub fn sections(g: &LabelRuns, out: &std::path::Path, images: bool) -> anyhow::Result<Sections> {
    let mut s = Sections::default();
    let configs = configs(g);
    if has_replicates(&configs) {
        let table = configs_markdown(&configs);
        let mut md = format!(
            "By configuration (every flag but `seed`): the mean of its completed replicates ± the half width of the 95% interval of the mean (Student's t, `mean ± t(0.975, n − 1) · s / √n`); the best mean of each metric in bold.\n\n{table}"
        );
        s.configs_table = Some(table);
        if images {
            for &m in metrics().iter() {
                let rows: Vec<_> = configs
                    .iter()
                    .filter_map(|c| {
                        let x = c.metrics.get(m)?;
                        let name = c
                            .flags
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(" ");
                        Some((format!("{name} (n={})", x.n), x.mean, x.ci95))
                    })
                    .collect();
                if rows.is_empty() {
                    continue;
                }
                let file = format!("configs_{m}.png");
                super::charts::intervals(
                    &rows,
                    &format!("{m}: mean and 95% interval"),
                    true,
                    false,
                    &out.join(&file),
                )?;
                md.push_str(&format!("\n![{m} by configuration]({file})\n"));
            }
        }
        s.configs = Some(md);
    }
    let effects = effects(g);
    if has_intervals(&effects) {
        let mut md = format!(
            "## Effects\n\nFor each flag that varies, each pair of its values A and B: the runs that differ only in that flag (same seed, same other flags) are paired, and the effect is the mean of `metric(A) − metric(B)` over the pairs with its 95% interval (Student's t over the differences). Where lower is better (the losses, KID, FID) a negative effect favours A; where higher is better (precision, recall) a positive one does. An interval that excludes 0 is significant.\n\n{}\n",
            effects_markdown(&effects, super::headline(g))
        );
        if images {
            let main = [super::headline(g), "noise_loss"]
                .into_iter()
                .find(|m| effects.iter().any(|e| e.metric == *m))
                .unwrap_or("image_loss");
            let rows: Vec<_> = effects
                .iter()
                .filter(|e| e.metric == main)
                .map(|e| {
                    (
                        format!("{}: {} − {}", e.flag, e.a, e.b),
                        e.paired.diff.mean,
                        e.paired.diff.ci95,
                    )
                })
                .collect();
            super::charts::intervals(
                &rows,
                &format!("effect on {main} (A − B) and 95% interval"),
                false,
                true,
                &out.join("effects.png"),
            )?;
            md.push_str(&format!("![Effects on {main}](effects.png)\n\n"));
        }
        s.effects = Some(md);
    }
    Ok(s)
}

/// `flags…,n,METRIC_mean,METRIC_std,METRIC_lo,METRIC_hi…` per configuration.
pub fn configs_csv(rows: &[ConfigRow]) -> String {
    let names: Vec<String> = rows
        .first()
        .map(|r| r.flags.iter().map(|(k, _)| k.clone()).collect())
        .unwrap_or_default();
    let mut head: Vec<String> = names.clone();
    head.push("n".into());
    for &m in metrics().iter() {
        for part in ["mean", "std", "ci95_lo", "ci95_hi"] {
            head.push(format!("{m}_{part}"));
        }
    }
    let mut out = format!("{}\n", head.join(","));
    let num = |x: Option<f64>| x.map(|v| format!("{v}")).unwrap_or_default();
    let all = metrics();
    for r in rows {
        let mut cells: Vec<String> = r.flags.iter().map(|(_, v)| csv_cell(v)).collect();
        cells.push(r.n.to_string());
        for &m in all.iter() {
            let x = r.metrics.get(m);
            cells.push(num(x.map(|x| x.mean)));
            cells.push(num(x.and_then(|x| x.sd)));
            cells.push(num(x.and_then(|x| x.ci95.map(|c| c.0))));
            cells.push(num(x.and_then(|x| x.ci95.map(|c| c.1))));
        }
        out.push_str(&format!("{}\n", cells.join(",")));
    }
    out
}

/// One row per effect, the JSON's fields.
pub fn effects_csv(rows: &[EffectRow]) -> String {
    let mut out = String::from(
        "flag,a,b,metric,pairs,mean_diff,ci95_lo,ci95_hi,a_better,significant,pairs_for_power\n",
    );
    for e in rows {
        let d = &e.paired.diff;
        let (lo, hi) = d
            .ci95
            .map(|(l, h)| (format!("{l}"), format!("{h}")))
            .unwrap_or_default();
        out.push_str(&format!(
            "{},{},{},{},{},{},{lo},{hi},{},{},{}\n",
            e.flag,
            csv_cell(&e.a),
            csv_cell(&e.b),
            e.metric,
            d.n,
            d.mean,
            e.paired.a_better,
            e.paired.significant(),
            pairs_needed(e).map_or(String::new(), |n| n.to_string())
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn effect(flag: &str, metric: &str, pairs: &[(f64, f64)]) -> EffectRow {
        EffectRow {
            flag: flag.into(),
            a: "x".into(),
            b: "y".into(),
            metric: metric.into(),
            paired: paired_on(metric, pairs),
        }
    }

    /// The headline's rows first; a sentence only for a supported difference; one line for
    /// the rest with the pairs the headline's observed effects would need.
    #[test]
    fn effects_lead_with_the_headline_and_state_only_what_the_data_supports() {
        let noisy = [(0.30, 0.20), (0.10, 0.15)];
        let clear = [(0.10, 0.20), (0.11, 0.20), (0.12, 0.20)];
        let md = effects_markdown(
            &[
                effect("lr", "noise_loss", &clear),
                effect("lr", "kid", &noisy),
            ],
            "kid",
        );
        let kid = md.find("| lr | x | y | kid |").unwrap();
        assert!(
            kid < md.find("| lr | x | y | noise_loss |").unwrap(),
            "{md}"
        );
        assert_eq!(md.matches("\n- ").count(), 1, "{md}");
        assert!(
            md.contains("- `lr`: x is better than y on noise_loss by 0.09000000"),
            "{md}"
        );
        // d = 0.025 / 0.1060660 = 0.2357: 144 pairs (the smallest n with power 0.8).
        let want = crate::stats::pairs_for_power(0.025, 0.106_066_017_177_982_13);
        assert_eq!(want, Some(144));
        assert!(
            md.contains("The other 1 comparisons show no difference the data supports. To find a `kid` effect of the size observed (5% level, 80% power) would take about this many pairs: 144 for `lr` x − y (now 2)."),
            "{md}"
        );
        let none = effects_markdown(&[effect("lr", "kid", &noisy)], "kid");
        assert!(
            none.contains("None of the 1 comparisons shows a difference"),
            "{none}"
        );
        assert_eq!(thousands(2_553_573), "2,553,573");
        assert_eq!(thousands(144), "144");
    }

    /// The configurations table bolds each metric's best mean by its direction: the lowest
    /// noise_loss, the highest improved_precision.
    #[test]
    fn the_best_mean_in_bold_follows_the_direction() {
        let row = |name: &str, loss: f64, precision: f64| {
            let m = |mean: f64| MeanCi {
                n: 1,
                mean,
                sd: None,
                ci95: None,
            };
            ConfigRow {
                flags: vec![("loss".into(), name.into())],
                n: 1,
                metrics: BTreeMap::from([
                    ("noise_loss".to_string(), m(loss)),
                    ("improved_precision".to_string(), m(precision)),
                ]),
            }
        };
        let md = configs_markdown(&[row("mae", 0.2, 0.7), row("mse", 0.3, 0.9)]);
        assert!(
            md.contains("| mae | 1 | **0.2000000** | 0.7000000 |"),
            "{md}"
        );
        assert!(
            md.contains("| mse | 1 | 0.3000000 | **0.9000000** |"),
            "{md}"
        );
    }
}
