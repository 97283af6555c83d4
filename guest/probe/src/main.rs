//! `probe`: looks at what the sandbox grants, for the isolation tests.
//!
//! - `probe env`: prints the environment, one `K=V` per line, sorted.
//! - `probe args [ARG...]`: prints its whole command line, argv[0] first, one per line.
//! - `probe read PATH`: prints the file's contents.
//! - `probe write PATH TEXT`: writes TEXT to the file.
//! - `probe ls PATH`: prints the directory's entries, sorted.
//! - `probe connect HOST:PORT`: opens a TCP connection and says whether it could.
//!
//! Failures print the OS error on stderr and exit 1; bad usage exits 2.

use std::process::ExitCode;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let args: Vec<&str> = argv.iter().skip(1).map(String::as_str).collect();
    let result = match args.as_slice() {
        ["args", ..] => {
            argv.iter().for_each(|arg| println!("{arg}"));
            Ok(())
        }
        ["env"] => {
            let mut vars: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
            vars.sort();
            vars.iter().for_each(|var| println!("{var}"));
            Ok(())
        }
        ["read", path] => std::fs::read_to_string(path).map(|text| print!("{text}")),
        ["write", path, text] => std::fs::write(path, text),
        ["ls", path] => std::fs::read_dir(path).map(|entries| {
            let mut names: Vec<String> =
                entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
            names.sort();
            names.iter().for_each(|name| println!("{name}"));
        }),
        ["connect", address] => std::net::TcpStream::connect(address).map(|_| println!("connected")),
        _ => {
            eprintln!(
                "usage: probe env | args [ARG...] | read PATH | write PATH TEXT | ls PATH | connect HOST:PORT"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("probe: {error}");
            ExitCode::FAILURE
        }
    }
}
