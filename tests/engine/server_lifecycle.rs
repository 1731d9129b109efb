//! Starting, stopping and dropping servers, as test suites do thousands of times.

use std::time::{Duration, Instant};

use vidmock::MockServer;

#[tokio::test(flavor = "current_thread")]
async fn a_server_answers_under_a_current_thread_runtime() {
    let server = MockServer::start().await;

    let response = reqwest::get(format!("{}/__vidmock/health", server.uri()))
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_answers_under_a_multi_thread_runtime() {
    let server = MockServer::start().await;

    let response = reqwest::get(format!("{}/__vidmock/health", server.uri()))
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn servers_listen_on_loopback_on_distinct_ports() {
    let (a, b) = (MockServer::start().await, MockServer::start().await);

    assert!(a.address().ip().is_loopback());
    assert_ne!(a.address().port(), b.address().port());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_to_a_dropped_server_is_refused() {
    let server = MockServer::start().await;
    let address = server.address();

    drop(server);

    let error = tokio::net::TcpStream::connect(address).await.unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[tokio::test]
async fn dropping_a_server_ends_its_open_connections() {
    let server = MockServer::start().await;
    let client = reqwest::Client::new();
    client
        .get(format!("{}/__vidmock/health", server.uri()))
        .send()
        .await
        .unwrap();
    let address = server.address();

    drop(server);

    // The pooled keep-alive connection is gone: a new request cannot reach anything.
    let result = client
        .get(format!("http://{address}/__vidmock/health"))
        .send()
        .await;
    assert!(result.is_err(), "{result:?}");
}

#[tokio::test]
async fn shutdown_frees_the_port_for_a_new_server() {
    let server = MockServer::start().await;
    let address = server.address();

    server.shutdown().await;

    let again = MockServer::builder().bind(address).try_start().await;
    assert!(again.is_ok(), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_thousand_live_servers_in_one_loop_completes_promptly() {
    let mut servers = Vec::new();
    for _ in 0..1000 {
        servers.push(MockServer::start().await);
    }
    let started = Instant::now();

    drop(servers);

    // Not a performance assertion: a livelock would never finish; a generous bound catches it.
    assert!(started.elapsed() < Duration::from_secs(20));
}
