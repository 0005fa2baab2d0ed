//! The Python packages the tests drive prgate with: the official MCP SDK (`mcp`, the client of
//! `prgate mcp`), securesystemslib's DSSE verifier and the in-toto attestation bindings (which
//! check prgate's records). They are looked up under `$PRGATE_PY_DIR` (default
//! `<crate>/target/py`) and installed there with `pip install --target` when absent, so that
//! `cargo test` alone passes on a fresh machine and CI can pre-install them once.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Every package, as pip names it, with the directory it installs (what "installed" means).
/// An install always names them all, so that one never takes another away.
const ALL: &[(&str, &str)] = &[
    ("mcp", "mcp"),
    ("securesystemslib[crypto]==1.6.0", "securesystemslib"),
    ("in-toto-attestation==0.9.3", "in_toto_attestation"),
];

fn dir() -> PathBuf {
    match std::env::var_os("PRGATE_PY_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join("py"),
    }
}

/// The directory to put on `PYTHONPATH`, with every package installed. Panics with what to
/// do when python3 or pip is missing or the install fails.
pub fn py_dir() -> PathBuf {
    let dir = dir();
    let installed = |dir: &Path| ALL.iter().all(|(_, d)| dir.join(d).is_dir());
    super::install::once(&dir, "the PyPI packages", installed, |dir| {
        let status = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target"])
            .arg(dir)
            .args(ALL.iter().map(|(p, _)| *p))
            .status()
            .unwrap_or_else(|e| panic!("cannot run python3 ({e}); install Python 3 with pip, or pre-install the packages under {} (PRGATE_PY_DIR)", dir.display()));
        assert!(
            status.success(),
            "pip install into {} failed: {status}",
            dir.display()
        );
    });
    dir
}
