//! What this binary was built from: its version, git commit, and the tch crate and libtorch
//! it links (from Cargo.lock and libtorch's own version file, by build.rs). `doctor` prints
//! it; every run records it in its run.json at each start.

/// This binary's build.
#[derive(Debug, Clone, Copy)]
pub struct BuildInfo {
    pub version: &'static str,
    pub git_commit: &'static str,
    pub tch: &'static str,
    pub libtorch: &'static str,
}

pub const BUILD: BuildInfo = BuildInfo {
    version: env!("CARGO_PKG_VERSION"),
    git_commit: match option_env!("DDIM_GIT_COMMIT") {
        Some(c) => c,
        None => "unknown",
    },
    tch: env!("DDIM_TCH_VERSION"),
    libtorch: env!("DDIM_LIBTORCH_VERSION"),
};
