//! A program run's scalars on disk: `scalars.csv` (one row per step the program reported:
//! `epoch,step`, then its declared metrics, then `seconds`) and TensorBoard event files with
//! every scalar it reported (declared or not). On a resumed run, a step reported again
//! replaces the rows from that step on; for a program that reports no step (its rows are
//! numbered), an epoch reported again replaces the rows from that epoch on, and the rows
//! after it are numbered on from the rows kept. A name reported on more than one channel
//! (printed and also written to TensorBoard, say) is taken from the channel it came from
//! first in this attempt; the other channels' values of it are left out, said once.

use super::intake::Row;
use crate::store::RunDir;
use crate::track::tensorboard::EventWriter;
use std::io::Write;
use std::time::Instant;

/// Where a row came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Channel {
    /// The program's stdout and stderr.
    Output,
    /// `$DDIM_RUN_DIR/metrics.jsonl`.
    Jsonl,
    /// TensorBoard event files the program writes.
    Events,
    /// Measured by ddim-sweep after the program exited (sample metrics).
    Measured,
}

impl Channel {
    fn name(self) -> &'static str {
        match self {
            Channel::Output => "its output",
            Channel::Jsonl => "metrics.jsonl",
            Channel::Events => "its TensorBoard events",
            Channel::Measured => "sample_metrics",
        }
    }
}

pub struct Scalars {
    path: std::path::PathBuf,
    header: String,
    metrics: Vec<String>,
    tb: EventWriter,
    /// The last step already in the file when this attempt started (None: a new file).
    resumed_after: Option<i64>,
    /// The last epoch already in the file when this attempt started.
    resumed_epoch: Option<i64>,
    /// Whether the file's steps are its rows' numbers (1, 2, …): the program reports none.
    pub numbered: bool,
    last: Instant,
    /// The last value of every declared metric, finite or not.
    pub last_values: std::collections::BTreeMap<String, f64>,
    pub rows: i64,
    pub last_step: Option<i64>,
    pub last_epoch: Option<i64>,
    /// The last step of each epoch written.
    epoch_steps: std::collections::BTreeMap<i64, i64>,
    /// The channel each name is taken from (the first it came from).
    owners: std::collections::BTreeMap<String, Channel>,
    /// The (name, channel) pairs already said to be left out.
    said: std::collections::BTreeSet<(String, Channel)>,
}

impl Scalars {
    /// Opens the run's scalars: a new file with its header, or the rows an earlier attempt
    /// wrote (their last values kept).
    pub fn open(dir: &RunDir, metrics: &[String], name: &str) -> anyhow::Result<Scalars> {
        let header = std::iter::once("epoch")
            .chain(["step"])
            .chain(metrics.iter().map(String::as_str))
            .chain(["seconds"])
            .collect::<Vec<_>>()
            .join(",");
        let path = dir.scalars();
        let mut s = Scalars {
            path: path.clone(),
            header,
            metrics: metrics.to_vec(),
            tb: EventWriter::create(&dir.tb_dir(name))?,
            resumed_after: None,
            resumed_epoch: None,
            numbered: true,
            last: Instant::now(),
            last_values: Default::default(),
            rows: 0,
            last_step: None,
            last_epoch: None,
            epoch_steps: Default::default(),
            owners: Default::default(),
            said: Default::default(),
        };
        let old = read_rows(&path);
        if old.is_empty() {
            crate::files::write_atomic(&path, format!("{}\n", s.header).as_bytes())?;
        }
        for (epoch, step, values) in &old {
            s.last_values
                .extend(values.iter().map(|(k, v)| (k.clone(), *v)));
            s.last_step = Some(*step);
            s.last_epoch = Some(*epoch);
            s.epoch_steps.insert(*epoch, *step);
        }
        s.rows = old.len() as i64;
        s.resumed_after = s.last_step;
        s.resumed_epoch = s.last_epoch;
        s.numbered = old
            .iter()
            .enumerate()
            .all(|(i, (_, step, _))| *step == i as i64 + 1);
        Ok(s)
    }

    /// Writes one row from `channel`: its declared metrics to scalars.csv (a row with none of
    /// them only to TensorBoard), every value to TensorBoard; values of names that another
    /// channel reports are left out.
    pub fn write(&mut self, channel: Channel, row: &Row) -> anyhow::Result<()> {
        let row = &self.own_values(channel, row);
        if row.values.is_empty() {
            return Ok(());
        }
        if !self.metrics.iter().any(|m| row.values.contains_key(m)) {
            let values: Vec<(&str, f64)> =
                row.values.iter().map(|(k, v)| (k.as_str(), *v)).collect();
            self.tb.scalars(row.step, &values)?;
            return Ok(());
        }
        let (after, after_epoch) = (self.resumed_after.take(), self.resumed_epoch.take());
        let step = if row.numbered {
            // Known by its epoch: one reported again replaces the rows from it on.
            if after_epoch.is_some_and(|e| row.epoch <= e) {
                self.keep_rows(|epoch, _| epoch < row.epoch)?;
            }
            self.rows + 1
        } else {
            if after.is_some_and(|s| row.step <= s) {
                // Reported again after a resume: the rows from this step on are replaced.
                self.keep_rows(|_, step| step < row.step)?;
            }
            row.step
        };
        let values: Vec<(&str, f64)> = row.values.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        self.tb.scalars(step, &values)?;
        let row = &Row {
            step,
            ..row.clone()
        };
        let seconds = self.last.elapsed().as_secs_f64();
        self.last = Instant::now();
        let mut cells = vec![row.epoch.to_string(), row.step.to_string()];
        for m in &self.metrics {
            cells.push(row.values.get(m).map(|v| v.to_string()).unwrap_or_default());
            if let Some(v) = row.values.get(m) {
                self.last_values.insert(m.clone(), *v);
            }
        }
        cells.push(format!("{seconds:.3}"));
        let mut f = fs_err::OpenOptions::new().append(true).open(&self.path)?;
        writeln!(f, "{}", cells.join(","))?;
        f.flush()?;
        self.rows += 1;
        self.last_step = Some(row.step);
        self.last_epoch = Some(row.epoch);
        self.epoch_steps.insert(row.epoch, row.step);
        Ok(())
    }

    /// The row with only the names `channel` owns (a name new to every channel becomes its).
    fn own_values(&mut self, channel: Channel, row: &Row) -> Row {
        let mut kept = row.clone();
        for name in row.values.keys() {
            let owner = *self.owners.entry(name.clone()).or_insert(channel);
            if owner == channel {
                continue;
            }
            kept.values.remove(name);
            if self.said.insert((name.clone(), channel)) {
                crate::say!(
                    "program: `{name}` comes from {} and from {}: taken from {} only",
                    owner.name(),
                    channel.name(),
                    owner.name()
                );
            }
        }
        kept
    }

    /// Keeps the rows of the file whose (epoch, step) `keep` accepts.
    fn keep_rows(&mut self, keep: impl Fn(i64, i64) -> bool) -> anyhow::Result<()> {
        let kept: Vec<String> = std::fs::read_to_string(&self.path)?
            .lines()
            .skip(1)
            .filter(|l| {
                let mut cells = l.split(',').map(|c| c.parse::<i64>().ok());
                match (cells.next().flatten(), cells.next().flatten()) {
                    (Some(epoch), Some(step)) => keep(epoch, step),
                    _ => false,
                }
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let text = format!("{}\n{}", self.header, kept.concat());
        crate::files::write_atomic(&self.path, text.as_bytes())?;
        self.rows = kept.len() as i64;
        Ok(())
    }

    /// The last step written at `epoch`.
    pub fn step_of_epoch(&self, epoch: i64) -> Option<i64> {
        self.epoch_steps.get(&epoch).copied()
    }

    /// Writes a row measured after the program exited (its sample metrics at an epoch): added
    /// beside the program's rows, never replacing them.
    pub fn write_measured(&mut self, row: &Row) -> anyhow::Result<()> {
        self.resumed_after = None;
        let (step, epoch) = (self.last_step, self.last_epoch);
        self.write(Channel::Measured, row)?;
        (self.last_step, self.last_epoch) = (step, epoch);
        Ok(())
    }
}

/// (epoch, step, the declared metrics' values) of a row already written.
type OldRow = (i64, i64, Vec<(String, f64)>);

/// The complete rows of a program run's scalars.csv (its own layout: `epoch,step`, metrics,
/// `seconds`): (epoch, step, the metrics' values). Read here rather than by `track::csv`,
/// whose reader knows every built-in metric (and so libtorch), which this binary must not.
fn read_rows(path: &std::path::Path) -> Vec<OldRow> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let mut lines = text.split_inclusive('\n').filter(|l| l.ends_with('\n'));
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let names: Vec<&str> = header.trim_end().split(',').collect();
    let mut out = Vec::new();
    for line in lines {
        let cells: Vec<&str> = line.trim_end().split(',').collect();
        let (Some(Ok(epoch)), Some(Ok(step))) = (
            cells.first().map(|c| c.parse::<i64>()),
            cells.get(1).map(|c| c.parse::<i64>()),
        ) else {
            continue;
        };
        let values = names
            .iter()
            .zip(&cells)
            .skip(2)
            .filter(|(n, _)| **n != "seconds")
            .filter_map(|(n, c)| c.parse::<f64>().ok().map(|v| (n.to_string(), v)))
            .collect();
        out.push((epoch, step, values));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(epoch: i64, step: i64, v: f64) -> Row {
        Row {
            epoch,
            step,
            numbered: true,
            values: [("loss".to_string(), v)].into(),
        }
    }

    fn epochs_and_steps(dir: &RunDir) -> Vec<(i64, i64)> {
        read_rows(&dir.scalars())
            .into_iter()
            .map(|(e, s, _)| (e, s))
            .collect()
    }

    /// A program that reports epochs but no step, killed after printing epoch 4 but before
    /// its checkpoint of it: resumed, it reports epoch 3 again, which replaces the rows from
    /// epoch 3 on; the steps stay the rows' numbers.
    #[test]
    fn a_resumed_program_without_steps_is_known_by_its_epochs() {
        let d = tempfile::tempdir().unwrap();
        let dir = RunDir::new(d.path());
        let metrics = vec!["loss".to_string()];
        let mut s = Scalars::open(&dir, &metrics, "r").unwrap();
        for e in 1..=4 {
            s.write(Channel::Output, &numbered(e, e, e as f64)).unwrap();
        }
        drop(s);
        let mut s = Scalars::open(&dir, &metrics, "r").unwrap();
        assert!(s.numbered);
        // The intake resumes its numbering after the 4 rows.
        for (i, e) in (3..=6).enumerate() {
            s.write(Channel::Output, &numbered(e, 5 + i as i64, e as f64))
                .unwrap();
        }
        assert_eq!(
            epochs_and_steps(&dir),
            [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 6)]
        );
        // A program with its own steps: a step reported again replaces from that step on.
        let d = tempfile::tempdir().unwrap();
        let dir = RunDir::new(d.path());
        let mut s = Scalars::open(&dir, &metrics, "r").unwrap();
        for step in [100, 200, 300] {
            let row = Row {
                numbered: false,
                ..numbered(step / 100, step, 1.0)
            };
            s.write(Channel::Output, &row).unwrap();
        }
        drop(s);
        let mut s = Scalars::open(&dir, &metrics, "r").unwrap();
        assert!(!s.numbered);
        s.write(
            Channel::Output,
            &Row {
                numbered: false,
                ..numbered(2, 200, 0.5)
            },
        )
        .unwrap();
        assert_eq!(epochs_and_steps(&dir), [(1, 100), (2, 200)]);
    }

    /// A metric printed and also written to TensorBoard by the program is logged once, from
    /// the channel it came from first; the other channel's other names still count.
    #[test]
    fn a_name_on_two_channels_is_taken_from_the_first() {
        let d = tempfile::tempdir().unwrap();
        let dir = RunDir::new(d.path());
        let metrics = vec!["loss".to_string(), "acc".to_string()];
        let mut s = Scalars::open(&dir, &metrics, "r").unwrap();
        let at = |step: i64, values: &[(&str, f64)]| Row {
            epoch: step,
            step,
            numbered: false,
            values: values.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        };
        s.write(Channel::Output, &at(1, &[("loss", 0.5)])).unwrap();
        s.write(Channel::Events, &at(1, &[("loss", 0.5)])).unwrap();
        s.write(Channel::Output, &at(2, &[("loss", 0.4)])).unwrap();
        s.write(Channel::Events, &at(2, &[("loss", 9.0), ("acc", 0.7)]))
            .unwrap();
        let rows = read_rows(&dir.scalars());
        assert_eq!(epochs_and_steps(&dir), [(1, 1), (2, 2), (2, 2)]);
        assert_eq!(rows[1].2, [("loss".to_string(), 0.4)]);
        assert_eq!(rows[2].2, [("acc".to_string(), 0.7)]);
        assert_eq!(s.last_values["loss"], 0.4);
    }
}
