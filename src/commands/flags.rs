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
        FlagKind::Int { min } => format!("integer >= {min}"),
        FlagKind::Float { min, max, max_open } => format!(
            "number in [{min}, {max}{}",
            if *max_open { ")" } else { "]" }
        ),
        FlagKind::IntList { min } => format!("list of integers >= {min}"),
        FlagKind::Device => "auto | cpu | cuda | cuda:N".into(),
        FlagKind::AutoInt { min } => format!("auto | integer >= {min}"),
        FlagKind::Bool => "true | false".into(),
        FlagKind::Text => "path".into(),
    }
}

pub fn run(_: Args) -> anyhow::Result<ExitCode> {
    println!(
        "{:<20} {:<18} {:<32} description",
        "flag", "default", "values"
    );
    for s in FLAG_SPECS {
        println!(
            "{:<20} {:<18} {:<32} {}",
            s.name,
            s.default,
            accepted(&s.kind),
            s.help
        );
    }
    Ok(ExitCode::SUCCESS)
}
