//! The supervisor compiles the main crate's `store`, `program::command` and what they use
//! (see src/main.rs) with `cfg(ddim_supervisor)`, and records what `build_info` needs: the
//! git commit; it links neither tch nor libtorch (empty versions).
fn main() {
    println!("cargo:rustc-cfg=ddim_supervisor");
    println!("cargo:rustc-env=DDIM_TCH_VERSION=");
    println!("cargo:rustc-env=DDIM_LIBTORCH_VERSION=");
    println!("cargo:rerun-if-changed=../../.git/HEAD");
    if let Ok(o) = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
    {
        if o.status.success() {
            let c = String::from_utf8_lossy(&o.stdout).trim().to_string();
            println!("cargo:rustc-env=DDIM_GIT_COMMIT={c}");
        }
    }
}
