//! The official clients, installed from their registries at pinned versions and unmodified,
//! driven against the `vidmock` binary (see tests/compat/README.md). They are the judge of
//! fidelity: this test fails when any of their checks fails, and when the compatibility
//! matrix in the README no longer matches what the clients just did.

use std::process::Command;

const START: &str = "<!-- compat-matrix:start -->\n";
const END: &str = "<!-- compat-matrix:end -->";

#[test]
fn the_official_clients_work_against_the_binary_and_the_readme_matrix_is_current() {
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
    let matrix = std::fs::read_to_string(format!("{root}/target/compat/matrix.md"))
        .expect("the compat suite writes target/compat/matrix.md");
    let readme_path = format!("{root}/README.md");
    let readme = std::fs::read_to_string(&readme_path).expect("README.md");
    let (Some(start), Some(end)) = (readme.find(START), readme.find(END)) else {
        panic!("README.md has no {START:?} … {END:?} block for the matrix");
    };
    let current = &readme[start + START.len()..end];
    if current != matrix {
        if std::env::var_os("VIDMOCK_UPDATE_MATRIX").is_some() {
            let updated = format!("{}{START}{matrix}{}", &readme[..start], &readme[end..]);
            std::fs::write(&readme_path, updated).expect("README.md is writable");
        } else {
            panic!(
                "the README's compatibility matrix differs from this run's \
                 (target/compat/matrix.md); rerun with VIDMOCK_UPDATE_MATRIX=1 to update it"
            );
        }
    }
}
