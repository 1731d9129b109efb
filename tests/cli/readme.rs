//! The README's curl recipes, run against the binary: a newcomer copies them first, so each one
//! must keep working (tests/readme/recipes.sh runs every "```sh recipe" block in order).

use std::process::Command;

#[test]
fn every_curl_recipe_in_the_readme_runs_against_the_binary() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let recipes = readme
        .lines()
        .filter(|line| line.trim_end() == "```sh recipe")
        .count();

    let output = Command::new("bash")
        .arg(format!("{root}/tests/readme/recipes.sh"))
        .arg(env!("CARGO_BIN_EXE_vidmock"))
        .arg(format!("{root}/README.md"))
        .output()
        .expect("bash runs");

    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "a README recipe failed:\n{stdout}\n{stderr}"
    );
    assert!(recipes >= 10, "the README has {recipes} recipes");
    assert!(
        stdout.contains(&format!("{recipes} passed, 0 failed")),
        "{stdout}\n{stderr}"
    );
}
