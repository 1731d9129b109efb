//! The edge: the admin API answers its owner only (no CORS for other origins, nothing changed
//! from another origin, no rebound `Host`), connections that stall are shed while requests in
//! progress are not, and an empty admin token is refused at start.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vidmock::{Fault, MockServer};

use crate::common::{basic, client, send};

const ELSEWHERE: &str = "http://attacker.example";

/// What the server sent on `socket` until it closed it, or `None` if it was still open after
/// `wait`.
async fn until_closed(socket: &mut TcpStream, wait: Duration) -> Option<Vec<u8>> {
    let mut seen = Vec::new();
    match tokio::time::timeout(wait, socket.read_to_end(&mut seen)).await {
        Ok(Ok(_)) => Some(seen),
        // A reset is a close too.
        Ok(Err(_)) => Some(seen),
        Err(_) => None,
    }
}

fn short(millis: u64) -> Option<Duration> {
    Some(Duration::from_millis(millis))
}

#[tokio::test]
async fn a_page_of_another_origin_can_neither_read_nor_change_the_admin_api() {
    // Arrange: the probe's requests, without CORS too, and with the token a page could know.
    for cors in [true, false] {
        let server = MockServer::builder()
            .cors(cors)
            .admin_token("s3cret")
            .start()
            .await;
        let token = server.apivideo().create_token(None).token;
        server.fault(Fault::close()).named("kept").mount();
        let admin = |path: &str| format!("{}/__vidmock{path}?token=s3cret", server.uri());

        // Act
        let reads = [
            send(client().get(admin("/state")).header("origin", ELSEWHERE)).await,
            send(client().get(admin("/requests")).header("origin", ELSEWHERE)).await,
        ];
        let changes = [
            send(
                client()
                    .post(admin("/reset"))
                    .header("origin", ELSEWHERE)
                    .header("content-type", "text/plain")
                    .body("x"),
            )
            .await,
            send(
                client()
                    .post(admin("/faults"))
                    .header("sec-fetch-site", "cross-site")
                    .header("sec-fetch-mode", "no-cors")
                    .header("content-type", "text/plain")
                    .body(r#"{"action": {"type": "hang"}}"#),
            )
            .await,
            send(
                client()
                    .delete(admin("/faults"))
                    .header("origin", "http://localhost:3000")
                    .header("sec-fetch-site", "same-site"),
            )
            .await,
        ];

        // Assert
        for answer in reads.iter().chain(&changes) {
            assert_eq!(answer.status, 403, "{answer:?}");
            assert_eq!(answer.header("access-control-allow-origin"), None);
            let message = answer.json()["error"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            assert!(message.contains("its own origin only"), "{message}");
        }
        assert!(server.apivideo().token(&token).is_some(), "not reset");
        assert_eq!(server.faults().len(), 1, "no fault planted or removed");
    }
}

#[tokio::test]
async fn the_admin_api_sends_no_cors_headers_while_vendor_routes_keep_theirs() {
    // Arrange
    let server = MockServer::start().await;
    let preflight = |path: &str| {
        client()
            .request(reqwest::Method::OPTIONS, format!("{}{path}", server.uri()))
            .header("origin", "http://localhost:5173")
            .header("access-control-request-method", "POST")
    };

    // Act
    let admin = send(preflight("/__vidmock/reset")).await;
    let dashboard = send(client().get(format!("{}/__vidmock/", server.uri()))).await;
    let vendor = send(preflight("/upload?token=toX")).await;

    // Assert
    assert_eq!(admin.header("access-control-allow-origin"), None);
    assert_eq!(admin.header("access-control-allow-methods"), None);
    assert_eq!(dashboard.header("access-control-allow-origin"), None);
    assert_eq!(vendor.header("access-control-allow-origin"), Some("*"));
}

#[tokio::test]
async fn the_dashboard_its_own_origin_and_programs_are_answered() {
    // Arrange
    let server = MockServer::start().await;
    let own = server.uri();
    let host = server.address().to_string();

    // Act
    let followed_link = send(
        client()
            .get(format!("{own}/__vidmock/"))
            .header("sec-fetch-site", "cross-site")
            .header("sec-fetch-mode", "navigate"),
    )
    .await;
    let own_page_reads = send(
        client()
            .get(format!("{own}/__vidmock/state"))
            .header("origin", format!("http://{host}"))
            .header("sec-fetch-site", "same-origin"),
    )
    .await;
    let own_page_resets = send(
        client()
            .post(format!("{own}/__vidmock/reset"))
            .header("origin", format!("http://{}", host.to_uppercase()))
            .header("sec-fetch-site", "same-origin"),
    )
    .await;
    let program = send(client().post(format!("{own}/__vidmock/reset"))).await;

    // Assert
    assert_eq!(followed_link.status, 200);
    assert_eq!(own_page_reads.status, 200);
    assert_eq!(own_page_resets.status, 204);
    assert_eq!(program.status, 204);
}

#[tokio::test]
async fn a_request_with_a_rebinding_host_is_refused_on_every_route() {
    // Arrange
    let server = MockServer::builder()
        .allowed_host("mock.test")
        .start()
        .await;
    let port = server.address().port();
    let named = |host: String, path: &str| {
        basic(
            client()
                .get(format!("{}{path}", server.uri()))
                .header("host", host),
            "vidmock-api-key",
        )
    };

    // Act
    let rebound_admin = send(named(
        format!("rebind.attacker.example:{port}"),
        "/__vidmock/state",
    ))
    .await;
    let rebound_vendor = send(named(
        format!("rebind.attacker.example:{port}"),
        "/upload-tokens",
    ))
    .await;
    let allowed = [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        "mock.test:9999".to_owned(),
        "10.1.2.3".to_owned(),
    ];
    let mut answered = Vec::new();
    for host in allowed {
        answered.push(send(named(host, "/upload-tokens")).await.status);
    }

    // Assert
    for refused in [&rebound_admin, &rebound_vendor] {
        assert_eq!(refused.status, 403, "{refused:?}");
        let message = refused.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            message.contains("DNS rebinding")
                && message.contains("--allowed-host rebind.attacker.example"),
            "{message}"
        );
    }
    assert_eq!(answered, [200; 5]);
    assert_eq!(
        server.received_requests().len(),
        5,
        "only the allowed ones reached the journal"
    );
}

#[tokio::test]
async fn a_request_without_host_is_answered_as_http_1_0_clients_send_it() {
    // Arrange
    let server = MockServer::start().await;
    let mut socket = TcpStream::connect(server.address()).await.unwrap();

    // Act
    socket
        .write_all(b"GET /__vidmock/health HTTP/1.0\r\n\r\n")
        .await
        .unwrap();
    let answer = until_closed(&mut socket, Duration::from_secs(5)).await;

    // Assert
    let answer = String::from_utf8_lossy(&answer.expect("answered and closed")).into_owned();
    assert!(
        answer.starts_with("HTTP/1.") && answer.contains(" 200 "),
        "{answer}"
    );
}

#[tokio::test]
async fn any_host_is_answered_when_allowed_with_a_star() {
    // Arrange
    let server = MockServer::builder().allowed_host("*").start().await;

    // Act
    let answer = send(
        client()
            .get(format!("{}/__vidmock/health", server.uri()))
            .header("host", "anything.example"),
    )
    .await;

    // Assert
    assert_eq!(answer.status, 200);
}

#[tokio::test]
async fn connections_sending_half_a_head_are_closed_after_the_header_timeout() {
    // Arrange
    let server = MockServer::builder()
        .header_read_timeout(short(300))
        .idle_timeout(short(5_000))
        .start()
        .await;
    let mut sockets = Vec::new();
    for _ in 0..20 {
        let mut socket = TcpStream::connect(server.address()).await.unwrap();
        socket
            .write_all(b"GET /upload-tokens HTTP/1.1\r\nHost: localhost\r\nX-Partial: ")
            .await
            .unwrap();
        sockets.push(socket);
    }
    let started = Instant::now();

    // Act
    let mut closed = Vec::new();
    for socket in &mut sockets {
        closed.push(until_closed(socket, Duration::from_secs(4)).await);
    }

    // Assert
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
    for seen in closed {
        assert_eq!(seen.as_deref(), Some(&b""[..]), "closed without an answer");
    }
    assert!(server.received_requests().is_empty());
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_the_idle_timeout_once_its_answer_is_out() {
    // Arrange
    let server = MockServer::builder()
        .header_read_timeout(short(5_000))
        .idle_timeout(short(300))
        .start()
        .await;
    let mut silent = TcpStream::connect(server.address()).await.unwrap();
    let mut used = TcpStream::connect(server.address()).await.unwrap();

    // Act
    used.write_all(b"GET /__vidmock/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let silent_closed = until_closed(&mut silent, Duration::from_secs(3)).await;
    let used_seen = until_closed(&mut used, Duration::from_secs(3)).await;

    // Assert
    assert_eq!(silent_closed.as_deref(), Some(&b""[..]));
    let used_seen = String::from_utf8_lossy(&used_seen.expect("closed")).into_owned();
    assert!(
        used_seen.starts_with("HTTP/1.1 200"),
        "answered first: {used_seen}"
    );
}

#[tokio::test]
async fn a_body_that_stops_arriving_gets_an_answer_and_its_connection_closes() {
    // Arrange: the probe's request, a Kaltura upload declaring 1e12 bytes that sends 6.
    let server = MockServer::builder()
        .body_stall_timeout(short(300))
        .start()
        .await;
    let mut socket = TcpStream::connect(server.address()).await.unwrap();
    let head = "POST /api_v3/service/system/action/ping?format=1 HTTP/1.1\r\nHost: localhost\r\n\
                Content-Type: application/x-www-form-urlencoded\r\n\
                Content-Length: 1000000000000\r\n\r\nks=abc";

    // Act
    socket.write_all(head.as_bytes()).await.unwrap();
    let seen = until_closed(&mut socket, Duration::from_secs(5)).await;

    // Assert
    let seen = String::from_utf8_lossy(&seen.expect("closed within 5 s")).into_owned();
    assert!(
        seen.starts_with("HTTP/1.1 "),
        "an answer before the close: {seen}"
    );
    assert!(!seen.starts_with("HTTP/1.1 500"), "{seen}");
}

#[tokio::test]
async fn a_scripted_hang_outlives_every_connection_timeout() {
    // Arrange
    let server = MockServer::builder()
        .header_read_timeout(short(100))
        .idle_timeout(short(100))
        .body_stall_timeout(short(100))
        .start()
        .await;
    server.fault(Fault::hang()).mount();
    let mut socket = TcpStream::connect(server.address()).await.unwrap();

    // Act
    socket
        .write_all(b"GET /upload-tokens HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let seen = until_closed(&mut socket, Duration::from_millis(1_000)).await;

    // Assert
    assert_eq!(seen, None, "still open, still unanswered, as a hang is");
}

#[tokio::test]
async fn a_dribbled_answer_slower_than_every_timeout_arrives_whole() {
    // Arrange
    let server = MockServer::builder()
        .header_read_timeout(short(100))
        .idle_timeout(short(100))
        .body_stall_timeout(short(100))
        .start()
        .await;
    server
        .fault(Fault::dribble(40, Duration::from_millis(150)))
        .mount();

    // Act
    let answer = send(basic(
        client().get(format!("{}/upload-tokens", server.uri())),
        "vidmock-api-key",
    ))
    .await;

    // Assert
    assert_eq!(answer.status, 200);
    assert!(answer.json()["data"].is_array(), "{}", answer.text);
}

#[tokio::test]
async fn an_empty_admin_token_is_refused_at_start() {
    // Arrange, Act
    let error = MockServer::builder()
        .admin_token("")
        .try_start()
        .await
        .unwrap_err();
    let host = MockServer::builder()
        .allowed_host("not a host")
        .try_start()
        .await
        .unwrap_err();

    // Assert
    assert!(
        matches!(error, vidmock::Error::EmptyAdminToken),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("admin token is empty"),
        "{error}"
    );
    assert!(
        matches!(&host, vidmock::Error::AllowedHost { host } if host == "not a host"),
        "{host:?}"
    );
}

#[tokio::test]
async fn the_token_in_a_query_must_be_the_whole_token() {
    // Arrange
    let server = MockServer::builder().admin_token("s3cret").start().await;
    let health = format!("{}/__vidmock/health", server.uri());

    // Act
    let mut statuses = Vec::new();
    for given in ["", "s3cre", "s3cret0", "S3CRET", "s3cret"] {
        statuses.push(
            send(client().get(format!("{health}?token={given}")))
                .await
                .status,
        );
    }

    // Assert
    assert_eq!(statuses, [401, 401, 401, 401, 200]);
}
