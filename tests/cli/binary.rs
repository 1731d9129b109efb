//! The `vidmock` binary run as a child process, and the files it is given.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};

/// A child process with its stdout piped, killed when dropped so that no failed test leaves a
/// server behind.
pub struct Running {
    pub child: Child,
    /// Kept open for as long as the process runs: it must never write to a closed pipe.
    pub stdout: BufReader<ChildStdout>,
}

impl Running {
    /// Spawns `command` with stdout piped and stderr discarded.
    pub fn spawn(command: &mut Command) -> Running {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Running { child, stdout }
    }

    /// The next line the process printed, without its line ending; `None` once stdout is
    /// closed.
    pub fn line(&mut self) -> Option<String> {
        let mut line = String::new();
        if self.stdout.read_line(&mut line).unwrap() == 0 {
            return None;
        }
        Some(line.trim_end().to_owned())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An empty directory `vidmock-NAME-PID` under the system's temporary directory: one name per
/// test, as every test of this binary shares its process id.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vidmock-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
