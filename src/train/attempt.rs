//! One attempt at a run: takes the run's lock (or waits for it), settles its flags (a new
//! run's from the defaults, an existing run's from its record), refuses a run whose data
//! cannot be had, records the start (versions, device, precision, task), hands the training
//! to [`super::trainer::Trainer`], and records how the attempt ended (completed, interrupted
//! or stopped with its reason, failed with libtorch's own words).

use super::trainer::Trainer;
use super::Outcome;
use crate::build_info::BUILD;
use crate::flags::{check_value, lookup, plain_value, Flags, Precision};
use crate::process::{now_rfc3339, Signal, Stop};
use crate::store::{RunDir, RunInfo, Status};
use anyhow::{anyhow, bail, Context};
use serde_yaml::Value;
use std::path::Path;
use std::time::Instant;
use tch::Device;

/// The flags a run trains with: a new run resolves `given` over the defaults; an existing
/// run keeps its stored flags, and any given flag must equal the stored value.
pub fn flags_for(dir: &RunDir, given: &[(String, Value)]) -> anyhow::Result<(Flags, bool)> {
    if dir.flags().exists() {
        let stored = dir.read_builtin_flags()?;
        check_given_match(dir, &stored, given)?;
        return Ok((stored, false));
    }
    if dir.root.exists() {
        let others: Vec<String> = fs_err::read_dir(&dir.root)?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != ".lock")
            .collect();
        if !others.is_empty() {
            bail!(
                "{} exists and is not a run directory (it has no flags.yaml but holds {}): choose an empty or new --run-dir",
                dir.root.display(),
                others.join(", ")
            );
        }
    }
    Ok((
        Flags::resolve(given).map_err(crate::error::Error::input)?,
        true,
    ))
}

/// Flags given to continue a run must be the ones it was started with.
fn check_given_match(
    dir: &RunDir,
    stored: &Flags,
    given: &[(String, Value)],
) -> anyhow::Result<()> {
    let map = stored.to_map();
    for (name, value) in given {
        let spec = lookup(name).map_err(crate::error::Error::input)?;
        let mut canonical = check_value(spec, value).map_err(crate::error::Error::input)?;
        if name == "dataset_repetitions" && canonical.as_str() == Some("auto") {
            canonical = Value::from(stored.dataset_name.default_repetitions());
        }
        let have = map.get(name).cloned().unwrap_or(Value::Null);
        if have != canonical {
            bail!(
                "run {} was started with {name}={}, not {name}={}: refusing to continue it with other flags (use a new --run-dir, or leave the flag out to continue)",
                dir.root.display(),
                plain_value(&have),
                plain_value(&canonical)
            );
        }
    }
    Ok(())
}

/// Trains (or continues) the run in `run_dir`.
pub fn run(
    run_dir: &Path,
    given: &[(String, Value)],
    stop: &Stop,
    fetch: &crate::data::availability::FetchPolicy,
    wait: bool,
) -> anyhow::Result<Outcome> {
    let dir = RunDir::new(run_dir);
    fs_err::create_dir_all(&dir.root)
        .with_context(|| format!("creating {}", dir.root.display()))?;
    let _lock = if wait {
        match dir.lock_waiting(|| stop.requested().is_some())? {
            Some(lock) => lock,
            // Stopped while waiting: the run is the other process's, untouched (exit 75,
            // so that no executor marks it for this process).
            None => {
                return Err(crate::error::Error::Busy(format!(
                    "run {}: stopped while waiting for another process to finish training it; left to it",
                    dir.root.display()
                ))
                .into())
            }
        }
    } else {
        dir.lock()?
    };
    let (flags, is_new) = flags_for(&dir, given)?;
    if dir
        .read_info()?
        .is_some_and(|i| i.status == Status::Completed)
    {
        return Ok(Outcome::AlreadyCompleted);
    }
    // The dataset first: a run that cannot have its data is refused, not failed.
    crate::data::availability::ensure(&flags, fetch).map_err(crate::error::Error::refused)?;
    if is_new {
        crate::files::write_atomic(&dir.flags(), flags.to_yaml().as_bytes())?;
    }
    let device = crate::device::resolve(flags.device)?;
    let (resolved, why) = crate::device::precision(flags.precision, device);
    let mut info = dir.start(|info| {
        // Resolved once, at the first start; a resumed run keeps what it started with.
        info.precision.get_or_insert(resolved);
        info.flags
            .get_or_insert_with(|| crate::store::run_info::flags_record(&flags));
        info.seed = flags.seed;
        info.tool_version = BUILD.version.into();
        info.git_commit = BUILD.git_commit.into();
        info.tch_version = BUILD.tch.into();
        info.libtorch_version = BUILD.libtorch.into();
        info.device = crate::device::name(device);
        info.cuda_visible_devices = std::env::var("CUDA_VISIBLE_DEVICES").ok();
        info.threads = tch::get_num_threads() as i64;
        info.task = crate::store::run_info::Task::from_env();
    })?;
    say_precision(&info, resolved, &why, device);
    let attempt_start = Instant::now();
    let result = catch_torch_panics(|| {
        Trainer::prepare(&dir, &flags, device, &mut info)?.train(&dir, &mut info, stop)
    });
    info.seconds += attempt_start.elapsed().as_secs_f64();
    record_outcome(&dir, &mut info, &result);
    result
}

/// Says which precision the attempt trains in, and why, when that is not plain fp32.
fn say_precision(info: &RunInfo, resolved: Precision, why: &str, device: Device) {
    let kept = info.precision.unwrap_or(resolved);
    if kept != resolved {
        crate::say!(
            "precision: {kept}, recorded at the run's first start ({why} here, but a run does not switch half way)"
        );
    } else if why.starts_with("precision=auto") {
        crate::say!("{why}");
    }
    if kept == Precision::Bf16 {
        let (native, reason) = crate::device::native_bf16(device);
        if !native {
            crate::say!(
                "warning: bf16 is emulated on {} ({reason}): each step costs several times an fp32 one; precision=auto picks fp32 here",
                crate::device::name(device),
            );
        }
    }
}

/// libtorch reports errors (shapes, out of memory) as panics in tch: they become the run's
/// failure instead of a backtrace from the default hook.
fn catch_torch_panics(f: impl FnOnce() -> anyhow::Result<Outcome>) -> anyhow::Result<Outcome> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
            let msg = panic
                .downcast_ref::<String>()
                .map(|s| s.as_str())
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("panic");
            Err(anyhow!("{}", clean_panic(msg)))
        });
    std::panic::set_hook(hook);
    result
}

/// Ends the attempt in run.json (and the progress file) as `result` says.
fn record_outcome(dir: &RunDir, info: &mut RunInfo, result: &anyhow::Result<Outcome>) {
    let (status, reason) = match result {
        Ok(Outcome::Completed { metrics }) => {
            info.metrics = metrics.clone();
            (Status::Completed, None)
        }
        Ok(Outcome::Interrupted { signal, step }) => match dir.read_stop_request() {
            Some(d) => (Status::Stopped, Some(d.reason())),
            None => (
                Status::Interrupted,
                Some(format!(
                    "stopped by {}{} at step {step}; checkpoint saved",
                    signal.name(),
                    if *signal == Signal::Usr1 {
                        " (Slurm's warning before the time limit)"
                    } else {
                        ""
                    }
                )),
            ),
        },
        Ok(Outcome::AlreadyCompleted) => return,
        Err(e) => {
            let name = info.name.clone().unwrap_or_default();
            let _ = crate::track::mark_failed(dir, &name, info.step);
            (Status::Failed, Some(format!("{e:#}")))
        }
    };
    dir.finish(info, status, reason);
    let mut p = dir.read_progress().unwrap_or_default();
    p.phase = status.to_string();
    p.updated = now_rfc3339();
    let _ = dir.write_progress(&p);
}

/// The first line of a panic message; for a libtorch error, its own first line.
pub fn clean_panic(msg: &str) -> String {
    if let Some(start) = msg.find("Torch(\"") {
        let rest = &msg[start + 7..];
        let end = rest
            .find("\\n")
            .or_else(|| rest.find("\")"))
            .unwrap_or(rest.len());
        return format!("libtorch: {}", &rest[..end]);
    }
    msg.lines().next().unwrap_or(msg).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn torch_errors_are_shortened() {
        let m = r#"called `Result::unwrap()` on an `Err` value: Torch("CUDA out of memory. Tried\nException raised from x\nframe #0")"#;
        assert_eq!(super::clean_panic(m), "libtorch: CUDA out of memory. Tried");
        assert_eq!(super::clean_panic("plain\nmore"), "plain");
    }
}
