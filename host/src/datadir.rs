//! The service's data directory, held exclusively and kept private.
//!
//! `wasmpool serve` keeps every job's args, env (secrets), stdin and output in its database,
//! and workers load compiled artifacts from the directory without re-validating them, so the
//! directory is created `0700` and the database files `0600`. Two serves on one directory
//! would each recover and run the other's jobs and share worker directories, so a serve holds
//! an exclusive `flock` on `<data>/lock` for as long as it runs. The kernel drops the lock
//! when the process dies, even by SIGKILL, so a stale lock never needs cleaning up; the lock
//! file is opened close-on-exec, so worker processes never hold it.

use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, Mode, flock};

/// The lock file's name inside the data directory.
pub const LOCK_FILE: &str = "lock";

/// The SQLite database's name inside the data directory.
pub const DATABASE_FILE: &str = "wasmpool.db";

/// What SQLite keeps beside the database: they hold the same rows, so they get its mode.
const DATABASE_SIDE_FILES: [&str; 3] = ["-wal", "-shm", "-journal"];

/// Entries `serve` makes in its data directory. A directory holding nothing else is ours to
/// tighten; one holding anything else (say `--data .` in a project, or `/var/lib`) is left
/// alone, because making someone else's directory private could break whatever else uses it.
const OWN_ENTRIES: [&str; 8] = [
    LOCK_FILE,
    DATABASE_FILE,
    "wasmpool.db-wal",
    "wasmpool.db-shm",
    "wasmpool.db-journal",
    "modules",
    "cache",
    "workers",
];

const PRIVATE_DIR: u32 = 0o700;
const PRIVATE_FILE: u32 = 0o600;

/// Why the data directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// Another process holds the directory's lock.
    #[error(
        "the data directory {} is in use by another wasmpool serve ({}); give each serve its own --data",
        path.display(),
        holder.map_or_else(|| "pid unknown".to_string(), |pid| format!("pid {pid}"))
    )]
    InUse {
        /// The directory, as given.
        path: PathBuf,
        /// The holder's pid, as it wrote it in the lock file (absent if it had not yet).
        holder: Option<u32>,
    },
    /// Creating, locking or securing a file or directory failed.
    #[error("data directory {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl DataDirError {
    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DataDirError + '_ {
        move |source| DataDirError::Io { path: path.to_path_buf(), source }
    }
}

/// A data directory this process holds exclusively until the value is dropped.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    // Never read: holding the open file is what holds the lock.
    _lock: File,
}

impl DataDir {
    /// Creates the directory `0700` (with any missing parents) or tightens an existing one
    /// that holds only wasmpool's files, then takes the lock, or fails with
    /// [`DataDirError::InUse`] at once if another process holds it.
    pub fn open(path: &Path) -> Result<DataDir, DataDirError> {
        let created = create_private_dir(path)?;
        let lock = lock(path)?;
        if !created {
            tighten_dir(path)?;
        }
        Ok(DataDir { path: path.to_path_buf(), _lock: lock })
    }

    /// The directory, as given to [`DataDir::open`].
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The SQLite database's path, the file made `0600` (created empty if missing: SQLite
    /// takes an empty file for a new database) together with any `-wal`, `-shm` or
    /// `-journal` beside it. Older versions left them `0644`, and SQLite gives the files it
    /// creates beside a database the database's own mode, so fixing the database fixes them.
    pub fn database(&self) -> Result<PathBuf, DataDirError> {
        let path = self.path.join(DATABASE_FILE);
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(PRIVATE_FILE)
            .open(&path)
            .map_err(DataDirError::io(&path))?;
        make_private_file(&path)?;
        for suffix in DATABASE_SIDE_FILES {
            let mut side = path.clone().into_os_string();
            side.push(suffix);
            let side = PathBuf::from(side);
            if side.exists() {
                make_private_file(&side)?;
            }
        }
        Ok(path)
    }
}

/// Sets the process's umask so that everything `serve` creates from now on (the database
/// and its side files, modules, artifacts, worker directories) is private to its user.
/// Process-wide and inherited by worker processes, which run as the same user and create
/// nothing that others need to read.
pub fn private_umask() {
    rustix::process::umask(Mode::from_bits_truncate(0o077));
}

/// Creates `path` `0700`; says whether this call created it.
fn create_private_dir(path: &Path) -> Result<bool, DataDirError> {
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(DataDirError::io(parent))?;
    }
    match DirBuilder::new().mode(PRIVATE_DIR).create(path) {
        Ok(()) => {
            // The umask may have taken bits off; none needed adding, but say so exactly.
            set_mode(path, PRIVATE_DIR)?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && path.is_dir() => Ok(false),
        Err(e) => Err(DataDirError::io(path)(e)),
    }
}

/// Takes the exclusive lock without waiting and writes our pid into the lock file.
fn lock(dir: &Path) -> Result<File, DataDirError> {
    let path = dir.join(LOCK_FILE);
    // Not truncated on open: until we hold the lock, the pid in it is the holder's.
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(PRIVATE_FILE)
        .open(&path)
        .map_err(DataDirError::io(&path))?;
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(rustix::io::Errno::WOULDBLOCK) => {
            return Err(DataDirError::InUse { path: dir.to_path_buf(), holder: holder(&mut file) });
        }
        Err(errno) => return Err(DataDirError::io(&path)(errno.into())),
    }
    let pid = std::process::id();
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{pid}"))
        .map_err(DataDirError::io(&path))?;
    make_private_file(&path)?;
    Ok(file)
}

/// The pid the lock's holder wrote, if it has yet.
fn holder(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// Tightens an existing directory open to group or others to `0700`, with a warning, if it
/// holds only wasmpool's own entries; otherwise only warns.
fn tighten_dir(path: &Path) -> Result<(), DataDirError> {
    let mode = mode(path)?;
    if mode & 0o077 == 0 {
        return Ok(());
    }
    let entries = std::fs::read_dir(path).map_err(DataDirError::io(path))?;
    let foreign = entries
        .filter_map(Result::ok)
        .any(|entry| !OWN_ENTRIES.iter().any(|own| entry.file_name() == *own));
    if foreign {
        tracing::warn!(
            "the data directory {} is open to others (mode {mode:o}) and holds files wasmpool did \
             not make, so it is left as it is; make it private (chmod 700) or use a directory \
             of its own",
            path.display()
        );
        return Ok(());
    }
    set_mode(path, PRIVATE_DIR)?;
    tracing::warn!(
        "the data directory {} was open to others (mode {mode:o}); made it private (700)",
        path.display()
    );
    Ok(())
}

/// Makes a file `0600` unless it already is.
fn make_private_file(path: &Path) -> Result<(), DataDirError> {
    if mode(path)? != PRIVATE_FILE {
        set_mode(path, PRIVATE_FILE)?;
    }
    Ok(())
}

fn mode(path: &Path) -> Result<u32, DataDirError> {
    let metadata = std::fs::metadata(path).map_err(DataDirError::io(path))?;
    Ok(metadata.permissions().mode() & 0o777)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), DataDirError> {
    std::fs::set_permissions(path, Permissions::from_mode(mode)).map_err(DataDirError::io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_open_of_a_held_directory_fails_naming_the_holder() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("data");
        let held = DataDir::open(&path).unwrap();
        match DataDir::open(&path) {
            Err(DataDirError::InUse { path: named, holder }) => {
                assert_eq!(named, path);
                assert_eq!(holder, Some(std::process::id()));
            }
            other => panic!("expected InUse, got {other:?}"),
        }
        drop(held);
        DataDir::open(&path).expect("the lock is free once the holder is dropped");
    }

    #[test]
    fn a_new_directory_and_its_database_are_private() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("a/b");
        let dir = DataDir::open(&path).unwrap();
        assert_eq!(mode(&path).unwrap(), 0o700);
        assert_eq!(mode(&path.join(LOCK_FILE)).unwrap(), 0o600);
        let db = dir.database().unwrap();
        assert_eq!(mode(&db).unwrap(), 0o600);
    }

    #[test]
    fn an_existing_directory_is_tightened_only_if_it_holds_nothing_foreign() {
        let temp = tempfile::tempdir().unwrap();
        let ours = temp.path().join("ours");
        std::fs::create_dir(&ours).unwrap();
        std::fs::write(ours.join(DATABASE_FILE), b"").unwrap();
        std::fs::write(ours.join("wasmpool.db-wal"), b"").unwrap();
        for path in [&ours, &ours.join(DATABASE_FILE), &ours.join("wasmpool.db-wal")] {
            set_mode(path, 0o755).unwrap();
        }
        let dir = DataDir::open(&ours).unwrap();
        dir.database().unwrap();
        assert_eq!(mode(&ours).unwrap(), 0o700);
        assert_eq!(mode(&ours.join(DATABASE_FILE)).unwrap(), 0o600);
        assert_eq!(mode(&ours.join("wasmpool.db-wal")).unwrap(), 0o600);

        let shared = temp.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::write(shared.join("notes.txt"), b"").unwrap();
        set_mode(&shared, 0o755).unwrap();
        DataDir::open(&shared).unwrap();
        assert_eq!(mode(&shared).unwrap(), 0o755, "a directory with others' files is left alone");
    }
}
