//! Turning `.wasm` bytes into something a worker can run: recognise the kind, validate,
//! check it is a runnable WASI command or has functions to call (and describe them), compile, and keep the compiled artifact on disk
//! keyed by content hash and engine settings, so each module is compiled once.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{ExternType, Module};
use wasmtime_wasi::p2::bindings::CommandPre;

use super::engine::Flavor;
use super::state::{P1State, P2State};
use super::{Flavored, call};
use crate::call::Exports;
use crate::job::{ModuleKind, ModuleRef};

/// Why a module cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    /// The bytes are not WebAssembly at all.
    #[error("not a WebAssembly file: it does not start with the `\\0asm` magic bytes")]
    NotWasm,
    /// WebAssembly of a version or layer wasmtime does not run.
    #[error(
        "unsupported WebAssembly binary version {0:02x?}: expected a core module (01 00 00 00) or a component (0d 00 01 00)"
    )]
    UnknownVersion([u8; 4]),
    /// wasmtime refused to compile it.
    #[error("invalid WebAssembly: {0}")]
    Invalid(String),
    /// Valid, but not something wasmpool can run as a job.
    #[error("not runnable: {0}")]
    NotRunnable(String),
    /// Compiling it would take more memory or time than a compile may (see
    /// `compile_process.rs`).
    #[error("{0}")]
    TooCostly(String),
    /// Refused by the compile process, which said why.
    #[error("{0}")]
    Refused(String),
    /// A compiled artifact could not be written or read.
    #[error("compiled-module cache at {path}: {message}")]
    Cache {
        /// The file involved.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// A module ready to instantiate in a fresh store: imports resolved, exports looked up.
pub enum Prepared {
    /// A preview 1 core module: a command (`_start`) or a reactor whose functions are called.
    Module {
        /// Ready to instantiate.
        pre: wasmtime::InstancePre<P1State>,
        /// Whether it exports `_start`.
        command: bool,
    },
    /// A preview 2 component: a command, or one whose exported functions are called.
    Component {
        /// Ready to instantiate, for calls.
        pre: wasmtime::component::InstancePre<P2State>,
        /// The same as a command, when it exports `wasi:cli/run`.
        command: Option<CommandPre<P2State>>,
    },
}

/// Lowercase hex SHA-256 of the bytes: a module's identity.
pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Tells a core module from a component by the header, before any compiling.
pub fn detect_kind(bytes: &[u8]) -> Result<ModuleKind, ModuleError> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(ModuleError::NotWasm);
    }
    let version: [u8; 4] = bytes[4..8].try_into().expect("four bytes");
    match version {
        [0x01, 0x00, 0x00, 0x00] => Ok(ModuleKind::Module),
        [0x0d, 0x00, 0x01, 0x00] => Ok(ModuleKind::Component),
        other => Err(ModuleError::UnknownVersion(other)),
    }
}

/// Validates and compiles `.wasm` bytes, checks that they form a runnable command or have
/// functions to call, and returns the prepared instance factory together with the serialised
/// artifact and what the module exports.
pub fn compile(
    flavored: &Flavored,
    bytes: &[u8],
) -> Result<(Prepared, Vec<u8>, Exports), ModuleError> {
    let invalid = |e: wasmtime::Error| ModuleError::Invalid(format!("{e:#}"));
    let (prepared, artifact, exports) = match detect_kind(bytes)? {
        ModuleKind::Module => {
            let module = Module::new(&flavored.engine, bytes).map_err(invalid)?;
            let artifact = module.serialize().map_err(invalid)?;
            (prepare_module(flavored, &module)?, artifact, call::describe_module(&module))
        }
        ModuleKind::Component => {
            let component = Component::new(&flavored.engine, bytes).map_err(invalid)?;
            let artifact = component.serialize().map_err(invalid)?;
            let exports = call::describe_component(&flavored.engine, &component);
            (prepare_component(flavored, &component)?, artifact, exports)
        }
    };
    if !exports.command && exports.functions.is_empty() {
        return Err(ModuleError::NotRunnable(
            "it is neither a WASI command (`_start` for preview 1, `wasi:cli/run` for \
             preview 2) nor exports any function to call"
                .into(),
        ));
    }
    Ok((prepared, artifact, exports))
}

/// What an artifact written by [`ArtifactCache::compile`] exports, read from the artifact.
pub fn describe(
    flavored: &Flavored,
    kind: ModuleKind,
    path: &Path,
) -> Result<Exports, ModuleError> {
    Ok(match deserialize(flavored, kind, path)? {
        Artifact::Module(module) => call::describe_module(&module),
        Artifact::Component(component) => call::describe_component(&flavored.engine, &component),
    })
}

/// Loads an artifact written by [`ArtifactCache::compile`] and prepares it.
pub fn load(flavored: &Flavored, kind: ModuleKind, path: &Path) -> Result<Prepared, ModuleError> {
    match deserialize(flavored, kind, path)? {
        Artifact::Module(module) => prepare_module(flavored, &module),
        Artifact::Component(component) => prepare_component(flavored, &component),
    }
}

/// A compiled module or component, as read back from the cache.
enum Artifact {
    Module(Module),
    Component(Component),
}

fn deserialize(
    flavored: &Flavored,
    kind: ModuleKind,
    path: &Path,
) -> Result<Artifact, ModuleError> {
    let cache_error = |e: wasmtime::Error| ModuleError::Cache {
        path: path.to_path_buf(),
        message: format!("{e:#}"),
    };
    // SAFETY: artifacts are only ever written by `ArtifactCache`, from modules this binary
    // compiled, into the operator's own cache directory; deserialising them trusts that
    // directory exactly as the binary itself is trusted.
    #[allow(unsafe_code)]
    Ok(match kind {
        ModuleKind::Module => Artifact::Module(
            unsafe { Module::deserialize_file(&flavored.engine, path) }.map_err(cache_error)?,
        ),
        ModuleKind::Component => Artifact::Component(
            unsafe { Component::deserialize_file(&flavored.engine, path) }.map_err(cache_error)?,
        ),
    })
}

fn prepare_module(flavored: &Flavored, module: &Module) -> Result<Prepared, ModuleError> {
    let command = match module.get_export("_start") {
        Some(ExternType::Func(ty)) if ty.params().len() == 0 && ty.results().len() == 0 => true,
        Some(_) => {
            return Err(ModuleError::NotRunnable(
                "`_start` is exported but is not a function taking and returning nothing".into(),
            ));
        }
        // A reactor or a library: its functions can be called.
        None => false,
    };
    let pre = flavored
        .p1
        .instantiate_pre(module)
        .map_err(|e| ModuleError::NotRunnable(format!("{e:#}")))?;
    Ok(Prepared::Module { pre, command })
}

fn prepare_component(flavored: &Flavored, component: &Component) -> Result<Prepared, ModuleError> {
    let pre = flavored
        .p2
        .instantiate_pre(component)
        .map_err(|e| ModuleError::NotRunnable(format!("{e:#}")))?;
    // Without `wasi:cli/run` it is not a command; its exported functions can be called.
    let command = CommandPre::new(pre.clone()).ok();
    Ok(Prepared::Component { pre, command })
}

/// The on-disk cache of compiled artifacts: `<dir>/<sha256>-<engine tag>.cwasm`.
#[derive(Clone, Debug)]
pub struct ArtifactCache {
    dir: PathBuf,
}

impl ArtifactCache {
    /// A cache in `dir` (created on first write). A relative `dir` is taken from the current
    /// directory now: workers, which run elsewhere, get absolute artifact paths.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        ArtifactCache { dir: std::path::absolute(&dir).unwrap_or(dir) }
    }

    /// Where a module's artifact for an engine flavour lives.
    pub fn path(&self, hash: &str, tag: &str) -> PathBuf {
        self.dir.join(format!("{hash}-{tag}.cwasm"))
    }

    /// Returns the module's reference, compiling and storing it unless an artifact for these
    /// bytes and engine settings is already there.
    pub fn compile(
        &self,
        flavored: &Flavored,
        flavor: Flavor,
        bytes: &[u8],
    ) -> Result<(ModuleRef, Exports), ModuleError> {
        let kind = detect_kind(bytes)?;
        let hash = content_hash(bytes);
        let artifact = self.path(&hash, &flavored.tag);
        let exports = if artifact.exists() {
            describe(flavored, kind, &artifact)?
        } else {
            let (_, serialized, exports) = compile(flavored, bytes)?;
            self.write_atomically(&artifact, &serialized)?;
            tracing::debug!(%hash, ?flavor, path = %artifact.display(), "compiled module");
            exports
        };
        Ok((ModuleRef { hash, kind, artifact }, exports))
    }

    /// Writes through a temporary file and a rename, so a reader never sees half an artifact
    /// even when several processes compile the same module at once.
    fn write_atomically(&self, path: &Path, bytes: &[u8]) -> Result<(), ModuleError> {
        let cache_error = |e: std::io::Error| ModuleError::Cache {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        std::fs::create_dir_all(&self.dir).map_err(cache_error)?;
        let mut temp = tempfile::NamedTempFile::new_in(&self.dir).map_err(cache_error)?;
        temp.write_all(bytes).map_err(cache_error)?;
        temp.persist(path).map_err(|e| cache_error(e.error))?;
        Ok(())
    }
}
