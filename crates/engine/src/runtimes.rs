//! Which program serves which runtime id. Our own bootstraps (runtimes/python, runtimes/node) are
//! embedded in the binary and written to the data directory at start-up; `provided*` runtimes run
//! the function's own `bootstrap`.

use std::path::{Path, PathBuf};

use crate::error::EngineError;

const PYTHON_BOOTSTRAP: &str = include_str!("../../../runtimes/python/bootstrap.py");
const NODE_BOOTSTRAP: &str = include_str!("../../../runtimes/node/bootstrap.js");

/// The interpreters, by absolute path (never a shell shim on PATH).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimesConfig {
    /// The root the interpreters' paths are relative to (`/` for the host's own).
    pub root: PathBuf,
    /// Serves `python3.*`.
    pub python: PathBuf,
    /// Serves `nodejs*`.
    pub node: PathBuf,
}

impl Default for RuntimesConfig {
    fn default() -> Self {
        Self {
            root: PathBuf::from("/"),
            python: PathBuf::from("/usr/bin/python3"),
            node: PathBuf::from("/usr/bin/node"),
        }
    }
}

/// The families of runtime Nimbus can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeKind {
    /// `python3.*`, on our Python bootstrap.
    Python,
    /// `nodejs*`, on our Node.js bootstrap.
    Node,
    /// `provided*`: the package's own `bootstrap` executable.
    Provided,
}

impl RuntimeKind {
    /// The family of a Lambda runtime id, if Nimbus runs it.
    pub fn of(runtime: &str) -> Option<Self> {
        if runtime.starts_with("python3") {
            Some(Self::Python)
        } else if runtime.starts_with("nodejs") {
            Some(Self::Node)
        } else if runtime.starts_with("provided") {
            Some(Self::Provided)
        } else {
            None
        }
    }

    fn dir_name(self) -> &'static str {
        match self {
            Self::Python => "python",
            Self::Node => "node",
            Self::Provided => "provided",
        }
    }
}

/// A runtime as configured on this server: what to execute and where its files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeInfo {
    /// Its family.
    pub kind: RuntimeKind,
    /// The interpreter, for Python and Node.
    pub interpreter: Option<PathBuf>,
    /// `LAMBDA_RUNTIME_DIR`.
    pub runtime_dir: PathBuf,
}

/// The runtimes of this server, with their files in place.
#[derive(Debug, Clone)]
pub struct Runtimes {
    config: RuntimesConfig,
    root: PathBuf,
}

impl Runtimes {
    /// Writes the embedded bootstraps under `root` (replacing older copies).
    pub fn install(config: RuntimesConfig, root: &Path) -> Result<Self, EngineError> {
        for (kind, file, text) in [
            (RuntimeKind::Python, "bootstrap.py", PYTHON_BOOTSTRAP),
            (RuntimeKind::Node, "bootstrap.js", NODE_BOOTSTRAP),
        ] {
            let dir = root.join(kind.dir_name());
            let write = || -> std::io::Result<()> {
                std::fs::create_dir_all(&dir)?;
                let tmp = dir.join(format!(".{file}.tmp"));
                std::fs::write(&tmp, text)?;
                std::fs::rename(&tmp, dir.join(file))
            };
            write().map_err(|source| EngineError::RuntimeFiles {
                path: dir.clone(),
                source,
            })?;
        }
        std::fs::create_dir_all(root.join("provided")).map_err(|source| {
            EngineError::RuntimeFiles {
                path: root.to_path_buf(),
                source,
            }
        })?;
        Ok(Self {
            config,
            root: root.to_path_buf(),
        })
    }

    /// How `runtime` is served, or why it cannot be.
    pub fn resolve(&self, runtime: &str) -> Result<RuntimeInfo, EngineError> {
        let unavailable = |reason: String| EngineError::RuntimeUnavailable {
            runtime: runtime.to_string(),
            reason,
        };
        let kind = RuntimeKind::of(runtime).ok_or_else(|| {
            unavailable("Nimbus runs python3.x, nodejs and provided runtimes".into())
        })?;
        let interpreter = match kind {
            RuntimeKind::Python => Some(self.config.python.clone()),
            RuntimeKind::Node => Some(self.config.node.clone()),
            RuntimeKind::Provided => None,
        };
        if let Some(i) = &interpreter {
            if !self.installed(i) {
                return Err(unavailable(format!(
                    "its interpreter {} is not installed",
                    i.display()
                )));
            }
        }
        Ok(RuntimeInfo {
            kind,
            interpreter,
            runtime_dir: self.root.join(kind.dir_name()),
        })
    }

    fn installed(&self, program: &Path) -> bool {
        self.config
            .root
            .join(program.strip_prefix("/").unwrap_or(program))
            .is_file()
    }

    /// Each family with the program that serves it, for `nimbus runtimes`.
    pub fn describe(&self) -> Vec<(String, String, bool)> {
        vec![
            (
                "python3.x".into(),
                self.config.python.display().to_string(),
                self.installed(&self.config.python),
            ),
            (
                "nodejs*".into(),
                self.config.node.display().to_string(),
                self.installed(&self.config.node),
            ),
            (
                "provided.al2, provided.al2023".into(),
                "the function's own bootstrap".into(),
                true,
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_files() {
        assert_eq!(RuntimeKind::of("python3.12"), Some(RuntimeKind::Python));
        assert_eq!(RuntimeKind::of("nodejs20.x"), Some(RuntimeKind::Node));
        assert_eq!(
            RuntimeKind::of("provided.al2023"),
            Some(RuntimeKind::Provided)
        );
        assert_eq!(RuntimeKind::of("java21"), None);
        let dir = tempfile::tempdir().expect("tempdir");
        let config = RuntimesConfig {
            root: PathBuf::from("/"),
            python: PathBuf::from("/nonexistent/python3"),
            node: PathBuf::from("/nonexistent/node"),
        };
        let r = Runtimes::install(config, dir.path()).expect("install");
        assert!(dir.path().join("python/bootstrap.py").is_file());
        assert!(dir.path().join("node/bootstrap.js").is_file());
        let e = r.resolve("python3.12").expect_err("no interpreter");
        assert!(e.to_string().contains("/nonexistent/python3"));
        assert!(r.resolve("java21").is_err());
        assert_eq!(
            r.resolve("provided.al2023").expect("provided").kind,
            RuntimeKind::Provided
        );
    }
}
