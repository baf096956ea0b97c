//! `ddim-sweep doctor`: what this machine is and what the tool will do on it — the CPU and
//! the instruction sets that decide bf16's speed, CUDA devices, versions, the data root and
//! its caches, the Inception network, and what `device=auto` and `precision=auto` resolve to.
//! Needs neither a GPU nor any data; `bench/speed.sh` prints it above every figure.

use crate::build_info::BUILD;
use crate::data::{self, availability};
use crate::flags::{Dataset, DeviceSpec, Precision};
use crate::hardware::{cuda_devices, Cpu, Isa};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the facts as one JSON object instead of lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct Facts {
    version: String,
    git_commit: String,
    tch: String,
    libtorch: String,
    cpu: CpuFacts,
    cuda: Vec<GpuFacts>,
    /// Whether libtorch itself sees CUDA.
    cuda_available: bool,
    device_auto: String,
    precision_auto: String,
    precision_auto_why: String,
    data_root: PathBuf,
    datasets: Vec<DatasetFacts>,
    caches: Vec<CacheFacts>,
    inception: InceptionFacts,
}

#[derive(Debug, Serialize)]
struct CpuFacts {
    model: String,
    signature: Option<String>,
    arch: String,
    cores: Option<usize>,
    logical: usize,
    torch_threads: i64,
    isa: Vec<(String, bool)>,
    isa_limit: Option<String>,
    native_bf16: bool,
}

#[derive(Debug, Serialize)]
struct GpuFacts {
    index: usize,
    name: String,
    capability: String,
    memory_gib: f64,
    native_bf16: bool,
}

#[derive(Debug, Serialize)]
struct DatasetFacts {
    name: String,
    dir: PathBuf,
    present: bool,
}

#[derive(Debug, Serialize)]
struct CacheFacts {
    what: String,
    dir: PathBuf,
    files: usize,
    megabytes: f64,
}

#[derive(Debug, Serialize)]
struct InceptionFacts {
    path: PathBuf,
    found: bool,
    checksum_ok: bool,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let facts = gather()?;
    if a.json {
        crate::say!("{}", serde_json::to_string_pretty(&facts)?);
    } else {
        print_text(&facts);
    }
    Ok(ExitCode::SUCCESS)
}

fn gather() -> anyhow::Result<Facts> {
    let cpu = Cpu::detect();
    let device = crate::device::resolve(DeviceSpec::Auto)?;
    let (precision, why) = crate::device::native_bf16(device);
    let root = data::data_root();
    Ok(Facts {
        version: BUILD.version.into(),
        git_commit: BUILD.git_commit.into(),
        tch: BUILD.tch.into(),
        libtorch: BUILD.libtorch.into(),
        cpu: cpu_facts(&cpu),
        cuda: gpu_facts(),
        cuda_available: tch::Cuda::is_available(),
        device_auto: crate::device::name(device),
        precision_auto: if precision {
            Precision::Bf16
        } else {
            Precision::Fp32
        }
        .to_string(),
        precision_auto_why: why,
        datasets: [Dataset::Flowers, Dataset::Pets]
            .into_iter()
            .map(|d| {
                let dir = root.join(d.name());
                DatasetFacts {
                    name: d.name().into(),
                    present: availability::present(d, &dir),
                    dir,
                }
            })
            .collect(),
        caches: vec![
            cache_facts("decoded datasets", &data::cache::cache_dir()),
            cache_facts(
                "KID reference features",
                &root.join("cache").join("features"),
            ),
        ],
        data_root: root,
        inception: inception_facts(),
    })
}

fn cpu_facts(cpu: &Cpu) -> CpuFacts {
    CpuFacts {
        model: cpu.model.clone(),
        signature: cpu.signature.clone(),
        arch: cpu.arch.into(),
        cores: cpu.cores,
        logical: cpu.logical,
        torch_threads: tch::get_num_threads() as i64,
        isa: Isa::ALL
            .iter()
            .map(|&i| (i.label().to_string(), cpu.has(i)))
            .collect(),
        isa_limit: cpu.limit.as_ref().map(|l| format!("{}={}", l.var, l.value)),
        native_bf16: cpu.native_bf16(),
    }
}

fn gpu_facts() -> Vec<GpuFacts> {
    cuda_devices()
        .into_iter()
        .map(|d| GpuFacts {
            index: d.index,
            capability: format!("{}.{}", d.capability.0, d.capability.1),
            memory_gib: d.memory_bytes as f64 / (1u64 << 30) as f64,
            native_bf16: d.native_bf16(),
            name: d.name,
        })
        .collect()
}

fn cache_facts(what: &str, dir: &Path) -> CacheFacts {
    let files: Vec<u64> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok().map(|m| m.len()))
        .collect();
    CacheFacts {
        what: what.into(),
        dir: dir.to_path_buf(),
        files: files.len(),
        megabytes: files.iter().sum::<u64>() as f64 / 1e6,
    }
}

fn inception_facts() -> InceptionFacts {
    use sha2::{Digest, Sha256};
    let path = crate::metrics::features::default_network_path();
    let bytes = fs_err::read(&path).ok();
    InceptionFacts {
        found: bytes.is_some(),
        checksum_ok: bytes.is_some_and(|b| {
            let hex: String = Sha256::digest(&b)
                .iter()
                .map(|x| format!("{x:02x}"))
                .collect();
            hex == crate::metrics::features::NETWORK_SHA256
        }),
        path,
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn print_text(f: &Facts) {
    crate::say!(
        "ddim-sweep {} (commit {}), tch {}, libtorch {}",
        f.version,
        f.git_commit,
        f.tch,
        f.libtorch
    );
    print_cpu(&f.cpu);
    print_cuda(f);
    crate::say!("device=auto    -> {}", f.device_auto);
    crate::say!(
        "precision=auto -> {} ({})",
        f.precision_auto,
        f.precision_auto_why
    );
    crate::say!("data root: {}", f.data_root.display());
    for d in &f.datasets {
        crate::say!(
            "  {:<8} {} ({})",
            d.name,
            if d.present {
                "present".to_string()
            } else {
                format!("not fetched: ddim-sweep data fetch {}", d.name)
            },
            d.dir.display()
        );
    }
    for c in &f.caches {
        crate::say!(
            "  cache of {}: {} file(s), {:.1} MB ({})",
            c.what,
            c.files,
            c.megabytes,
            c.dir.display()
        );
    }
    let i = &f.inception;
    let state = match (i.found, i.checksum_ok) {
        (false, _) => "missing: `bash scripts/setup.sh` installs it (or set DDIM_INCEPTION)",
        (true, false) => "found, but its sha256 is not the expected one: KID will not match the reference numbers",
        (true, true) => "found, sha256 ok",
    };
    crate::say!(
        "Inception network (KID/FID): {} ({state})",
        i.path.display()
    );
}

fn print_cpu(c: &CpuFacts) {
    let cores = c.cores.map(|n| format!("{n} cores, ")).unwrap_or_default();
    let signature = c
        .signature
        .as_ref()
        .map(|s| format!(", {s}"))
        .unwrap_or_default();
    crate::say!(
        "CPU: {} ({}{signature}), {cores}{} logical CPUs, libtorch threads {}",
        c.model,
        c.arch,
        c.logical,
        c.torch_threads
    );
    let isa: Vec<String> = c
        .isa
        .iter()
        .map(|(n, h)| format!("{n} {}", yes(*h)))
        .collect();
    crate::say!("  instruction sets: {}", isa.join(", "));
    crate::say!(
        "  oneDNN ISA limit: {}",
        c.isa_limit
            .as_deref()
            .unwrap_or("none (ONEDNN_MAX_CPU_ISA unset)")
    );
    crate::say!(
        "  bf16: {}",
        if c.native_bf16 {
            "native"
        } else {
            "emulated (slow): precision=auto trains in fp32 here"
        }
    );
}

fn print_cuda(f: &Facts) {
    if f.cuda.is_empty() {
        crate::say!(
            "CUDA: no devices (libtorch sees CUDA: {})",
            yes(f.cuda_available)
        );
    }
    for g in &f.cuda {
        crate::say!(
            "CUDA: cuda:{} {}, compute capability {}, {:.1} GiB, bf16 {} (libtorch sees CUDA: {})",
            g.index,
            g.name,
            g.capability,
            g.memory_gib,
            if g.native_bf16 { "native" } else { "emulated" },
            yes(f.cuda_available)
        );
    }
}
