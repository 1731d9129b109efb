//! api.video videos over a real socket: create, get, update, delete, list, status
//! (../shared/specs/apivideo.md §7).

use crate::common::{basic, client, send, Answer};
use reqwest::multipart::{Form, Part};
use serde_json::json;
use vidmock::MockServer;

const KEY: &str = "vidmock-api-key";

async fn create(server: &MockServer, body: serde_json::Value) -> Answer {
    send(basic(client().post(format!("{}/videos", server.uri())), KEY).json(&body)).await
}

#[tokio::test]
async fn creating_a_video_returns_201_with_the_attributes_given() {
    let server = MockServer::start().await;

    let answer = create(
        &server,
        json!({"title": "Talk", "description": "d", "public": false, "tags": ["a"], "metadata": [{"key": "k", "value": "v"}]}),
    )
    .await;

    assert_eq!(answer.status, 201);
    let body = answer.json();
    assert_eq!(body["title"], "Talk");
    assert_eq!(body["public"], false);
    assert_eq!(body["tags"], json!(["a"]));
    assert_eq!(body["metadata"], json!([{"key": "k", "value": "v"}]));
    assert!(body["videoId"].as_str().unwrap().starts_with("vi"));
}

#[tokio::test]
async fn creating_a_video_without_a_title_is_attribute_required() {
    let server = MockServer::start().await;

    let answer = create(&server, json!({"description": "no title"})).await;

    insta::assert_json_snapshot!(answer.wire());
}

#[tokio::test]
async fn attributes_of_the_wrong_type_are_invalid_attributes() {
    let server = MockServer::start().await;

    for (body, name) in [
        (json!({"title": 5}), "title"),
        (json!({"title": "t", "public": "yes"}), "public"),
        (json!({"title": "t", "tags": "a"}), "tags"),
        (json!({"title": "t", "metadata": [{"key": 1}]}), "metadata"),
    ] {
        let answer = create(&server, body.clone()).await;

        assert_eq!(answer.status, 400, "{body}");
        assert_eq!(answer.json()["name"], name, "{body}");
    }
}

#[tokio::test]
async fn a_video_can_be_read_updated_and_deleted() {
    let server = MockServer::start().await;
    let id = create(&server, json!({"title": "Before"})).await.json()["videoId"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = format!("{}/videos/{id}", server.uri());

    let got = send(basic(client().get(&url), KEY)).await;
    let patched =
        send(basic(client().patch(&url), KEY).json(&json!({"title": "After", "tags": ["x"]})))
            .await;
    let deleted = send(basic(client().delete(&url), KEY)).await;
    let gone = send(basic(client().get(&url), KEY)).await;

    assert_eq!(got.json()["title"], "Before");
    assert_eq!(patched.status, 200);
    assert_eq!(patched.json()["title"], "After");
    assert_eq!(patched.json()["tags"], json!(["x"]));
    assert_eq!(deleted.status, 204);
    assert_eq!(deleted.content_type, None);
    assert_eq!(gone.status, 404);
    insta::assert_json_snapshot!("unknown_video", gone.wire());
}

#[tokio::test]
async fn videos_are_listed_with_pagination_and_a_title_filter() {
    let server = MockServer::start().await;
    for title in ["b", "a", "c"] {
        create(&server, json!({"title": title})).await;
    }

    let page = send(basic(
        client().get(format!("{}/videos?sortBy=title&pageSize=2", server.uri())),
        KEY,
    ))
    .await
    .json();
    let filtered = send(basic(
        client().get(format!("{}/videos?title=c", server.uri())),
        KEY,
    ))
    .await
    .json();

    let titles: Vec<_> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["a", "b"]);
    assert_eq!(page["pagination"]["pagesTotal"], 2);
    assert_eq!(
        page["pagination"]["links"][0]["uri"],
        format!(
            "{}/videos?sortBy=title&currentPage=1&pageSize=2",
            server.uri()
        )
    );
    assert_eq!(filtered["pagination"]["itemsTotal"], 1);
}

#[tokio::test]
async fn video_list_links_are_absolute_uris_as_in_the_documented_example() {
    let server = MockServer::start().await;
    for title in ["a", "b", "c"] {
        create(&server, json!({"title": title})).await;
    }

    let page = send(basic(
        client().get(format!("{}/videos?pageSize=1&currentPage=2", server.uri())),
        KEY,
    ))
    .await
    .json();

    let links: Vec<(String, String)> = page["pagination"]["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["rel"].as_str().unwrap().to_owned(),
                l["uri"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let uri = |n: u32| format!("{}/videos?currentPage={n}&pageSize=1", server.uri());
    assert_eq!(
        links,
        [
            ("self".to_owned(), uri(2)),
            ("first".to_owned(), uri(1)),
            ("previous".to_owned(), uri(1)),
            ("next".to_owned(), uri(3)),
            ("last".to_owned(), uri(3)),
        ]
    );
}

#[tokio::test]
async fn the_status_shows_the_parts_received_while_uploading() {
    let server = MockServer::start().await;
    let token = server.apivideo().create_token(None);
    let video = server.apivideo().create_video("progress");
    let form = Form::new().text("videoId", video.id.clone()).part(
        "file",
        Part::bytes(vec![1u8; 5 * 1024 * 1024]).file_name("f"),
    );
    send(
        client()
            .post(format!("{}/upload?token={}", server.uri(), token.token))
            .header("content-range", "part 2/*")
            .multipart(form),
    )
    .await;

    let status = send(basic(
        client().get(format!("{}/videos/{}/status", server.uri(), video.id)),
        KEY,
    ))
    .await;

    assert_eq!(status.status, 200);
    let body = status.json();
    assert_eq!(body["ingest"]["status"], "uploading");
    assert_eq!(
        body["ingest"]["receivedParts"],
        json!({"parts": [2], "total": null})
    );
    assert_eq!(body["encoding"]["playable"], false);
}
