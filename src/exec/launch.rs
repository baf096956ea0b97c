//! How every executor starts a run: the one `train` command line, and the environment that
//! tells the run which task runs it (`store::run_info::task_env`). The local executor makes
//! a child process of it; a batch executor (Slurm) writes it into its task's script.

use crate::store::run_info::task_env;
use std::path::{Path, PathBuf};

/// A value of the run's environment or command line.
#[derive(Debug, Clone, PartialEq)]
pub enum Word {
    /// Literal text.
    Text(String),
    /// A shell expression, expanded where the task's script runs (`${SLURM_ARRAY_JOB_ID}`).
    Shell(String),
}

impl Word {
    /// As a word of a shell script: literal text single-quoted, an expression double-quoted.
    fn quoted(&self) -> String {
        match self {
            Word::Text(t) => format!("'{}'", t.replace('\'', r"'\''")),
            Word::Shell(e) => format!("\"{e}\""),
        }
    }
}

/// Every run is trained by `BINARY train --wait --run-dir DIR` (`--wait`: a run that another
/// process holds is waited for, then continued or left completed, never trained twice).
const TRAIN: [&str; 3] = ["train", "--wait", "--run-dir"];

/// The `train` a task runs for one run: the binary and the environment it runs with.
#[derive(Debug, Clone)]
pub struct Launch {
    pub binary: PathBuf,
    pub env: Vec<(&'static str, Word)>,
}

impl Launch {
    pub fn new(binary: &Path) -> Launch {
        Launch {
            binary: binary.to_path_buf(),
            env: Vec::new(),
        }
    }

    /// Sets `name` in the run's environment.
    pub fn env(mut self, name: &'static str, value: Word) -> Launch {
        self.env.push((name, value));
        self
    }

    /// Tells the run it is task `key` of executor `kind` on `node` (requeued `restarts`
    /// times by the executor itself): recorded in its run.json as its task.
    pub fn task(self, kind: &str, key: Word, node: Word, restarts: Word) -> Launch {
        self.env(task_env::KIND, Word::Text(kind.into()))
            .env(task_env::KEY, key)
            .env(task_env::NODE, node)
            .env(task_env::RESTARTS, restarts)
    }

    /// The arguments after the binary: `train --wait --run-dir DIR`.
    pub fn args(run_dir: Word) -> Vec<Word> {
        TRAIN
            .into_iter()
            .map(|a| Word::Text(a.into()))
            .chain([run_dir])
            .collect()
    }

    /// A child process training the run at `run_dir` (literal words only; the task
    /// variables this launch does not set are removed, so a run never claims its parent's
    /// task).
    pub fn command(&self, run_dir: &Path) -> anyhow::Result<tokio::process::Command> {
        let mut c = tokio::process::Command::new(&self.binary);
        c.args(TRAIN).arg(run_dir);
        for name in [
            task_env::KIND,
            task_env::KEY,
            task_env::NODE,
            task_env::RESTARTS,
        ] {
            c.env_remove(name);
        }
        for (name, value) in &self.env {
            match value {
                Word::Text(t) => c.env(name, t),
                Word::Shell(e) => anyhow::bail!("{name}={e}: a shell expression needs a script"),
            };
        }
        Ok(c)
    }

    /// The end of a task's shell script: exports the environment and `exec`s the run (so
    /// that signals sent to the task reach the run itself).
    pub fn script(&self, run_dir: Word) -> String {
        let mut s = String::new();
        for (name, value) in &self.env {
            s.push_str(&format!("export {name}={}\n", value.quoted()));
        }
        let words: Vec<String> = std::iter::once(Word::Text(self.binary.display().to_string()))
            .chain(Launch::args(run_dir))
            .map(|w| w.quoted())
            .collect();
        s.push_str(&format!("exec {}\n", words.join(" ")));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_command_line_as_a_process_and_as_a_script() {
        let l = Launch::new(Path::new("/opt/it's/ddim-sweep"))
            .env("OMP_NUM_THREADS", Word::Text("4".into()))
            .task(
                "slurm",
                Word::Shell("${A}_${B}".into()),
                Word::Shell("${N}".into()),
                Word::Shell("${R}".into()),
            );
        assert_eq!(
            l.script(Word::Shell("$DIR".into())),
            "export OMP_NUM_THREADS='4'\nexport DDIM_TASK_KIND='slurm'\n\
             export DDIM_TASK_KEY=\"${A}_${B}\"\nexport DDIM_TASK_NODE=\"${N}\"\n\
             export DDIM_TASK_RESTARTS=\"${R}\"\n\
             exec '/opt/it'\\''s/ddim-sweep' 'train' '--wait' '--run-dir' \"$DIR\"\n"
        );
        // Shell expressions cannot become a process's environment.
        assert!(l.command(Path::new("/r")).is_err());
        let local =
            Launch::new(Path::new("/bin/x")).env("CUDA_VISIBLE_DEVICES", Word::Text("1".into()));
        let c = local.command(Path::new("/r/a b")).unwrap();
        let std = c.as_std();
        let args: Vec<_> = std
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(args, ["train", "--wait", "--run-dir", "/r/a b"]);
        let envs: Vec<_> = std
            .get_envs()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.map(|v| v.to_string_lossy().into_owned()),
                )
            })
            .collect();
        assert!(envs.contains(&("CUDA_VISIBLE_DEVICES".into(), Some("1".into()))));
        assert!(envs.contains(&(task_env::KEY.into(), None)), "{envs:?}");
    }
}
