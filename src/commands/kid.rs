use crate::flags::DeviceSpec;
use crate::metrics::{features, fid, kid, Inception};
use crate::store::RunDir;
use anyhow::bail;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tch::{Device, Tensor};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A folder of PNG/JPEG images, or a run directory (its samples).
    pub a: PathBuf,
    /// Another folder or run directory; left out with a run directory as A: that run's
    /// validation images.
    pub b: Option<PathBuf>,
    /// Also print the FID.
    #[arg(long)]
    pub fid: bool,
    /// KID batch size (the R original's 128).
    #[arg(long, default_value_t = 128)]
    pub batch: i64,
    /// torch-fidelity's estimator: this many random subsets (mean and std)...
    #[arg(long)]
    pub subsets: Option<i64>,
    /// ... of this many images each.
    #[arg(long, default_value_t = 1000)]
    pub subset_size: i64,
    /// Samples generated for a run directory.
    #[arg(long, default_value_t = 1000)]
    pub n: i64,
    /// Diffusion steps of those samples (the R original's KID uses 5).
    #[arg(long, default_value_t = 5)]
    pub steps: i64,
    /// Seed of the samples' noise.
    #[arg(long, default_value_t = 1)]
    pub seed: i64,
    /// The Inception network (default: $DDIM_INCEPTION, else the project's copy).
    #[arg(long)]
    pub network: Option<PathBuf>,
    #[arg(long, default_value = "auto")]
    pub device: DeviceSpec,
    /// Also write the features of A and B (one image per line) to DIR/a.csv and DIR/b.csv.
    #[arg(long, value_name = "DIR")]
    pub features_out: Option<PathBuf>,
}

fn write_features(path: &Path, f: &Tensor) -> anyhow::Result<()> {
    let rows = f.size()[0];
    let flat: Vec<f32> =
        Vec::<f32>::try_from(&f.to_kind(tch::Kind::Float).contiguous().reshape([-1]))?;
    let cols = flat.len() / rows.max(1) as usize;
    let mut out = String::new();
    for r in flat.chunks(cols.max(1)) {
        out.push_str(
            &r.iter()
                .map(|v| format!("{v:e}"))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push('\n');
    }
    crate::files::write_atomic(path, out.as_bytes())?;
    Ok(())
}

fn is_run(p: &Path) -> bool {
    RunDir::new(p).flags().is_file()
}

/// Features of one side: a folder's images, or a run's samples.
fn side(p: &Path, a: &Args, net: &Inception, device: Device) -> anyhow::Result<(Tensor, String)> {
    if !p.exists() {
        bail!("{} does not exist", p.display());
    }
    if is_run(p) {
        let (_, model) = crate::model::from_run::load_for_sampling(&RunDir::new(p), device)?;
        let mut feats = Vec::new();
        let mut lo = 0;
        let mut k = 0;
        while lo < a.n {
            let m = 128.min(a.n - lo);
            let images = model.generate(
                m,
                a.steps,
                crate::seeds::derive(a.seed, crate::seeds::KID_NOISE, k),
            );
            feats.push(net.features(&images, a.batch)?);
            lo += m;
            k += 1;
        }
        Ok((
            Tensor::cat(&feats, 0),
            format!("{} samples of {} ({} steps)", a.n, p.display(), a.steps),
        ))
    } else {
        let images = features::load_folder(p)?;
        let n = images.size()[0];
        Ok((
            net.features(&images, a.batch)?,
            format!("{n} images in {}", p.display()),
        ))
    }
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    if a.batch < 2 || a.n < 2 || a.steps < 2 {
        bail!(crate::error::Error::usage(
            "--batch, --n and --steps must be at least 2"
        ));
    }
    let device = crate::device::resolve(a.device)?;
    let path = a
        .network
        .clone()
        .unwrap_or_else(features::default_network_path);
    // Check the inputs before the (slow) network load.
    for p in std::iter::once(&a.a).chain(a.b.as_ref()) {
        if !p.exists() {
            bail!("{} does not exist", p.display());
        }
    }
    if a.b.is_none() && !is_run(&a.a) {
        bail!("give two folders, or a run directory alone (its samples against its validation images)");
    }
    let net = Inception::load(&path, device)?;
    let (fa, da) = side(&a.a, &a, &net, device)?;
    let (fb, db) = match &a.b {
        Some(b) => side(b, &a, &net, device)?,
        None => {
            let flags = RunDir::new(&a.a).read_builtin_flags()?;
            let data = crate::data::load(&flags)?;
            let f = crate::metrics::reference::features(&net, &data)?;
            (
                f,
                format!("{} validation images of {}", data.valid_len(), data.name),
            )
        }
    };
    for (f, d) in [(&fa, &da), (&fb, &db)] {
        if f.size()[0] < 2 {
            bail!("{d}: KID needs at least 2 images");
        }
    }
    if let Some(dir) = &a.features_out {
        fs_err::create_dir_all(dir)?;
        write_features(&dir.join("a.csv"), &fa)?;
        write_features(&dir.join("b.csv"), &fb)?;
    }
    crate::say!("A: {da}");
    crate::say!("B: {db}");
    crate::say!("network: {}", net.path.display());
    crate::say!("A is taken as generated, B as real (improved precision: the share of A's images inside B's manifold; improved recall: of B's inside A's)");
    let k = kid::kid(&fa, &fb, a.batch);
    crate::say!(
        "KID {k:.7} (mean unbiased MMD^2 over batches of {})",
        a.batch
    );
    if let Some(s) = a.subsets {
        let (m, sd) = kid::kid_subsets(&fa, &fb, s, a.subset_size, a.seed as u64);
        crate::say!(
            "KID {m:.7} ± {sd:.7} ({s} subsets of {})",
            a.subset_size.min(fa.size()[0]).min(fb.size()[0])
        );
    }
    if a.fid {
        crate::say!("FID {:.4}", fid::fid(&fa, &fb));
    }
    // Every sample metric a run measures, one `name value` line each (A generated, B real).
    for (m, v) in crate::metrics::names::measure_samples(&fb, &fa) {
        crate::say!("{} {v:.7}", m.name);
    }
    Ok(ExitCode::SUCCESS)
}
