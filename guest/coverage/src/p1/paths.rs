//! Preview 1 on paths: sizes and timestamps, directories, links, renames, removals, escapes,
//! and a listing past one page of the host's directory reads.

use wasi::*;

use super::{FOLLOW, NOFOLLOW, open, open_dir, out, read, text, val};
use crate::{MANY, Report, many_name};

/// Sizes and timestamps of descriptors and paths, with and without following a symlink.
pub(super) fn times_and_sizes(r: &mut Report, dir: Fd) {
    let Ok(f) = open(dir, "sized", OFLAGS_CREAT, 0) else {
        return r.check("path_open", "failed", "ok");
    };
    r.check("fd_filestat_set_size grow", out(unsafe { fd_filestat_set_size(f, 10_000) }), "ok");
    r.check("fd_filestat_set_size shrink", out(unsafe { fd_filestat_set_size(f, 3) }), "ok");
    let size = unsafe { fd_filestat_get(f) }.map(|s| s.size);
    r.check("fd_filestat_get after set_size", val(size), "ok 3");
    let at = 1_000_000_000_000_000_000; // 2001-09-09, in ns
    let both = FSTFLAGS_ATIM | FSTFLAGS_MTIM;
    r.check("fd_filestat_set_times", out(unsafe { fd_filestat_set_times(f, at, at, both) }), "ok");
    let mtim = unsafe { fd_filestat_get(f) }.map(|s| s.mtim);
    r.check("fd_filestat_get mtim", val(mtim), &format!("ok {at}"));
    let now = FSTFLAGS_ATIM_NOW | FSTFLAGS_MTIM_NOW;
    r.check("fd_filestat_set_times now", out(unsafe { fd_filestat_set_times(f, 0, 0, now) }), "ok");
    let mtim = unsafe { fd_filestat_get(f) }.map(|s| s.mtim > at);
    r.check("fd_filestat_get mtim after now", val(mtim), "ok true");
    let atim = FSTFLAGS_ATIM;
    r.check(
        "fd_filestat_set_times atim only",
        out(unsafe { fd_filestat_set_times(f, at, 0, atim) }),
        "ok",
    );
    let bad = FSTFLAGS_ATIM | FSTFLAGS_ATIM_NOW;
    r.check(
        "fd_filestat_set_times atim and now",
        out(unsafe { fd_filestat_set_times(f, at, 0, bad) }),
        "INVAL",
    );
    unsafe { fd_close(f).ok() };
    r.check("path_symlink", out(unsafe { path_symlink("sized", dir, "sized-link") }), "ok");
    let set = |flags, path| unsafe { path_filestat_set_times(dir, flags, path, at, at, both) };
    r.check("path_filestat_set_times", out(set(FOLLOW, "sized-link")), "ok");
    r.check("path_filestat_set_times nofollow", out(set(NOFOLLOW, "sized-link")), "ok");
    let now_set = unsafe { path_filestat_set_times(dir, FOLLOW, "sized", 0, 0, now) };
    r.check("path_filestat_set_times now", out(now_set), "ok");
    let stat = |flags, path| unsafe { path_filestat_get(dir, flags, path) };
    r.check(
        "path_filestat_get",
        val(stat(FOLLOW, "sized-link").map(|s| s.filetype.name())),
        "ok REGULAR_FILE",
    );
    let link = stat(NOFOLLOW, "sized-link").map(|s| s.filetype.name());
    r.check("path_filestat_get nofollow", val(link), "ok SYMBOLIC_LINK");
    r.check("path_filestat_get missing", out(stat(FOLLOW, "missing")), "NOENT");
}

/// Directories, links, renames, removals, and paths that try to leave the directory.
pub(super) fn paths(r: &mut Report, dir: Fd) {
    unsafe {
        r.check("path_create_directory", out(path_create_directory(dir, "sub")), "ok");
        r.check("path_create_directory again", out(path_create_directory(dir, "sub")), "EXIST");
        let sub = open_dir(dir, "sub");
        r.check("path_open directory", out(sub), "ok");
        if let Ok(sub) = sub {
            let kind = fd_fdstat_get(sub).map(|s| s.fs_filetype.name());
            r.check("fd_fdstat_get directory", val(kind), "ok DIRECTORY");
            r.check("fd_sync directory", out(fd_sync(sub)), "BADF");
            r.check(
                "path_open in it",
                out(open(sub, "inner", OFLAGS_CREAT, 0).map(|f| fd_close(f))),
                "ok",
            );
            r.check("fd_read directory", text(read(sub, 8)), "BADF");
            fd_close(sub).ok();
        }
        r.check(
            "path_open excl existing",
            out(open(dir, "sized", OFLAGS_CREAT | OFLAGS_EXCL, 0)),
            "EXIST",
        );
        r.check(
            "path_open file as directory",
            out(open(dir, "sized", OFLAGS_DIRECTORY, 0)),
            "NOTDIR",
        );
        r.check("path_open missing", out(open(dir, "missing", 0, 0)), "NOENT");
        r.check("path_open outside", out(open(dir, "../outside", OFLAGS_CREAT, 0)), "PERM");
        r.check("path_open absolute", out(open(dir, "/etc/passwd", 0, 0)), "PERM");
        r.check("path_symlink absolute", out(path_symlink("/etc/passwd", dir, "abs")), "PERM");
        r.check("path_symlink outside", out(path_symlink("../outside", dir, "escape")), "ok");
        r.check("path_open through it", out(open(dir, "escape", 0, 0)), "PERM");
        let mut buf = [0u8; 64];
        let n = path_readlink(dir, "escape", buf.as_mut_ptr(), buf.len());
        r.check("path_readlink", val(n), "ok 10");
        r.check("path_readlink data", String::from_utf8_lossy(&buf[..10]), "../outside");
        r.check(
            "path_readlink not a link",
            out(path_readlink(dir, "sized", buf.as_mut_ptr(), 64)),
            "INVAL",
        );
        r.check("path_link", out(path_link(dir, 0, "sized", dir, "sized-hard")), "ok");
        let links = path_filestat_get(dir, NOFOLLOW, "sized").map(|s| s.nlink);
        r.check("path_filestat_get nlink", val(links), "ok 2");
        r.check(
            "path_link follow",
            out(path_link(dir, FOLLOW, "sized-link", dir, "hard2")),
            "INVAL",
        );
        r.check("path_link over existing", out(path_link(dir, 0, "sized", dir, "file")), "EXIST");
        r.check("path_rename", out(path_rename(dir, "sized-hard", dir, "renamed")), "ok");
        r.check("path_rename over existing", out(path_rename(dir, "renamed", dir, "file")), "ok");
        r.check("path_rename directory", out(path_rename(dir, "sub", dir, "sub2")), "ok");
        r.check("path_rename missing", out(path_rename(dir, "missing", dir, "x")), "NOENT");
        r.check(
            "path_remove_directory not empty",
            out(path_remove_directory(dir, "sub2")),
            "NOTEMPTY",
        );
        r.check("path_unlink_file", out(path_unlink_file(dir, "sub2/inner")), "ok");
        r.check("path_remove_directory", out(path_remove_directory(dir, "sub2")), "ok");
        r.check("path_unlink_file symlink", out(path_unlink_file(dir, "escape")), "ok");
        r.check(
            "path_unlink_file directory",
            out(path_create_directory(dir, "d").and(path_unlink_file(dir, "d"))),
            "ISDIR",
        );
        r.check("path_remove_directory file", out(path_remove_directory(dir, "file")), "NOTDIR");
        r.check("path_unlink_file missing", out(path_unlink_file(dir, "missing")), "NOENT");
    }
}

/// A directory listing past one page of the host's directory reads, cookie by cookie.
pub(super) fn listing(r: &mut Report, dir: Fd) {
    let Ok(d) = open_dir(dir, "d") else { return r.check("path_open", "failed", "ok") };
    let mut made = 0;
    for i in 0..MANY {
        if let Ok(f) = open(d, &many_name(i), OFLAGS_CREAT, 0) {
            made += 1;
            unsafe { fd_close(f).ok() };
        }
    }
    r.check("path_open many", format!("{made}"), &MANY.to_string());
    let (mut cookie, mut names, mut reads) = (0u64, 0usize, 0usize);
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok(used) = (unsafe { fd_readdir(d, buf.as_mut_ptr(), buf.len(), cookie) }) else {
            return r.check("fd_readdir", "failed", "ok");
        };
        reads += 1;
        let mut at = 0;
        while at + 24 <= used {
            let next = u64::from_le_bytes(buf[at..at + 8].try_into().unwrap());
            let len = u32::from_le_bytes(buf[at + 16..at + 20].try_into().unwrap()) as usize;
            if at + 24 + len > used {
                break; // cut at the buffer's end: read again from this entry's cookie
            }
            (cookie, names, at) = (next, names + 1, at + 24 + len);
        }
        if used < buf.len() {
            break;
        }
    }
    r.check("fd_readdir entries", format!("{names}"), &(MANY + 2).to_string());
    r.check("fd_readdir several reads", format!("{}", reads > 10), "true");
    let past = unsafe { fd_readdir(d, buf.as_mut_ptr(), buf.len(), cookie) };
    r.check("fd_readdir past the end", val(past), "ok 0");
    let removed =
        (0..MANY).filter(|&i| unsafe { path_unlink_file(d, &many_name(i)) }.is_ok()).count();
    r.check("path_unlink_file many", format!("{removed}"), &MANY.to_string());
    unsafe { fd_close(d).ok() };
    r.check("path_remove_directory emptied", out(unsafe { path_remove_directory(dir, "d") }), "ok");
}
