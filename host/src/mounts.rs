//! The directories a service lets its jobs use (`serve --mount NAME=DIR[:ro]`): a job asks
//! for one by name and says where its guest finds it, never by a path of the host's, so an
//! API caller can reach only what the operator declared. Checked by name at submission (the
//! API) and turned into the worker's grants when an attempt starts (the dispatcher).

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::job::DirGrant;
use crate::wire::Mount;
use wasmpool_protocol::validate::check_name;

/// One declared directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostMount {
    /// The directory, absolute and resolved.
    pub dir: PathBuf,
    /// Whether every job gets it read-only.
    pub read_only: bool,
}

/// Why a `--mount` was refused.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// Not `NAME=DIR` or `NAME=DIR:ro`, or a name the lane rule refuses.
    #[error("--mount `{0}`: {1}")]
    Spec(String, String),
    /// The directory cannot be used.
    #[error("--mount {name}: cannot use {dir}: {source}")]
    Dir {
        /// The mount's name.
        name: String,
        /// The directory as given.
        dir: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// Two mounts with one name.
    #[error("--mount {0} is given twice")]
    Twice(String),
}

/// The service's declared directories, by name.
#[derive(Clone, Debug, Default)]
pub struct Mounts(BTreeMap<String, HostMount>);

impl Mounts {
    /// The mounts `serve --mount` gave, each `NAME=DIR` or `NAME=DIR:ro`; every directory
    /// must exist (resolved now, so a later rename of a link changes nothing).
    pub fn from_specs(specs: &[String]) -> Result<Mounts, MountError> {
        let mut mounts = BTreeMap::new();
        for spec in specs {
            let (name, mount) = parse(spec)?;
            if mounts.insert(name.clone(), mount).is_some() {
                return Err(MountError::Twice(name));
            }
        }
        Ok(Mounts(mounts))
    }

    /// The names declared, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// The first of `wanted` this service does not declare, as a sentence for a refusal.
    pub fn missing(&self, wanted: &[Mount]) -> Option<String> {
        let unknown = wanted.iter().find(|mount| !self.0.contains_key(&mount.name))?;
        Some(if self.0.is_empty() {
            format!(
                "no mount `{}`: this service declares none (serve --mount NAME=DIR)",
                unknown.name
            )
        } else {
            let names: Vec<&str> = self.names().collect();
            format!("no mount `{}`; mounts: {}", unknown.name, names.join(", "))
        })
    }

    /// The grants a worker makes for `wanted`, or the sentence a job that asks for a mount
    /// this host lacks ends with.
    pub fn grants(&self, wanted: &[Mount]) -> Result<Vec<DirGrant>, String> {
        wanted
            .iter()
            .map(|mount| {
                let declared = self.0.get(&mount.name).ok_or_else(|| {
                    format!("this host declares no mount `{}` (serve --mount)", mount.name)
                })?;
                Ok(DirGrant {
                    host: declared.dir.clone(),
                    guest: mount.path.clone(),
                    read_only: declared.read_only || mount.read_only,
                })
            })
            .collect()
    }
}

/// `NAME=DIR` or `NAME=DIR:ro`.
fn parse(spec: &str) -> Result<(String, HostMount), MountError> {
    let refuse = |why: &str| MountError::Spec(spec.to_string(), why.to_string());
    let (name, rest) = spec.split_once('=').ok_or_else(|| refuse("expected NAME=DIR[:ro]"))?;
    check_name("mount", name).map_err(|e| refuse(&e.0))?;
    let (dir, read_only) = match rest.strip_suffix(":ro") {
        Some(dir) => (dir, true),
        None => (rest, false),
    };
    if dir.is_empty() {
        return Err(refuse("expected NAME=DIR[:ro]"));
    }
    let resolved = std::fs::canonicalize(dir)
        .and_then(|path| match path.is_dir() {
            true => Ok(path),
            false => Err(std::io::Error::other("not a directory")),
        })
        .map_err(|source| MountError::Dir {
            name: name.to_string(),
            dir: dir.to_string(),
            source,
        })?;
    Ok((name.to_string(), HostMount { dir: resolved, read_only }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(name: &str, path: &str) -> Mount {
        Mount { name: name.into(), path: path.into(), read_only: false }
    }

    #[test]
    fn specs_are_named_existing_directories() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().display().to_string();
        let mounts = Mounts::from_specs(&[format!("data={path}:ro")]).unwrap();
        let declared = &mounts.0["data"];
        assert!(declared.read_only);
        assert_eq!(declared.dir, dir.path().canonicalize().unwrap());
        for bad in ["data", "=x", "bad name=/tmp", "data=", "x=/no/such/dir"] {
            assert!(Mounts::from_specs(&[bad.to_string()]).is_err(), "{bad}");
        }
        let twice = [format!("a={path}"), format!("a={path}")];
        assert!(matches!(Mounts::from_specs(&twice), Err(MountError::Twice(_))));
    }

    #[test]
    fn grants_keep_a_declared_read_only_and_name_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().display().to_string();
        let mounts = Mounts::from_specs(&[format!("ro={path}:ro"), format!("rw={path}")]).unwrap();
        let grants = mounts.grants(&[mount("ro", "/in"), mount("rw", "/out")]).unwrap();
        assert_eq!((grants[0].read_only, grants[1].read_only), (true, false));
        assert_eq!(grants[1].guest, "/out");
        assert!(mounts.grants(&[mount("nope", "/x")]).unwrap_err().contains("`nope`"));
        assert_eq!(mounts.missing(&[mount("rw", "/x")]), None);
        assert!(mounts.missing(&[mount("nope", "/x")]).unwrap().contains("mounts: ro, rw"));
        assert!(Mounts::default().missing(&[mount("a", "/x")]).unwrap().contains("declares none"));
    }
}
