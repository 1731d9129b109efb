//! The official clients, installed from their registries at pinned versions and unmodified,
//! driven against the `vidmock` binary (see tests/compat/README.md). They are the judge of
//! fidelity: this test fails when any of their checks fails.

use std::process::Command;

#[test]
fn the_official_apivideo_clients_work_against_the_binary() {
    let root = env!("CARGO_MANIFEST_DIR");

    let status = Command::new("bash")
        .arg(format!("{root}/tests/compat/run.sh"))
        .arg(env!("CARGO_BIN_EXE_vidmock"))
        .current_dir(root)
        .status()
        .expect("bash runs");

    assert!(
        status.success(),
        "the compat suite failed; see its output above and target/compat/results/"
    );
}
