//! Preview 2: every filesystem, clock, random and stdio operation of WASI 0.2, and the socket
//! operations a job is refused, called directly through the `wasip2` bindings.

use wasip2::cli::{
    environment, stderr, stdin, stdout, terminal_stderr, terminal_stdin, terminal_stdout,
};
use wasip2::clocks::{monotonic_clock, wall_clock};
use wasip2::filesystem::preopens;
use wasip2::filesystem::types::{
    Advice, Descriptor, DescriptorFlags as F, DescriptorType, ErrorCode, NewTimestamp,
    OpenFlags as O, PathFlags,
};
use wasip2::io::{poll, streams::StreamError};
use wasip2::random::{insecure, insecure_seed, random};
use wasip2::sockets::{
    instance_network, ip_name_lookup, network, tcp_create_socket, udp_create_socket,
};

use crate::{MANY, Report, many_name};

const RW: F = F::READ.union(F::WRITE);
const FOLLOW: PathFlags = PathFlags::SYMLINK_FOLLOW;
const NOFOLLOW: PathFlags = PathFlags::empty();

/// `ok` or the error's name.
fn out<T>(result: Result<T, ErrorCode>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(e) => e.name().into(),
    }
}

/// `ok VALUE` or the error's name.
fn val<T: std::fmt::Debug>(result: Result<T, ErrorCode>) -> String {
    match result {
        Ok(value) => format!("ok {value:?}"),
        Err(e) => e.name().into(),
    }
}

/// A stream call's outcome: `ok VALUE`, `closed`, or the error.
fn st<T: std::fmt::Debug>(result: Result<T, StreamError>) -> String {
    match result {
        Ok(value) => format!("ok {value:?}"),
        Err(StreamError::Closed) => "closed".into(),
        Err(StreamError::LastOperationFailed(e)) => format!("failed {}", e.to_debug_string()),
    }
}

/// Runs every call, then exits through `wasi:cli/exit`: success when all went as expected.
pub fn run(dir_path: &str) {
    let mut r = Report::default();
    cli(&mut r);
    clocks(&mut r);
    randoms(&mut r);
    stdio(&mut r);
    sockets(&mut r);
    let dirs = preopens::get_directories();
    r.check("get-directories", format!("{}", dirs.len()), "1");
    match dirs.iter().find(|(_, name)| name == dir_path) {
        Some((dir, _)) => {
            files(&mut r, dir);
            streams(&mut r, dir);
            flags(&mut r, dir);
            times(&mut r, dir);
            paths(&mut r, dir);
            listing(&mut r, dir);
        }
        None => r.check("preopen", "missing", dir_path),
    }
    let fine = r.finish();
    wasip2::cli::exit::exit(if fine { Ok(()) } else { Err(()) });
}

fn cli(r: &mut Report) {
    r.check("get-arguments", format!("{}", environment::get_arguments().len()), "2");
    r.check(
        "get-environment",
        format!("{:?}", environment::get_environment()),
        "[(\"COVERAGE\", \"1\")]",
    );
    r.check("initial-cwd", format!("{:?}", environment::initial_cwd()), "None");
    r.check(
        "get-terminal-stdin",
        format!("{}", terminal_stdin::get_terminal_stdin().is_some()),
        "false",
    );
    r.check(
        "get-terminal-stdout",
        format!("{}", terminal_stdout::get_terminal_stdout().is_some()),
        "false",
    );
    r.check(
        "get-terminal-stderr",
        format!("{}", terminal_stderr::get_terminal_stderr().is_some()),
        "false",
    );
}

fn clocks(r: &mut Report) {
    let now = monotonic_clock::now();
    r.check("monotonic-clock now", format!("{}", now > 0), "true");
    r.check("monotonic-clock resolution", format!("{}", monotonic_clock::resolution() > 0), "true");
    let wall = wall_clock::now();
    r.check("wall-clock now", format!("{}", wall.seconds > 1_600_000_000), "true");
    let res = wall_clock::resolution();
    r.check("wall-clock resolution", format!("{}", res.seconds > 0 || res.nanoseconds > 0), "true");
    let later = monotonic_clock::subscribe_duration(1_000_000);
    r.check("subscribe-duration ready at once", format!("{}", later.ready()), "false");
    later.block();
    r.check("subscribe-duration block", format!("{}", later.ready()), "true");
    let instant = monotonic_clock::subscribe_instant(monotonic_clock::now() + 1_000_000);
    let past = monotonic_clock::subscribe_instant(0);
    r.check("poll", format!("{:?}", poll::poll(&[&instant, &past])), "[1]");
    instant.block();
    r.check("subscribe-instant block", format!("{}", instant.ready()), "true");
    let zero = monotonic_clock::subscribe_duration(0);
    zero.block();
    r.check("subscribe-duration 0", format!("{}", zero.ready()), "true");
}

fn randoms(r: &mut Report) {
    r.check("get-random-bytes", format!("{}", random::get_random_bytes(64).len()), "64");
    r.check("get-random-bytes 0", format!("{}", random::get_random_bytes(0).len()), "0");
    let (a, b) = (random::get_random_u64(), random::get_random_u64());
    r.check("get-random-u64", format!("{}", a != b), "true");
    r.check(
        "get-insecure-random-bytes",
        format!("{}", insecure::get_insecure_random_bytes(16).len()),
        "16",
    );
    let (a, b) = (insecure::get_insecure_random_u64(), insecure::get_insecure_random_u64());
    r.check("get-insecure-random-u64", format!("{}", a != b), "true");
    let (a, b) = insecure_seed::insecure_seed();
    r.check("insecure-seed", format!("{}", a != 0 || b != 0), "true");
}

fn stdio(r: &mut Report) {
    let input = stdin::get_stdin();
    input.subscribe().block();
    r.check("stdin read", st(input.read(3).map(String::from_utf8)), "ok Ok(\"inp\")");
    r.check("stdin skip", st(input.skip(1)), "ok 1");
    r.check(
        "stdin blocking-read",
        st(input.blocking_read(64).map(String::from_utf8)),
        "ok Ok(\"t\\n\")",
    );
    r.check("stdin read at its end", st(input.blocking_read(64)), "closed");
    r.check("stdin blocking-skip at its end", st(input.blocking_skip(1)), "closed");
    let out = stdout::get_stdout();
    r.check("stdout check-write", format!("{}", out.check_write().is_ok_and(|n| n > 0)), "true");
    r.check("stdout write 0 bytes", st(out.write(b"")), "ok ()");
    out.subscribe().block();
    r.check(
        "stdout check-write again",
        format!("{}", out.check_write().is_ok_and(|n| n > 0)),
        "true",
    );
    r.check("stdout flush", st(out.flush()), "ok ()");
    out.subscribe().block();
    r.check("stdout blocking-write-and-flush", st(out.blocking_write_and_flush(b"")), "ok ()");
    r.check("stdout blocking-flush", st(out.blocking_flush()), "ok ()");
    let err = stderr::get_stderr();
    r.check("stderr write", st(err.blocking_write_and_flush(b"coverage: stderr\n")), "ok ()");
    r.check("stderr write-zeroes", st(err.write_zeroes(0)), "ok ()");
}

/// Every way to reach the network is refused, with an error code, before any socket exists.
fn sockets(r: &mut Report) {
    let net = instance_network::instance_network();
    let tcp = tcp_create_socket::create_tcp_socket(network::IpAddressFamily::Ipv4);
    r.check("create-tcp-socket", tcp.err().map_or("ok", |e| e.name()), "access-denied");
    let tcp6 = tcp_create_socket::create_tcp_socket(network::IpAddressFamily::Ipv6);
    r.check("create-tcp-socket ipv6", tcp6.err().map_or("ok", |e| e.name()), "access-denied");
    let udp = udp_create_socket::create_udp_socket(network::IpAddressFamily::Ipv4);
    r.check("create-udp-socket", udp.err().map_or("ok", |e| e.name()), "access-denied");
    let lookup = ip_name_lookup::resolve_addresses(&net, "localhost").and_then(|stream| {
        stream.subscribe().block();
        stream.resolve_next_address()
    });
    r.check(
        "resolve-addresses",
        lookup.err().map_or("ok", |e| e.name()),
        "permanent-resolver-failure",
    );
}

/// Positioned reads and writes, zero-length and past the end; sizes, advice, syncs.
fn files(r: &mut Report, dir: &Descriptor) {
    let Ok(f) = dir.open_at(FOLLOW, "file", O::CREATE | O::TRUNCATE, RW) else {
        return r.check("open-at", "failed", "ok");
    };
    r.check("open-at create|truncate", "ok", "ok");
    r.check("write", val(f.write(b"hello world", 0)), "ok 11");
    r.check("write 0 bytes", val(f.write(b"", 3)), "ok 0");
    r.check("write past the end", val(f.write(b"!", 20)), "ok 1");
    r.check(
        "read",
        val(f.read(5, 0).map(|(d, end)| (String::from_utf8(d), end))),
        "ok (Ok(\"hello\"), false)",
    );
    r.check("read 0 bytes", val(f.read(0, 0)), "ok ([], true)");
    r.check("read past the end", val(f.read(8, 100)), "ok ([], true)");
    r.check("get-type", val(f.get_type()), "ok DescriptorType::RegularFile");
    r.check("get-flags", val(f.get_flags().map(|g| g == RW)), "ok true");
    r.check("stat", val(f.stat().map(|s| s.size)), "ok 21");
    r.check("set-size grow", out(f.set_size(10_000)), "ok");
    r.check("set-size shrink", out(f.set_size(11)), "ok");
    r.check("stat after set-size", val(f.stat().map(|s| s.size)), "ok 11");
    for advice in [
        Advice::Normal,
        Advice::Sequential,
        Advice::Random,
        Advice::WillNeed,
        Advice::DontNeed,
        Advice::NoReuse,
    ] {
        r.check(&format!("advise {advice:?}"), out(f.advise(0, 10, advice)), "ok");
    }
    r.check("sync", out(f.sync()), "ok");
    r.check("sync-data", out(f.sync_data()), "ok");
    r.check("metadata-hash", out(f.metadata_hash()), "ok");
    let same = dir.open_at(FOLLOW, "file", O::empty(), F::READ);
    r.check("is-same-object", format!("{:?}", same.map(|g| g.is_same_object(&f))), "Ok(true)");
    r.check("is-same-object other", format!("{}", f.is_same_object(dir)), "false");
    r.check("read-directory on a file", out(f.read_directory()), "not-directory");
}

/// Stream reads, writes, appends, splices, seeks past the end, zero lengths.
fn streams(r: &mut Report, dir: &Descriptor) {
    let Ok(f) = dir.open_at(FOLLOW, "streamed", O::CREATE | O::TRUNCATE, RW) else {
        return r.check("open-at", "failed", "ok");
    };
    let Ok(w) = f.write_via_stream(0) else { return r.check("write-via-stream", "failed", "ok") };
    r.check(
        "write-via-stream check-write",
        format!("{}", w.check_write().is_ok_and(|n| n > 0)),
        "true",
    );
    r.check("write-via-stream write", st(w.write(b"abc")), "ok ()");
    w.subscribe().block();
    r.check(
        "write-via-stream check-write again",
        format!("{}", w.check_write().is_ok_and(|n| n > 0)),
        "true",
    );
    r.check("write-via-stream write 0 bytes", st(w.write(b"")), "ok ()");
    r.check("write-via-stream blocking-flush", st(w.blocking_flush()), "ok ()");
    r.check("write-via-stream write-zeroes", st(w.blocking_write_zeroes_and_flush(2)), "ok ()");
    drop(w);
    let past = f.write_via_stream(100).map_err(|_| ());
    let wrote = past.map(|w| w.blocking_write_and_flush(b"end").is_ok());
    r.check("write-via-stream past the end", format!("{wrote:?}"), "Ok(true)");
    let append = f.append_via_stream();
    r.check("append-via-stream", out(append.as_ref().map_err(|e| *e)), "ok");
    if let Ok(a) = append {
        r.check("append-via-stream write", st(a.blocking_write_and_flush(b"+1")), "ok ()");
        a.subscribe().block();
        r.check("append-via-stream write again", st(a.blocking_write_and_flush(b"+2")), "ok ()");
    }
    r.check("stat after streams", val(f.stat().map(|s| s.size)), "ok 107");
    let Ok(input) = f.read_via_stream(0) else { return r.check("read-via-stream", "failed", "ok") };
    r.check("read-via-stream blocking-read", st(input.blocking_read(3)), "ok [97, 98, 99]");
    r.check("read-via-stream read 0 bytes", st(input.read(0)), "ok []");
    r.check("read-via-stream skip", st(input.blocking_skip(2)), "ok 2");
    let Ok(copy) = dir.open_at(FOLLOW, "copy", O::CREATE, RW) else {
        return r.check("open-at", "failed", "ok");
    };
    let Ok(sink) = copy.write_via_stream(0) else {
        return r.check("write-via-stream", "failed", "ok");
    };
    r.check("blocking-splice", st(sink.blocking_splice(&input, 95)), "ok 95");
    input.subscribe().block();
    r.check("splice", st(sink.splice(&input, 100)), "ok 7");
    r.check("blocking-splice at the end", st(sink.blocking_splice(&input, 100)), "closed");
    r.check("blocking-flush the copy", st(sink.blocking_flush()), "ok ()");
    drop(sink);
    r.check("stat of the copy", val(copy.stat().map(|s| s.size)), "ok 102");
    let past = f.read_via_stream(1_000).map_err(|_| ());
    r.check(
        "read-via-stream past the end",
        format!("{:?}", past.map(|s| st(s.blocking_read(4)))),
        "Ok(\"closed\")",
    );
}

/// Descriptor flags at open: each sync flag, read-only, and what a read-only one refuses.
fn flags(r: &mut Report, dir: &Descriptor) {
    for (name, flag) in [
        ("file-integrity-sync", F::FILE_INTEGRITY_SYNC),
        ("data-integrity-sync", F::DATA_INTEGRITY_SYNC),
        ("requested-write-sync", F::REQUESTED_WRITE_SYNC),
    ] {
        // wasmtime 48 refuses them (cap-std cannot pass them on), before any system call.
        r.check(
            &format!("open-at {name}"),
            out(dir.open_at(FOLLOW, "synced", O::CREATE, RW | flag)),
            "unsupported",
        );
    }
    let Ok(f) = dir.open_at(FOLLOW, "synced", O::CREATE, RW) else {
        return r.check("open-at", "failed", "ok");
    };
    r.check("write synced", val(f.write(b"x", 0)), "ok 1");
    let Ok(ro) = dir.open_at(FOLLOW, "synced", O::empty(), F::READ) else {
        return r.check("open-at", "failed", "ok");
    };
    r.check("write read-only", val(ro.write(b"x", 0)), "bad-descriptor");
    r.check("set-size read-only", out(ro.set_size(0)), "invalid");
    // The stream is made; its writes would fail.
    r.check("append-via-stream read-only", out(ro.append_via_stream()), "ok");
    let Ok(view) = dir.open_at(FOLLOW, ".", O::DIRECTORY, F::READ) else {
        return r.check("open-at", "failed", "ok");
    };
    r.check("open-at directory read-only", "ok", "ok");
    // wasmtime checks the granted directory's permissions, not this descriptor's flags.
    r.check(
        "create in a read-only directory",
        out(view.open_at(FOLLOW, "new", O::CREATE, RW)),
        "ok",
    );
    r.check("unlink-file-at in it", out(view.unlink_file_at("new")), "ok");
    r.check(
        "open-at create directory flag",
        out(dir.open_at(FOLLOW, "d0", O::CREATE | O::DIRECTORY, RW)),
        "invalid",
    );
}

/// Timestamps of descriptors and paths: explicit, now, unchanged; following a symlink or not.
fn times(r: &mut Report, dir: &Descriptor) {
    let Ok(f) = dir.open_at(FOLLOW, "timed", O::CREATE, RW) else {
        return r.check("open-at", "failed", "ok");
    };
    let at = wall_clock::Datetime { seconds: 1_000_000_000, nanoseconds: 5 };
    let set = f.set_times(NewTimestamp::Timestamp(at), NewTimestamp::Timestamp(at));
    r.check("set-times", out(set), "ok");
    let mtime = f.stat().map(|s| s.data_modification_timestamp.map(|t| (t.seconds, t.nanoseconds)));
    r.check("stat mtime", val(mtime), "ok Some((1000000000, 5))");
    r.check("set-times now", out(f.set_times(NewTimestamp::Now, NewTimestamp::Now)), "ok");
    r.check(
        "set-times no-change",
        out(f.set_times(NewTimestamp::NoChange, NewTimestamp::Timestamp(at))),
        "ok",
    );
    let atime =
        f.stat().map(|s| s.data_access_timestamp.is_some_and(|t| t.seconds > 1_000_000_000));
    r.check("stat atime after now", val(atime), "ok true");
    r.check("symlink-at", out(dir.symlink_at("timed", "timed-link")), "ok");
    let ts = NewTimestamp::Timestamp(at);
    r.check("set-times-at", out(dir.set_times_at(FOLLOW, "timed-link", ts, ts)), "ok");
    r.check("set-times-at nofollow", out(dir.set_times_at(NOFOLLOW, "timed-link", ts, ts)), "ok");
    r.check(
        "set-times-at now",
        out(dir.set_times_at(FOLLOW, "timed", NewTimestamp::Now, NewTimestamp::NoChange)),
        "ok",
    );
    let kind = |flags| dir.stat_at(flags, "timed-link").map(|s| s.type_);
    r.check("stat-at", val(kind(FOLLOW)), "ok DescriptorType::RegularFile");
    r.check("stat-at nofollow", val(kind(NOFOLLOW)), "ok DescriptorType::SymbolicLink");
    r.check("metadata-hash-at", out(dir.metadata_hash_at(NOFOLLOW, "timed-link")), "ok");
    r.check("stat-at missing", out(dir.stat_at(FOLLOW, "missing")), "no-entry");
}

/// Directories, links, renames, removals, and paths that try to leave the directory.
fn paths(r: &mut Report, dir: &Descriptor) {
    r.check("create-directory-at", out(dir.create_directory_at("sub")), "ok");
    r.check("create-directory-at again", out(dir.create_directory_at("sub")), "exist");
    let sub = dir.open_at(FOLLOW, "sub", O::DIRECTORY, F::READ | F::MUTATE_DIRECTORY);
    r.check("open-at directory", out(sub.as_ref().map_err(|e| *e)), "ok");
    if let Ok(sub) = sub {
        r.check("get-type directory", val(sub.get_type()), "ok DescriptorType::Directory");
        r.check("sync directory", out(sub.sync()), "ok");
        r.check("open-at in it", out(sub.open_at(FOLLOW, "inner", O::CREATE, RW)), "ok");
        r.check("read on a directory", out(sub.read(1, 0)), "bad-descriptor");
    }
    r.check(
        "open-at exclusive existing",
        out(dir.open_at(FOLLOW, "file", O::CREATE | O::EXCLUSIVE, RW)),
        "exist",
    );
    r.check(
        "open-at file as directory",
        out(dir.open_at(FOLLOW, "file", O::DIRECTORY, F::READ)),
        "not-directory",
    );
    r.check(
        "open-at outside",
        out(dir.open_at(FOLLOW, "../outside", O::CREATE, RW)),
        "not-permitted",
    );
    r.check(
        "open-at absolute",
        out(dir.open_at(FOLLOW, "/etc/passwd", O::empty(), F::READ)),
        "not-permitted",
    );
    r.check("symlink-at absolute", out(dir.symlink_at("/etc/passwd", "abs")), "not-permitted");
    r.check("symlink-at outside", out(dir.symlink_at("../outside", "escape")), "ok");
    r.check(
        "open-at through it",
        out(dir.open_at(FOLLOW, "escape", O::empty(), F::READ)),
        "not-permitted",
    );
    r.check("readlink-at", val(dir.readlink_at("escape")), "ok \"../outside\"");
    r.check("readlink-at not a link", out(dir.readlink_at("file")), "invalid");
    r.check("link-at", out(dir.link_at(NOFOLLOW, "file", dir, "file-hard")), "ok");
    r.check("stat link-count", val(dir.stat_at(NOFOLLOW, "file").map(|s| s.link_count)), "ok 2");
    r.check("link-at follow", out(dir.link_at(FOLLOW, "timed-link", dir, "hard2")), "invalid");
    r.check("link-at over existing", out(dir.link_at(NOFOLLOW, "file", dir, "copy")), "exist");
    r.check("rename-at", out(dir.rename_at("file-hard", dir, "renamed")), "ok");
    r.check("rename-at over existing", out(dir.rename_at("renamed", dir, "copy")), "ok");
    r.check("rename-at directory", out(dir.rename_at("sub", dir, "sub2")), "ok");
    r.check("rename-at missing", out(dir.rename_at("missing", dir, "x")), "no-entry");
    r.check("remove-directory-at not empty", out(dir.remove_directory_at("sub2")), "not-empty");
    r.check("unlink-file-at", out(dir.unlink_file_at("sub2/inner")), "ok");
    r.check("remove-directory-at", out(dir.remove_directory_at("sub2")), "ok");
    r.check("unlink-file-at symlink", out(dir.unlink_file_at("escape")), "ok");
    r.check("create-directory-at d", out(dir.create_directory_at("d")), "ok");
    r.check("unlink-file-at directory", out(dir.unlink_file_at("d")), "is-directory");
    r.check("remove-directory-at file", out(dir.remove_directory_at("copy")), "not-directory");
    r.check("unlink-file-at missing", out(dir.unlink_file_at("missing")), "no-entry");
}

/// A directory listing past one page of the host's directory reads.
fn listing(r: &mut Report, dir: &Descriptor) {
    let Ok(d) = dir.open_at(FOLLOW, "d", O::DIRECTORY, F::READ | F::MUTATE_DIRECTORY) else {
        return r.check("open-at", "failed", "ok");
    };
    let made =
        (0..MANY).filter(|&i| d.open_at(FOLLOW, &many_name(i), O::CREATE, RW).is_ok()).count();
    r.check("open-at many", format!("{made}"), &MANY.to_string());
    let Ok(entries) = d.read_directory() else { return r.check("read-directory", "failed", "ok") };
    let mut names = 0;
    loop {
        match entries.read_directory_entry() {
            Ok(Some(entry)) if entry.type_ == DescriptorType::RegularFile => names += 1,
            Ok(Some(_)) => return r.check("read-directory-entry", "not a file", "a file"),
            Ok(None) => break,
            Err(e) => return r.check("read-directory-entry", e.name(), "ok"),
        }
    }
    r.check("read-directory-entry entries", format!("{names}"), &MANY.to_string());
    r.check(
        "read-directory-entry at the end",
        val(entries.read_directory_entry().map(|e| e.is_some())),
        "ok false",
    );
    let removed = (0..MANY).filter(|&i| d.unlink_file_at(&many_name(i)).is_ok()).count();
    r.check("unlink-file-at many", format!("{removed}"), &MANY.to_string());
    r.check("remove-directory-at emptied", out(dir.remove_directory_at("d")), "ok");
}
