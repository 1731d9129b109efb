//! The binary delivers webhooks to any URL a user registers, loopback included, when its clock
//! is moved through the admin API.

use std::process::Command;

use serde_json::json;

use crate::binary::Running;
use crate::receiver::Receiver;

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_posts_a_webhook_to_a_loopback_receiver_when_its_clock_is_advanced() {
    // Arrange
    let mut running = Running::spawn(
        Command::new(env!("CARGO_BIN_EXE_vidmock"))
            .args(["--port", "0", "--apivideo-key", "cli-key"])
            .env_remove("VIDMOCK_APIVIDEO_KEY"),
    );
    let first = running.line().unwrap();
    let base = first
        .strip_prefix("vidmock listening on ")
        .unwrap()
        .to_owned();
    let mut receiver = Receiver::start().await;
    let http = reqwest::Client::new();
    let webhook: serde_json::Value = http
        .post(format!("{base}/webhooks"))
        .basic_auth("cli-key", Some(""))
        .json(&json!({"events": ["video.encoding.quality.completed"], "url": receiver.url}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let video: serde_json::Value = http
        .post(format!("{base}/videos"))
        .basic_auth("cli-key", Some(""))
        .json(&json!({"title": "from the binary"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let video_id = video["videoId"].as_str().unwrap();
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(vec![1u8; 512]).file_name("a.mp4"),
    );
    let uploaded = http
        .post(format!("{base}/videos/{video_id}/source"))
        .basic_auth("cli-key", Some(""))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 201);

    // Act
    http.post(format!("{base}/__vidmock/clock/advance"))
        .json(&json!({"seconds": 60}))
        .send()
        .await
        .unwrap();
    let event = receiver.next().await;

    // Assert
    assert_eq!(event.json()["videoId"], video_id);
    assert_eq!(
        event.header("x-api-video-webhookid"),
        webhook["webhookId"].as_str()
    );
    let listed: serde_json::Value = http
        .get(format!("{base}/__vidmock/deliveries"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["url"], receiver.url.as_str());
}
