//! Guest `echo`: copies stdin to stdout byte for byte until EOF, then exits 0.
//!
//! Used to test that the host wires a job's stdin and stdout correctly.

use std::io;

fn main() -> io::Result<()> {
    let mut stdin = io::stdin().lock();
    let mut stdout = io::stdout().lock();
    io::copy(&mut stdin, &mut stdout)?;
    Ok(())
}
