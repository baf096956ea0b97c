//! Result tables: markdown (the R original's `runs_info()` table, best values in bold), a pivot
//! view, CSV and JSON.

use super::{LabelRuns, METRICS};
use polars::prelude::*;

/// `x` with 7 significant digits (`0.1714205`, `0.09341860`, `12.34568`).
pub fn sig7(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let mag = x.abs().log10().floor() as i32;
    let decimals = (6 - mag).max(0) as usize;
    format!("{x:.decimals$}")
}

fn strings(df: &DataFrame, name: &str) -> PolarsResult<Vec<String>> {
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
    let mut header: Vec<String> = label_cols.clone();
    if show_status {
        header.push("status".into());
    }
    header.extend(metrics.iter().map(|m| m.to_string()));
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
    let n_text = label_cols.len() + show_status as usize;
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len(), 3])
                .max()
                .unwrap_or(3)
        })
        .collect();
    let mut out = String::new();
    let line = |cells: &[String], out: &mut String| {
        out.push('|');
        for (i, c) in cells.iter().enumerate() {
            let pad = widths[i] - c.chars().count();
            if i < n_text {
                out.push_str(&format!(" {c}{} |", " ".repeat(pad)));
            } else {
                out.push_str(&format!(" {}{c} |", " ".repeat(pad)));
            }
        }
        out.push('\n');
    };
    line(&header, &mut out);
    out.push('|');
    for (i, w) in widths.iter().enumerate() {
        if i < n_text {
            out.push_str(&format!(":{}|", "-".repeat(w + 1)));
        } else {
            out.push_str(&format!("{}:|", "-".repeat(w + 1)));
        }
    }
    out.push('\n');
    for r in &rows {
        line(r, &mut out);
    }
    Ok(out)
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
    let mut col_values: Vec<String> = Vec::new();
    for c in &cols {
        if !col_values.contains(c) {
            col_values.push(c.clone());
        }
    }
    let mut row_keys: Vec<Vec<String>> = Vec::new();
    for i in 0..df.height() {
        let k: Vec<String> = keys.iter().map(|col| col[i].clone()).collect();
        if !row_keys.contains(&k) {
            row_keys.push(k);
        }
    }
    let b = best(df, value)?;
    // Built as a DataFrame (one text column per key and per column value), then rendered.
    let mut columns: Vec<Column> = Vec::new();
    for (j, name) in rows_by.iter().enumerate() {
        columns.push(Column::new(
            name.as_str().into(),
            row_keys.iter().map(|k| k[j].clone()).collect::<Vec<_>>(),
        ));
    }
    for cv in &col_values {
        let cells: Vec<String> = row_keys
            .iter()
            .map(|k| {
                (0..df.height())
                    .find(|&i| &cols[i] == cv && keys.iter().zip(k).all(|(col, kv)| &col[i] == kv))
                    .and_then(|i| vals[i])
                    .map(|x| {
                        if Some(x) == b {
                            format!("**{}**", sig7(x))
                        } else {
                            sig7(x)
                        }
                    })
                    .unwrap_or_else(|| "—".into())
            })
            .collect();
        columns.push(Column::new(format!("{col_by} = {cv}").into(), cells));
    }
    let p = DataFrame::new_infer_height(columns)?;
    let names: Vec<String> = p.get_column_names().iter().map(|s| s.to_string()).collect();
    let n_keys = rows_by.len();
    let mut out = format!("| {} |\n|", names.join(" | "));
    for i in 0..names.len() {
        out.push_str(if i < n_keys { ":---|" } else { "---:|" });
    }
    out.push('\n');
    for r in 0..p.height() {
        let cells: Vec<String> = names
            .iter()
            .map(|n| {
                p.column(n)
                    .unwrap()
                    .str()
                    .unwrap()
                    .get(r)
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    Ok(Some(out))
}

/// A CSV cell, quoted when it holds a comma, a quote or a line break (`[8, 16]`).
pub fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The columns the CSV and JSON outputs carry.
/// The metric columns a table shows: every metric but a sample metric no run measured (runs
/// without kid_images, or from before the metric existed).
fn shown_metrics(df: &DataFrame) -> Vec<&'static str> {
    METRICS
        .iter()
        .copied()
        .filter(|m| {
            let measured = df
                .column(m)
                .map(|c| c.null_count() < c.len())
                .unwrap_or(false);
            measured || !crate::metrics::names::Metric::named(m).is_some_and(|d| d.from_samples())
        })
        .collect()
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

/// The report page of a label.
pub fn readme(
    g: &LabelRuns,
    df: &DataFrame,
    tables: &[(String, String)],
    pictures: &[(String, String, String)],
    search: Option<&str>,
    race: Option<&str>,
    found: &super::conclusions::Sections,
) -> anyhow::Result<String> {
    let statuses = strings(df, "status")?;
    let count = |s: &str| statuses.iter().filter(|x| *x == s).count();
    let mut md = format!("# {}\n\n", g.label);
    md.push_str(&format!(
        "{} runs: {} completed, {} failed, {} interrupted, {} running or queued. ",
        g.runs.len(),
        count("completed"),
        count("failed"),
        count("interrupted"),
        count("running") + count("queued")
    ));
    if count("stopped") > 0 {
        md.push_str(&format!(
            "{} stopped early (see Search). ",
            count("stopped")
        ));
    }
    md.push_str("Metrics, the final validation values (sample metrics on Inception-v3 features of TensorFlow's FID graph); the best of each column is in bold:\n\n");
    for m in crate::metrics::names::ALL {
        md.push_str(&format!(
            "- `{}`: {} ({}).\n",
            m.name,
            m.description,
            m.direction_text()
        ));
    }
    md.push('\n');
    if g.runs
        .iter()
        .any(|r| r.entry.info.metrics.contains_key("fid"))
    {
        let mut counts: Vec<&str> = g.runs.iter().map(|r| r.flag_text("kid_images")).collect();
        counts.sort();
        counts.dedup();
        md.push_str(&format!(
            "FID is biased at small sample counts (it falls as the count grows): these runs measured it on kid_images = {} generated images (`auto`: the validation split's size); compare FIDs only at equal counts.\n\n",
            counts.join(", ")
        ));
    }
    md.push_str("## Results\n\n");
    if let Some(c) = &found.configs {
        md.push_str(c);
        md.push_str("\nEach run:\n\n");
    }
    for (title, t) in tables {
        if !title.is_empty() {
            md.push_str(&format!("{title}\n\n"));
        }
        md.push_str(t);
        md.push('\n');
    }
    let value = super::headline(g);
    let pivot_flags: Vec<String> = g
        .varying
        .iter()
        .filter(|v| *v != "dataset_name")
        .cloned()
        .collect();
    // A pivot of drawn values would have one run per cell: the search section shows them.
    if !g.varying.iter().any(|v| v == "dataset_name") && search.is_none() {
        if let Some(p) = pivot(df, &pivot_flags, value)? {
            md.push_str(&format!(
                "### {value} by {}\n\n{p}\n",
                pivot_flags.join(" x ")
            ));
        }
    }
    let failed: Vec<String> = g
        .runs
        .iter()
        .filter(|r| r.entry.info.status.to_string() == "failed")
        .map(|r| {
            // The reason is escaped already (the report's markdown copy of the runs).
            format!(
                "- {}: {}",
                super::md::code(&r.entry.id),
                r.entry.info.reason.clone().unwrap_or_default()
            )
        })
        .collect();
    if !failed.is_empty() {
        md.push_str(&format!("### Failed runs\n\n{}\n\n", failed.join("\n")));
    }
    if let Some(r) = race {
        md.push_str(r);
    }
    if let Some(e) = &found.effects {
        md.push_str(e);
    }
    if let Some(s) = search {
        md.push_str(s);
    }
    for (title, file, caption) in pictures {
        md.push_str(&format!(
            "## {title}\n\n{caption}\n\n![{title}]({file})\n\n"
        ));
    }
    md.push_str(&format!(
        "Runs (table order): {}\n",
        strings(df, "id")?
            .iter()
            .map(|i| format!("`{i}`"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok(md)
}

#[cfg(test)]
mod tests {
    #[test]
    fn seven_significant_digits() {
        assert_eq!(super::sig7(0.17142051), "0.1714205");
        assert_eq!(super::sig7(0.0934186), "0.09341860");
        assert_eq!(super::sig7(12.3456789), "12.34568");
        assert_eq!(super::sig7(1234567.8), "1234568");
    }
}
