//! Records the commit prgate is built from, for `prgate_build_info`: `PRGATE_GIT_COMMIT` when
//! whoever builds sets it (a release pipeline, a source tarball), else, in release builds,
//! what git says, else nothing (the metric then says `unknown`). Debug builds do not ask git:
//! the commit would change with every commit and rebuild the crate and every test binary.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-env-changed=PRGATE_GIT_COMMIT");
    if let Ok(commit) = std::env::var("PRGATE_GIT_COMMIT") {
        println!("cargo:rustc-env=PRGATE_GIT_COMMIT={}", commit.trim());
        return;
    }
    if std::env::var("PROFILE").as_deref() != Ok("release") {
        return;
    }
    let Some(commit) = git(&["rev-parse", "--short=12", "HEAD"]) else {
        return;
    };
    println!("cargo:rustc-env=PRGATE_GIT_COMMIT={commit}");
    // Build again when HEAD moves: HEAD itself (a checkout), the branch it points at (a
    // commit) and packed refs. Only files that exist, or cargo would rerun this every time.
    let mut watched = vec![git(&["rev-parse", "--git-path", "HEAD"])];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(git(&["rev-parse", "--git-path", &branch]));
    }
    watched.push(git(&["rev-parse", "--git-path", "packed-refs"]));
    for path in watched.into_iter().flatten() {
        if std::path::Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}
