//! The checks of a job's mounts: names as lanes' are, guest paths absolute and distinct.

use super::{Refused, check_name, check_text};
use crate::wire::Mount;

/// Most directories one job may be granted.
pub const MAX_MOUNTS: usize = 16;
/// Longest guest path of a mount, in bytes.
pub const MAX_MOUNT_PATH: usize = 1024;

/// A job's mounts: at most [`MAX_MOUNTS`], names as lanes' are, paths absolute and distinct.
pub(super) fn check_mounts(mounts: &[Mount]) -> Result<(), Refused> {
    if mounts.len() > MAX_MOUNTS {
        return Err(Refused(format!(
            "{} mounts is more than the maximum of {MAX_MOUNTS}",
            mounts.len()
        )));
    }
    for (index, mount) in mounts.iter().enumerate() {
        check_name("mount", &mount.name)?;
        check_mount_path(&mount.path)?;
        if mounts[..index].iter().any(|earlier| earlier.path == mount.path) {
            return Err(Refused(format!("two mounts at `{}`", mount.path)));
        }
    }
    Ok(())
}

/// A guest path a directory is granted at: absolute, at most [`MAX_MOUNT_PATH`] bytes, no
/// NUL, and no `.` or `..` part (one place in the guest's tree, whatever it resolves).
pub fn check_mount_path(path: &str) -> Result<(), Refused> {
    check_text("mount path", path, MAX_MOUNT_PATH)?;
    if !path.starts_with('/') {
        return Err(Refused(format!("mount path `{path}` must be absolute (start with `/`)")));
    }
    if path.split('/').any(|part| part == "." || part == "..") {
        return Err(Refused(format!("mount path `{path}` must not have `.` or `..` parts")));
    }
    Ok(())
}
