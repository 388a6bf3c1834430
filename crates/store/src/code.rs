//! Content-addressed code packages: each zip is kept once under its SHA-256 and unpacked once into
//! a read-only directory, never per cold start.
//!
//! Layout under the code root:
//! - `zips/<sha256-hex>.zip`  the package as uploaded (served by GetFunction's `Code.Location`);
//! - `pkgs/<sha256-hex>/`     the package unpacked, read-only;
//! - `manifests/<sha256-hex>.manifest`  every entry of the unpacked tree (mode, size, SHA-256,
//!   link target), for `nimbus check`;
//! - `tmp/`                   work in progress, emptied at start-up.
//!
//! A package appears under `manifests/`, `zips/` and `pkgs/` only by rename of a finished, synced copy, so a crash
//! leaves either nothing or a whole package. Extraction is defensive: entry names are checked
//! before anything is written, no file is ever written through a symbolic link, links must stay
//! inside the package, and the unzipped limit counts bytes actually written.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Cursor, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use base64::Engine;
use nimbus_model::limits::{MAX_UNZIPPED_BYTES, MAX_ZIPPED_BYTES};
use nimbus_model::CodeRef;
use sha2::{Digest, Sha256};

use crate::error::CodeError;

/// Most entries a package may hold (Lambda documents none; this bounds the work of one upload).
pub const MAX_ENTRIES: usize = 50_000;
/// Most directories a package may make, named or implied by its entries' paths.
pub const MAX_DIRECTORIES: usize = 10_000;
/// Deepest path, in components.
pub const MAX_DEPTH: usize = 64;
/// What a directory or a link counts against the unzipped budget: one block, at least, on disk.
const NODE_COST: u64 = 4096;

/// Limits applied when unpacking; Lambda's by default.
#[derive(Debug, Clone, Copy)]
pub struct CodeLimits {
    /// Largest zip, bytes.
    pub max_zipped: u64,
    /// Largest total of bytes written when unpacking.
    pub max_unzipped: u64,
    /// Most entries.
    pub max_entries: usize,
}

impl Default for CodeLimits {
    fn default() -> Self {
        Self {
            max_zipped: MAX_ZIPPED_BYTES,
            max_unzipped: MAX_UNZIPPED_BYTES,
            max_entries: MAX_ENTRIES,
        }
    }
}

/// The code packages under one directory.
#[derive(Debug, Clone)]
pub struct CodeStore {
    root: PathBuf,
    limits: CodeLimits,
}

fn io_err<'p>(step: &'static str, path: &'p Path) -> impl FnOnce(io::Error) -> CodeError + 'p {
    move |source| CodeError::Io {
        step,
        path: path.to_path_buf(),
        source,
    }
}

/// The digest of `zip` in both of the forms Nimbus uses.
pub fn digest(zip: &[u8]) -> CodeRef {
    let d = Sha256::digest(zip);
    CodeRef {
        sha256_hex: hex::encode(d),
        sha256_base64: base64::engine::general_purpose::STANDARD.encode(d),
        size: zip.len() as u64,
    }
}

impl CodeStore {
    /// Opens (creating) the code store at `root` and clears work left by an interrupted run.
    pub fn open(root: impl Into<PathBuf>, limits: CodeLimits) -> Result<Self, CodeError> {
        let root = root.into();
        for sub in ["zips", "pkgs", "manifests"] {
            let p = root.join(sub);
            fs::create_dir_all(&p).map_err(io_err("create", &p))?;
        }
        let tmp = root.join("tmp");
        if tmp.exists() {
            remove_tree(&tmp).map_err(io_err("clear", &tmp))?;
        }
        fs::create_dir_all(&tmp).map_err(io_err("create", &tmp))?;
        Ok(Self { root, limits })
    }

    /// The code store at `root` as it is, for reading only: nothing is created or cleared.
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            limits: CodeLimits::default(),
        }
    }

    /// Where the unpacked package `sha256_hex` lives.
    pub fn package_dir(&self, sha256_hex: &str) -> PathBuf {
        self.root.join("pkgs").join(sha256_hex)
    }

    /// Where the zip `sha256_hex` lives.
    pub fn zip_path(&self, sha256_hex: &str) -> PathBuf {
        self.root.join("zips").join(format!("{sha256_hex}.zip"))
    }

    /// Where the manifest of package `sha256_hex` lives: every entry of its unpacked tree, as
    /// [`manifest_of`] writes it.
    pub fn manifest_path(&self, sha256_hex: &str) -> PathBuf {
        self.root
            .join("manifests")
            .join(format!("{sha256_hex}.manifest"))
    }

    /// Whether the zip, its unpacked directory and its manifest are all present.
    pub fn contains(&self, sha256_hex: &str) -> bool {
        self.zip_path(sha256_hex).is_file()
            && self.package_dir(sha256_hex).is_dir()
            && self.manifest_path(sha256_hex).is_file()
    }

    /// Writes the manifest of each package that has none, from its tree as it is now: packages
    /// stored by a release that wrote no manifests. Returns how many were written.
    pub fn add_missing_manifests(&self) -> Result<usize, CodeError> {
        let mut added = 0;
        for sha in self.list()? {
            let (pkg, manifest) = (self.package_dir(&sha), self.manifest_path(&sha));
            if pkg.is_dir() && !manifest.exists() {
                let work = self.root.join("tmp").join(unique_name());
                write_synced(&work, manifest_of(&pkg)?.as_bytes())?;
                fs::rename(&work, &manifest).map_err(io_err("rename", &manifest))?;
                added += 1;
            }
        }
        if added > 0 {
            sync_dir(&self.root.join("manifests"))?;
        }
        Ok(added)
    }

    /// What differs between package `sha256_hex` on disk and what was stored: the zip's digest,
    /// and every entry of the unpacked tree against the manifest. Empty when all is intact.
    pub fn verify(&self, sha256_hex: &str) -> Result<Vec<String>, CodeError> {
        let mut problems = Vec::new();
        let zip = self.zip_path(sha256_hex);
        match fs::read(&zip) {
            Ok(bytes) if digest(&bytes).sha256_hex == sha256_hex => {}
            Ok(_) => problems.push(format!("{}: its digest is not its name", zip.display())),
            Err(e) => problems.push(format!("{}: {e}", zip.display())),
        }
        let pkg = self.package_dir(sha256_hex);
        let path = self.manifest_path(sha256_hex);
        let stored = match fs::read_to_string(&path) {
            Ok(m) => m,
            Err(e) => {
                problems.push(format!("{}: {e}", path.display()));
                return Ok(problems);
            }
        };
        if !pkg.is_dir() {
            problems.push(format!("{}: missing", pkg.display()));
            return Ok(problems);
        }
        let found = manifest_of(&pkg)?;
        if found != stored {
            problems.extend(manifest_differences(&stored, &found, &pkg));
        }
        Ok(problems)
    }

    /// Checks, unpacks and keeps `zip`. Blocking: call from a blocking thread.
    /// Returns the package's reference; storing the same bytes twice is cheap.
    pub fn put(&self, zip: &[u8]) -> Result<CodeRef, CodeError> {
        if zip.len() as u64 > self.limits.max_zipped {
            return Err(CodeError::ZippedTooLarge(zip.len() as u64));
        }
        let code = digest(zip);
        if self.contains(&code.sha256_hex) {
            return Ok(code);
        }
        let work = self.root.join("tmp").join(unique_name());
        let result = self.unpack_and_keep(zip, &code, &work);
        if work.exists() {
            let _ = remove_tree(&work);
        }
        result.map(|()| code)
    }

    /// Checks `zip` without keeping it (UpdateFunctionCode with DryRun).
    pub fn check(&self, zip: &[u8]) -> Result<CodeRef, CodeError> {
        if zip.len() as u64 > self.limits.max_zipped {
            return Err(CodeError::ZippedTooLarge(zip.len() as u64));
        }
        let code = digest(zip);
        let work = self.root.join("tmp").join(unique_name());
        let result = unpack(zip, &work.join("pkg"), &self.limits);
        let _ = remove_tree(&work);
        result.map(|()| code)
    }

    fn unpack_and_keep(&self, zip: &[u8], code: &CodeRef, work: &Path) -> Result<(), CodeError> {
        let pkg_tmp = work.join("pkg");
        unpack(zip, &pkg_tmp, &self.limits)?;
        let zip_tmp = work.join("package.zip");
        write_synced(&zip_tmp, zip)?;
        let manifest_tmp = work.join("manifest");
        write_synced(&manifest_tmp, manifest_of(&pkg_tmp)?.as_bytes())?;
        sync_dir(work)?;
        // The manifest goes first: a package directory is never without one.
        let manifest = self.manifest_path(&code.sha256_hex);
        fs::rename(&manifest_tmp, &manifest).map_err(io_err("rename", &manifest))?;
        sync_dir(&self.root.join("manifests"))?;
        let pkg = self.package_dir(&code.sha256_hex);
        if !pkg.exists() {
            match fs::rename(&pkg_tmp, &pkg) {
                Ok(()) => {}
                // Another upload of the same bytes won the race; its copy is identical.
                Err(_) if pkg.is_dir() => {}
                Err(e) => return Err(io_err("rename", &pkg)(e)),
            }
        }
        let zip_path = self.zip_path(&code.sha256_hex);
        fs::rename(&zip_tmp, &zip_path).map_err(io_err("rename", &zip_path))?;
        sync_dir(&self.root.join("pkgs"))?;
        sync_dir(&self.root.join("zips"))?;
        Ok(())
    }

    /// Every package present, by hex digest.
    pub fn list(&self) -> Result<Vec<String>, CodeError> {
        let dir = self.root.join("zips");
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_err("list", &dir))? {
            let entry = entry.map_err(io_err("list", &dir))?;
            if let Some(name) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".zip"))
            {
                out.push(name.to_string());
            }
        }
        Ok(out)
    }

    /// Removes every package not in `keep`; run at start-up, before requests are served.
    pub fn collect_garbage(&self, keep: &HashSet<String>) -> Result<usize, CodeError> {
        let mut removed = 0;
        // Zips last: a package is listed (by its zip) until everything else of it is gone.
        for sub in ["pkgs", "manifests", "zips"] {
            let dir = self.root.join(sub);
            for entry in fs::read_dir(&dir).map_err(io_err("list", &dir))? {
                let entry = entry.map_err(io_err("list", &dir))?;
                let name = entry.file_name().to_string_lossy().to_string();
                let sha = name
                    .strip_suffix(".zip")
                    .or_else(|| name.strip_suffix(".manifest"))
                    .unwrap_or(&name);
                if !keep.contains(sha) {
                    let path = entry.path();
                    remove_tree(&path).map_err(io_err("remove", &path))?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

/// One line per entry of the tree at `dir`, sorted by path: a file's mode, size and SHA-256, a
/// link's target, a directory's mode. Paths and targets are JSON strings, so any name (spaces,
/// newlines) reads back unambiguously. Written when a package is stored; `nimbus check`
/// computes it again and compares.
pub fn manifest_of(dir: &Path) -> Result<String, CodeError> {
    let mut lines = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let here = dir.join(&rel);
        for entry in fs::read_dir(&here).map_err(io_err("list", &here))? {
            let entry = entry.map_err(io_err("list", &here))?;
            let rel = rel.join(entry.file_name());
            let path = dir.join(&rel);
            let meta = fs::symlink_metadata(&path).map_err(io_err("stat", &path))?;
            let name = serde_json::Value::from(rel.to_string_lossy().as_ref()).to_string();
            let mode = meta.permissions().mode() & 0o7777;
            let line = if meta.file_type().is_symlink() {
                let target = fs::read_link(&path).map_err(io_err("readlink", &path))?;
                let target = serde_json::Value::from(target.to_string_lossy().as_ref());
                format!("{name} link {target}")
            } else if meta.is_dir() {
                stack.push(rel);
                format!("{name} dir {mode:o}")
            } else if meta.is_file() {
                let mut hasher = Sha256::new();
                let mut f = File::open(&path).map_err(io_err("open", &path))?;
                io::copy(&mut f, &mut hasher).map_err(io_err("read", &path))?;
                let sha = hex::encode(hasher.finalize());
                format!("{name} file {mode:o} {} {sha}", meta.len())
            } else {
                format!("{name} other")
            };
            lines.push(line);
        }
    }
    lines.sort();
    let mut out = lines.join("\n");
    out.push('\n');
    Ok(out)
}

/// The entries that differ between two manifests, named by path, at most 20 of them.
fn manifest_differences(stored: &str, found: &str, pkg: &Path) -> Vec<String> {
    let entries = |m: &str| -> std::collections::BTreeMap<String, String> {
        m.lines()
            .map(|l| {
                // Each line opens with its path, a JSON string; the rest describes the entry.
                let end = json_string_end(l);
                (l[..end].to_string(), l[end..].trim().to_string())
            })
            .collect()
    };
    let (stored, found) = (entries(stored), entries(found));
    let mut out = Vec::new();
    for (path, was) in &stored {
        match found.get(path) {
            None => out.push(format!("{}: {path} is missing", pkg.display())),
            Some(now) if now != was => out.push(format!(
                "{}: {path} changed (stored: {was}; now: {now})",
                pkg.display()
            )),
            Some(_) => {}
        }
    }
    for (path, now) in &found {
        if !stored.contains_key(path) {
            out.push(format!("{}: {path} was added ({now})", pkg.display()));
        }
    }
    if out.is_empty() {
        out.push(format!("{}: its manifest does not match", pkg.display()));
    }
    out.truncate(20);
    out
}

/// Where the JSON string that starts `line` ends (just past its closing quote), as serde_json
/// reads it; the whole line if it does not start with one.
fn json_string_end(line: &str) -> usize {
    let mut values = serde_json::Deserializer::from_str(line).into_iter::<String>();
    match values.next() {
        Some(Ok(_)) => values.byte_offset(),
        _ => line.len(),
    }
}

fn unique_name() -> String {
    format!("{:016x}", rand::random::<u64>())
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), CodeError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o444)
        .open(path)
        .map_err(io_err("create", path))?;
    f.write_all(bytes).map_err(io_err("write", path))?;
    f.sync_all().map_err(io_err("sync", path))
}

fn sync_dir(path: &Path) -> Result<(), CodeError> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(io_err("sync", path))
}

/// Removes a tree that may hold read-only directories.
fn remove_tree(path: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    if meta.is_dir() {
        fs::set_permissions(path, fs::Permissions::from_mode(0o700))?;
        for entry in fs::read_dir(path)? {
            remove_tree(&entry?.path())?;
        }
        fs::remove_dir(path)
    } else {
        fs::remove_file(path)
    }
}

/// A relative path of normal components only, or `None` if the name is absolute, climbs with
/// `..`, or is otherwise not a plain path inside the package.
fn safe_relative(name: &str) -> Option<PathBuf> {
    if name.contains('\0') || name.contains('\\') {
        return None;
    }
    let path = Path::new(name);
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Resolves a link at `link` (relative to the package root) pointing to `target`, lexically.
/// Refuses targets that are absolute, leave the package, or pass through another link.
fn resolve_link(link: &Path, target: &str, links: &HashSet<PathBuf>) -> Option<PathBuf> {
    let target_path = Path::new(target);
    if target.is_empty() || target.contains('\0') || target_path.is_absolute() {
        return None;
    }
    let mut at: Vec<PathBuf> = Vec::new();
    let mut cur = PathBuf::new();
    if let Some(parent) = link.parent() {
        for c in parent.components() {
            cur.push(c);
            at.push(cur.clone());
        }
    }
    let comps: Vec<Component<'_>> = target_path.components().collect();
    for (i, c) in comps.iter().enumerate() {
        match c {
            Component::Normal(p) => {
                cur.push(p);
                // Every component but the last must be a real directory of the package.
                if i + 1 < comps.len() && links.contains(&cur) {
                    return None;
                }
                at.push(cur.clone());
            }
            Component::CurDir => {}
            Component::ParentDir => {
                at.pop()?;
                cur = at.last().cloned().unwrap_or_default();
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(cur)
}

/// Unpacks `zip` into `dest` (which must not exist) under `limits`.
fn unpack(zip: &[u8], dest: &Path, limits: &CodeLimits) -> Result<(), CodeError> {
    let mut archive =
        zip::ZipArchive::new(Cursor::new(zip)).map_err(|e| CodeError::Corrupt(e.to_string()))?;
    if archive.len() > limits.max_entries {
        return Err(CodeError::TooManyEntries(archive.len()));
    }
    // First pass: names, kinds and declared sizes, before a single byte is written.
    let mut declared: u64 = 0;
    let mut links: HashSet<PathBuf> = HashSet::new();
    let mut plan = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let entry = archive
            .by_index_raw(i)
            .map_err(|e| CodeError::Corrupt(e.to_string()))?;
        let name = entry.name().to_string();
        let rel = safe_relative(&name).ok_or_else(|| CodeError::UnsafePath(name.clone()))?;
        declared = declared.saturating_add(entry.size());
        if entry.is_symlink() {
            links.insert(rel.clone());
        }
        plan.push((rel, entry.is_dir(), entry.is_symlink(), entry.unix_mode()));
    }
    // Every path claimed once, as one kind; every directory counted, named or implied.
    let mut kinds: std::collections::HashMap<&Path, bool> = std::collections::HashMap::new();
    let mut implied: HashSet<&Path> = HashSet::new();
    for (rel, is_dir, _, _) in &plan {
        if rel.as_os_str().is_empty() {
            continue;
        }
        if rel.components().count() > MAX_DEPTH {
            return Err(CodeError::TreeTooLarge(format!(
                "Entry '{}' is nested deeper than {MAX_DEPTH} directories.",
                rel.display()
            )));
        }
        match kinds.insert(rel.as_path(), *is_dir) {
            // The same directory named twice is harmless; anything else is a clash.
            Some(true) if *is_dir => {}
            Some(_) => return Err(CodeError::Clash(rel.display().to_string())),
            None => {}
        }
        if *is_dir {
            implied.insert(rel.as_path());
        }
        for a in rel.ancestors().skip(1) {
            if a.as_os_str().is_empty() {
                break;
            }
            implied.insert(a);
        }
        if implied.len() > MAX_DIRECTORIES {
            return Err(CodeError::TreeTooLarge(format!(
                "The archive makes more than {MAX_DIRECTORIES} directories."
            )));
        }
    }
    // A path that is a file or a link and also a directory of another entry's path.
    for (path, is_dir) in &kinds {
        if !is_dir && implied.contains(path) {
            return Err(CodeError::Clash(path.display().to_string()));
        }
    }
    // Directories and links take space too.
    let nodes = (implied.len() + links.len()) as u64 * NODE_COST;
    if declared.saturating_add(nodes) > limits.max_unzipped {
        return Err(CodeError::UnzippedTooLarge);
    }
    let all_dirs: Vec<PathBuf> = implied.iter().map(|p| dest.join(p)).collect();
    drop(implied);
    drop(kinds);
    fs::create_dir_all(dest).map_err(io_err("create", dest))?;
    let mut budget = limits.max_unzipped.saturating_sub(nodes);
    let mut dirs = vec![dest.to_path_buf()];
    let mut pending_links = Vec::new();
    for (i, (rel, is_dir, is_link, mode)) in plan.into_iter().enumerate() {
        if rel.as_os_str().is_empty() {
            continue;
        }
        // No entry may be written through a link or inside a link's path.
        if rel.ancestors().skip(1).any(|a| links.contains(a)) {
            return Err(CodeError::UnsafePath(rel.display().to_string()));
        }
        let out = dest.join(&rel);
        if is_dir {
            fs::create_dir_all(&out).map_err(io_err("create", &out))?;
            dirs.push(out);
            continue;
        }
        let mut entry = archive
            .by_index(i)
            .map_err(|e| CodeError::Corrupt(e.to_string()))?;
        if is_link {
            let mut target = String::new();
            (&mut entry)
                .take(4096)
                .read_to_string(&mut target)
                .map_err(|e| CodeError::Corrupt(e.to_string()))?;
            if resolve_link(&rel, &target, &links).is_none() {
                return Err(CodeError::UnsafeSymlink {
                    entry: rel.display().to_string(),
                    target,
                });
            }
            pending_links.push((out, target));
            continue;
        }
        if let Some(parent) = out.parent() {
            if !parent.exists() {
                fs::create_dir_all(parent).map_err(io_err("create", parent))?;
                dirs.push(parent.to_path_buf());
            }
        }
        let executable = mode.is_some_and(|m| m & 0o111 != 0);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&out)
            .map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => {
                    CodeError::Corrupt(format!("duplicate entry {}", rel.display()))
                }
                _ => io_err("create", &out)(e),
            })?;
        // Count what is actually written, whatever the headers declared.
        let written = io::copy(&mut (&mut entry).take(budget + 1), &mut file)
            .map_err(|e| CodeError::Corrupt(e.to_string()))?;
        if written > budget {
            return Err(CodeError::UnzippedTooLarge);
        }
        budget -= written;
        file.sync_all().map_err(io_err("sync", &out))?;
        let perm = if executable { 0o555 } else { 0o444 };
        fs::set_permissions(&out, fs::Permissions::from_mode(perm))
            .map_err(io_err("chmod", &out))?;
    }
    for (out, target) in pending_links {
        if let Some(parent) = out.parent() {
            fs::create_dir_all(parent).map_err(io_err("create", parent))?;
        }
        std::os::unix::fs::symlink(&target, &out).map_err(io_err("symlink", &out))?;
    }
    // Directories last, deepest first, so that they can be filled before they turn read-only;
    // each synced, so that after the rename that publishes the package every entry is durable.
    dirs.extend(all_dirs);
    dirs.sort_by(|a, b| {
        b.components()
            .count()
            .cmp(&a.components().count())
            .then_with(|| a.cmp(b))
    });
    dirs.dedup();
    for d in dirs {
        sync_dir(&d)?;
        fs::set_permissions(&d, fs::Permissions::from_mode(0o555)).map_err(io_err("chmod", &d))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use zip::write::SimpleFileOptions;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in entries {
            w.start_file(*name, SimpleFileOptions::default())
                .expect("start");
            w.write_all(data).expect("write");
        }
        w.finish().expect("finish").into_inner()
    }

    fn zip_with_dirs(dirs: &[&str], files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for d in dirs {
            w.add_directory(*d, SimpleFileOptions::default())
                .expect("dir");
        }
        for (name, data) in files {
            w.start_file(*name, SimpleFileOptions::default())
                .expect("start");
            w.write_all(data).expect("write");
        }
        w.finish().expect("finish").into_inner()
    }

    fn tree_is_empty(s: &CodeStore) -> bool {
        fs::read_dir(s.root.join("pkgs")).expect("pkgs").count() == 0
            && fs::read_dir(s.root.join("tmp")).expect("tmp").count() == 0
    }

    #[test]
    fn directory_bombs_are_refused_before_anything_is_written() {
        let (_d, s) = store();
        // 20,000 files, each in a directory of its own: 20,000 directories.
        let names: Vec<String> = (0..20_000).map(|i| format!("d{i}/f")).collect();
        let files: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
        let e = s.put(&zip_of(&files)).expect_err("too many directories");
        assert!(matches!(e, CodeError::TreeTooLarge(_)), "{e}");
        assert!(tree_is_empty(&s));
        // One path nested 100 deep.
        let deep = format!("{}f", "a/".repeat(100));
        let e = s.put(&zip_of(&[(&deep, b"x")])).expect_err("too deep");
        assert!(matches!(e, CodeError::TreeTooLarge(_)), "{e}");
        assert!(tree_is_empty(&s));
    }

    #[test]
    fn directories_count_against_the_unzipped_budget() {
        let dir = tempfile::tempdir().expect("tempdir");
        let limits = CodeLimits {
            max_unzipped: 100 * NODE_COST,
            ..CodeLimits::default()
        };
        let s = CodeStore::open(dir.path().join("code"), limits).expect("open");
        let names: Vec<String> = (0..200).map(|i| format!("d{i}/")).collect();
        let dirs: Vec<&str> = names.iter().map(String::as_str).collect();
        let e = s.put(&zip_with_dirs(&dirs, &[])).expect_err("over budget");
        assert!(matches!(e, CodeError::UnzippedTooLarge), "{e}");
        assert!(tree_is_empty(&s));
    }

    #[test]
    fn clashing_entries_are_refused() {
        let (_d, s) = store();
        for zip in [
            zip_of(&[("a", b"1"), ("a/b", b"2")]),
            zip_of(&[("a/b", b"2"), ("a", b"1")]),
            zip_with_dirs(&["a/"], &[("a", b"file where a directory is")]),
        ]
        .into_iter()
        .enumerate()
        {
            let (i, zip) = zip;
            let e = s.put(&zip).expect_err(&format!("clash {i}"));
            assert!(matches!(e, CodeError::Clash(_)), "{e}");
            assert!(tree_is_empty(&s));
        }
        // (Two entries of one name never reach the unpacker: the zip reader keeps one.)
        // A directory both named and implied by a file's path is fine.
        s.put(&zip_with_dirs(
            &["a/", "a/b/"],
            &[("a/f", b"1"), ("a/b/g", b"2")],
        ))
        .expect("directories named and implied alike");
    }

    /// A zip whose headers claim each entry is 1 byte, while its data inflates to far more:
    /// only the bytes actually written count, and they stop at the limit.
    #[test]
    fn a_size_lying_zip_is_stopped_by_what_is_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let limits = CodeLimits {
            max_unzipped: 1 << 20,
            ..CodeLimits::default()
        };
        let s = CodeStore::open(dir.path().join("code"), limits).expect("open");
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        w.start_file("big", opts).expect("start");
        w.write_all(&vec![0u8; 8 << 20]).expect("write");
        let mut bytes = w.finish().expect("finish").into_inner();
        // Rewrite the uncompressed size (local header offset 22, central directory offset 24)
        // to 1.
        let mut lied = 0;
        for sig_at in 0..bytes.len().saturating_sub(4) {
            let sig = &bytes[sig_at..sig_at + 4];
            let field = if sig == [0x50, 0x4b, 0x03, 0x04] {
                22
            } else if sig == [0x50, 0x4b, 0x01, 0x02] {
                24
            } else {
                continue;
            };
            bytes[sig_at + field..sig_at + field + 4].copy_from_slice(&1u32.to_le_bytes());
            lied += 1;
        }
        assert_eq!(lied, 2, "both headers found");
        let e = s.put(&bytes).expect_err("refused");
        assert!(matches!(e, CodeError::UnzippedTooLarge), "{e}");
        assert!(tree_is_empty(&s), "nothing of it kept");
    }

    fn store() -> (tempfile::TempDir, CodeStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = CodeStore::open(dir.path().join("code"), CodeLimits::default()).expect("open");
        (dir, s)
    }

    #[test]
    fn unpacks_once_read_only() {
        let (_d, s) = store();
        let z = zip_of(&[
            ("app.py", b"def handler(e, c): return 1\n"),
            ("pkg/mod.py", b"x = 1\n"),
        ]);
        let code = s.put(&z).expect("put");
        assert_eq!(code.size, z.len() as u64);
        let dir = s.package_dir(&code.sha256_hex);
        assert_eq!(fs::read(dir.join("pkg/mod.py")).expect("read"), b"x = 1\n");
        let mode = fs::metadata(dir.join("app.py"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o444);
        assert_eq!(s.put(&z).expect("again").sha256_hex, code.sha256_hex);
        assert_eq!(s.list().expect("list"), vec![code.sha256_hex.clone()]);
        let removed = s.collect_garbage(&HashSet::new()).expect("gc");
        assert_eq!(removed, 3, "its tree, manifest and zip");
        assert!(!s.contains(&code.sha256_hex));
        assert!(!s.manifest_path(&code.sha256_hex).exists());
    }

    #[test]
    fn the_manifest_covers_the_whole_tree_and_check_sees_every_change() {
        let (_d, s) = store();
        let z = zip_of(&[
            ("app.py", b"def handler(e, c): return 1\n"),
            ("lib/deep/er/mod.py", b"x = 1\n"),
            ("lib/odd name\nwith newline.txt", b"odd"),
        ]);
        let sha = s.put(&z).expect("put").sha256_hex;
        assert_eq!(s.verify(&sha).expect("verify"), Vec::<String>::new());
        let manifest = fs::read_to_string(s.manifest_path(&sha)).expect("manifest");
        // Every directory, nested ones too, and every file with its digest.
        for needle in [
            "\"lib\" dir 555",
            "\"lib/deep/er\" dir 555",
            "\"app.py\" file 444 ",
        ] {
            assert!(manifest.contains(needle), "{needle} in {manifest}");
        }
        assert_eq!(manifest.lines().count(), 6, "{manifest}");

        let pkg = s.package_dir(&sha);
        let deep = pkg.join("lib/deep/er");
        let writable = |p: &Path, mode| fs::set_permissions(p, fs::Permissions::from_mode(mode));
        writable(&deep, 0o755).expect("chmod");
        writable(&deep.join("mod.py"), 0o644).expect("chmod");
        fs::write(deep.join("mod.py"), b"x = 2\n").expect("tamper");
        fs::write(deep.join("extra.py"), b"").expect("add");
        let problems = s.verify(&sha).expect("verify").join("\n");
        assert!(
            problems.contains("\"lib/deep/er/mod.py\" changed"),
            "{problems}"
        );
        assert!(
            problems.contains("\"lib/deep/er/extra.py\" was added"),
            "{problems}"
        );
        assert!(
            problems.contains("\"lib/deep/er\" changed"),
            "the mode: {problems}"
        );
        fs::remove_file(pkg.join("app.py")).expect("remove");
        let problems = s.verify(&sha).expect("verify").join("\n");
        assert!(problems.contains("\"app.py\" is missing"), "{problems}");
        // The zip itself is checked against its name.
        let zip = s.zip_path(&sha);
        writable(&zip, 0o644).expect("chmod");
        fs::write(&zip, b"not the zip").expect("tamper");
        let problems = s.verify(&sha).expect("verify").join("\n");
        assert!(
            problems.contains("its digest is not its name"),
            "{problems}"
        );
    }

    #[test]
    fn packages_of_an_older_release_get_their_manifest() {
        let (_d, s) = store();
        let sha = s.put(&zip_of(&[("app.py", b"x")])).expect("put").sha256_hex;
        fs::remove_file(s.manifest_path(&sha)).expect("remove");
        assert!(!s.contains(&sha));
        assert_eq!(s.add_missing_manifests().expect("add"), 1);
        assert_eq!(s.add_missing_manifests().expect("again"), 0);
        assert_eq!(s.verify(&sha).expect("verify"), Vec::<String>::new());
    }

    #[test]
    fn refuses_escaping_names() {
        let (d, s) = store();
        for name in ["../evil.txt", "/etc/evil.txt", "a/../../evil.txt"] {
            let z = zip_of(&[(name, b"x")]);
            assert!(matches!(s.put(&z), Err(CodeError::UnsafePath(_))), "{name}");
        }
        assert!(!d.path().join("evil.txt").exists());
        assert!(!d.path().join("code/evil.txt").exists());
    }

    #[test]
    fn link_rules() {
        let links: HashSet<PathBuf> = [PathBuf::from("a")].into_iter().collect();
        assert_eq!(
            resolve_link(Path::new("lib/x"), "../y", &links),
            Some(PathBuf::from("y"))
        );
        assert_eq!(resolve_link(Path::new("x"), "../y", &links), None);
        assert_eq!(resolve_link(Path::new("x"), "/etc", &links), None);
        assert_eq!(resolve_link(Path::new("b"), "a/..", &links), None);
    }

    #[test]
    fn corrupt_and_oversized() {
        let (_d, s) = store();
        assert!(matches!(s.put(b"not a zip"), Err(CodeError::Corrupt(_))));
        let small = CodeStore {
            root: s.root.clone(),
            limits: CodeLimits {
                max_zipped: 10,
                ..CodeLimits::default()
            },
        };
        assert!(matches!(
            small.put(&[0u8; 11]),
            Err(CodeError::ZippedTooLarge(11))
        ));
        let tight = CodeStore {
            root: s.root.clone(),
            limits: CodeLimits {
                max_unzipped: 100,
                ..CodeLimits::default()
            },
        };
        let z = zip_of(&[("big", &[0u8; 101])]);
        assert!(matches!(tight.put(&z), Err(CodeError::UnzippedTooLarge)));
        assert!(fs::read_dir(s.root.join("tmp"))
            .expect("tmp")
            .next()
            .is_none());
    }
}
