use crate::flags::{FlagKind, FLAG_SPECS};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {}

fn accepted(kind: &FlagKind) -> String {
    match kind {
        FlagKind::Choice { choices, aliases } => {
            let mut s = choices.join(" | ");
            for (a, c) in aliases.iter() {
                s.push_str(&format!(" ({a} = {c})"));
            }
            s
        }
        FlagKind::Int { min, max } => crate::flags::int_range(*min, *max),
        FlagKind::Float { min, max, max_open } => format!(
            "number in [{min}, {max}{}",
            if *max_open { ")" } else { "]" }
        ),
        FlagKind::IntList { min, max } => {
            format!("list of {}", crate::flags::ints_range(*min, *max))
        }
        FlagKind::Device => "auto | cpu | cuda | cuda:N".into(),
        FlagKind::AutoInt { min, max } => format!("auto | {}", crate::flags::int_range(*min, *max)),
        FlagKind::Bool => "true | false".into(),
        FlagKind::Text => "path".into(),
        FlagKind::Program => "any".into(),
    }
}

pub fn run(_: Args) -> anyhow::Result<ExitCode> {
    crate::say!(
        "{:<20} {:<18} {:<32} description",
        "flag",
        "default",
        "values"
    );
    for s in FLAG_SPECS {
        crate::say!(
            "{:<20} {:<18} {:<32} {}",
            s.name,
            s.default,
            accepted(&s.kind),
            s.help
        );
    }
    Ok(ExitCode::SUCCESS)
}
