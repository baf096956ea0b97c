//! Result tables: markdown (the R original's `runs_info()` table, best values in bold), a pivot
//! view, CSV and JSON.

use super::format::{sig7, Align, Table};
use super::metrics;
use polars::prelude::*;
use std::collections::HashMap;

pub(super) fn strings(df: &DataFrame, name: &str) -> PolarsResult<Vec<String>> {
    Ok(df
        .column(name)?
        .str()?
        .iter()
        .map(|s| s.unwrap_or("").to_string())
        .collect())
}

fn floats(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<f64>>> {
    Ok(df.column(name)?.f64()?.iter().collect())
}

/// The best value of a metric column (the smallest, or the largest where higher is better).
fn best(df: &DataFrame, name: &str) -> PolarsResult<Option<f64>> {
    let values = df.column(name)?.f64()?.iter().flatten();
    Ok(match crate::metrics::names::Metric::named(name) {
        Some(m) => m.best(values),
        None => values.min_by(f64::total_cmp),
    })
}

/// One markdown table: varying flags, [status], metrics; the best of each metric in bold.
pub fn markdown(df: &DataFrame, varying: &[String]) -> PolarsResult<String> {
    let statuses = strings(df, "status")?;
    let show_status = statuses.iter().any(|s| s != "completed");
    let metrics = shown_metrics(df);
    // The run id leads when the varying flags alone do not tell the rows apart (no flag
    // varies, or runs with the same flags, e.g. from an older version of the tool).
    let columns: Vec<Vec<String>> = varying
        .iter()
        .map(|c| strings(df, c))
        .collect::<PolarsResult<_>>()?;
    let mut seen = std::collections::HashSet::new();
    let ambiguous = varying.is_empty()
        || !(0..df.height())
            .all(|i| seen.insert(columns.iter().map(|c| c[i].as_str()).collect::<Vec<_>>()));
    let label_cols: Vec<String> = if ambiguous {
        std::iter::once("id".to_string())
            .chain(varying.iter().cloned())
            .collect()
    } else {
        varying.to_vec()
    };
    let mut rows: Vec<Vec<String>> = vec![Vec::new(); df.height()];
    for c in &label_cols {
        for (row, v) in rows.iter_mut().zip(strings(df, c)?) {
            row.push(v);
        }
    }
    if show_status {
        for (row, v) in rows.iter_mut().zip(&statuses) {
            row.push(v.clone());
        }
    }
    for m in &metrics {
        let b = best(df, m)?;
        for (row, v) in rows.iter_mut().zip(floats(df, m)?) {
            row.push(match v {
                Some(x) if Some(x) == b => format!("**{}**", sig7(x)),
                Some(x) => sig7(x),
                None => "—".into(),
            });
        }
    }
    let mut table = Table::new()
        .columns(label_cols, Align::Left)
        .columns(show_status.then_some("status"), Align::Left)
        .columns(metrics, Align::Right)
        .padded();
    for r in rows {
        table.row(r);
    }
    Ok(table.markdown())
}

/// One table per dataset when the dataset varies, else one: (title, markdown).
pub fn markdown_tables(df: &DataFrame, varying: &[String]) -> PolarsResult<Vec<(String, String)>> {
    if !varying.iter().any(|v| v == "dataset_name") {
        return Ok(vec![(String::new(), markdown(df, varying)?)]);
    }
    let rest: Vec<String> = varying
        .iter()
        .filter(|v| *v != "dataset_name")
        .cloned()
        .collect();
    let datasets = strings(df, "dataset_name")?;
    let mut seen: Vec<String> = Vec::new();
    for d in datasets {
        if !seen.contains(&d) {
            seen.push(d);
        }
    }
    let mut out = Vec::new();
    for d in seen {
        let mask = df.column("dataset_name")?.str()?.equal(d.as_str());
        let sub = df.filter(&mask)?;
        out.push((format!("### dataset_name = {d}"), markdown(&sub, &rest)?));
    }
    Ok(out)
}

/// A pivot of `value` over the last varying flag (columns) against the others (rows), when
/// at least two flags vary: e.g. rows loss x loss_on, columns schedule_type, values kid.
pub fn pivot(df: &DataFrame, varying: &[String], value: &str) -> PolarsResult<Option<String>> {
    if varying.len() < 2 {
        return Ok(None);
    }
    let (rows_by, col_by) = varying.split_at(varying.len() - 1);
    let col_by = &col_by[0];
    let keys: Vec<Vec<String>> = rows_by
        .iter()
        .map(|c| strings(df, c))
        .collect::<PolarsResult<_>>()?;
    let cols = strings(df, col_by)?;
    let vals = floats(df, value)?;
    // Rows and columns in first-seen order, each cell the first run with its key (linear).
    let mut col_values: Vec<String> = Vec::new();
    let mut col_at: HashMap<&str, usize> = HashMap::new();
    let mut row_keys: Vec<Vec<String>> = Vec::new();
    let mut row_at: HashMap<Vec<String>, usize> = HashMap::new();
    let mut first: HashMap<(usize, usize), usize> = HashMap::new();
    for (i, c) in cols.iter().enumerate() {
        let ci = *col_at.entry(c.as_str()).or_insert_with(|| {
            col_values.push(c.clone());
            col_values.len() - 1
        });
        let k: Vec<String> = keys.iter().map(|col| col[i].clone()).collect();
        let ri = match row_at.get(&k) {
            Some(&r) => r,
            None => {
                row_at.insert(k.clone(), row_keys.len());
                row_keys.push(k);
                row_keys.len() - 1
            }
        };
        first.entry((ri, ci)).or_insert(i);
    }
    let b = best(df, value)?;
    let mut table = Table::new()
        .columns(rows_by.iter().cloned(), Align::Left)
        .columns(
            col_values.iter().map(|cv| format!("{col_by} = {cv}")),
            Align::Right,
        );
    for (ri, k) in row_keys.iter().enumerate() {
        let mut cells = k.clone();
        for ci in 0..col_values.len() {
            let cell = first
                .get(&(ri, ci))
                .and_then(|&i| vals[i])
                .map(|x| {
                    if Some(x) == b {
                        format!("**{}**", sig7(x))
                    } else {
                        sig7(x)
                    }
                })
                .unwrap_or_else(|| "—".into());
            cells.push(cell);
        }
        table.row(cells);
    }
    Ok(Some(table.markdown()))
}

/// The columns the CSV and JSON outputs carry.
/// The metric columns a table shows: every metric some run measured, and the built-in
/// trainer's validation losses for its runs (a sample metric no run measured, from runs
/// without kid_images or from before the metric existed, is left out; so is a program's
/// metric no run reported, and the built-in ones in a table of a program's runs).
fn shown_metrics(df: &DataFrame) -> Vec<&'static str> {
    let measured = |m: &str| {
        df.column(m)
            .map(|c| c.null_count() < c.len())
            .unwrap_or(false)
    };
    let all = metrics();
    let named = |m: &str| crate::metrics::names::Metric::named(m);
    let program = all
        .iter()
        .any(|m| named(m).is_some_and(|d| d.from_program()) && measured(m));
    let shown: Vec<&'static str> = all
        .iter()
        .copied()
        .filter(|m| {
            measured(m)
                || (!program && !named(m).is_some_and(|d| d.from_samples() || d.from_program()))
        })
        .collect();
    if program {
        super::program_first(shown)
    } else {
        shown
    }
}

fn export_frame(df: &DataFrame, varying: &[String]) -> PolarsResult<DataFrame> {
    let mut cols: Vec<String> = vec!["id".into(), "status".into()];
    cols.extend(varying.iter().cloned());
    cols.extend(shown_metrics(df).iter().map(|s| s.to_string()));
    cols.push("seconds".into());
    df.select(cols)
}

pub fn csv(df: &DataFrame, varying: &[String]) -> anyhow::Result<String> {
    let mut out = export_frame(df, varying)?;
    let mut buf = Vec::new();
    CsvWriter::new(&mut buf).finish(&mut out)?;
    Ok(String::from_utf8(buf)?)
}

pub fn json(df: &DataFrame, varying: &[String]) -> anyhow::Result<String> {
    let mut out = export_frame(df, varying)?;
    let mut buf = Vec::new();
    JsonWriter::new(&mut buf)
        .with_json_format(JsonFormat::Json)
        .finish(&mut out)?;
    let mut text = String::from_utf8(buf)?;
    text.push('\n');
    Ok(text)
}
