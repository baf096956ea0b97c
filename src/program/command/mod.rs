//! The program kind `command`: a run of the user's own program. The `train` process is its
//! supervisor: it takes the run's lock, copies the sources into the run folder, starts the
//! program there with its flags (as options, placeholders and environment), reads its
//! scalars from its output and `metrics.jsonl` into `scalars.csv` and TensorBoard while it
//! runs, forwards a stop (SIGTERM, then SIGKILL after a grace period, to everything the
//! program started), enforces the time limit, and records how it ended.

pub mod argv;
pub mod events;
pub mod intake;
pub mod process;
pub mod samples;
pub mod scalars;

use crate::process::{now_rfc3339, Outcome, Signal, Stop};
use crate::run_flags::{CommandFlags, RunFlags};
use crate::store::program_file::ProgramFile;
use crate::store::run_info::ProgramRun;
use crate::store::{RunDir, RunInfo, Status};
use anyhow::{bail, Context};
use scalars::Channel;
use std::io::{BufRead, Read, Write};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The kind's registration (not in the supervisor binary, which runs this kind alone).
#[cfg(not(ddim_supervisor))]
pub static KIND: super::Kind = super::Kind {
    name: "command",
    owns: |f| matches!(f, Some(RunFlags::Command(_))),
    run: |a| run(a.run_dir, a.given, a.stop, a.wait),
};

/// A line of output is kept up to this many bytes (the rest of it is read and dropped).
pub const MAX_LINE: usize = 64 * 1024;
/// The program's output copied into the run's log, at most (then one line says so).
pub const MAX_LOG: u64 = 64 << 20;
/// Lines of standard error kept for a failure's record.
const TAIL: usize = 20;

/// How long a program has between SIGTERM and SIGKILL (`DDIM_STOP_GRACE`, seconds).
fn grace() -> Duration {
    let s = std::env::var("DDIM_STOP_GRACE")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .unwrap_or(10.0);
    Duration::from_secs_f64(s)
}

/// A program run's attempt as `ddim-sweep-program` (the supervisor binary) runs it: the exit
/// code `train` would give.
pub fn supervise_run(run_dir: &Path, wait: bool) -> anyhow::Result<std::process::ExitCode> {
    use crate::process::Exit;
    let stop = Stop::install_patient()?;
    Ok(match run(run_dir, &[], &stop, wait)? {
        Outcome::Completed { .. } | Outcome::AlreadyCompleted => Exit::Done.into(),
        Outcome::Interrupted { signal, .. } => Exit::Stopped(signal).into(),
    })
}

/// One attempt at the program run in `run_dir` (`given`: flags from the command line, which a
/// program run refuses: its flags are its sweep's).
pub fn run(
    run_dir: &Path,
    given: &[(String, serde_yaml::Value)],
    stop: &Stop,
    wait: bool,
) -> anyhow::Result<Outcome> {
    let dir = RunDir::new(run_dir);
    let _lock = dir.lock_for(wait, || stop.requested().is_some())?;
    let RunFlags::Command(flags) = dir.read_flags()? else {
        bail!("{} is not a run of a program", dir.root.display());
    };
    if !given.is_empty() {
        bail!(crate::error::Error::usage(format!(
            "run {} is a run of your program: its flags are its sweep's (flags.yaml); give none on the command line",
            dir.root.display()
        )));
    }
    let mut info = dir.read_info()?.unwrap_or_default();
    if info.status == Status::Completed {
        return Ok(Outcome::AlreadyCompleted);
    }
    let pf = ProgramFile::read(&dir.root).with_context(|| {
        format!(
            "run {} belongs to a sweep of a program, but its program.json cannot be read: run the sweep with `ddim-sweep run`",
            dir.root.display()
        )
    })?;
    let resumed = info.attempts > 0;
    let hash = copy_sources(&pf, &dir.root, resumed)?;
    let id = dir
        .root
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let seed = RunFlags::Command(flags.clone()).seed(&id);
    let words = argv::words(&flags, &pf, seed);
    info = dir.start(|info| {
        info.seed = seed;
        info.tool_version = crate::build_info::BUILD.version.into();
        info.git_commit = crate::build_info::BUILD.git_commit.into();
        info.device = String::new();
        info.cuda_visible_devices = std::env::var("CUDA_VISIBLE_DEVICES").ok();
        info.task = crate::store::run_info::Task::from_env();
        let prev = info.program.take().unwrap_or_default();
        info.program = Some(ProgramRun {
            argv: words.clone(),
            metrics: pf.metrics.clone(),
            sources_hash: if prev.sources_hash.is_empty() {
                hash.clone()
            } else {
                prev.sources_hash
            },
            ..Default::default()
        });
    })?;
    let started = Instant::now();
    let result = supervise(
        &dir, &flags, &pf, &words, seed, &id, resumed, stop, &mut info,
    );
    info.seconds += started.elapsed().as_secs_f64();
    record(&dir, &mut info, &pf, result)
}

/// Copies the sources into the run folder (a resumed run keeps the copy it started with);
/// the hash of the copies.
fn copy_sources(pf: &ProgramFile, run_dir: &Path, resumed: bool) -> anyhow::Result<String> {
    for name in &pf.sources {
        let to = run_dir.join(name);
        if resumed && to.exists() {
            continue;
        }
        if let Some(parent) = to.parent() {
            fs_err::create_dir_all(parent)?;
        }
        let from = pf.sweep_dir.join(name);
        let tmp = run_dir.join(format!(".{}.copy", name.replace('/', "_")));
        fs_err::copy(&from, &tmp)
            .with_context(|| format!("copying the source {} into the run", from.display()))?;
        fs_err::rename(&tmp, &to)?;
    }
    Ok(crate::store::program_file::sources_hash(
        run_dir,
        &pf.sources,
    )?)
}

/// How the program ended.
struct Ended {
    status: std::process::ExitStatus,
    stop: Option<Signal>,
    timed_out: bool,
    stderr_tail: Vec<String>,
    step: i64,
    epoch: i64,
    last_values: std::collections::BTreeMap<String, f64>,
    left_behind: usize,
}

/// A line from one of the program's streams.
enum Out {
    Line(bool, String),
    Closed,
}

#[allow(clippy::too_many_arguments)]
fn supervise(
    dir: &RunDir,
    flags: &CommandFlags,
    pf: &ProgramFile,
    words: &[String],
    seed: i64,
    id: &str,
    resumed: bool,
    stop: &Stop,
    info: &mut RunInfo,
) -> anyhow::Result<Ended> {
    let mut metrics: Vec<String> = pf.metrics.iter().map(|(n, _)| n.clone()).collect();
    let measured: Vec<String> = pf
        .sample_metrics
        .iter()
        .flat_map(|m| m.columns.iter().cloned())
        .collect();
    metrics.extend(measured.iter().cloned());
    let name = info.name.clone().unwrap_or_default();
    let mut scalars = scalars::Scalars::open(dir, &metrics, &name)?;
    let own_events = dir.tb_dir(&name);
    let mut events = events::Events::default();
    let mut events_at = Instant::now();
    // A program that reports no step is resumed by epochs; its steps stay row numbers.
    let own_step = scalars.last_step.filter(|_| !scalars.numbered);
    let mut out = Output {
        log: Log::default(),
        tail: Default::default(),
        intake: intake::Intake::resume(scalars.rows, own_step, scalars.last_epoch),
    };
    let mut jsonl = intake::Intake::resume(scalars.rows, own_step, scalars.last_epoch);
    let cmd = argv::command(words, flags, pf, seed, id, &dir.root, resumed)?;
    process::become_subreaper();
    let mut child = process::spawn(cmd)
        .map_err(|e| anyhow::anyhow!("cannot start the program `{}`: {e}", words[0]))?;
    let group = child.id() as i32;
    crate::say!("program: started {} (pid {group})", argv::shown(words));
    let (tx, rx) = mpsc::channel();
    let readers = [
        child
            .stdout
            .take()
            .map(|s| reader(Box::new(s), false, tx.clone())),
        child
            .stderr
            .take()
            .map(|s| reader(Box::new(s), true, tx.clone())),
    ];
    drop(tx);
    let mut jsonl_at = 0u64;
    let mut signalled: Option<(Signal, Instant)> = None;
    let mut timed_out = false;
    let deadline = pf
        .timeout
        .map(|t| Instant::now() + Duration::from_secs_f64(t));
    let mut open = 2;
    let status = loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Out::Line(err, line)) => out.line(err, &line, &mut scalars)?,
            Ok(Out::Closed) => open -= 1,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            // Both streams closed, the program not reaped yet: no busy wait.
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                std::thread::sleep(Duration::from_millis(5))
            }
        }
        jsonl_at = read_jsonl(dir, jsonl_at, &mut jsonl, &mut scalars)?;
        if events_at.elapsed() >= Duration::from_millis(500) {
            events_at = Instant::now();
            for row in events.read(&dir.root, &own_events) {
                scalars.write(Channel::Events, &row)?;
            }
        }
        if signalled.is_none() {
            if let Some(sig) = stop.requested() {
                crate::say!(
                    "program: {}: stopping it (SIGTERM, SIGKILL after {:?})",
                    sig.name(),
                    grace()
                );
                process::signal_tree(group, libc::SIGTERM);
                signalled = Some((sig, Instant::now()));
            } else if deadline.is_some_and(|d| Instant::now() >= d) {
                crate::say!(
                    "program: its time limit ({}s) is over: stopping it",
                    pf.timeout.unwrap_or(0.0)
                );
                process::signal_tree(group, libc::SIGTERM);
                timed_out = true;
                signalled = Some((Signal::Term, Instant::now()));
            }
        } else if let Some((_, at)) = signalled {
            if at.elapsed() >= grace() {
                process::signal_tree(group, libc::SIGKILL);
            }
        }
        if let Some(status) = child.try_wait()? {
            if open > 0 {
                // Its streams may stay open in a child it left behind (ended next).
                drain(&rx, &mut out, &mut scalars)?;
            }
            break status;
        }
    };
    // Whatever the program left behind (children that outlived it, even after setsid).
    let left_behind = process::end_tree(group, grace());
    for r in readers.into_iter().flatten() {
        let _ = r.join();
    }
    while let Ok(msg) = rx.try_recv() {
        if let Out::Line(err, line) = msg {
            out.line(err, &line, &mut scalars)?;
        }
    }
    if let Some(row) = out.intake.flush() {
        scalars.write(Channel::Output, &row)?;
    }
    read_jsonl(dir, jsonl_at, &mut jsonl, &mut scalars)?;
    if let Some(row) = jsonl.flush() {
        scalars.write(Channel::Jsonl, &row)?;
    }
    for row in events.read(&dir.root, &own_events) {
        scalars.write(Channel::Events, &row)?;
    }
    // The per-epoch sample metrics are columns, not final values: those come from scoring.
    let mut last_values = scalars.last_values.clone();
    last_values.retain(|k, _| !measured.contains(k));
    let headline = &pf.metrics[0].0;
    if let Some(m) = &pf.sample_metrics {
        if status.success() && signalled.is_none() && last_values.contains_key(headline) {
            match samples::score(dir, m, stop, &mut scalars)? {
                samples::Scored::Done(values) => last_values.extend(values),
                samples::Scored::Stopped(sig) => signalled = Some((sig, Instant::now())),
            }
        }
    }
    Ok(Ended {
        status,
        stop: signalled.filter(|_| !timed_out).map(|(s, _)| s),
        timed_out,
        stderr_tail: out.tail.into_iter().collect(),
        step: scalars.last_step.unwrap_or(0),
        epoch: scalars.last_epoch.unwrap_or(0),
        last_values,
        left_behind,
    })
}

/// What the program printed, taken line by line: its log, its last lines of stderr (made
/// printable: they reach a terminal through `runs`), its scalars.
struct Output {
    log: Log,
    tail: std::collections::VecDeque<String>,
    intake: intake::Intake,
}

impl Output {
    fn line(
        &mut self,
        err: bool,
        line: &str,
        scalars: &mut scalars::Scalars,
    ) -> anyhow::Result<()> {
        self.log.write(line);
        if err {
            if self.tail.len() == TAIL {
                self.tail.pop_front();
            }
            let shown = line
                .chars()
                .map(|c| if c.is_control() { '\u{fffd}' } else { c });
            self.tail.push_back(shown.collect());
        }
        if let Some(row) = self.intake.line(line) {
            scalars.write(Channel::Output, &row)?;
        }
        Ok(())
    }
}

/// After the program exited: the lines still queued, for at most 0.2 s (a child it left
/// behind may hold its streams open).
fn drain(
    rx: &mpsc::Receiver<Out>,
    out: &mut Output,
    scalars: &mut scalars::Scalars,
) -> anyhow::Result<()> {
    let until = Instant::now() + Duration::from_millis(200);
    while Instant::now() < until {
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(Out::Line(err, line)) => out.line(err, &line, scalars)?,
            Ok(Out::Closed) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    Ok(())
}

/// Reads one stream line by line (each line cut at [`MAX_LINE`] bytes, any bytes taken as
/// lossy UTF-8) until it closes.
fn reader(
    stream: Box<dyn Read + Send>,
    err: bool,
    tx: mpsc::Sender<Out>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut r = std::io::BufReader::with_capacity(1 << 16, stream);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match read_bounded_line(&mut r, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf)
                        .trim_end_matches(['\n', '\r'])
                        .to_string();
                    if tx.send(Out::Line(err, line)).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = tx.send(Out::Closed);
    })
}

/// One line into `buf`, at most [`MAX_LINE`] bytes kept; the bytes read (0 at the end).
fn read_bounded_line(r: &mut impl BufRead, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut total = 0;
    loop {
        let available = r.fill_buf()?;
        if available.is_empty() {
            return Ok(total);
        }
        let (used, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        let room = MAX_LINE.saturating_sub(buf.len());
        buf.extend_from_slice(&available[..used.min(room)]);
        r.consume(used);
        total += used;
        if done {
            return Ok(total);
        }
    }
}

/// New complete lines of `$DDIM_RUN_DIR/metrics.jsonl` since byte `at`; the new offset. A
/// last line without its newline waits for the rest; a malformed line is skipped.
fn read_jsonl(
    dir: &RunDir,
    at: u64,
    intake: &mut intake::Intake,
    scalars: &mut scalars::Scalars,
) -> anyhow::Result<u64> {
    let path = dir.root.join("metrics.jsonl");
    let Ok(mut f) = std::fs::File::open(&path) else {
        return Ok(at);
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if len <= at {
        return Ok(at.min(len));
    }
    use std::io::Seek;
    f.seek(std::io::SeekFrom::Start(at))?;
    // At most 4 MB a look: memory stays bounded whatever the program appends.
    const CHUNK: u64 = 4 << 20;
    let mut bytes = Vec::new();
    f.take((len - at).min(CHUNK)).read_to_end(&mut bytes)?;
    let Some(end) = bytes.iter().rposition(|&b| b == b'\n') else {
        // A whole chunk without a line break is no line: skipped.
        return Ok(if bytes.len() as u64 == CHUNK {
            at + CHUNK
        } else {
            at
        });
    };
    for line in bytes[..=end].split(|&b| b == b'\n') {
        if let Some(row) = intake.line(&String::from_utf8_lossy(line)) {
            scalars.write(Channel::Jsonl, &row)?;
        }
    }
    Ok(at + end as u64 + 1)
}

/// The program's output in the run's log (this process's stdout), at most [`MAX_LOG`] bytes.
#[derive(Default)]
struct Log {
    written: u64,
    cut: bool,
}

impl Log {
    fn write(&mut self, line: &str) {
        if self.written >= MAX_LOG {
            if !self.cut {
                self.cut = true;
                crate::say!("program: its output passed {} MB: the rest is not logged (its scalars still are)", MAX_LOG >> 20);
            }
            return;
        }
        self.written += line.len() as u64 + 1;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
    }
}

/// Records how the attempt ended in run.json.
fn record(
    dir: &RunDir,
    info: &mut RunInfo,
    pf: &ProgramFile,
    result: anyhow::Result<Ended>,
) -> anyhow::Result<Outcome> {
    let e = match result {
        Ok(e) => e,
        Err(err) => {
            dir.finish(info, Status::Failed, Some(format!("{err:#}")));
            return Err(err);
        }
    };
    info.step = e.step;
    info.epoch = e.epoch;
    let p = info.program.get_or_insert_with(Default::default);
    p.exit = Some(exit_text(&e.status));
    p.stderr_tail = e.stderr_tail.clone();
    p.non_finite = e
        .last_values
        .iter()
        .filter(|(_, v)| !v.is_finite())
        .map(|(k, v)| (k.clone(), v.to_string()))
        .collect();
    let finite: std::collections::BTreeMap<String, f64> = e
        .last_values
        .iter()
        .filter(|(_, v)| v.is_finite())
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    if e.left_behind > 0 {
        crate::say!(
            "program: ended {} process(es) it left behind",
            e.left_behind
        );
    }
    let last_err = e
        .stderr_tail
        .last()
        .map(|l| format!(": {l}"))
        .unwrap_or_default();
    if let Some(sig) = e.stop {
        let (status, reason) = match dir.read_stop_request() {
            Some(d) => (Status::Stopped, d.reason()),
            None => (
                Status::Interrupted,
                format!(
                    "stopped by {} at step {}; started again with DDIM_RESUME=1",
                    sig.name(),
                    e.step
                ),
            ),
        };
        info.metrics = finite;
        dir.finish(info, status, Some(reason));
        return Ok(Outcome::Interrupted {
            signal: sig,
            step: e.step,
        });
    }
    let headline = &pf.metrics[0].0;
    let (status, reason) = if e.timed_out {
        (
            Status::Failed,
            Some(format!(
                "timed out after {}s (timeout:)",
                pf.timeout.unwrap_or(0.0)
            )),
        )
    } else if !e.status.success() {
        (
            Status::Failed,
            Some(format!("the program {}{last_err}", ended_text(&e.status))),
        )
    } else if !e.last_values.contains_key(headline) {
        (Status::Failed, Some(format!(
            "the program exited 0 without reporting its headline metric `{headline}` (print `{headline}: VALUE`, or a JSON line {{\"{headline}\": VALUE}})"
        )))
    } else {
        (Status::Completed, None)
    };
    info.metrics = if status == Status::Completed {
        finite.clone()
    } else {
        if let Some(p) = info.program.as_mut() {
            p.non_finite.clear();
        }
        Default::default()
    };
    let failed = reason.clone();
    dir.finish(info, status, reason);
    let mut progress = dir.read_progress().unwrap_or_default();
    progress.phase = status.to_string();
    progress.updated = now_rfc3339();
    let _ = dir.write_progress(&progress);
    match status {
        Status::Completed => Ok(Outcome::Completed { metrics: finite }),
        _ => bail!("{}", failed.unwrap_or_default()),
    }
}

fn exit_text(s: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => c.to_string(),
        (None, Some(sig)) => signal_name(sig),
        _ => "?".into(),
    }
}

fn ended_text(s: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exited with code {c}"),
        (None, Some(sig)) => format!("was killed by {}", signal_name(sig)),
        _ => "ended".into(),
    }
}

fn signal_name(sig: i32) -> String {
    match sig {
        libc::SIGKILL => "SIGKILL".into(),
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGINT => "SIGINT".into(),
        libc::SIGSEGV => "SIGSEGV".into(),
        libc::SIGABRT => "SIGABRT".into(),
        libc::SIGBUS => "SIGBUS".into(),
        other => format!("signal {other}"),
    }
}
