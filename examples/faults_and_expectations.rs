//! Faults and expectations, the way a user's test uses them: script the vendor's own error
//! once, check that the client under test retries; hold a fault with a scoped guard; declare
//! how many requests are expected and verify them.
//!
//! ```sh
//! cargo run --example faults_and_expectations
//! ```

use serde_json::{json, Value};
use vidmock::apivideo::{self, Problem, ProblemItem};
use vidmock::kaltura::{self, SessionType};
use vidmock::matchers::{method, path};
use vidmock::{Fault, MockServer};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The code under test: creates a video and retries once when api.video refuses it.
async fn create_video_with_one_retry(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    title: &str,
) -> Result<(u16, Value)> {
    let mut last = (0, Value::Null);
    for _ in 0..2 {
        let response = client
            .post(format!("{base}/videos"))
            .basic_auth(key, Some(""))
            .json(&json!({ "title": title }))
            .send()
            .await?;
        let status = response.status().as_u16();
        last = (status, response.json().await?);
        if status < 400 {
            break;
        }
    }
    Ok(last)
}

#[tokio::main]
async fn main() -> Result<()> {
    // Arrange: the vendor's own error for the first createVideo, a Kaltura error for every
    // uploadToken.get, and expectations on what the client will send.
    let server = MockServer::start().await;
    let client = reqwest::Client::new();
    let key = server.apivideo().api_key();
    server
        .fault(Fault::apivideo(
            Problem::new(400, "attribute-required", "This attribute is required.")
                .name("title")
                .problems([ProblemItem::new(
                    "attribute-required",
                    "This attribute is required.",
                    "title",
                )]),
        ))
        .when(apivideo::op("createVideo"))
        .times(1)
        .named("first create refused")
        .mount();
    server
        .fault(Fault::kaltura(kaltura::ApiError::new(
            "UPLOAD_TOKEN_NOT_FOUND",
            &["0_0123456789abcdef0123456789abcdef"],
        )))
        .when(kaltura::action("uploadtoken", "get"))
        .mount();
    server
        .expect(apivideo::op("createVideo"))
        .times(2)
        .named("a create and its retry");
    server
        .expect(method("DELETE"))
        .times(0)
        .named("nothing deleted");

    // Act: the client's call with its retry; a Kaltura call; a listing while a scoped fault
    // answers 503, and another once its guard has dropped.
    let (status, video) =
        create_video_with_one_retry(&client, &server.uri(), &key, "Keynote").await?;
    let ks = server.kaltura().ks("ana@example.com", SessionType::Admin);
    let kaltura_error: Value = client
        .post(format!(
            "{}/api_v3/service/uploadtoken/action/get",
            server.uri()
        ))
        .form(&[
            ("ks", ks.as_str()),
            ("format", "1"),
            ("uploadTokenId", "0_0123456789abcdef0123456789abcdef"),
        ])
        .send()
        .await?
        .json()
        .await?;
    let list = |client: reqwest::Client, url: String, key: String| async move {
        let response = client.get(url).basic_auth(key, Some("")).send().await?;
        Ok::<u16, reqwest::Error>(response.status().as_u16())
    };
    let url = format!("{}/upload-tokens", server.uri());
    let while_busy = {
        let _guard = server
            .fault(Fault::status(503).body("busy"))
            .when(path("/upload-tokens"))
            .mount_as_scoped();
        list(client.clone(), url.clone(), key.clone()).await?
    };
    let afterwards = list(client.clone(), url, key).await?;

    // Assert: the retry got the video; each fault answered as scripted; the journal names the
    // fault; the expectations hold.
    assert_eq!(status, 201);
    assert_eq!(video["title"], "Keynote");
    assert_eq!(kaltura_error["objectType"], "KalturaAPIException");
    assert_eq!(kaltura_error["code"], "UPLOAD_TOKEN_NOT_FOUND");
    assert_eq!(while_busy, 503);
    assert_eq!(afterwards, 200);
    let creates = server.received(apivideo::op("createVideo"));
    assert_eq!(creates.len(), 2);
    assert_eq!(creates[0].status, Some(400));
    assert!(creates[0].fault.is_some());
    assert_eq!(creates[1].status, Some(201));
    assert_eq!(server.apivideo().videos().len(), 1);
    server.verify();
    println!(
        "faults: createVideo refused once then {status}, Kaltura error {}, listing {while_busy} then {afterwards}; expectations met",
        kaltura_error["code"]
    );
    Ok(())
}
