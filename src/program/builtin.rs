//! The program kind `builtin`: the DDIM trainer of this binary (see [`crate::train`]).

use crate::run_flags::RunFlags;

/// The kind's registration: it runs every run that is not another kind's (a new run
/// without `flags.yaml` is one of its own, its flags given on the command line).
pub static KIND: super::Kind = super::Kind {
    name: "builtin",
    owns: |f| matches!(f, None | Some(RunFlags::Builtin(_))),
    run: |a| crate::train::run(a.run_dir, a.given, a.stop, a.fetch, a.wait),
};
