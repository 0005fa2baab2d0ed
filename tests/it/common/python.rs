//! The Python packages the tests drive prgate with (the official MCP SDK, `mcp` from PyPI).
//! They are looked up under `$PRGATE_PY_DIR` (default `<crate>/target/py`), where `.ci/run`
//! installs them with `pip install --target`.

use std::path::{Path, PathBuf};

/// The directory to put on `PYTHONPATH`. Panics with what to do when `mcp` is not there.
pub fn py_dir() -> PathBuf {
    let dir = match std::env::var_os("PRGATE_PY_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join("py"),
    };
    assert!(
        dir.join("mcp").is_dir(),
        "the MCP Python SDK is not under {}: run `python3 -m pip install --target {} mcp` (as .ci/run does), or set PRGATE_PY_DIR",
        dir.display(),
        dir.display()
    );
    dir
}
