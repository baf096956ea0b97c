//! What this machine computes with: the CPU (model, cores, the instruction sets that decide
//! how fast bf16 is, and oneDNN's ISA limit) and the CUDA devices (name, compute capability,
//! memory). Read without creating a GPU context, so `doctor` and `precision=auto` cost nothing.

use std::collections::BTreeSet;

/// The environment variables oneDNN reads for the highest instruction set it may use
/// (`DNNL_MAX_CPU_ISA` is the older name).
pub const ISA_LIMIT_ENVS: [&str; 2] = ["ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"];

/// oneDNN's CPU ISA ladder, lowest first (its `dnnl_cpu_isa_t`): a limit lets oneDNN use
/// every rung up to it. `avx512_core_fp16`/`avx512_core_amx` are older names of the
/// `avx10_1_512` rungs.
const ISA_LADDER: &[&[&str]] = &[
    &["sse41"],
    &["avx"],
    &["avx2"],
    &["avx2_vnni"],
    &["avx2_vnni_2"],
    &["avx512_core"],
    &["avx512_core_vnni"],
    &["avx512_core_bf16"],
    &["avx10_1_512", "avx512_core_fp16"],
    &["avx10_1_512_amx", "avx512_core_amx"],
    &["avx10_1_512_amx_fp16", "avx512_core_amx_fp16"],
];

/// The rung of a oneDNN ISA name (case-insensitive); `all`/`default` have no limit.
fn isa_rank(name: &str) -> Option<usize> {
    let n = name.trim().to_ascii_lowercase();
    if n == "all" || n == "default" {
        return Some(ISA_LADDER.len());
    }
    ISA_LADDER
        .iter()
        .position(|names| names.contains(&n.as_str()))
}

const AVX512_CORE_BF16: usize = 7;
const AVX512_CORE_AMX: usize = 9;

/// The instruction sets that matter for training speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    Avx2,
    Avx512,
    Avx512Bf16,
    AmxBf16,
}

impl Isa {
    pub const ALL: [Isa; 4] = [Isa::Avx2, Isa::Avx512, Isa::Avx512Bf16, Isa::AmxBf16];

    /// The name a person reads (Intel's).
    pub fn label(self) -> &'static str {
        match self {
            Isa::Avx2 => "AVX2",
            Isa::Avx512 => "AVX-512",
            Isa::Avx512Bf16 => "AVX512-BF16",
            Isa::AmxBf16 => "AMX-BF16",
        }
    }

    /// The flag Linux lists in /proc/cpuinfo.
    fn cpuinfo_flag(self) -> &'static str {
        match self {
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512f",
            Isa::Avx512Bf16 => "avx512_bf16",
            Isa::AmxBf16 => "amx_bf16",
        }
    }
}

/// oneDNN's ISA limit as set in the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsaLimit {
    /// The variable that set it and its value.
    pub var: &'static str,
    pub value: String,
    /// The rung, or None for a value oneDNN does not know (it then ignores it).
    rank: Option<usize>,
}

impl IsaLimit {
    pub fn from_env() -> Option<IsaLimit> {
        ISA_LIMIT_ENVS.iter().find_map(|var| {
            let value = std::env::var(var).ok().filter(|v| !v.trim().is_empty())?;
            Some(IsaLimit {
                var,
                rank: isa_rank(&value),
                value,
            })
        })
    }

    /// Whether oneDNN may use the rung `rank` under this limit.
    fn allows(&self, rank: usize) -> bool {
        self.rank.is_none_or(|r| r >= rank)
    }

    pub fn recognised(&self) -> bool {
        self.rank.is_some()
    }
}

/// The host CPU as the operating system reports it.
#[derive(Debug, Clone)]
pub struct Cpu {
    pub model: String,
    /// `family F model M stepping S` (x86), which names the generation where the model name
    /// does not (a virtual machine's "Intel(R) Xeon(R) Processor").
    pub signature: Option<String>,
    /// Logical CPUs this process may run on.
    pub logical: usize,
    /// Physical cores, when the OS says.
    pub cores: Option<usize>,
    pub arch: &'static str,
    flags: BTreeSet<String>,
    pub limit: Option<IsaLimit>,
}

impl Cpu {
    pub fn detect() -> Cpu {
        let text = fs_err::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let mut cpu = Cpu::from_cpuinfo(&text);
        if cpu.flags.is_empty() {
            cpu.flags = detected_flags();
        }
        cpu.limit = IsaLimit::from_env();
        cpu
    }

    /// Model, physical cores and flags from the text of /proc/cpuinfo (its first processor).
    fn from_cpuinfo(text: &str) -> Cpu {
        let field = |name: &str| {
            text.lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim() == name)
                .map(|(_, v)| v.trim().to_string())
        };
        let flags = field("flags")
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let sockets: BTreeSet<String> = text
            .lines()
            .filter_map(|l| l.split_once(':'))
            .filter(|(k, _)| k.trim() == "physical id")
            .map(|(_, v)| v.trim().to_string())
            .collect();
        let per_socket = field("cpu cores").and_then(|v| v.parse::<usize>().ok());
        let signature = match (field("cpu family"), field("model"), field("stepping")) {
            (Some(f), Some(m), Some(s)) => Some(format!("family {f} model {m} stepping {s}")),
            _ => None,
        };
        Cpu {
            model: field("model name").unwrap_or_else(|| "unknown CPU".into()),
            signature,
            logical: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            cores: per_socket.map(|c| c * sockets.len().max(1)),
            arch: std::env::consts::ARCH,
            flags,
            limit: None,
        }
    }

    /// Whether the CPU reports `isa` (whatever oneDNN's limit).
    pub fn has(&self, isa: Isa) -> bool {
        self.flags.contains(isa.cpuinfo_flag())
    }

    /// Whether oneDNN computes bf16 natively here: the CPU has AVX512-BF16 (or AMX-BF16) and
    /// the ISA limit, if any, lets oneDNN use it. Elsewhere oneDNN emulates bf16, at about
    /// 3.5x the cost of fp32 (measured on a CPU without them).
    pub fn native_bf16(&self) -> bool {
        let allows = |rank| self.limit.as_ref().is_none_or(|l| l.allows(rank));
        (self.has(Isa::Avx512Bf16) && allows(AVX512_CORE_BF16))
            || (self.has(Isa::AmxBf16) && allows(AVX512_CORE_AMX))
    }

    /// Why [`Cpu::native_bf16`] says what it says, in a few words.
    pub fn bf16_reason(&self) -> String {
        let has = self.has(Isa::Avx512Bf16) || self.has(Isa::AmxBf16);
        match (&self.limit, has, self.native_bf16()) {
            (_, false, _) => "the CPU has neither AVX512-BF16 nor AMX-BF16".into(),
            (Some(l), true, false) => {
                format!("{}={} turns oneDNN's bf16 kernels off", l.var, l.value)
            }
            (_, true, _) => "the CPU has AVX512-BF16/AMX-BF16".into(),
        }
    }
}

/// Flags from the running CPU where /proc/cpuinfo is not there (not Linux).
fn detected_flags() -> BTreeSet<String> {
    #[allow(unused_mut)]
    let mut out = BTreeSet::new();
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            out.insert("avx2".to_string());
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            out.insert("avx512f".to_string());
        }
        if std::arch::is_x86_feature_detected!("avx512bf16") {
            out.insert("avx512_bf16".to_string());
        }
    }
    out
}

/// A CUDA device as the driver reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct CudaDevice {
    pub index: usize,
    pub name: String,
    pub capability: (i32, i32),
    pub memory_bytes: u64,
}

impl CudaDevice {
    /// bf16 tensor cores: compute capability 8.0 (Ampere) and later.
    pub fn native_bf16(&self) -> bool {
        self.capability.0 >= 8
    }
}

/// The CUDA devices visible to this process (after `CUDA_VISIBLE_DEVICES`), from the driver
/// library itself; empty where there is no driver or no GPU.
pub fn cuda_devices() -> Vec<CudaDevice> {
    cuda_driver::devices().unwrap_or_default()
}

/// The CUDA driver API through `dlopen("libcuda.so.1")`: stable across CUDA versions, and
/// no context is created.
mod cuda_driver {
    use super::CudaDevice;
    use std::ffi::{c_char, c_int, c_void, CStr};

    type Init = unsafe extern "C" fn(u32) -> c_int;
    type Count = unsafe extern "C" fn(*mut c_int) -> c_int;
    type Get = unsafe extern "C" fn(*mut c_int, c_int) -> c_int;
    type Name = unsafe extern "C" fn(*mut c_char, c_int, c_int) -> c_int;
    type Attr = unsafe extern "C" fn(*mut c_int, c_int, c_int) -> c_int;
    type Mem = unsafe extern "C" fn(*mut usize, c_int) -> c_int;

    const MAJOR: c_int = 75; // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
    const MINOR: c_int = 76; // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR

    unsafe fn sym<T: Copy>(lib: *mut c_void, name: &CStr) -> Option<T> {
        let p = libc::dlsym(lib, name.as_ptr());
        (!p.is_null()).then(|| std::mem::transmute_copy(&p))
    }

    pub fn devices() -> Option<Vec<CudaDevice>> {
        // SAFETY: the CUDA driver API's C functions with the signatures of cuda.h; the library
        // stays loaded (never dlclosed) and every out-pointer is a live local.
        unsafe {
            let lib = libc::dlopen(c"libcuda.so.1".as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
            if lib.is_null() {
                return None;
            }
            let init: Init = sym(lib, c"cuInit")?;
            let count: Count = sym(lib, c"cuDeviceGetCount")?;
            let get: Get = sym(lib, c"cuDeviceGet")?;
            let name: Name = sym(lib, c"cuDeviceGetName")?;
            let attr: Attr = sym(lib, c"cuDeviceGetAttribute")?;
            let mem: Mem = sym(lib, c"cuDeviceTotalMem_v2")?;
            if init(0) != 0 {
                return None;
            }
            let mut n: c_int = 0;
            if count(&mut n) != 0 {
                return None;
            }
            let mut out = Vec::new();
            for index in 0..n {
                let mut dev: c_int = 0;
                if get(&mut dev, index) != 0 {
                    continue;
                }
                let mut buf = [0 as c_char; 256];
                name(buf.as_mut_ptr(), buf.len() as c_int, dev);
                let (mut major, mut minor, mut bytes) = (0, 0, 0usize);
                attr(&mut major, MAJOR, dev);
                attr(&mut minor, MINOR, dev);
                mem(&mut bytes, dev);
                out.push(CudaDevice {
                    index: index as usize,
                    name: CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned(),
                    capability: (major, minor),
                    memory_bytes: bytes as u64,
                });
            }
            Some(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CPUINFO: &str = "processor\t: 0\ncpu family\t: 6\nmodel\t\t: 207\nmodel name\t: Intel(R) Xeon(R) Processor\nstepping\t: 2\nphysical id\t: 0\ncpu cores\t: 2\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n\nprocessor\t: 1\nphysical id\t: 0\n";

    fn cpu(flags: &str, limit: Option<&str>) -> Cpu {
        let text = CPUINFO.replace("fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile", flags);
        let mut c = Cpu::from_cpuinfo(&text);
        c.limit = limit.map(|v| IsaLimit {
            var: "ONEDNN_MAX_CPU_ISA",
            value: v.into(),
            rank: isa_rank(v),
        });
        c
    }

    #[test]
    fn cpuinfo_fields() {
        let c = cpu("fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile", None);
        assert_eq!(c.model, "Intel(R) Xeon(R) Processor");
        assert_eq!(
            c.signature.as_deref(),
            Some("family 6 model 207 stepping 2")
        );
        assert_eq!(c.cores, Some(2));
        assert!(Isa::ALL.iter().all(|&i| c.has(i)));
    }

    #[test]
    fn bf16_is_native_only_where_onednn_may_use_it() {
        let full = "avx2 avx512f avx512_bf16 amx_bf16";
        assert!(cpu(full, None).native_bf16());
        assert!(cpu(full, Some("ALL")).native_bf16());
        assert!(cpu(full, Some("avx512_core_bf16")).native_bf16());
        assert!(cpu(full, Some("AVX512_CORE_AMX")).native_bf16());
        assert!(!cpu(full, Some("AVX512_CORE")).native_bf16());
        assert!(!cpu(full, Some("AVX512_CORE_VNNI")).native_bf16());
        assert!(!cpu(full, Some("AVX2")).native_bf16());
        // An unknown value is ignored by oneDNN, so it limits nothing.
        assert!(cpu(full, Some("nonsense")).native_bf16());
        assert!(!cpu("avx2 avx512f", None).native_bf16());
        assert!(!cpu("avx2", None).native_bf16());
        // AMX alone needs the AMX rung.
        assert!(cpu("avx2 avx512f amx_bf16", Some("avx10_1_512_amx")).native_bf16());
        assert!(!cpu("avx2 avx512f amx_bf16", Some("avx512_core_bf16")).native_bf16());
    }

    #[test]
    fn reasons_name_the_cause() {
        let full = "avx2 avx512f avx512_bf16 amx_bf16";
        assert!(cpu(full, Some("AVX2"))
            .bf16_reason()
            .contains("ONEDNN_MAX_CPU_ISA=AVX2"));
        assert!(cpu("avx2", None).bf16_reason().contains("neither"));
    }

    #[test]
    fn no_driver_no_devices() {
        // Holds on machines without a GPU (CI); on a GPU machine each device has a name.
        for d in cuda_devices() {
            assert!(!d.name.is_empty() && d.capability.0 > 0);
        }
    }
}
