//! The code unpacker over arbitrary archives: never a panic, never a byte outside its work
//! directory, nothing left behind, and the limits hold for whatever it accepts.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use nimbus_store::code::{CodeLimits, CodeStore};

/// A code store on tmpfs when there is one (the unpacker writes every file it accepts).
fn store() -> &'static (PathBuf, CodeStore) {
    static STORE: OnceLock<(PathBuf, CodeStore)> = OnceLock::new();
    STORE.get_or_init(|| {
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let root = base.join(format!("nimbus-fuzz-unzip-{}", std::process::id()));
        let limits = CodeLimits {
            max_unzipped: 8 << 20,
            ..CodeLimits::default()
        };
        let store = CodeStore::open(&root, limits).expect("open the code store");
        (root, store)
    })
}

/// Every path under `dir`, links not followed.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        out.push(p.clone());
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            walk(&p, out);
        }
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (root, store) = store();
    // `check` unpacks into a work directory of the store and removes it: whether it accepts
    // the archive or not, the store holds nothing afterwards, and nothing appeared elsewhere.
    let _ = store.check(data);
    let mut left = Vec::new();
    walk(&root.join("tmp"), &mut left);
    assert!(left.is_empty(), "left behind: {left:?}");
    let mut all = Vec::new();
    walk(root, &mut all);
    for p in &all {
        assert!(p.starts_with(root), "{p:?} outside the store");
    }
    assert!(
        all.iter().all(|p| ["tmp", "zips", "pkgs", "manifests"]
            .iter()
            .any(|d| p == &root.join(d))),
        "unexpected entries: {all:?}"
    );
});
