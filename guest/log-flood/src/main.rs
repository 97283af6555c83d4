//! Guest `log-flood [N]`: calls the WASI preview-1 function `sock_accept`, which wasmtime does
//! not implement and logs a warning for on every call, N times (default 100000), then exits 0.
//!
//! Used to test that a guest cannot flood the host's log through its worker's stderr.

#[link(wasm_import_module = "wasi_snapshot_preview1")]
unsafe extern "C" {
    fn sock_accept(fd: i32, flags: i32, accepted: *mut i32) -> i32;
}

fn main() {
    let calls: u32 = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let mut accepted = 0;
    for _ in 0..calls {
        // SAFETY: a WASI import; `accepted` outlives the call. It fails (not implemented).
        let _ = unsafe { sock_accept(3, 0, &mut accepted) };
    }
    println!("called sock_accept {calls} times");
}
