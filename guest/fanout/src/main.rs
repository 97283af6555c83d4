//! Guest `fanout COMMAND ...`: a job of a workflow, through the `wasmpool:task` world's
//! `workflow` interface (`wit/task.wit`, 0.1.1).
//!
//! - `fanout parents`: prints one line per parent (`workflow::parents`), in the order the
//!   host gives them: `NAME STATE EXIT STDOUT RESULT` (`-` for what is absent; stdout as
//!   lossy UTF-8, trimmed). Exits 0.
//! - `fanout spawn N MODULE [FAIL_UNTIL]`: spawns N jobs of MODULE (`args: ["i"]` for i in
//!   1..=N), then a fan-in (`fanout sum`, `after` every handle, `stdin_from_parents`), and
//!   prints `spawned N+1`. With FAIL_UNTIL, an attempt numbered FAIL_UNTIL or lower exits 1
//!   after spawning (so its spawns must not be written). A refused spawn is printed
//!   (`refused after K: MESSAGE`) and the job fails.
//! - `fanout flood MODULE`: spawns jobs of MODULE until one is refused, prints
//!   `refused after K: MESSAGE` and exits 0 (what it spawned is written).
//! - `fanout sum`: reads the stdin of `stdin_from_parents` (a JSON object of parents, each
//!   with a `"stdout"`) and prints the sum of the integers their stdouts hold.
//! - `fanout number X`: prints X (a child of `spawn`).
//!
//! Only builds for `wasm32-wasip2` (a component).

use std::io::Read;
use std::process::ExitCode;

wit_bindgen::generate!({
    path: "../../wit",
    world: "wasmpool:task/task",
});

use wasmpool::task::{job, workflow};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["parents"] => parents(),
        ["spawn", n, module] => spawn(n.parse().unwrap_or(0), module, 0),
        ["spawn", n, module, fail] => {
            spawn(n.parse().unwrap_or(0), module, fail.parse().unwrap_or(0))
        }
        ["flood", module] => flood(module),
        ["sum"] => sum(),
        ["number", x] => {
            println!("{x}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!(
                "usage: fanout parents | spawn N MODULE [FAIL_UNTIL] | flood MODULE | sum | number X"
            );
            ExitCode::from(2)
        }
    }
}

fn parents() -> ExitCode {
    for parent in workflow::parents() {
        let stdout = String::from_utf8_lossy(&parent.stdout).trim().to_string();
        let or_dash = |text: String| if text.is_empty() { "-".to_string() } else { text };
        println!(
            "{} {} {} {} {}",
            parent.name.unwrap_or(parent.id),
            parent.state,
            parent.exit_code.map_or("-".to_string(), |code| code.to_string()),
            or_dash(stdout),
            parent.result.unwrap_or_else(|| "-".to_string()),
        );
    }
    ExitCode::SUCCESS
}

fn spawn(n: u32, module: &str, fail_until: u32) -> ExitCode {
    let mut handles = Vec::new();
    for i in 1..=n {
        let job = format!(r#"{{"module":"{module}","args":["number","{i}"]}}"#);
        match workflow::spawn(&job) {
            Ok(handle) => handles.push(format!("\"{handle}\"")),
            Err(message) => {
                println!("refused after {}: {message}", handles.len());
                return ExitCode::from(3);
            }
        }
    }
    let fan_in = format!(
        r#"{{"module":"fanout","args":["sum"],"name":"sum","stdin_from_parents":true,"after":[{}]}}"#,
        handles.join(",")
    );
    if let Err(message) = workflow::spawn(&fan_in) {
        println!("refused after {}: {message}", handles.len());
        return ExitCode::from(3);
    }
    println!("spawned {}", handles.len() + 1);
    if job::attempt() <= fail_until {
        eprintln!("attempt {} fails on purpose", job::attempt());
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

fn flood(module: &str) -> ExitCode {
    let job = format!(r#"{{"module":"{module}","args":["number","1"]}}"#);
    let mut spawned = 0;
    loop {
        match workflow::spawn(&job) {
            Ok(_) => spawned += 1,
            Err(message) => {
                println!("refused after {spawned}: {message}");
                return ExitCode::SUCCESS;
            }
        }
    }
}

/// Sums the integers in the `"stdout"` strings of the parents' JSON on stdin, without a
/// JSON parser: every `"stdout":"N` it finds.
fn sum() -> ExitCode {
    let mut input = String::new();
    if std::io::stdin().read_to_string(&mut input).is_err() {
        return ExitCode::from(2);
    }
    let mut total: i64 = 0;
    for piece in input.split("\"stdout\":\"").skip(1) {
        let digits: String =
            piece.chars().take_while(|c| c.is_ascii_digit() || *c == '-').collect();
        total += digits.parse::<i64>().unwrap_or(0);
    }
    println!("{total}");
    ExitCode::SUCCESS
}
