//! `nimbus sdk install`: the AWS SDKs the runtimes provide, as Lambda's do (boto3 for
//! python3.x, the JavaScript SDK v3 clients for nodejs), fetched from the package registries
//! at the versions pinned in `runtimes/sdk/` and laid out as the server expects:
//! `<dir>/python/` and `<dir>/node/node_modules/`, each with its manifest.
//!
//! Idempotent: a family whose manifest already lists the pinned versions is left alone. Each
//! install is made in a scratch directory beside its target and renamed into place whole, so a
//! server never sees half an SDK.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

const PYTHON_REQUIREMENTS: &str = include_str!("../../../runtimes/sdk/python/requirements.txt");
const NODE_PACKAGE: &str = include_str!("../../../runtimes/sdk/node/package.json");
const NODE_LOCK: &str = include_str!("../../../runtimes/sdk/node/package-lock.json");

/// Must match `nimbus_engine::runtimes::SDK_MANIFEST`.
const MANIFEST: &str = nimbus_server::SDK_MANIFEST;

#[derive(clap::Args, Debug)]
pub(crate) struct SdkArgs {
    #[command(subcommand)]
    command: SdkCommand,
}

#[derive(clap::Subcommand, Debug)]
enum SdkCommand {
    /// Fetch the pinned SDKs into DIR (default: <data-dir>/sdk, the server's default
    /// `runtimes.sdk_dir`).
    Install {
        /// Where to put them.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The data directory whose `sdk/` to fill, when --dir is not given.
        #[arg(long, env = "NIMBUS_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// A Python with pip, to fetch boto3 with (any Python 3; the packages are pure Python).
        /// The Python SDK is skipped when it has no pip.
        #[arg(long, default_value = "/usr/bin/python3")]
        pip_python: PathBuf,
        /// The interpreter the python runtimes run (its byte code is compiled ahead).
        #[arg(long, default_value = "/usr/bin/python3")]
        runtime_python: PathBuf,
        /// npm, to fetch the JavaScript SDK with; the Node.js SDK is skipped when it is absent.
        #[arg(long, default_value = "npm")]
        npm: PathBuf,
        /// Only these families (python, node); default both. A family asked for by name must
        /// install (a missing pip or npm is an error rather than a skip).
        #[arg(long = "only", value_parser = ["python", "node"])]
        only: Vec<String>,
    },
}

pub(crate) fn run(args: SdkArgs) -> anyhow::Result<()> {
    match args.command {
        SdkCommand::Install {
            dir,
            data_dir,
            pip_python,
            runtime_python,
            npm,
            only,
        } => {
            let dir = match (dir, data_dir) {
                (Some(d), _) => d,
                (None, Some(d)) => d.join("sdk"),
                (None, None) => nimbus_server::Config::default().data_dir().join("sdk"),
            };
            std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
            let wants = |f: &str| only.is_empty() || only.iter().any(|o| o == f);
            if wants("python") {
                install_python(&dir, &pip_python, &runtime_python, !only.is_empty())?;
            }
            if wants("node") {
                install_node(&dir, &npm, !only.is_empty())?;
            }
            Ok(())
        }
    }
}

/// `name==version` lines of the pinned requirements.
fn python_manifest() -> String {
    PYTHON_REQUIREMENTS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// `name==version` lines of the Node.js SDK's direct dependencies.
fn node_manifest() -> anyhow::Result<String> {
    let v: serde_json::Value =
        serde_json::from_str(NODE_PACKAGE).context("runtimes/sdk/node/package.json")?;
    let deps = v
        .get("dependencies")
        .and_then(serde_json::Value::as_object)
        .context("runtimes/sdk/node/package.json has no dependencies")?;
    Ok(deps
        .iter()
        .map(|(n, v)| format!("{n}=={}\n", v.as_str().unwrap_or("?")))
        .collect())
}

/// Whether `<dir>/<family>` already holds exactly `manifest`.
fn up_to_date(dir: &Path, family: &str, manifest: &str) -> bool {
    std::fs::read_to_string(dir.join(family).join(MANIFEST)).is_ok_and(|m| m == manifest)
}

fn install_python(
    dir: &Path,
    pip_python: &Path,
    runtime_python: &Path,
    asked: bool,
) -> anyhow::Result<()> {
    let manifest = python_manifest();
    if up_to_date(dir, "python", &manifest) {
        println!("python SDK: up to date in {}", dir.join("python").display());
        return Ok(());
    }
    let has_pip = Command::new(pip_python)
        .args(["-m", "pip", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_pip {
        if asked {
            bail!(
                "{} has no pip: cannot fetch the python SDK",
                pip_python.display()
            );
        }
        println!(
            "python SDK: skipped ({} has no pip: install python3-pip, or pass --pip-python); python functions run without boto3",
            pip_python.display()
        );
        return Ok(());
    }
    let work = Scratch::new(dir, "python")?;
    let pins: Vec<&str> = manifest.lines().collect();
    run_checked(
        Command::new(pip_python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-warn-script-location",
                "--no-input",
                "--no-deps",
                "--no-compile",
                "--only-binary=:all:",
                "--target",
            ])
            .arg(&work.path)
            .args(&pins)
            // Run as root, pip says so at length; nothing here touches the system's packages.
            .env("PIP_ROOT_USER_ACTION", "ignore"),
        "pip install (the python SDK)",
    )?;
    // Byte code for the runtimes' own interpreter: the sandbox's SDK is read-only, so what
    // is not compiled now would be compiled at every cold start.
    if runtime_python.is_file() {
        run_checked(
            Command::new(runtime_python)
                .args(["-m", "compileall", "-q"])
                .arg(&work.path),
            "compileall (the python SDK)",
        )?;
    } else {
        println!(
            "python SDK: {} is not installed: byte code not compiled ahead",
            runtime_python.display()
        );
    }
    // pip's scripts are of no use to a function.
    let _ = std::fs::remove_dir_all(work.path.join("bin"));
    std::fs::write(work.path.join(MANIFEST), &manifest)?;
    work.finish()?;
    println!(
        "python SDK: installed in {} ({})",
        dir.join("python").display(),
        manifest.lines().collect::<Vec<_>>().join(", ")
    );
    Ok(())
}

fn install_node(dir: &Path, npm: &Path, asked: bool) -> anyhow::Result<()> {
    let manifest = node_manifest()?;
    if up_to_date(dir, "node", &manifest) {
        println!("node SDK: up to date in {}", dir.join("node").display());
        return Ok(());
    }
    if Command::new(npm).arg("--version").output().is_err() {
        if asked {
            bail!(
                "{} is not installed: cannot fetch the Node.js SDK",
                npm.display()
            );
        }
        println!(
            "node SDK: skipped ({} is not installed); nodejs functions run without an SDK",
            npm.display()
        );
        return Ok(());
    }
    let work = Scratch::new(dir, "node")?;
    std::fs::write(work.path.join("package.json"), NODE_PACKAGE)?;
    std::fs::write(work.path.join("package-lock.json"), NODE_LOCK)?;
    run_checked(
        Command::new(npm)
            .args([
                "ci",
                "--omit=dev",
                "--ignore-scripts",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
            ])
            .current_dir(&work.path),
        "npm ci (the Node.js SDK)",
    )?;
    std::fs::write(work.path.join(MANIFEST), &manifest)?;
    work.finish()?;
    println!(
        "node SDK: installed in {} ({})",
        dir.join("node").display(),
        manifest.lines().collect::<Vec<_>>().join(", ")
    );
    Ok(())
}

fn run_checked(cmd: &mut Command, what: &str) -> anyhow::Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("{what}: cannot run {:?}", cmd.get_program()))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// A family's install in progress: `<dir>/.<family>.new`, renamed over `<dir>/<family>` when
/// done, removed if dropped before.
struct Scratch {
    path: PathBuf,
    target: PathBuf,
    done: bool,
}

impl Scratch {
    fn new(dir: &Path, family: &str) -> anyhow::Result<Self> {
        let path = dir.join(format!(".{family}.new"));
        if path.exists() {
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("remove the unfinished {}", path.display()))?;
        }
        std::fs::create_dir_all(&path).with_context(|| format!("create {}", path.display()))?;
        Ok(Self {
            path,
            target: dir.join(family),
            done: false,
        })
    }

    /// Readable by every sandbox user, then in place of the old install.
    fn finish(mut self) -> anyhow::Result<()> {
        open_to_all(&self.path)?;
        let old = self.target.with_extension("old");
        let _ = std::fs::remove_dir_all(&old);
        if self.target.exists() {
            std::fs::rename(&self.target, &old)
                .with_context(|| format!("move {} aside", self.target.display()))?;
        }
        std::fs::rename(&self.path, &self.target)
            .with_context(|| format!("rename into {}", self.target.display()))?;
        let _ = std::fs::remove_dir_all(&old);
        self.done = true;
        Ok(())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Files readable and directories searchable by all (sandbox users are not the installer),
/// whatever the installer's umask was; nothing writable but by its owner.
fn open_to_all(root: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let meta = std::fs::symlink_metadata(&p)?;
        if meta.file_type().is_symlink() {
            continue;
        }
        let mode = meta.permissions().mode();
        // Directories and executables: searchable, runnable; other files: readable.
        let want = if meta.is_dir() || mode & 0o100 != 0 {
            (mode | 0o555) & !0o022
        } else {
            (mode | 0o444) & !0o022
        };
        if want != mode {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(want))?;
        }
        if meta.is_dir() {
            for e in std::fs::read_dir(&p)? {
                stack.push(e?.path());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_list_every_pin() {
        let py = python_manifest();
        assert!(py.starts_with("boto3=="), "{py}");
        assert!(py.lines().all(|l| l
            .split_once("==")
            .is_some_and(|(n, v)| !n.is_empty() && !v.is_empty())));
        assert!(py.contains("\nbotocore=="));
        let node = node_manifest().expect("node manifest");
        assert!(node.contains("@aws-sdk/client-lambda=="), "{node}");
        // The lock file pins the same direct dependencies.
        let lock: serde_json::Value = serde_json::from_str(NODE_LOCK).expect("lock");
        for line in node.lines() {
            let (name, version) = line.split_once("==").expect("pin");
            let locked = &lock["packages"][format!("node_modules/{name}")]["version"];
            assert_eq!(locked.as_str(), Some(version), "{name}");
        }
    }

    #[test]
    fn an_unchanged_manifest_is_up_to_date() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(!up_to_date(dir.path(), "python", "a==1\n"));
        std::fs::create_dir_all(dir.path().join("python")).expect("mkdir");
        std::fs::write(dir.path().join("python").join(MANIFEST), "a==1\n").expect("write");
        assert!(up_to_date(dir.path(), "python", "a==1\n"));
        assert!(!up_to_date(dir.path(), "python", "a==2\n"));
    }

    #[test]
    fn scratch_goes_in_whole_or_not_at_all() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("python")).expect("mkdir");
        std::fs::write(dir.path().join("python/old.txt"), "old").expect("write");
        {
            let s = Scratch::new(dir.path(), "python").expect("scratch");
            std::fs::write(s.path.join("half.txt"), "x").expect("write");
            // Dropped unfinished: nothing changes.
        }
        assert!(dir.path().join("python/old.txt").exists());
        assert!(!dir.path().join(".python.new").exists());
        let s = Scratch::new(dir.path(), "python").expect("scratch");
        let f = s.path.join("new.txt");
        std::fs::write(&f, "new").expect("write");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        s.finish().expect("finish");
        assert!(!dir.path().join("python/old.txt").exists());
        let mode = std::fs::metadata(dir.path().join("python/new.txt"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644, "readable by sandbox users");
    }
}
