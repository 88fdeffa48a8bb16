use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(blankroot::cli::main(std::env::args_os().collect()))
}
