//! The binary: parse inputs, run, render the one error.

use std::process::ExitCode;

use clap::Parser as _;

use aca_runner_action::plan::RunContext;
use aca_runner_action::runtime::Runtime;
use aca_runner_action::{Inputs, run};

fn main() -> ExitCode {
    let rt = Runtime::install(Runtime::from_env());
    // A bug must still end in one annotation, redacted, with no backtrace noise.
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Runtime::get().error(
            "aca-runner-action failed",
            &format!(
                "internal error ({message}); installation tokens of this step expire within an hour. Please report this with the step log"
            ),
        );
    }));
    // The init container of every runner job runs this same binary (builtin:runner-jobs).
    if std::env::args().nth(1).as_deref() == Some("runner-init") {
        return aca_runner_action::runner_init::main();
    }
    let inputs = Inputs::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            rt.error("aca-runner-action failed", &format!("cannot start: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let ctx = RunContext::from_lookup(|name| std::env::var(name).ok());
    match runtime.block_on(run(inputs, ctx)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            rt.error(e.title(), &e.to_string());
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
