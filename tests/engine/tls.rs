//! HTTPS, for browser uploaders that always call `https://`.

#![cfg(feature = "tls")]

#[tokio::test]
async fn a_tls_server_answers_a_client_that_trusts_its_certificate() {
    let server = vidmock::MockServer::builder().tls().start().await;
    let certificate =
        reqwest::Certificate::from_pem(server.tls_certificate_pem().unwrap().as_bytes()).unwrap();
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(certificate)
        .build()
        .unwrap();

    let answer = client
        .get(format!(
            "https://localhost:{}/upload-tokens",
            server.address().port()
        ))
        .basic_auth("vidmock-api-key", Some(""))
        .send()
        .await
        .unwrap();

    assert_eq!(answer.status(), 200);
    assert!(server.uri().starts_with("https://"));
}

#[tokio::test]
async fn a_plain_http_request_to_a_tls_server_is_told_to_use_https_and_the_server_keeps_serving() {
    let server = vidmock::MockServer::builder().tls().start().await;

    let plain = reqwest::get(format!("http://{}/upload-tokens", server.address()))
        .await
        .unwrap();

    assert_eq!(plain.status(), 400);
    assert_eq!(plain.headers()["connection"], "close");
    let text = plain.text().await.unwrap();
    assert!(
        text.contains(&format!("https://{}/", server.address())),
        "{text}"
    );
    let health = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap()
        .get(format!("{}/__vidmock/health", server.uri()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}
