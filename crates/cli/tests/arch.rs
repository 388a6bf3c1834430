//! The crate graph of ARCHITECTURE.md, enforced: dependencies point one way, and raw Linux calls
//! (`libc`, `nix`, `rustix`) are only for the sandbox crate.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

/// Each workspace crate and the workspace crates it may depend on.
const ALLOWED: &[(&str, &[&str])] = &[
    ("nimbus-model", &[]),
    ("nimbus-store", &["nimbus-model"]),
    ("nimbus-sandbox", &[]),
    ("nimbus-engine", &["nimbus-model", "nimbus-sandbox"]),
    (
        "nimbus-server",
        &["nimbus-model", "nimbus-store", "nimbus-engine"],
    ),
    ("nimbus-cli", &["nimbus-model", "nimbus-server"]),
    // A function the compatibility tests run; it must not lean on Nimbus at all.
    ("nimbus-fixture-rust-hello", &[]),
];

const RAW_SYSCALL_CRATES: &[&str] = &["libc", "nix", "rustix"];

#[test]
fn dependency_graph_points_one_way() {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("metadata json");
    let allowed: BTreeMap<&str, BTreeSet<&str>> = ALLOWED
        .iter()
        .map(|(k, v)| (*k, v.iter().copied().collect()))
        .collect();
    let packages = meta["packages"].as_array().expect("packages");
    assert!(packages.len() >= 4);
    for p in packages {
        let name = p["name"].as_str().expect("name");
        let Some(ok) = allowed.get(name) else {
            panic!("workspace crate {name} is not in the architecture's graph: add it to ARCHITECTURE.md and this test");
        };
        for d in p["dependencies"].as_array().expect("deps") {
            let dep = d["name"].as_str().expect("dep name");
            let dev = d["kind"].as_str() == Some("dev");
            if dep.starts_with("nimbus-") && !dev {
                assert!(ok.contains(dep), "{name} must not depend on {dep}");
            }
            if RAW_SYSCALL_CRATES.contains(&dep) {
                assert_eq!(
                    name, "nimbus-sandbox",
                    "{name} uses {dep}: raw Linux calls belong in the sandbox crate"
                );
            }
        }
    }
}
