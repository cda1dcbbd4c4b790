//! `fake-cloud` binary: runs the fake cloud until SIGTERM/SIGINT.
//!
//! Usage: `fake-cloud [--port N] [--ca-file PATH] [--seed seed.json] [--log requests.jsonl]
//! [--latency-ms N] [--host NAME]... [--public-hosts] [--azurite] [--azurite-dir DIR] [--releases DIR]`; prints
//! `ready <url>` once listening. `--public-hosts` serves under the production host names, for the
//! `az` and `gh` CLIs reaching the fake through a hosts file (give `--port 443` then).
//! `--azurite` starts Azurite for ACR Tasks from the default location (see `AzuriteOptions`),
//! `--azurite-dir` from the given npm `--prefix` directory. `--releases DIR` serves release
//! downloads (`/{owner}/{repo}/releases/download/{tag}/{asset}`) from `DIR/{tag}/{asset}`.

use fake_cloud::{AzuriteOptions, FakeCloud, Options, Seed};
use std::io::Write;
use std::path::PathBuf;

fn parse_args() -> Result<Options, String> {
    let mut opts = Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--port" => {
                opts.port = value("--port")?
                    .parse()
                    .map_err(|e| format!("--port: {e}"))?;
            }
            "--ca-file" => opts.ca_file = Some(PathBuf::from(value("--ca-file")?)),
            "--log" => opts.log_file = Some(PathBuf::from(value("--log")?)),
            "--latency-ms" => {
                opts.latency_ms = value("--latency-ms")?
                    .parse()
                    .map_err(|e| format!("--latency-ms: {e}"))?;
            }
            "--host" => opts.extra_hostnames.push(value("--host")?),
            "--releases" => opts.release_dir = Some(PathBuf::from(value("--releases")?)),
            "--public-hosts" => opts.public_hosts = true,
            "--azurite" => opts.azurite = Some(AzuriteOptions::default()),
            "--azurite-dir" => {
                opts.azurite = Some(AzuriteOptions {
                    dir_of_node_modules: PathBuf::from(value("--azurite-dir")?),
                });
            }
            "--seed" => {
                let path = value("--seed")?;
                let text =
                    std::fs::read_to_string(&path).map_err(|e| format!("--seed {path}: {e}"))?;
                opts.seed = serde_json::from_str::<Seed>(&text)
                    .map_err(|e| format!("--seed {path}: {e}"))?;
            }
            "-h" | "--help" => {
                println!(
                    "usage: fake-cloud [--port N] [--ca-file PATH] [--seed seed.json] [--log requests.jsonl] [--latency-ms N] [--host NAME]... [--public-hosts] [--azurite] [--azurite-dir DIR] [--releases DIR]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument: {other}")),
        }
    }
    Ok(opts)
}

fn main() -> std::process::ExitCode {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("fake-cloud: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let cloud = match FakeCloud::start(opts) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("fake-cloud: cannot start: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout();
    let _ = writeln!(out, "ready {}", cloud.url());
    let _ = out.flush();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fake-cloud: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    rt.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    });
    drop(cloud);
    std::process::ExitCode::SUCCESS
}
