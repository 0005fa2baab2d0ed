//! Finds npm packages the tests cross-check against (GitHub's example deliveries, Octokit's
//! reference signer). They are looked up under `$PRGATE_NPM_DIR` (default
//! `<crate>/target/npm`) and installed there with `npm install` when absent, so that CI can
//! pre-install them once.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The directory whose `node_modules/` holds the packages.
pub fn npm_dir() -> PathBuf {
    match std::env::var_os("PRGATE_NPM_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join("npm"),
    }
}

/// Every package the tests use. An install always names them all: `npm install --no-save`
/// removes what it is not told to keep, and tests in one binary use node side by side, so an
/// install of one package must never take another's away mid-test.
const ALL: &[&str] = &[
    "@octokit/openapi",
    "@octokit/webhooks-examples",
    "@octokit/webhooks-methods",
    "@octokit/graphql-schema",
    "graphql",
];

/// Makes sure every package in `packages` is installed under [`npm_dir`] and returns that
/// directory. Panics with what to do when npm is missing or the install fails.
pub fn ensure(packages: &[&str]) -> PathBuf {
    let dir = npm_dir();
    let installed = |dir: &Path| {
        packages.iter().all(|p| {
            dir.join("node_modules")
                .join(p)
                .join("package.json")
                .is_file()
        })
    };
    let what = format!("{packages:?}");
    super::install::once(&dir, &what, installed, |dir| {
        let mut all: Vec<&str> = ALL.to_vec();
        all.extend(packages.iter().filter(|p| !ALL.contains(p)));
        let status = Command::new("npm")
            .args(["install", "--no-save", "--no-audit", "--no-fund", "--prefix"])
            .arg(dir)
            .args(&all)
            .status()
            .unwrap_or_else(|e| panic!("cannot run npm ({e}); install Node.js and npm, or pre-install {packages:?} under {} (PRGATE_NPM_DIR)", dir.display()));
        assert!(
            status.success(),
            "npm install {packages:?} into {} failed: {status}",
            dir.display()
        );
    });
    dir
}

/// Runs an ES module snippet with `node`, from `dir` (so that its imports resolve there),
/// giving it `stdin` and returning its stdout.
pub fn run_node_module(dir: &Path, script: &str, stdin: &[u8]) -> Vec<u8> {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new("node")
        .current_dir(dir)
        .args(["--input-type=module", "-e", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run node ({e}); install Node.js"));
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin).expect("write to node");
    }
    let out = child.wait_with_output().expect("wait for node");
    assert!(out.status.success(), "node failed: {}", out.status);
    out.stdout
}
