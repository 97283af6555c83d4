//! Preview 1: every function of `wasi_snapshot_preview1`, called directly (the `wasi` crate's
//! raw bindings), with each flag that reaches a different host system call.

use wasi::*;

mod paths;

use crate::Report;
use paths::{listing, paths, times_and_sizes};

/// Every right preview 1 defines (wasmtime ignores rights beyond read and write).
const ALL: Rights = (1 << 29) - 1;
const FOLLOW: Lookupflags = LOOKUPFLAGS_SYMLINK_FOLLOW;
const NOFOLLOW: Lookupflags = 0;

/// `ok` or the error's name.
fn out<T>(result: Result<T, Errno>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(e) => e.name().into(),
    }
}

/// `ok VALUE` or the error's name.
fn val<T: std::fmt::Display>(result: Result<T, Errno>) -> String {
    match result {
        Ok(value) => format!("ok {value}"),
        Err(e) => e.name().into(),
    }
}

fn open(dir: Fd, path: &str, oflags: Oflags, fdflags: Fdflags) -> Result<Fd, Errno> {
    unsafe { path_open(dir, FOLLOW, path, oflags, ALL, ALL, fdflags) }
}

/// Opens a directory: without the right to write, which a directory cannot be opened for.
fn open_dir(dir: Fd, path: &str) -> Result<Fd, Errno> {
    let rights = ALL & !RIGHTS_FD_WRITE;
    unsafe { path_open(dir, FOLLOW, path, OFLAGS_DIRECTORY, rights, rights, 0) }
}

fn write(fd: Fd, data: &[u8]) -> Result<usize, Errno> {
    unsafe { fd_write(fd, &[Ciovec { buf: data.as_ptr(), buf_len: data.len() }]) }
}

fn read(fd: Fd, len: usize) -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0; len];
    let n = unsafe { fd_read(fd, &[Iovec { buf: buf.as_mut_ptr(), buf_len: len }])? };
    buf.truncate(n);
    Ok(buf)
}

fn text(result: Result<Vec<u8>, Errno>) -> String {
    match result {
        Ok(bytes) => format!("ok {:?}", String::from_utf8_lossy(&bytes)),
        Err(e) => e.name().into(),
    }
}

/// Runs every call, then leaves with `proc_exit`: 0 when all went as expected, else 1.
pub fn run(dir_path: &str) {
    let mut r = Report::default();
    args_environ(&mut r);
    clocks(&mut r);
    unsafe {
        let mut bytes = [0u8; 64];
        r.check("random_get", out(random_get(bytes.as_mut_ptr(), bytes.len())), "ok");
        r.check("random_get 0 bytes", out(random_get(bytes.as_mut_ptr(), 0)), "ok");
        r.check("sched_yield", out(sched_yield()), "ok");
        r.check("proc_raise", out(proc_raise(SIGNAL_TERM)), "NOTSUP");
    }
    stdio(&mut r);
    let Some(dir) = preopen(&mut r, dir_path) else {
        r.check("preopen", "missing", dir_path);
        r.finish();
        unsafe { proc_exit(1) };
        unreachable!("proc_exit returned");
    };
    files(&mut r, dir);
    flags(&mut r, dir);
    times_and_sizes(&mut r, dir);
    paths(&mut r, dir);
    listing(&mut r, dir);
    descriptors(&mut r, dir);
    poll(&mut r, dir);
    sockets(&mut r, dir);
    let code = if r.finish() { 0 } else { 1 };
    unsafe { proc_exit(code) };
    unreachable!("proc_exit returned");
}

fn args_environ(r: &mut Report) {
    unsafe {
        let (argc, argv_len) = args_sizes_get().unwrap_or((0, 0));
        r.check("args_sizes_get", format!("{argc}"), "2");
        let mut ptrs = vec![std::ptr::null_mut(); argc];
        let mut buf = vec![0u8; argv_len];
        r.check("args_get", out(args_get(ptrs.as_mut_ptr(), buf.as_mut_ptr())), "ok");
        let (count, len) = environ_sizes_get().unwrap_or((0, 0));
        r.check("environ_sizes_get", format!("{count}"), "1");
        let mut ptrs = vec![std::ptr::null_mut(); count];
        let mut buf = vec![0u8; len];
        r.check("environ_get", out(environ_get(ptrs.as_mut_ptr(), buf.as_mut_ptr())), "ok");
        r.check("environ_get value", String::from_utf8_lossy(&buf), "COVERAGE=1\0");
    }
}

fn clocks(r: &mut Report) {
    for (name, id, wanted) in [
        ("realtime", CLOCKID_REALTIME, "ok"),
        ("monotonic", CLOCKID_MONOTONIC, "ok"),
        ("process_cputime", CLOCKID_PROCESS_CPUTIME_ID, "BADF"),
        ("thread_cputime", CLOCKID_THREAD_CPUTIME_ID, "BADF"),
    ] {
        unsafe {
            r.check(&format!("clock_res_get {name}"), out(clock_res_get(id)), wanted);
            r.check(&format!("clock_time_get {name}"), out(clock_time_get(id, 1)), wanted);
        }
    }
}

fn stdio(r: &mut Report) {
    r.check("fd_read stdin", text(read(0, 64)), "ok \"input\\n\"");
    r.check("fd_read stdin at its end", text(read(0, 64)), "ok \"\"");
    r.check("fd_write stdout 0 bytes", val(write(1, b"")), "ok 0");
    r.check("fd_write stderr", val(write(2, b"coverage: stderr\n")), "ok 17");
    for fd in 0..3 {
        let kind = unsafe { fd_fdstat_get(fd) }.map(|s| s.fs_filetype.name());
        r.check(&format!("fd_fdstat_get {fd}"), val(kind), "ok UNKNOWN");
        let stat = unsafe { fd_filestat_get(fd) }.map(|s| s.filetype.name());
        r.check(&format!("fd_filestat_get {fd}"), val(stat), "ok UNKNOWN");
    }
}

/// Finds the preopened descriptor named `path`.
fn preopen(r: &mut Report, path: &str) -> Option<Fd> {
    for fd in 3..64 {
        let Ok(stat) = (unsafe { fd_prestat_get(fd) }) else { break };
        let len = unsafe { stat.u.dir.pr_name_len };
        let mut name = vec![0u8; len];
        let got = unsafe { fd_prestat_dir_name(fd, name.as_mut_ptr(), len) };
        if got.is_ok() && name == path.as_bytes() {
            r.check("fd_prestat_get", "ok", "ok");
            r.check("fd_prestat_dir_name", String::from_utf8_lossy(&name), path);
            r.check("fd_prestat_get past the last", out(unsafe { fd_prestat_get(60) }), "BADF");
            return Some(fd);
        }
    }
    None
}

/// Reads and writes: plain, positioned, vectored, zero-length, past the end; seek and tell.
fn files(r: &mut Report, dir: Fd) {
    let create = OFLAGS_CREAT | OFLAGS_TRUNC;
    let Ok(f) = open(dir, "file", create, 0) else { return r.check("path_open", "failed", "ok") };
    r.check("path_open creat|trunc", "ok", "ok");
    r.check("fd_write", val(write(f, b"hello")), "ok 5");
    r.check("fd_write 0 bytes", val(write(f, b"")), "ok 0");
    let two =
        [Ciovec { buf: b" wo".as_ptr(), buf_len: 3 }, Ciovec { buf: b"rld".as_ptr(), buf_len: 3 }];
    // The implementation writes the first non-empty buffer alone (a short write, as POSIX
    // allows); the rest is written again.
    r.check("fd_write 2 buffers", val(unsafe { fd_write(f, &two) }), "ok 3");
    r.check("fd_write the rest", val(write(f, b"rld")), "ok 3");
    r.check("fd_tell", val(unsafe { fd_tell(f) }), "ok 11");
    r.check("fd_seek set", val(unsafe { fd_seek(f, 0, WHENCE_SET) }), "ok 0");
    r.check("fd_read", text(read(f, 5)), "ok \"hello\"");
    r.check("fd_read 0 bytes", text(read(f, 0)), "ok \"\"");
    r.check("fd_seek cur", val(unsafe { fd_seek(f, 1, WHENCE_CUR) }), "ok 6");
    r.check("fd_seek end", val(unsafe { fd_seek(f, -2, WHENCE_END) }), "ok 9");
    r.check("fd_seek before the start", val(unsafe { fd_seek(f, -100, WHENCE_CUR) }), "INVAL");
    r.check("fd_seek past the end", val(unsafe { fd_seek(f, 20, WHENCE_SET) }), "ok 20");
    r.check("fd_read past the end", text(read(f, 8)), "ok \"\"");
    r.check("fd_write past the end", val(write(f, b"!")), "ok 1");
    let mut buf = [0u8; 4];
    let iov = [Iovec { buf: buf.as_mut_ptr(), buf_len: 4 }];
    r.check("fd_pread", val(unsafe { fd_pread(f, &iov, 6) }), "ok 4");
    r.check("fd_pread data", String::from_utf8_lossy(&buf), "worl");
    let empty = [Iovec { buf: buf.as_mut_ptr(), buf_len: 0 }];
    r.check("fd_pread 0 bytes", val(unsafe { fd_pread(f, &empty, 0) }), "ok 0");
    r.check("fd_pread past the end", val(unsafe { fd_pread(f, &iov, 100) }), "ok 0");
    let data = [Ciovec { buf: b"H".as_ptr(), buf_len: 1 }];
    r.check("fd_pwrite", val(unsafe { fd_pwrite(f, &data, 0) }), "ok 1");
    let none = [Ciovec { buf: b"".as_ptr(), buf_len: 0 }];
    r.check("fd_pwrite 0 bytes", val(unsafe { fd_pwrite(f, &none, 0) }), "ok 0");
    r.check("fd_pwrite past the end", val(unsafe { fd_pwrite(f, &data, 30) }), "ok 1");
    let size = unsafe { fd_filestat_get(f) }.map(|s| s.size);
    r.check("fd_filestat_get size", val(size), "ok 31");
    for (name, advice) in [
        ("normal", ADVICE_NORMAL),
        ("sequential", ADVICE_SEQUENTIAL),
        ("random", ADVICE_RANDOM),
        ("willneed", ADVICE_WILLNEED),
        ("dontneed", ADVICE_DONTNEED),
        ("noreuse", ADVICE_NOREUSE),
    ] {
        r.check(&format!("fd_advise {name}"), out(unsafe { fd_advise(f, 0, 10, advice) }), "ok");
    }
    r.check("fd_allocate", out(unsafe { fd_allocate(f, 0, 4096) }), "NOTSUP");
    r.check("fd_sync", out(unsafe { fd_sync(f) }), "ok");
    r.check("fd_datasync", out(unsafe { fd_datasync(f) }), "ok");
    r.check("fd_close", out(unsafe { fd_close(f) }), "ok");
    r.check("fd_close again", out(unsafe { fd_close(f) }), "BADF");
}

/// Descriptor flags, at open and after: append, sync, dsync, rsync, nonblock.
fn flags(r: &mut Report, dir: Fd) {
    let append = open(dir, "log", OFLAGS_CREAT, FDFLAGS_APPEND);
    r.check("path_open append", out(append), "ok");
    if let Ok(f) = append {
        r.check("fd_write append", val(write(f, b"one\n")), "ok 4");
        r.check("fd_seek before appending", val(unsafe { fd_seek(f, 0, WHENCE_SET) }), "ok 0");
        r.check("fd_write append again", val(write(f, b"two\n")), "ok 4");
        let flags = unsafe { fd_fdstat_get(f) }.map(|s| s.fs_flags);
        r.check("fd_fdstat_get append", val(flags), "ok 1");
        unsafe { fd_close(f).ok() };
    }
    let Ok(f) = open(dir, "log", 0, 0) else { return r.check("path_open", "failed", "ok") };
    r.check(
        "fd_fdstat_set_flags append",
        out(unsafe { fd_fdstat_set_flags(f, FDFLAGS_APPEND) }),
        "ok",
    );
    r.check("fd_write after set_flags append", val(write(f, b"three\n")), "ok 6");
    let both = FDFLAGS_APPEND | FDFLAGS_NONBLOCK;
    r.check("fd_fdstat_set_flags nonblock", out(unsafe { fd_fdstat_set_flags(f, both) }), "ok");
    r.check("fd_write nonblocking append", val(write(f, b"four\n")), "ok 5");
    r.check("fd_fdstat_set_flags none", out(unsafe { fd_fdstat_set_flags(f, 0) }), "ok");
    r.check(
        "fd_pwrite after clearing append",
        val(unsafe { fd_pwrite(f, &[Ciovec { buf: b"O".as_ptr(), buf_len: 1 }], 0) }),
        "ok 1",
    );
    for (name, flag) in [("dsync", FDFLAGS_DSYNC), ("sync", FDFLAGS_SYNC), ("rsync", FDFLAGS_RSYNC)]
    {
        let set = unsafe { fd_fdstat_set_flags(f, flag) };
        r.check(&format!("fd_fdstat_set_flags {name}"), out(set), "INVAL");
    }
    r.check("fd_fdstat_set_rights", out(unsafe { fd_fdstat_set_rights(f, ALL, ALL) }), "NOTSUP");
    r.check("fd_seek then read", val(unsafe { fd_seek(f, 0, WHENCE_SET) }), "ok 0");
    r.check("fd_read appended", text(read(f, 64)), "ok \"One\\ntwo\\nthree\\nfour\\n\"");
    unsafe { fd_close(f).ok() };
    // wasmtime 48 refuses the sync flags at open (cap-std cannot pass them on), before any
    // system call.
    for (name, flag, wanted) in [
        ("dsync", FDFLAGS_DSYNC, "NOTSUP"),
        ("sync", FDFLAGS_SYNC, "NOTSUP"),
        ("rsync", FDFLAGS_RSYNC, "NOTSUP"),
        ("nonblock", FDFLAGS_NONBLOCK, "ok"),
    ] {
        let opened = open(dir, "synced", OFLAGS_CREAT, flag);
        r.check(&format!("path_open {name}"), out(opened), wanted);
        if let Ok(f) = opened {
            r.check(&format!("fd_write {name}"), val(write(f, b"x")), "ok 1");
            let got = unsafe { fd_fdstat_get(f) }.map(|s| s.fs_flags);
            r.check(&format!("fd_fdstat_get {name}"), val(got), &format!("ok {flag}"));
            unsafe { fd_close(f).ok() };
        }
    }
}

/// Renumbering descriptors.
fn descriptors(r: &mut Report, dir: Fd) {
    let (Ok(a), Ok(b)) = (open(dir, "log", 0, 0), open(dir, "synced", 0, 0)) else {
        return r.check("path_open", "failed", "ok");
    };
    r.check("fd_renumber", out(unsafe { fd_renumber(a, b) }), "ok");
    r.check("fd_read renumbered", text(read(b, 5)), "ok \"One\\nt\"");
    r.check("fd_read the old number", text(read(a, 5)), "BADF");
    r.check("fd_renumber a closed one", out(unsafe { fd_renumber(a, b) }), "BADF");
    r.check("fd_renumber to itself", out(unsafe { fd_renumber(b, b) }), "ok");
    unsafe { fd_close(b).ok() };
}

/// `poll_oneoff` with a relative and an absolute clock subscription and fd subscriptions.
fn poll(r: &mut Report, dir: Fd) {
    let clock = |userdata, timeout, flags| Subscription {
        userdata,
        u: SubscriptionU {
            tag: EVENTTYPE_CLOCK.raw(),
            u: SubscriptionUU {
                clock: SubscriptionClock { id: CLOCKID_MONOTONIC, timeout, precision: 0, flags },
            },
        },
    };
    let fd_sub = |userdata, tag: Eventtype, fd| Subscription {
        userdata,
        u: SubscriptionU {
            tag: tag.raw(),
            u: SubscriptionUU { fd_read: SubscriptionFdReadwrite { file_descriptor: fd } },
        },
    };
    let mut events = [Event {
        userdata: 0,
        error: ERRNO_SUCCESS,
        type_: EVENTTYPE_CLOCK,
        fd_readwrite: EventFdReadwrite { nbytes: 0, flags: 0 },
    }; 4];
    let relative = [clock(1, 1_000_000, 0)];
    let n = unsafe { poll_oneoff(relative.as_ptr(), events.as_mut_ptr(), 1) };
    r.check("poll_oneoff clock relative", val(n), "ok 1");
    let now = unsafe { clock_time_get(CLOCKID_MONOTONIC, 1) }.unwrap_or(0);
    let absolute = [clock(2, now + 1_000_000, SUBCLOCKFLAGS_SUBSCRIPTION_CLOCK_ABSTIME)];
    let n = unsafe { poll_oneoff(absolute.as_ptr(), events.as_mut_ptr(), 1) };
    r.check("poll_oneoff clock absolute", val(n), "ok 1");
    let Ok(f) = open(dir, "file", 0, 0) else { return r.check("path_open", "failed", "ok") };
    let subs = [
        fd_sub(4, EVENTTYPE_FD_WRITE, f),
        fd_sub(5, EVENTTYPE_FD_WRITE, 1),
        clock(6, 10_000_000_000, 0),
    ];
    let n = unsafe { poll_oneoff(subs.as_ptr(), events.as_mut_ptr(), subs.len()) };
    r.check("poll_oneoff fds writable", val(n), "ok 2");
    let data: Vec<String> = events[..2].iter().map(|e| e.userdata.to_string()).collect();
    r.check("poll_oneoff fds writable which", data.join(","), "4,5");
    let subs = [fd_sub(3, EVENTTYPE_FD_READ, f), clock(6, 10_000_000_000, 0)];
    let n = unsafe { poll_oneoff(subs.as_ptr(), events.as_mut_ptr(), subs.len()) };
    r.check(
        "poll_oneoff file readable",
        val(n.map(|n| format!("{n}, {}", events[0].userdata))),
        "ok 1, 3",
    );
    let stdin = [fd_sub(7, EVENTTYPE_FD_READ, 0), clock(8, 10_000_000_000, 0)];
    let n = unsafe { poll_oneoff(stdin.as_ptr(), events.as_mut_ptr(), 2) };
    r.check("poll_oneoff stdin", val(n.map(|n| format!("{n}, {}", events[0].userdata))), "ok 1, 7");
    let bad = [fd_sub(9, EVENTTYPE_FD_READ, 99)];
    let n = unsafe { poll_oneoff(bad.as_ptr(), events.as_mut_ptr(), 1) };
    r.check("poll_oneoff bad fd", out(n), "BADF");
    r.check(
        "poll_oneoff nothing",
        out(unsafe { poll_oneoff(subs.as_ptr(), events.as_mut_ptr(), 0) }),
        "INVAL",
    );
    unsafe { fd_close(f).ok() };
}

/// The socket calls on a descriptor that is not a socket (a job has none).
fn sockets(r: &mut Report, dir: Fd) {
    let mut buf = [0u8; 4];
    let iov = [Iovec { buf: buf.as_mut_ptr(), buf_len: 4 }];
    let ciov = [Ciovec { buf: buf.as_ptr(), buf_len: 4 }];
    unsafe {
        r.check("sock_accept", out(sock_accept(dir, 0)), "NOTSOCK");
        r.check("sock_recv", out(sock_recv(dir, &iov, 0)), "NOTSOCK");
        r.check("sock_send", out(sock_send(dir, &ciov, 0)), "NOTSOCK");
        r.check("sock_shutdown", out(sock_shutdown(dir, SDFLAGS_RD | SDFLAGS_WR)), "NOTSOCK");
        r.check("sock_accept bad fd", out(sock_accept(99, 0)), "BADF");
    }
}
