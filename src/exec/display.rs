//! What a person watching a sweep sees: on a terminal, a bar for the sweep (runs done of
//! total, ETA) and a line per active run refreshed from its progress file; otherwise plain
//! lines only.

use crate::store::RunDir;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;

pub struct Display {
    multi: MultiProgress,
    main: ProgressBar,
    runs: HashMap<usize, (ProgressBar, RunDir)>,
    done: u64,
}

impl Display {
    pub fn new(label: &str, total: usize) -> Display {
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
        bar.set_prefix(prefix);
        bar.set_message("starting");
        self.runs.insert(run, (bar, dir));
    }

    /// Run `run` ended: its line goes, the sweep's bar advances.
    pub fn ended(&mut self, run: usize) {
        if let Some((bar, _)) = self.runs.remove(&run) {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
        self.done += 1;
        self.main.set_position(self.done);
    }

    /// Rereads the progress files of the active runs (only when a terminal shows them).
    pub fn refresh(&self) {
        if self.multi.is_hidden() {
            return;
        }
        for (bar, dir) in self.runs.values() {
            if let Some(p) = dir.read_progress() {
                bar.set_message(p.line());
            }
        }
    }

    pub fn finish(&self) {
        self.main.finish_and_clear();
    }
}
