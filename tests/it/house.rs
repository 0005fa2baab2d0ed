//! The shape of the code base itself: no import circle between the library's top-level
//! modules, nor between the files of any one folder (library and simulator), as
//! `scripts/module-graph.py` reads them from the `use` paths.

use std::process::Command;

/// What `scripts/module-graph.py src` prints and says.
fn module_graph() -> std::process::Output {
    let root = env!("CARGO_MANIFEST_DIR");
    Command::new("python3")
        .arg(format!("{root}/scripts/module-graph.py"))
        .arg(format!("{root}/src"))
        .output()
        .expect("python3 runs scripts/module-graph.py")
}

#[test]
fn no_import_circle_between_modules_or_between_the_files_of_a_folder() {
    let out = module_graph();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("no cycle between the files of a folder"),
        "{stderr}"
    );
}

/// docs/architecture.md draws the module graph; it is the graph the code has, not the one it
/// had when the page was written.
#[test]
fn the_architecture_page_draws_the_graph_the_code_has() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = module_graph();
    let drawn = String::from_utf8_lossy(&out.stdout);
    let graph = drawn
        .split("```")
        .nth(1)
        .expect("module-graph.py prints a mermaid block");
    let page = std::fs::read_to_string(format!("{root}/docs/architecture.md")).unwrap();
    assert!(
        page.contains(graph),
        "docs/architecture.md's graph differs from the code's; paste the block `python3 scripts/module-graph.py src` prints:\n{drawn}"
    );
}
