//! Installing the outside packages the tests check against, once: test binaries run in
//! parallel, so an install takes a file lock in the target folder, and whoever waited on it
//! looks again before installing.

use std::fs::{self, OpenOptions};
use std::path::Path;
use std::sync::Mutex;

/// Makes sure `installed(dir)` holds, running `install(dir)` under a lock when it does not.
/// `what` names the packages and how to pre-install them, for the panics.
pub fn once(
    dir: &Path,
    what: &str,
    installed: impl Fn(&Path) -> bool,
    install: impl FnOnce(&Path),
) {
    static IN_PROCESS: Mutex<()> = Mutex::new(());
    let _guard = IN_PROCESS.lock().unwrap_or_else(|e| e.into_inner());
    if installed(dir) {
        return;
    }
    fs::create_dir_all(dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    let lock_path = dir.join(".install.lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", lock_path.display()));
    lock.lock()
        .unwrap_or_else(|e| panic!("cannot lock {}: {e}", lock_path.display()));
    if installed(dir) {
        return;
    }
    install(dir);
    assert!(
        installed(dir),
        "the install finished but {what} are not all under {}",
        dir.display()
    );
}
