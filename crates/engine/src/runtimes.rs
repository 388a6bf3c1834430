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
    /// The AWS SDKs, as `nimbus sdk install` lays them out: `python/` (boto3 and its
    /// dependencies) and `node/node_modules/`, each with its manifest. A family whose directory
    /// is missing runs without an SDK.
    pub sdk_dir: Option<PathBuf>,
}

impl Default for RuntimesConfig {
    fn default() -> Self {
        Self {
            root: PathBuf::from("/"),
            python: PathBuf::from("/usr/bin/python3"),
            node: PathBuf::from("/usr/bin/node"),
            sdk_dir: None,
        }
    }
}

/// The file in each SDK directory that lists what it holds, one `name==version` a line.
pub const SDK_MANIFEST: &str = "nimbus-sdk.txt";

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

    /// The directory of this family's runtime files and SDK.
    pub fn dir_name(self) -> &'static str {
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
    /// The family's AWS SDK on the host, if installed.
    pub sdk_dir: Option<PathBuf>,
}

/// A family's SDK as installed: where, and the packages with their versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdkInfo {
    /// Its directory.
    pub dir: PathBuf,
    /// `(name, version)` of each package, from its manifest.
    pub packages: Vec<(String, String)>,
}

/// What `nimbus runtimes` shows of one family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeDescription {
    /// The runtime ids it serves.
    pub family: String,
    /// The program that serves them.
    pub program: String,
    /// Whether that program is installed.
    pub available: bool,
    /// Whether Nimbus provides an SDK for it (Lambda does for Python and Node.js).
    pub provides_sdk: bool,
    /// Its SDK, if installed.
    pub sdk: Option<SdkInfo>,
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

    /// Every directory of runtime files and every installed SDK: the trees the sandbox
    /// launcher makes read-only images of ahead of need.
    pub fn trees(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for kind in [
            RuntimeKind::Python,
            RuntimeKind::Node,
            RuntimeKind::Provided,
        ] {
            out.push(self.root.join(kind.dir_name()));
            out.extend(self.sdk(kind).map(|s| s.dir));
        }
        out
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
            sdk_dir: self.sdk(kind).map(|s| s.dir),
        })
    }

    /// The SDK of `kind`, if one is installed (its manifest is what says so: an install is
    /// renamed into place whole, manifest included).
    pub fn sdk(&self, kind: RuntimeKind) -> Option<SdkInfo> {
        if kind == RuntimeKind::Provided {
            return None;
        }
        let dir = self.config.sdk_dir.as_ref()?.join(kind.dir_name());
        let manifest = std::fs::read_to_string(dir.join(SDK_MANIFEST)).ok()?;
        let packages = manifest
            .lines()
            .filter_map(|l| l.trim().split_once("=="))
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        Some(SdkInfo { dir, packages })
    }

    fn installed(&self, program: &Path) -> bool {
        self.config
            .root
            .join(program.strip_prefix("/").unwrap_or(program))
            .is_file()
    }

    /// Each family with the program that serves it and its SDK, for `nimbus runtimes`.
    pub fn describe(&self) -> Vec<RuntimeDescription> {
        vec![
            RuntimeDescription {
                family: "python3.x".into(),
                program: self.config.python.display().to_string(),
                available: self.installed(&self.config.python),
                provides_sdk: true,
                sdk: self.sdk(RuntimeKind::Python),
            },
            RuntimeDescription {
                family: "nodejs*".into(),
                program: self.config.node.display().to_string(),
                available: self.installed(&self.config.node),
                provides_sdk: true,
                sdk: self.sdk(RuntimeKind::Node),
            },
            RuntimeDescription {
                family: "provided.al2, provided.al2023".into(),
                program: "the function's own bootstrap".into(),
                available: true,
                provides_sdk: false,
                sdk: None,
            },
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
            sdk_dir: None,
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

    #[test]
    fn an_sdk_is_there_when_its_manifest_is() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sdk = dir.path().join("sdk");
        std::fs::create_dir_all(sdk.join("python/boto3")).expect("mkdir");
        std::fs::create_dir_all(sdk.join("node/node_modules")).expect("mkdir");
        let config = RuntimesConfig {
            root: PathBuf::from("/"),
            python: PathBuf::from("/nonexistent/python3"),
            node: PathBuf::from("/nonexistent/node"),
            sdk_dir: Some(sdk.clone()),
        };
        let r = Runtimes::install(config, &dir.path().join("rt")).expect("install");
        // No manifest: an install that did not finish is no SDK.
        assert_eq!(r.sdk(RuntimeKind::Python), None);
        std::fs::write(
            sdk.join("python").join(SDK_MANIFEST),
            "boto3==1.44.8\nbotocore==1.44.8\n\n",
        )
        .expect("write");
        let py = r.sdk(RuntimeKind::Python).expect("python sdk");
        assert_eq!(py.dir, sdk.join("python"));
        assert_eq!(
            py.packages,
            vec![
                ("boto3".to_string(), "1.44.8".to_string()),
                ("botocore".to_string(), "1.44.8".to_string())
            ]
        );
        assert_eq!(r.sdk(RuntimeKind::Node), None);
        assert_eq!(r.sdk(RuntimeKind::Provided), None);
        let d = r.describe();
        assert_eq!(d[0].sdk.as_ref(), Some(&py));
        assert_eq!(d[1].sdk, None);
    }
}
