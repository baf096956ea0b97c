//! Link-time set-up for libtorch (see `scripts/env.sh`):
//! - an rpath to libtorch's `lib/` folder, so the binary runs without LD_LIBRARY_PATH;
//! - `libtorch_cuda.so` linked (into `ddim-sweep`, tests, benches) even though no symbol of it is used, so that its CUDA
//!   hooks register at start-up and `tch::Cuda::is_available()` sees a GPU where one is.
use std::path::PathBuf;

fn main() {
    git_commit();
    versions();
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-changed=build.rs");
    let Some(root) = std::env::var_os("LIBTORCH").map(PathBuf::from) else {
        println!(
            "cargo:warning=LIBTORCH is not set: run `scripts/setup.sh` (or `source scripts/env.sh`) first"
        );
        return;
    };
    // The project environment holds the Inception network next to libtorch's link:
    // <venv>/libtorch -> <venv>/inception/default_1.pt.
    if let Some(venv) = root.parent() {
        let net = venv.join("inception").join("default_1.pt");
        println!("cargo:rustc-env=DDIM_DEFAULT_INCEPTION={}", net.display());
    }
    let root = root.canonicalize().unwrap_or(root);
    let lib = root.join("lib");
    // The C++ shims (bf16 autocast and memory format, multi-tensor optimizer steps), against
    // libtorch's headers.
    println!("cargo:rerun-if-changed=csrc/autocast.cpp");
    println!("cargo:rerun-if-changed=csrc/optim.cpp");
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .warnings(false)
        .include(root.join("include"))
        .include(root.join("include/torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .file("csrc/autocast.cpp")
        .file("csrc/optim.cpp")
        .compile("ddim_shim");
    println!("cargo:rustc-link-search=native={}", lib.display());
    println!("cargo:rustc-link-lib=dylib=torch_cpu");
    println!("cargo:rustc-link-lib=dylib=c10");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    // Not for `ddim-sweep-program` (the supervisor of a user's program), which uses no
    // libtorch symbol: without this it links none of libtorch and starts in milliseconds.
    if lib.join("libtorch_cuda.so").exists() {
        let arg = format!(
            "-Wl,-L{},--push-state,--no-as-needed,-ltorch_cuda,--pop-state",
            lib.display()
        );
        println!("cargo:rustc-link-arg-bin=ddim-sweep={arg}");
        println!("cargo:rustc-link-arg-tests={arg}");
    }
}

/// The commit the binary was built from, for run.json (`unknown` outside a git checkout).
fn git_commit() {
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output();
    let commit = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        _ => "unknown".to_string(),
    };
    println!("cargo:rustc-env=DDIM_GIT_COMMIT={commit}");
}

/// The tch crate's version (from Cargo.lock) and libtorch's (from its `version.py`), for
/// run.json: never typed by hand.
fn versions() {
    println!("cargo:rerun-if-changed=Cargo.lock");
    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    let tch = lock
        .split("[[package]]")
        .find(|p| p.contains("name = \"tch\""))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=DDIM_TCH_VERSION={tch}");
    let libtorch = std::env::var_os("LIBTORCH")
        .map(|r| PathBuf::from(r).join("version.py"))
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| {
            t.lines().find_map(|l| {
                let v = l.strip_prefix("__version__ = ")?;
                Some(v.trim_matches(['\'', '"']).split('+').next()?.to_string())
            })
        })
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=DDIM_LIBTORCH_VERSION={libtorch}");
}
