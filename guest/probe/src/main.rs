//! `probe`: looks at what the sandbox grants, for the isolation tests.
//!
//! - `probe env`: prints the environment, one `K=V` per line, sorted.
//! - `probe args [ARG...]`: prints its whole command line, argv[0] first, one per line.
//! - `probe read PATH`: prints the file's contents.
//! - `probe write PATH TEXT`: writes TEXT to the file.
//! - `probe ls PATH`: prints the directory's entries, sorted.
//! - `probe connect HOST:PORT`: opens a TCP connection and says whether it could.
//! - `probe flood BYTES [SECONDS]`: writes BYTES bytes of text to stdout and as many to stderr
//!   (a job at the output cap, for the tests of what a listing of such jobs costs), after
//!   sleeping SECONDS if given (a job whose end needs room on the disk, for the full-disk test).
//!
//! Failures print the OS error on stderr and exit 1; bad usage exits 2.

use std::process::ExitCode;
use std::time::Duration;

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
        ["flood", bytes, after @ ..] => match (bytes.parse::<usize>(), after) {
            (Ok(bytes), []) => flood(bytes),
            (Ok(bytes), [seconds]) => match seconds.parse::<f64>().map(Duration::try_from_secs_f64) {
                Ok(Ok(pause)) => {
                    std::thread::sleep(pause);
                    flood(bytes)
                }
                _ => Err(std::io::Error::other(format!("`{seconds}` is not a number of seconds"))),
            },
            (Err(_), _) => Err(std::io::Error::other(format!("`{bytes}` is not a byte count"))),
            _ => Err(std::io::Error::other("usage: probe flood BYTES [SECONDS]")),
        },
        _ => {
            eprintln!(
                "usage: probe env | args [ARG...] | read PATH | write PATH TEXT | ls PATH | connect HOST:PORT | flood BYTES [SECONDS]"
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

/// Writes `bytes` bytes of lines to stdout and to stderr.
fn flood(bytes: usize) -> std::io::Result<()> {
    use std::io::Write;
    let line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-=+*/!?#\n";
    for mut out in [Box::new(std::io::stdout().lock()) as Box<dyn Write>, Box::new(std::io::stderr().lock())] {
        let mut left = bytes;
        while left > 0 {
            let n = left.min(line.len());
            out.write_all(&line[..n])?;
            left -= n;
        }
        out.flush()?;
    }
    Ok(())
}
