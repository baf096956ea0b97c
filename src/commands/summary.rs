use crate::flags::{parse_assignments, Flags};
use crate::model::DiffusionModel;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Flags that shape the model (unet_widths, block_depth, embedding_dim, image_size ...).
    #[arg(value_name = "FLAG=VALUE")]
    pub flags: Vec<String>,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let given = parse_assignments(&a.flags).map_err(crate::error::Error::input)?;
    let flags = Flags::resolve(&given).map_err(crate::error::Error::input)?;
    let model = DiffusionModel::new(&flags, tch::Device::Cpu);
    crate::say_text!("{}", model.summary());
    Ok(ExitCode::SUCCESS)
}
