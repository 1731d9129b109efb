//! The layering rule, checked on the source: outside the vendors' folders, `lib.rs`, the
//! binary and the registry, no code names a vendor or gates on a vendor's feature. Comments may
//! (an engine's docs can say which vendor needs a behaviour); code may not.

use std::path::{Path, PathBuf};

/// Where a vendor may be named.
const ALLOWED: &[&str] = &[
    "src/apivideo/",
    "src/kaltura/",
    "src/bin/",
    "src/lib.rs",
    "src/registry.rs",
];

/// What naming a vendor looks like in code, lower-cased.
const VENDOR_NAMES: &[&str] = &["apivideo", "api_video", "kaltura"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("the source folder is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// Each line of `source` that is code (not a comment) and names a vendor, with its number.
fn vendor_lines(source: &str) -> Vec<(usize, String)> {
    source
        .lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let code = match line.find("//") {
                Some(at) => &line[..at],
                None => line,
            };
            let lower = code.to_ascii_lowercase();
            VENDOR_NAMES
                .iter()
                .any(|name| lower.contains(name))
                .then(|| (i + 1, line.trim().to_owned()))
        })
        .collect()
}

#[test]
fn no_shared_file_but_the_registry_names_a_vendor() {
    // Arrange
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);

    // Act
    let mut offences = Vec::new();
    for file in &files {
        let relative = file
            .strip_prefix(root)
            .expect("under the crate")
            .to_string_lossy()
            .replace('\\', "/");
        if ALLOWED.iter().any(|allowed| relative.starts_with(allowed)) {
            continue;
        }
        let source = std::fs::read_to_string(file).expect("a readable source file");
        for (line, code) in vendor_lines(&source) {
            offences.push(format!("{relative}:{line}: {code}"));
        }
    }

    // Assert
    assert!(
        files.len() > 20,
        "the walk found the sources ({} files)",
        files.len()
    );
    assert!(
        offences.is_empty(),
        "shared code names a vendor; reach it through the registry instead:\n{}",
        offences.join("\n")
    );
}

#[test]
fn the_check_sees_a_vendor_in_code_but_not_in_a_comment() {
    // Arrange
    let source = "use crate::kaltura::Backend;\n/// Kaltura answers itself.\nlet x = 1; // apivideo\n#[cfg(feature = \"apivideo\")]\n";

    // Act
    let lines: Vec<usize> = vendor_lines(source).into_iter().map(|(n, _)| n).collect();

    // Assert
    assert_eq!(lines, vec![1, 4]);
}
