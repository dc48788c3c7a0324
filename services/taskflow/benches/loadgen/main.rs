//! `loadgen`: the parts of `bench/run` that `wrk` cannot do — seeding users and tasks over the REST
//! API, the REST-write → WebSocket-receipt fan-out latency, holding thousands of idle WebSockets, and
//! the soak's mixed workload with its logs for the integrity checks (`soak/`).
//!
//! Why a Rust bench target and not a script: it shares two cores with the server under test, so the
//! client must cost little CPU, and it reuses the workspace's HTTP and WebSocket clients. `bench/run`
//! builds and drives it; it is not meant to be run by hand, but can be:
//!
//! ```text
//! loadgen seed   --base http://127.0.0.1:8000 --users 100 --tasks 1000 --out seed.txt
//! loadgen fanout --base http://127.0.0.1:8000 --seed seed.txt --users 50 --per-user 2 --rate 200 --seconds 10
//! loadgen idle   --ws ws://127.0.0.1:8001/ws --secret … --connections 10000 --pid 1234 --hold 5
//! loadgen soak   --base http://127.0.0.1:8000 --seed seed.txt --users 50 --rate 500 --seconds 600 \
//!                --ws 100 --sse 20 --reminders 300 --acks acks.tsv --received events.tsv --samples samples.jsonl
//! ```
//!
//! Each subcommand prints one JSON object on stdout (progress goes to stderr) and exits non-zero
//! only when it could not run at all; counting errors is the caller's job. Run without a subcommand
//! (as `cargo bench` does) it prints its usage and exits 0.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod args;
mod fanout;
mod idle;
mod seed;
mod soak;
mod stats;

use std::process::ExitCode;

const USAGE: &str = "usage: loadgen seed|fanout|idle|soak --option value … (see bench/run)";

fn main() -> ExitCode {
    let mut argv = std::env::args().skip(1).filter(|a| a != "--bench");
    let Some(command) = argv.next() else {
        eprintln!("{USAGE}");
        return ExitCode::SUCCESS;
    };
    let args = match args::Args::parse(argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("loadgen: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = runtime.block_on(async move {
        match command.as_str() {
            "seed" => seed::run(&args).await,
            "fanout" => fanout::run(&args).await,
            "idle" => idle::run(&args).await,
            "soak" => soak::run(&args).await,
            other => Err(format!("unknown subcommand {other:?}")),
        }
    });
    match result {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}
