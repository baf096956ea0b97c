use crate::data::{self, cache, fetch, ImageSet};
use crate::flags::{parse_assignments, Flags};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tch::Kind;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: DataCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum DataCommand {
    /// Download, verify (MD5) and extract a dataset's official archives.
    Fetch {
        /// flowers or pets.
        dataset: crate::flags::Dataset,
        /// Where datasets live (default: $DDIM_DATA, else data/).
        #[arg(long)]
        data_root: Option<PathBuf>,
        /// Base URL of the archives.
        #[arg(long, env = "DDIM_DATA_BASE_URL", default_value = fetch::DEFAULT_BASE_URL)]
        base_url: String,
        /// Expected MD5 of an archive, FILE=HASH (for a mirror with other archives).
        #[arg(long = "md5", value_name = "FILE=HASH")]
        md5: Vec<String>,
    },
    /// Decode and resize a dataset into the shared cache now (runs would do it on first use).
    Prepare {
        #[arg(value_name = "FLAG=VALUE")]
        flags: Vec<String>,
    },
    /// Image counts, skipped files, cache path and size, per-channel mean and std.
    Info {
        #[arg(value_name = "FLAG=VALUE")]
        flags: Vec<String>,
    },
    /// Write a split's images as the runs see them (decoded, resized): a grid to look at
    /// and/or a folder of PNGs (e.g. for `ddim-sweep kid` between real images).
    Export {
        /// train or valid.
        #[arg(long, default_value = "valid")]
        split: Split,
        /// How many images (from the split's start); 0 = all.
        #[arg(long, default_value_t = 36)]
        n: i64,
        /// Skip this many images of the split first.
        #[arg(long, default_value_t = 0)]
        skip: i64,
        /// A grid PNG (images scaled up to at least 64 px).
        #[arg(long)]
        grid: Option<PathBuf>,
        /// A folder for one PNG per image, at the runs' size.
        #[arg(long)]
        dir: Option<PathBuf>,
        #[arg(value_name = "FLAG=VALUE")]
        flags: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Split {
    Train,
    Valid,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    match a.command {
        DataCommand::Fetch {
            dataset,
            data_root,
            base_url,
            md5,
        } => fetch_cmd(dataset, data_root, &base_url, &md5)?,
        DataCommand::Prepare { flags } => prepare(&resolve(&flags)?)?,
        DataCommand::Export {
            split,
            n,
            skip,
            grid,
            dir,
            flags,
        } => {
            if grid.is_none() && dir.is_none() {
                anyhow::bail!(crate::error::Error::usage(
                    "data export: give --grid FILE.png and/or --dir FOLDER"
                ));
            }
            let set = data::load(&resolve(&flags)?)?;
            export(&set, split, n, skip, grid.as_deref(), dir.as_deref())?;
        }
        DataCommand::Info { flags } => info(&resolve(&flags)?)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn fetch_cmd(
    dataset: crate::flags::Dataset,
    data_root: Option<PathBuf>,
    base_url: &str,
    md5: &[String],
) -> anyhow::Result<()> {
    let root = data_root.unwrap_or_else(data::data_root);
    let overrides: Vec<(String, String)> = md5
        .iter()
        .map(|m| {
            m.split_once('=')
                .map(|(f, h)| (f.to_string(), h.to_string()))
                .ok_or_else(|| anyhow::anyhow!("--md5 {m}: expected FILE=HASH"))
        })
        .collect::<anyhow::Result<_>>()?;
    crate::say!(
        "{}",
        fetch::fetch(dataset, &root.join(dataset.name()), base_url, &overrides)?
    );
    Ok(())
}

fn prepare(flags: &Flags) -> anyhow::Result<()> {
    let start = std::time::Instant::now();
    let set = data::load(flags)?;
    crate::say!(
        "{}: {} train / {} validation images of {}x{} ready in {:.1}s ({})",
        set.name,
        set.train_len(),
        set.valid_len(),
        flags.image_size,
        flags.image_size,
        start.elapsed().as_secs_f64(),
        if set.from_cache {
            "read from the cache"
        } else {
            "decoded"
        }
    );
    report_skipped(&set.skipped);
    Ok(())
}

/// Writes `n` images of `split` after the first `skip` as a grid and/or a folder of PNGs.
fn export(
    set: &ImageSet,
    split: Split,
    n: i64,
    skip: i64,
    grid: Option<&Path>,
    dir: Option<&Path>,
) -> anyhow::Result<()> {
    let all = match split {
        Split::Train => &set.train,
        Split::Valid => &set.valid,
    };
    let total = all.size()[0];
    let skip = skip.clamp(0, total);
    let n = if n <= 0 {
        total - skip
    } else {
        n.min(total - skip)
    };
    let images = data::to_float(&all.narrow(0, skip, n));
    if let Some(g) = grid {
        crate::track::grid::save_readable_grid(&images, crate::track::grid::square_cols(n), g)?;
        crate::say!("wrote {} ({n} {} images)", g.display(), set.name);
    }
    if let Some(d) = dir {
        fs_err::create_dir_all(d)?;
        for i in 0..n {
            let path = d.join(format!("{:05}.png", skip + i));
            crate::track::grid::save_grid(&images.narrow(0, i, 1), 1, &path)?;
        }
        crate::say!("wrote {n} images to {}", d.display());
    }
    Ok(())
}

fn info(flags: &Flags) -> anyhow::Result<()> {
    let set = data::load(flags)?;
    crate::say!("dataset: {}", set.name);
    if !flags.dataset_name.is_builtin() {
        crate::say!("folder: {}", data::dataset_dir(flags).display());
        let path = cache::cache_dir().join(format!("{}.safetensors", set.key));
        crate::say!(
            "cache: {} ({:.1} MB)",
            path.display(),
            cache::size_of(&path) as f64 / 1e6
        );
    } else {
        crate::say!("cache: none (drawn in memory)");
    }
    crate::say!("train: {} images", set.train_len());
    crate::say!("valid: {} images", set.valid_len());
    crate::say!("image size: {}x{}", flags.image_size, flags.image_size);
    let x = data::to_float(&set.train).to_kind(Kind::Double);
    let mean = x.mean_dim([0i64, 2, 3].as_slice(), false, Kind::Double);
    let std = x.std_dim([0i64, 2, 3].as_slice(), true, false);
    let v = |t: &tch::Tensor| {
        (0..3)
            .map(|i| format!("{:.4}", t.double_value(&[i])))
            .collect::<Vec<_>>()
            .join(", ")
    };
    crate::say!("train mean (R, G, B): {}", v(&mean));
    crate::say!("train std (R, G, B): {}", v(&std));
    report_skipped(&set.skipped);
    Ok(())
}

fn resolve(args: &[String]) -> anyhow::Result<Flags> {
    let given = parse_assignments(args).map_err(crate::error::Error::input)?;
    Ok(Flags::resolve(&given).map_err(crate::error::Error::input)?)
}

fn report_skipped(skipped: &[String]) {
    crate::say!("skipped (unreadable): {}", skipped.len());
    for s in skipped {
        crate::say!("  {s}");
    }
}
