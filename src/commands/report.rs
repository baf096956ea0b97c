use crate::flags::DeviceSpec;
use crate::report::{self, CsvTable, Format, Options};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub runs: super::RunsSelection,
    /// Reports go to OUT/<label>/.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value = "markdown")]
    pub format: Format,
    /// With --format csv: the table printed on stdout (all of them are written to files
    /// under OUT/<label>/).
    #[arg(long, value_enum, default_value = "results")]
    pub table: CsvTable,
    /// Sort the table by a metric (noise_loss, image_loss, kid …, or one the runs' programs
    /// report) or by seconds (default: the sweep's order); checked once the runs are read.
    #[arg(long)]
    pub sort: Option<String>,
    /// Tables only: no sample grids or plots.
    #[arg(long)]
    pub no_images: bool,
    /// Where samples are generated: auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: DeviceSpec,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    a.runs.read_dir()?;
    let opts = Options {
        runs_dir: a.runs.runs_dir,
        label: a.runs.label,
        out: a.out,
        format: a.format,
        table: a.table,
        sort: a.sort,
        images: !a.no_images,
        device: crate::device::resolve(a.device)?,
    };
    let w = report::run(&opts)?;
    crate::say_text!("{}", w.printed);
    for note in &w.notes {
        eprintln!("{note}");
    }
    for (dir, why) in &w.damaged {
        eprintln!(
            "damaged run {}: {why} (left out of the report)",
            dir.display()
        );
    }
    Ok(if w.damaged.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::process::Exit::Error.code())
    })
}
