//! A video's life after its upload, over a real socket: ingest and encoding on the clock, the
//! status with the uploaded file's own metadata, the assets that play it, and its thumbnail.

use std::time::Duration;

use crate::common::{basic, client, send, Answer};
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};
use vidmock::MockServer;

const KEY: &str = "vidmock-api-key";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/fixtures/media/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("a committed fixture")
}

/// Uploads `data` with a fresh upload token; the `Video` answered.
async fn upload(server: &MockServer, filename: &str, data: Vec<u8>) -> Value {
    let token = server.apivideo().create_token(None);
    let form = Form::new().part("file", Part::bytes(data).file_name(filename.to_owned()));
    let answer = send(
        client()
            .post(format!("{}/upload?token={}", server.uri(), token.token))
            .multipart(form),
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    answer.json()
}

async fn status(server: &MockServer, id: &str) -> Value {
    let answer = send(basic(
        client().get(format!("{}/videos/{id}/status", server.uri())),
        KEY,
    ))
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()
}

fn qualities(status: &Value) -> Vec<String> {
    status["encoding"]["qualities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            format!(
                "{} {} {}",
                q["type"].as_str().unwrap(),
                q["quality"].as_str().unwrap(),
                q["status"].as_str().unwrap()
            )
        })
        .collect()
}

async fn get_bytes(request: reqwest::RequestBuilder) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await.unwrap().to_vec();
    (status, headers, body)
}

#[tokio::test]
async fn an_upload_is_ingested_then_encoded_quality_by_quality_as_the_clock_moves() {
    // Arrange
    let server = MockServer::start().await;
    server.clock().freeze();
    let video = upload(&server, "clip.mp4", fixture("sample-640x360-audio.mp4")).await;
    let id = video["videoId"].as_str().unwrap();

    // Act
    let uploaded = status(&server, id).await;
    server.clock().advance(Duration::from_secs(1));
    let ingesting = status(&server, id).await;
    server.clock().advance(Duration::from_secs(1));
    let ingested = status(&server, id).await;
    server.clock().advance(Duration::from_secs(1));
    let playable = status(&server, id).await;
    server.clock().advance(Duration::from_secs(1));
    let done = status(&server, id).await;

    // Assert
    assert_eq!(uploaded["ingest"]["status"], "uploaded");
    assert_eq!(uploaded["encoding"]["metadata"]["width"], Value::Null);
    assert_eq!(ingesting["ingest"]["status"], "ingesting");
    assert_eq!(ingested["ingest"]["status"], "ingested");
    assert_eq!(ingested["encoding"]["playable"], false);
    assert_eq!(
        qualities(&ingested),
        [
            "hls 240p encoding",
            "hls 360p waiting",
            "mp4 240p encoding",
            "mp4 360p waiting"
        ]
    );
    assert_eq!(playable["encoding"]["playable"], true);
    assert_eq!(
        qualities(&playable),
        [
            "hls 240p encoded",
            "hls 360p encoding",
            "mp4 240p encoded",
            "mp4 360p encoding"
        ]
    );
    insta::assert_json_snapshot!("status_once_encoded", done, {
        ".ingest.receivedBytes[].to" => "[size - 1]",
        ".ingest.receivedBytes[].total" => "[size]",
        ".ingest.filesize" => "[size]",
    });
}

#[tokio::test]
async fn the_status_metadata_is_the_uploaded_files_own() {
    // Arrange
    let server = MockServer::builder()
        .apivideo_encoding_delay(Duration::ZERO)
        .start()
        .await;
    let data = fixture("sample-320x240.mp4");
    let size = data.len() as f64;

    // Act
    let video = upload(&server, "clip.mp4", data).await;
    let status = status(&server, video["videoId"].as_str().unwrap()).await;

    // Assert
    let metadata = &status["encoding"]["metadata"];
    assert_eq!(metadata["width"], 320);
    assert_eq!(metadata["height"], 240);
    assert_eq!(metadata["duration"], 2);
    assert_eq!(metadata["framerate"], 25);
    assert_eq!(metadata["videoCodec"], "h264");
    assert_eq!(metadata["audioCodec"], Value::Null);
    assert_eq!(metadata["aspectRatio"], "4/3");
    assert_eq!(metadata["bitrate"], json!(size * 8.0 / 2.0 / 1000.0));
    assert_eq!(qualities(&status), ["hls 240p encoded", "mp4 240p encoded"]);
}

#[tokio::test]
async fn placeholder_bytes_still_become_playable_as_before() {
    // Arrange
    let server = MockServer::start().await;
    let video = upload(&server, "v", b"not a video".to_vec()).await;
    let id = video["videoId"].as_str().unwrap();

    // Act
    server.clock().advance(Duration::from_secs(3));
    let status = status(&server, id).await;

    // Assert
    assert_eq!(status["encoding"]["playable"], true);
    assert_eq!(qualities(&status), ["hls 720p encoded", "mp4 720p encoded"]);
    assert_eq!(status["encoding"]["metadata"]["width"], Value::Null);
}

#[tokio::test]
async fn a_file_that_is_not_media_fails_to_encode_when_the_server_is_strict() {
    // Arrange
    let server = MockServer::builder()
        .apivideo_encoding_schedule(vidmock::apivideo::EncodingSchedule {
            not_media_fails: true,
            ..Default::default()
        })
        .start()
        .await;
    let video = upload(&server, "notes.txt", b"just some notes".to_vec()).await;
    let id = video["videoId"].as_str().unwrap();

    // Act
    server.clock().advance(Duration::from_secs(60));
    let status = status(&server, id).await;
    let mp4 = send(client().get(video["assets"]["mp4"].as_str().unwrap())).await;

    // Assert
    assert_eq!(status["ingest"]["status"], "ingested");
    assert_eq!(status["encoding"]["playable"], false);
    assert_eq!(qualities(&status), ["hls 240p failed", "mp4 240p failed"]);
    assert_eq!(mp4.status, 202);
}

#[tokio::test]
async fn failing_the_encoding_from_the_rust_api_fails_what_is_not_encoded_yet() {
    // Arrange
    let server = MockServer::start().await;
    server.clock().freeze();
    let video = upload(&server, "clip.mp4", fixture("sample-640x360-audio.mp4")).await;
    let id = video["videoId"].as_str().unwrap();
    server.clock().advance(Duration::from_secs(3));

    // Act
    assert!(server.apivideo().fail_encoding(id));
    server.clock().advance(Duration::from_secs(60));
    let status = status(&server, id).await;

    // Assert
    assert_eq!(
        qualities(&status),
        [
            "hls 240p encoded",
            "hls 360p failed",
            "mp4 240p encoded",
            "mp4 360p failed"
        ]
    );
    let seen = server.apivideo().video(id).unwrap();
    assert!(seen.encoding.playable);
    assert_eq!(
        seen.encoding.qualities[1].status,
        vidmock::apivideo::QualityStatus::Failed
    );
}

#[tokio::test]
async fn finishing_the_encoding_now_makes_every_quality_encoded_without_moving_the_clock() {
    // Arrange
    let server = MockServer::start().await;
    server.clock().freeze();
    let video = upload(&server, "clip.mp4", fixture("sample-640x360-audio.mp4")).await;
    let id = video["videoId"].as_str().unwrap();
    let before = server.clock().now();

    // Act
    assert!(server.apivideo().finish_encoding(id));
    let status = status(&server, id).await;

    // Assert
    assert_eq!(status["ingest"]["status"], "ingested");
    assert!(qualities(&status).iter().all(|q| q.ends_with("encoded")));
    let events = server
        .apivideo()
        .encoded_between(before - Duration::from_secs(1), server.clock().now());
    let names: Vec<String> = events
        .iter()
        .map(|e| format!("{} {}", e.format.as_str(), e.quality))
        .collect();
    assert_eq!(names, ["hls 240p", "mp4 240p", "hls 360p", "mp4 360p"]);
}

#[tokio::test]
async fn the_mp4_asset_serves_the_uploaded_bytes_with_ranges_once_encoded() {
    // Arrange
    let server = MockServer::start().await;
    let data = fixture("sample-320x240.mp4");
    let video = upload(&server, "clip.mp4", data.clone()).await;
    let mp4 = video["assets"]["mp4"].as_str().unwrap().to_owned();
    assert!(mp4.starts_with(&server.uri()));

    // Act
    let (encoding, _, _) = get_bytes(client().get(&mp4)).await;
    server.clock().advance(Duration::from_secs(3));
    let (whole, whole_headers, whole_body) = get_bytes(client().get(&mp4)).await;
    let (part, part_headers, part_body) =
        get_bytes(client().get(&mp4).header("Range", "bytes=100-199")).await;
    let (tail, _, tail_body) = get_bytes(client().get(&mp4).header("Range", "bytes=-10")).await;
    let (beyond, beyond_headers, _) = get_bytes(
        client()
            .get(&mp4)
            .header("Range", format!("bytes={}-", data.len())),
    )
    .await;

    // Assert
    assert_eq!(encoding, 202);
    assert_eq!(whole, 200);
    assert_eq!(whole_headers["content-type"], "video/mp4");
    assert_eq!(whole_headers["accept-ranges"], "bytes");
    assert!(whole_body == data, "the mp4 asset is not the uploaded file");
    assert_eq!(part, 206);
    assert_eq!(
        part_headers["content-range"].to_str().unwrap(),
        format!("bytes 100-199/{}", data.len())
    );
    assert_eq!(part_body, data[100..200]);
    assert_eq!(tail, 206);
    assert_eq!(tail_body, data[data.len() - 10..]);
    assert_eq!(beyond, 416);
    assert_eq!(
        beyond_headers["content-range"].to_str().unwrap(),
        format!("bytes */{}", data.len())
    );
}

#[tokio::test]
async fn the_hls_manifest_names_a_segment_that_exists() {
    // Arrange
    let server = MockServer::builder()
        .apivideo_encoding_delay(Duration::ZERO)
        .start()
        .await;
    let video = upload(&server, "clip.mp4", fixture("sample-320x240.mp4")).await;
    let hls = video["assets"]["hls"].as_str().unwrap().to_owned();

    // Act
    let manifest = send(client().get(&hls)).await;
    let segment_name = manifest
        .text
        .lines()
        .find(|line| !line.starts_with('#') && !line.is_empty())
        .unwrap()
        .to_owned();
    let segment_url = format!("{}/{segment_name}", hls.rsplit_once('/').unwrap().0);
    let (segment, _, body) = get_bytes(client().get(&segment_url)).await;

    // Assert
    assert_eq!(manifest.status, 200);
    assert!(
        manifest.text.contains("#EXTINF:2.000,"),
        "{}",
        manifest.text
    );
    assert_eq!(segment, 200);
    assert!(!body.is_empty());
}

#[tokio::test]
async fn the_thumbnail_is_a_placeholder_of_the_videos_aspect_ratio_until_one_is_uploaded() {
    // Arrange
    let server = MockServer::builder()
        .apivideo_encoding_delay(Duration::ZERO)
        .start()
        .await;
    let video = upload(&server, "clip.mp4", fixture("sample-180x320-portrait.mp4")).await;
    let id = video["videoId"].as_str().unwrap();
    let thumbnail = video["assets"]["thumbnail"].as_str().unwrap().to_owned();
    let mine = {
        let image = image::RgbImage::from_pixel(32, 24, image::Rgb([200, 10, 10]));
        let mut jpeg = Vec::new();
        image
            .write_with_encoder(image::codecs::jpeg::JpegEncoder::new(&mut jpeg))
            .unwrap();
        jpeg
    };

    // Act
    let (placeholder, placeholder_headers, placeholder_body) =
        get_bytes(client().get(&thumbnail)).await;
    let uploaded = send(basic(
        client()
            .post(format!("{}/videos/{id}/thumbnail", server.uri()))
            .multipart(Form::new().part("file", Part::bytes(mine.clone()).file_name("mine.jpg"))),
        KEY,
    ))
    .await;
    let (_, _, served) = get_bytes(client().get(&thumbnail)).await;

    // Assert
    assert_eq!(placeholder, 200);
    assert_eq!(placeholder_headers["content-type"], "image/jpeg");
    let decoded = image::load_from_memory(&placeholder_body).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (360, 640));
    assert_eq!(uploaded.status, 200);
    assert_eq!(uploaded.json()["videoId"], id);
    assert_eq!(served, mine);
}

#[tokio::test]
async fn a_thumbnail_named_without_an_extension_is_judged_by_its_bytes() {
    // Arrange: the Node client names a stream or a Buffer `file`, with no extension.
    let server = MockServer::start().await;
    let video = server.apivideo().create_video("talk");
    let url = format!("{}/videos/{}/thumbnail", server.uri(), video.id);
    let post = |bytes: Vec<u8>| {
        basic(
            client()
                .post(&url)
                .multipart(Form::new().part("file", Part::bytes(bytes).file_name("file"))),
            KEY,
        )
    };

    // Act
    let jpeg = send(post(vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 16])).await;
    let png = send(post(b"\x89PNG....".to_vec())).await;

    // Assert
    assert_eq!(jpeg.status, 200, "{}", jpeg.text);
    assert_eq!(jpeg.json()["videoId"], video.id.as_str());
    assert_eq!(png.status, 400);
    assert_eq!(
        png.json()["type"],
        "https://docs.api.video/reference/uploaded-file-extension-invalid"
    );
}

#[tokio::test]
async fn a_thumbnail_that_is_not_a_jpeg_is_refused_with_the_documented_problem() {
    // Arrange
    let server = MockServer::start().await;
    let video = server.apivideo().create_video("talk");

    // Act
    let png = send(basic(
        client()
            .post(format!("{}/videos/{}/thumbnail", server.uri(), video.id))
            .multipart(Form::new().part(
                "file",
                Part::bytes(b"\x89PNG....".to_vec()).file_name("a.png"),
            )),
        KEY,
    ))
    .await;
    let unknown = send(basic(
        client()
            .post(format!("{}/videos/vi-nope/thumbnail", server.uri()))
            .multipart(Form::new().part(
                "file",
                Part::bytes(vec![0xFF, 0xD8, 0xFF]).file_name("a.jpg"),
            )),
        KEY,
    ))
    .await;

    // Assert
    insta::assert_json_snapshot!("thumbnail_not_jpeg", png.wire());
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["name"], "videoId");
}

#[tokio::test]
async fn picking_a_thumbnail_by_timecode_answers_the_video_and_checks_the_timecode() {
    // Arrange
    let server = MockServer::builder()
        .apivideo_encoding_delay(Duration::ZERO)
        .start()
        .await;
    let video = upload(&server, "clip.mp4", fixture("sample-320x240.mp4")).await;
    let id = video["videoId"].as_str().unwrap();
    let url = format!("{}/videos/{id}/thumbnail", server.uri());

    // Act
    let picked = send(basic(
        client()
            .patch(&url)
            .json(&json!({"timecode": "00:00:01.00"})),
        KEY,
    ))
    .await;
    let malformed = send(basic(
        client().patch(&url).json(&json!({"timecode": "1 second"})),
        KEY,
    ))
    .await;
    let missing = send(basic(client().patch(&url).json(&json!({})), KEY)).await;
    let (image_status, _, image) =
        get_bytes(client().get(video["assets"]["thumbnail"].as_str().unwrap())).await;

    // Assert
    assert_eq!(picked.status, 200);
    assert_eq!(picked.json()["videoId"], id);
    assert_eq!(malformed.status, 400);
    assert_eq!(malformed.json()["name"], "timecode");
    assert_eq!(missing.status, 400);
    assert_eq!(image_status, 200);
    let decoded = image::load_from_memory(&image).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (640, 480));
}

#[tokio::test]
async fn the_player_page_embeds_the_mp4_asset() {
    // Arrange
    let server = MockServer::builder()
        .apivideo_encoding_delay(Duration::ZERO)
        .start()
        .await;
    let video = upload(&server, "clip.mp4", fixture("sample-320x240.mp4")).await;

    // Act
    let page: Answer = send(client().get(video["assets"]["player"].as_str().unwrap())).await;

    // Assert
    assert_eq!(page.status, 200);
    assert_eq!(
        page.content_type.as_deref(),
        Some("text/html; charset=utf-8")
    );
    let mp4 = video["assets"]["mp4"].as_str().unwrap();
    assert!(
        page.text.contains(&format!("src=\"{mp4}\"")),
        "{}",
        page.text
    );
    assert!(video["assets"]["iframe"]
        .as_str()
        .unwrap()
        .contains(video["assets"]["player"].as_str().unwrap()));
}

#[tokio::test]
async fn the_admin_api_finishes_and_fails_an_encoding_without_rust() {
    // Arrange
    let server = MockServer::start().await;
    server.clock().freeze();
    let first = upload(&server, "a.mp4", fixture("sample-320x240.mp4")).await;
    let second = upload(&server, "b.mp4", fixture("sample-320x240.mp4")).await;
    let admin = |path: String| {
        client().post(format!(
            "{}/__vidmock/vendors/apivideo/{path}",
            server.uri()
        ))
    };

    // Act
    let finished = send(admin(format!(
        "videos/{}/encoding/finish",
        first["videoId"].as_str().unwrap()
    )))
    .await;
    let failed = send(
        admin(format!(
            "videos/{}/encoding/fail",
            second["videoId"].as_str().unwrap()
        ))
        .json(&json!({ "apiKey": KEY })),
    )
    .await;
    let unknown = send(admin("videos/vi-nope/encoding/finish".into())).await;
    server.clock().advance(Duration::from_secs(60));
    let second_status = status(&server, second["videoId"].as_str().unwrap()).await;

    // Assert
    assert_eq!(finished.status, 200);
    assert_eq!(finished.json()["encoding"]["playable"], true);
    assert_eq!(failed.status, 200);
    assert_eq!(
        qualities(&second_status),
        ["hls 240p failed", "mp4 240p failed"]
    );
    assert_eq!(unknown.status, 404);
}

/// Posts a fault through the admin API, as a test suite in any language would.
async fn fault(server: &MockServer, fault: Value) {
    let answer = send(
        client()
            .post(format!("{}/__vidmock/faults", server.uri()))
            .json(&fault),
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
}

#[tokio::test]
async fn a_fail_processing_fault_fails_every_quality_of_the_next_upload_only() {
    // Arrange
    let server = MockServer::start().await;
    server.clock().freeze();
    fault(
        &server,
        json!({"match": {"operation": "uploadWithUploadToken"},
               "action": {"type": "failProcessing"}, "times": 1}),
    )
    .await;

    // Act
    let failing = upload(&server, "clip.mp4", fixture("sample-640x360-audio.mp4")).await;
    let fine = upload(&server, "clip.mp4", fixture("sample-640x360-audio.mp4")).await;
    let id = failing["videoId"].as_str().unwrap();
    let uploaded = status(&server, id).await;
    server.clock().advance(Duration::from_secs(60));
    let failed = status(&server, id).await;
    let encoded = status(&server, fine["videoId"].as_str().unwrap()).await;
    let mp4 = send(client().get(failing["assets"]["mp4"].as_str().unwrap())).await;

    // Assert
    assert_eq!(uploaded["ingest"]["status"], "uploaded");
    assert_eq!(failed["ingest"]["status"], "ingested");
    assert_eq!(failed["encoding"]["playable"], false);
    assert_eq!(
        qualities(&failed),
        [
            "hls 240p failed",
            "hls 360p failed",
            "mp4 240p failed",
            "mp4 360p failed"
        ]
    );
    assert_eq!(encoded["encoding"]["playable"], true);
    assert_eq!(mp4.status, 202, "a failed rendition never plays");
    insta::assert_json_snapshot!("status_once_failed", failed, {
        ".ingest.receivedBytes[].to" => "[size - 1]",
        ".ingest.receivedBytes[].total" => "[size]",
        ".ingest.filesize" => "[size]",
    });
}

#[tokio::test]
async fn a_fail_processing_fault_on_another_call_of_the_project_fails_its_next_upload() {
    // Arrange
    let server = MockServer::start().await;
    server.clock().freeze();
    fault(
        &server,
        json!({"match": {"operation": "createVideo"},
               "action": {"type": "failProcessing"}, "times": 1}),
    )
    .await;
    let created = send(
        basic(client().post(format!("{}/videos", server.uri())), KEY)
            .json(&json!({"title": "scripted"})),
    )
    .await;
    let id = created.json()["videoId"].as_str().unwrap().to_owned();
    let other = server.apivideo().add_project("other-key");
    let token = other.create_token(None);

    // Act
    let form = Form::new().part(
        "file",
        Part::bytes(fixture("sample-640x360-audio.mp4")).file_name("clip.mp4"),
    );
    let sourced = send(
        basic(
            client().post(format!("{}/videos/{id}/source", server.uri())),
            KEY,
        )
        .multipart(form),
    )
    .await;
    let form = Form::new().part(
        "file",
        Part::bytes(fixture("sample-640x360-audio.mp4")).file_name("clip.mp4"),
    );
    let elsewhere = send(
        client()
            .post(format!("{}/upload?token={}", server.uri(), token.token))
            .multipart(form),
    )
    .await;
    server.clock().advance(Duration::from_secs(60));

    // Assert
    assert_eq!(created.status, 201, "the call itself is answered normally");
    assert_eq!(sourced.status, 201, "{}", sourced.text);
    let failed = status(&server, &id).await;
    assert!(qualities(&failed).iter().all(|q| q.ends_with(" failed")));
    let other_video = elsewhere.json()["videoId"].as_str().unwrap().to_owned();
    let other_status = other.video(&other_video).unwrap().encoding;
    assert!(
        other_status.playable,
        "another project's upload is not touched"
    );
}
