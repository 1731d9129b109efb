//! The binary at the edge: an empty admin token stops the start, and a process out of file
//! descriptors, held by connections that send half a request, keeps answering.

use std::process::{Command, Stdio};

#[cfg(unix)]
use crate::binary::Running;

#[test]
fn an_empty_admin_token_stops_the_start_with_exit_code_2() {
    // Arrange
    let given = [
        (vec!["--port", "0", "--admin-token", ""], None),
        (vec!["--port", "0"], Some("")),
    ];

    for (args, env) in given {
        let mut command = Command::new(env!("CARGO_BIN_EXE_vidmock"));
        command
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(value) = env {
            command.env("VIDMOCK_ADMIN_TOKEN", value);
        }

        // Act
        let output = command.output().unwrap();

        // Assert
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?} {env:?}: {stderr}");
        assert!(
            stderr.contains("--admin-token: the admin token is empty"),
            "{stderr}"
        );
        assert!(output.stdout.is_empty(), "nothing listened");
    }
}

#[test]
fn an_allowed_host_that_is_not_a_host_stops_the_start_with_exit_code_2() {
    // Arrange, Act
    let output = Command::new(env!("CARGO_BIN_EXE_vidmock"))
        .args(["--port", "0", "--allowed-host", "a/b"])
        .output()
        .unwrap();

    // Assert
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--allowed-host"), "{stderr}");
}

/// Out of descriptors: the binary under `ulimit -n 1024` holds 1,100 connections that each
/// sent half a request head. Health still answers within a second (quiet connections are shed
/// to make room, the longest-quiet first), and the header timeout closes the rest.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_file_descriptors_the_binary_still_answers_its_health_check_within_a_second() {
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    // Arrange
    let mut running = Running::spawn(
        Command::new("sh")
            .arg("-c")
            .arg("ulimit -n 1024 && exec \"$0\" --port 0 --header-read-timeout 3")
            .arg(env!("CARGO_BIN_EXE_vidmock")),
    );
    let first = running.line().expect("a first line");
    let address = first
        .strip_prefix("vidmock listening on http://")
        .expect("the address")
        .to_owned();
    let mut hostile = Vec::new();
    for _ in 0..1_100 {
        let mut socket = match TcpStream::connect(&address).await {
            Ok(socket) => socket,
            Err(error) if error.raw_os_error() == Some(24) => {
                eprintln!("skipped: this test process cannot open 1,100 sockets ({error})");
                return;
            }
            Err(error) => panic!("{error}"),
        };
        socket
            .write_all(b"GET /__vidmock/health HTTP/1.1\r\nHost: localhost\r\nX-Partial: ")
            .await
            .unwrap();
        hostile.push(socket);
    }
    // The server has taken what its descriptors allow, and the rest wait in its queue.
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Act
    let started = Instant::now();
    let health = async {
        let mut socket = TcpStream::connect(&address).await.unwrap();
        socket
            .write_all(
                b"GET /__vidmock/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            )
            .await
            .unwrap();
        let mut answer = Vec::new();
        let _ = socket.read_to_end(&mut answer).await;
        answer
    };
    let answer = tokio::time::timeout(Duration::from_secs(1), health).await;
    let took = started.elapsed();
    let mut still_open = 0;
    tokio::time::sleep(Duration::from_secs(4)).await;
    for socket in &mut hostile {
        let mut byte = [0u8; 1];
        match tokio::time::timeout(Duration::from_millis(5), socket.read(&mut byte)).await {
            Ok(Ok(0) | Err(_)) => {}
            _ => still_open += 1,
        }
    }

    // Assert
    let answer = answer.unwrap_or_else(|_| panic!("no answer within a second ({took:?})"));
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""status":"ok""#), "{answer}");
    assert_eq!(
        still_open, 0,
        "every half-sent head was closed after the header timeout"
    );
    assert!(running.child.try_wait().unwrap().is_none(), "still running");
}
