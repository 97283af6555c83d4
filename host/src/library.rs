//! The service's module library: `.wasm` files kept by hash in the data directory, validated
//! and compiled on upload, recorded in the store, and turned into a worker-ready
//! [`ModuleRef`] (compiling again only if the cached artifact is missing).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::compile_process::CompileProcesses;
use crate::job::{ModuleKind, ModuleRef};
use crate::sandbox::{Compiler, Flavor, ModuleError, content_hash, detect_kind};
use crate::store::{ModuleRecord, Store, StoreError};

/// Why an upload or a module lookup failed.
#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    /// The bytes are not a runnable WASI program.
    #[error(transparent)]
    Module(#[from] ModuleError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Reading or writing the module file failed.
    #[error("module file {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Modules on disk and in the store.
pub struct Library {
    dir: PathBuf,
    compiler: Arc<Compiler>,
    /// Where uploads are validated and compiled: processes of their own, under limits.
    compiles: CompileProcesses,
    store: Store,
    /// Worker-ready references already worked out, so a job costs no lookup.
    ready: Mutex<HashMap<(String, Flavor), ModuleRef>>,
}

impl Library {
    /// A library keeping `.wasm` files in `dir` and compiled artifacts in `cache_dir`,
    /// compiling in processes started by `compiles`.
    pub fn new(
        dir: PathBuf,
        cache_dir: &Path,
        store: Store,
        compiles: CompileProcesses,
    ) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(Library {
            dir,
            compiler: Arc::new(Compiler::new(cache_dir)),
            compiles,
            store,
            ready: Mutex::default(),
        })
    }

    fn path(&self, hash: &str) -> PathBuf {
        self.dir.join(format!("{hash}.wasm"))
    }

    /// Validates, compiles and stores an upload. Returns the module and whether it was new.
    pub async fn upload(
        &self,
        bytes: Vec<u8>,
        name: Option<String>,
    ) -> Result<(ModuleRecord, bool), LibraryError> {
        let kind = detect_kind(&bytes)?;
        let hash = content_hash(&bytes);
        let path = self.path(&hash);
        let exports = self.compiles.compile(&bytes, Flavor::Plain).await?;
        if !path.exists() {
            write_atomically(&path, &bytes)
                .map_err(|source| LibraryError::File { path: path.clone(), source })?;
        }
        // What it exports is kept with it: submissions of calls are checked against it
        // without compiling (on any host of a cluster).
        let exports = serde_json::to_string(&exports).expect("exports serialise");
        Ok(self.store.put_module_with(hash, kind, &bytes, name, Some(exports)).await?)
    }

    /// Deletes a module's record and file (refused while queued or running jobs use it).
    pub async fn delete(&self, hash: &str) -> Result<(), LibraryError> {
        self.store.delete_module(hash.to_string()).await?;
        self.ready.lock().expect("library lock").retain(|(known, _), _| known != hash);
        let _ = std::fs::remove_file(self.path(hash));
        Ok(())
    }

    /// The module ready to run if it is in memory already: no file, no compile, no wait.
    pub fn module_ref_now(&self, hash: &str, fuel: Option<u64>) -> Option<ModuleRef> {
        let key = (hash.to_string(), Flavor::for_fuel(fuel));
        self.ready.lock().expect("library lock").get(&key).cloned()
    }

    /// What a worker needs to run the module with the given fuel setting.
    pub async fn module_ref(
        &self,
        hash: &str,
        fuel: Option<u64>,
    ) -> Result<ModuleRef, LibraryError> {
        let flavor = Flavor::for_fuel(fuel);
        let key = (hash.to_string(), flavor);
        if let Some(known) = self.ready.lock().expect("library lock").get(&key) {
            return Ok(known.clone());
        }
        let module = self.find_or_compile(hash, flavor).await?;
        self.ready.lock().expect("library lock").insert(key, module.clone());
        Ok(module)
    }

    async fn find_or_compile(&self, hash: &str, flavor: Flavor) -> Result<ModuleRef, LibraryError> {
        if let Some(artifact) = self.compiler.cached(hash, flavor) {
            let kind = self.kind(hash).await?;
            return Ok(ModuleRef { hash: hash.to_string(), kind, artifact });
        }
        let path = self.path(hash);
        let bytes = match path.exists() {
            true => tokio::fs::read(&path)
                .await
                .map_err(|source| LibraryError::File { path: path.clone(), source })?,
            // A module uploaded through another host of the cluster: fetch its bytes once.
            false => {
                let bytes = self.store.module_bytes(hash).await?.ok_or_else(|| {
                    LibraryError::Store(StoreError::UnknownModule(hash.to_string()))
                })?;
                write_atomically(&path, &bytes)
                    .map_err(|source| LibraryError::File { path: path.clone(), source })?;
                bytes
            }
        };
        self.compiles.compile(&bytes, flavor).await?;
        let artifact = self.compiler.cached(hash, flavor).ok_or_else(|| {
            LibraryError::Module(crate::sandbox::ModuleError::Cache {
                path: path.clone(),
                message: "the compiler wrote no artifact".into(),
            })
        })?;
        Ok(ModuleRef { hash: hash.to_string(), kind: detect_kind(&bytes)?, artifact })
    }

    async fn kind(&self, hash: &str) -> Result<ModuleKind, LibraryError> {
        match self.store.module(hash).await? {
            Some(module) => Ok(module.kind),
            None => Err(StoreError::UnknownModule(hash.to_string()).into()),
        }
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    temp.write_all(bytes)?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
