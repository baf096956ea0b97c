//! What a person watching a sweep sees: on a terminal, a bar for the sweep (runs done of
//! total, ETA) and a line per active run refreshed from its progress file; otherwise (a log
//! file, CI) plain lines: every `progress_every`, one per active run (epoch, step, loss,
//! images/s, the run's ETA) and one for the sweep (done/total, ETA).

use crate::store::{RunDir, RunProgress};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub struct Display {
    multi: MultiProgress,
    main: ProgressBar,
    runs: HashMap<usize, ActiveRun>,
    done: u64,
    total: u64,
    label: String,
    start: Instant,
    progress_every: Duration,
    last_plain: Instant,
}

struct ActiveRun {
    bar: ProgressBar,
    dir: RunDir,
    prefix: String,
    /// The first progress seen with training under way (when, step): the run's own rate.
    first: Option<(Instant, i64)>,
    /// The last loss and images/s seen: a new epoch's progress has none until its first log.
    last: (Option<f64>, Option<f64>),
}

impl ActiveRun {
    /// The run's ETA from its step rate since it was first seen training.
    fn eta(&self, p: &RunProgress) -> Option<Duration> {
        let (t0, s0) = self.first?;
        let done = p.step - s0;
        if done <= 0 || p.total_steps <= p.step {
            return None;
        }
        let per_step = t0.elapsed().as_secs_f64() / done as f64;
        Duration::try_from_secs_f64(per_step * (p.total_steps - p.step) as f64).ok()
    }

    /// Of the run's steps, the share done.
    fn fraction(p: &RunProgress) -> f64 {
        if p.total_steps > 0 {
            (p.step as f64 / p.total_steps as f64).clamp(0.0, 1.0)
        } else {
            0.0
        }
    }
}

/// `1h 02m`, `4m 05s`, `12s`.
fn short(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

impl Display {
    pub fn new(label: &str, total: usize, progress_every: Duration) -> Display {
        let target = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let multi = MultiProgress::with_draw_target(target);
        let main = multi.add(ProgressBar::new(total as u64));
        main.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} runs, {elapsed} elapsed, ETA {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        main.set_prefix(label.to_string());
        main.enable_steady_tick(std::time::Duration::from_millis(500));
        Display {
            multi,
            main,
            runs: HashMap::new(),
            done: 0,
            total: total as u64,
            label: label.to_string(),
            start: Instant::now(),
            progress_every,
            last_plain: Instant::now(),
        }
    }

    /// Prints a line above the bars (or plainly when there are none).
    pub fn say(&self, line: impl Into<String>) {
        let line = line.into();
        if self.multi.is_hidden() {
            crate::say!("{line}");
        } else {
            let _ = self.multi.println(line);
        }
    }

    /// A line for run `run` (whose progress file is in `dir`), until it ends.
    pub fn started(&mut self, run: usize, prefix: String, dir: RunDir) {
        let bar = self
            .multi
            .insert_before(&self.main, ProgressBar::new_spinner());
        bar.set_style(ProgressStyle::with_template("  {prefix} {wide_msg}").expect("valid"));
        bar.set_prefix(prefix.clone());
        bar.set_message("starting");
        let active = ActiveRun {
            bar,
            dir,
            prefix,
            first: None,
            last: (None, None),
        };
        self.runs.insert(run, active);
    }

    /// `n` more runs to do (the strategy proposed them after the start).
    pub fn add_total(&mut self, n: usize) {
        self.total += n as u64;
        self.main.set_length(self.total);
    }

    /// Run `run` ended: its line goes, the sweep's bar advances.
    pub fn ended(&mut self, run: usize) {
        if let Some(r) = self.runs.remove(&run) {
            r.bar.finish_and_clear();
            self.multi.remove(&r.bar);
        }
        self.done += 1;
        self.main.set_position(self.done);
    }

    /// Rereads the progress files of the active runs: redraws their bars on a terminal, or
    /// prints plain progress lines when `progress_every` has passed.
    pub fn refresh(&mut self) {
        let mut progress = Vec::new();
        for (&i, r) in self.runs.iter_mut() {
            let Some(mut p) = r.dir.read_progress() else {
                continue;
            };
            p.loss = p.loss.or(r.last.0);
            p.images_per_s = p.images_per_s.or(r.last.1);
            r.last = (p.loss, p.images_per_s);
            if r.first.is_none() && p.phase == "training" && p.step > 0 {
                r.first = Some((Instant::now(), p.step));
            }
            if !self.multi.is_hidden() {
                r.bar.set_message(p.line());
            }
            progress.push((i, p));
        }
        if self.multi.is_hidden() && self.last_plain.elapsed() >= self.progress_every {
            self.last_plain = Instant::now();
            self.plain_lines(progress);
        }
    }

    /// One line per active run, in run order, then the sweep's line.
    fn plain_lines(&self, mut progress: Vec<(usize, RunProgress)>) {
        progress.sort_by_key(|(i, _)| *i);
        let mut fraction = self.done as f64;
        for (i, p) in &progress {
            let r = &self.runs[i];
            let eta = r
                .eta(p)
                .map(|d| format!(", ETA {}", short(d)))
                .unwrap_or_default();
            crate::say!("progress  {}: {}{eta}", r.prefix, p.line());
            fraction += ActiveRun::fraction(p);
        }
        let elapsed = self.start.elapsed();
        let share = fraction / self.total.max(1) as f64;
        let eta = if share > 0.0 && share < 1.0 {
            let left = elapsed.as_secs_f64() * (1.0 - share) / share;
            format!(", ETA {}", short(Duration::from_secs_f64(left)))
        } else {
            String::new()
        };
        crate::say!(
            "progress  sweep {}: {}/{} runs done, {} running, {} elapsed{eta}",
            self.label,
            self.done,
            self.total,
            self.runs.len(),
            short(elapsed)
        );
    }

    pub fn finish(&self) {
        self.main.finish_and_clear();
    }
}
