//! api.video uploads over a real socket: `/upload?token=` and `/videos/{id}/source`, every
//! Content-Range scheme and error of ../shared/specs/apivideo.md §5, and the videos around them.

use std::time::Duration;

use crate::common::{basic, client, send, Answer};
use reqwest::multipart::{Form, Part};
use serde_json::json;
use sha2::{Digest, Sha256};
use vidmock::MockServer;

const KEY: &str = "vidmock-api-key";
const MIB: usize = 1024 * 1024;

/// Deterministic, non-repeating-looking bytes.
fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2654435761).to_le_bytes()[1] ^ seed)
        .collect()
}

fn sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn file_form(field: &str, filename: &str, data: Vec<u8>) -> Form {
    Form::new().part(
        field.to_owned(),
        Part::bytes(data).file_name(filename.to_owned()),
    )
}

async fn upload(server: &MockServer, token: &str, form: Form, range: Option<&str>) -> Answer {
    let mut request = client()
        .post(format!("{}/upload?token={token}", server.uri()))
        .multipart(form);
    if let Some(range) = range {
        request = request.header("content-range", range);
    }
    send(request).await
}

fn slug(answer: &Answer) -> String {
    answer.json()["type"]
        .as_str()
        .unwrap_or_default()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_single_request_upload_creates_a_complete_video_titled_after_the_file() {
    let server = MockServer::start().await;
    let token = server.apivideo().create_token(None);
    let data = bytes(1000, 1);

    let answer = upload(
        &server,
        &token.token,
        file_form("file", "my-video.mp4", data.clone()),
        None,
    )
    .await;

    assert_eq!(answer.status, 201, "{}", answer.text);
    assert_eq!(answer.content_type.as_deref(), Some("application/json"));
    insta::assert_json_snapshot!(answer.wire(), {
        ".body.videoId" => "[videoId]",
        ".body.createdAt" => "[date]",
        ".body.publishedAt" => "[date]",
        ".body.updatedAt" => "[date]",
        ".body.source.uri" => "[uri]",
        ".body.assets.iframe" => "[iframe]",
        ".body.assets.player" => "[player]",
        ".body.assets.hls" => "[hls]",
        ".body.assets.thumbnail" => "[thumbnail]",
        ".body.assets.mp4" => "[mp4]",
    });
    let body = answer.json();
    let id = body["videoId"].as_str().unwrap();
    assert!(body["assets"]["hls"]
        .as_str()
        .unwrap()
        .starts_with(&server.uri()));
    let video = server.apivideo().video(id).unwrap();
    assert!(video.complete);
    assert_eq!(video.sha256(), Some(sha256(&data).as_str()));
    assert_eq!(video.content().unwrap(), data);
    assert_eq!(video.upload_token.as_deref(), Some(token.token.as_str()));
}

#[tokio::test]
async fn the_file_part_may_have_any_field_name_and_video_id_may_come_after_it() {
    let server = MockServer::start().await;
    let token = server.apivideo().create_token(None);
    let container = server.apivideo().create_video("container");
    // The Node client names the part after the file; Go sends videoId last.
    let form =
        file_form("clip.mp4", "clip.mp4", b"abc".to_vec()).text("videoId", container.id.clone());

    let answer = upload(&server, &token.token, form, None).await;

    assert_eq!(answer.status, 201, "{}", answer.text);
    assert_eq!(answer.json()["videoId"], container.id.as_str());
    assert_eq!(
        server
            .apivideo()
            .video(&container.id)
            .unwrap()
            .content()
            .unwrap(),
        b"abc"
    );
}

#[tokio::test]
async fn authorization_headers_on_upload_are_ignored() {
    let server = MockServer::start().await;
    let token = server.apivideo().create_token(None);

    let answer = send(
        client()
            .post(format!("{}/upload?token={}", server.uri(), token.token))
            .header("authorization", "Bearer not-a-valid-access-token")
            .multipart(file_form("file", "a.mp4", b"x".to_vec())),
    )
    .await;

    assert_eq!(answer.status, 201, "{}", answer.text);
}

#[tokio::test]
async fn an_upload_without_a_token_is_401_missing_upload_token() {
    let server = MockServer::start().await;

    let answer = send(
        client()
            .post(format!("{}/upload", server.uri()))
            .multipart(file_form("file", "a", b"x".to_vec())),
    )
    .await;

    insta::assert_json_snapshot!(answer.wire());
}

#[tokio::test]
async fn unknown_deleted_and_expired_tokens_cannot_start_an_upload() {
    let server = MockServer::start().await;
    let deleted = server.apivideo().create_token(None);
    server.apivideo().delete_token(&deleted.token);
    let expired = server
        .apivideo()
        .create_token(Some(Duration::from_secs(10)));
    server.clock().advance(Duration::from_secs(10));

    for token in ["toUnknown", deleted.token.as_str(), expired.token.as_str()] {
        let answer = upload(&server, token, file_form("file", "a", b"x".to_vec()), None).await;

        assert_eq!(answer.status, 401, "{token}");
        insta::assert_json_snapshot!("invalid_upload_token", answer.wire());
    }
    assert!(server.apivideo().videos().is_empty());
}

#[tokio::test]
async fn an_upload_started_before_expiry_may_finish_after_it() {
    let server = MockServer::start().await;
    let token = server
        .apivideo()
        .create_token(Some(Duration::from_secs(60)));
    let (first, last) = (bytes(5 * MIB, 2), bytes(10, 3));
    let started = upload(
        &server,
        &token.token,
        file_form("file", "f", first.clone()),
        Some("part 1/2"),
    )
    .await;
    let id = started.json()["videoId"].as_str().unwrap().to_owned();

    server.clock().advance(Duration::from_secs(120));
    let finished = upload(
        &server,
        &token.token,
        Form::new()
            .text("videoId", id.clone())
            .part("file", Part::bytes(last.clone()).file_name("f")),
        Some("part 2/2"),
    )
    .await;

    assert_eq!(finished.status, 201, "{}", finished.text);
    assert_eq!(
        server.apivideo().video(&id).unwrap().content().unwrap(),
        [first, last].concat()
    );
}

#[tokio::test]
async fn a_chunked_upload_with_video_id_fills_one_video_and_answers_video_id_until_complete() {
    let server = MockServer::start().await;
    let token = server.apivideo().create_token(None);
    let file = bytes(12 * MIB, 4);
    let chunks: Vec<Vec<u8>> = file.chunks(5 * MIB).map(<[u8]>::to_vec).collect();

    let mut answers = Vec::new();
    let mut video_id: Option<String> = None;
    for (i, chunk) in chunks.iter().enumerate() {
        let mut form = Form::new();
        if let Some(id) = &video_id {
            form = form.text("videoId", id.clone());
        }
        form = form.part("file", Part::bytes(chunk.clone()).file_name("big.mp4"));
        let answer = upload(
            &server,
            &token.token,
            form,
            Some(&format!("part {}/{}", i + 1, chunks.len())),
        )
        .await;
        video_id = answer.json()["videoId"].as_str().map(str::to_owned);
        answers.push(answer);
    }

    assert_eq!(answers[0].status, 201);
    assert_eq!(
        answers[0].json(),
        json!({ "videoId": video_id.clone().unwrap() })
    );
    assert_eq!(answers[1].json().as_object().unwrap().len(), 1);
    assert_eq!(answers[2].json()["title"], "big.mp4");
    let video = server
        .apivideo()
        .video(video_id.as_deref().unwrap())
        .unwrap();
    assert_eq!(video.sha256(), Some(sha256(&file).as_str()));
    assert_eq!(video.chunks.len(), 3);
    assert_eq!(video.chunks[2].content_range.as_deref(), Some("part 3/3"));
    assert_eq!(server.apivideo().videos().len(), 1);
}

#[tokio::test]
async fn chunks_without_video_id_each_create_a_new_video() {
    // What the official Node and Python non-progressive uploaders really do (spec §5.3).
    let server = MockServer::start().await;
    let token = server.apivideo().create_token(None);
    let file = bytes(12 * MIB, 5);
    let chunks: Vec<Vec<u8>> = file.chunks(5 * MIB).map(<[u8]>::to_vec).collect();

    for (i, chunk) in chunks.iter().enumerate() {
        upload(
            &server,
            &token.token,
            file_form("file", "big.mp4", chunk.clone()),
            Some(&format!("part {}/3", i + 1)),
        )
        .await;
    }

    let videos = server.apivideo().videos();
    assert_eq!(videos.len(), 3);
    assert!(videos.iter().all(|v| !v.complete || v.chunks.len() == 1));
    let targets: Vec<_> = server
        .received(vidmock::apivideo::op("uploadWithUploadToken"))
        .into_iter()
        .map(|r| r.target.unwrap())
        .collect();
    assert_eq!(
        targets,
        videos.iter().map(|v| v.id.clone()).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_parts_sent_concurrently_in_random_order_assemble_byte_exact() {
    let server = MockServer::start().await;
    let token = server.apivideo().create_token(None);
    let container = server.apivideo().create_video("parallel");
    let file = bytes(19 * 5 * MIB + 12345, 6);
    let parts: Vec<Vec<u8>> = file.chunks(5 * MIB).map(<[u8]>::to_vec).collect();
    assert_eq!(parts.len(), 20);
    let mut order: Vec<usize> = (0..20).collect();
    // A fixed shuffle: reversed halves interleaved.
    order.sort_by_key(|i| (i * 7919) % 20);

    let uploads = order.into_iter().map(|i| {
        let form = Form::new()
            .text("videoId", container.id.clone())
            .part("file", Part::bytes(parts[i].clone()).file_name("p"));
        // Some parts announce the total, the others do not; the last always does.
        let total = if i % 3 == 0 || i == 19 { "20" } else { "*" };
        let range = format!("part {}/{total}", i + 1);
        let server = &server;
        let token = &token.token;
        async move { upload(server, token, form, Some(&range)).await }
    });
    let answers = futures::future::join_all(uploads).await;

    assert!(
        answers.iter().all(|a| a.status == 201),
        "{:?}",
        answers.iter().map(|a| &a.text).collect::<Vec<_>>()
    );
    let complete: Vec<_> = answers
        .iter()
        .filter(|a| a.json().get("title").is_some())
        .collect();
    assert_eq!(complete.len(), 1);
    let video = server.apivideo().video(&container.id).unwrap();
    assert_eq!(video.sha256(), Some(sha256(&file).as_str()));
    assert_eq!(video.content().unwrap(), file);
}

#[tokio::test]
async fn byte_ranges_out_of_order_assemble_the_file() {
    let server = MockServer::start().await;
    let token = server.apivideo().create_token(None);
    let container = server.apivideo().create_video("ranges");
    let file = bytes(11 * MIB, 7);
    let total = file.len();
    let ranges = [
        (5 * MIB, 10 * MIB - 1),
        (10 * MIB, total - 1),
        (0, 5 * MIB - 1),
    ];

    let mut last = None;
    for (from, to) in ranges {
        let form = Form::new()
            .text("videoId", container.id.clone())
            .part("file", Part::bytes(file[from..=to].to_vec()).file_name("r"));
        last = Some(
            upload(
                &server,
                &token.token,
                form,
                Some(&format!("bytes {from}-{to}/{total}")),
            )
            .await,
        );
    }

    assert_eq!(last.unwrap().status, 201);
    assert_eq!(
        server.apivideo().video(&container.id).unwrap().sha256(),
        Some(sha256(&file).as_str())
    );
}

#[tokio::test]
async fn progressive_parts_with_an_unknown_total_finish_when_the_last_part_names_it() {
    let server = MockServer::start().await;
    let token = server.apivideo().create_token(None);
    let (a, b) = (bytes(5 * MIB, 8), bytes(100, 9));
    let first = upload(
        &server,
        &token.token,
        file_form("file", "file", a.clone()),
        Some("part 1/*"),
    )
    .await;
    let id = first.json()["videoId"].as_str().unwrap().to_owned();

    let last = upload(
        &server,
        &token.token,
        Form::new()
            .text("videoId", id.clone())
            .part("file", Part::bytes(b.clone()).file_name("file")),
        Some("part 2/2"),
    )
    .await;

    assert_eq!(last.json()["videoId"], id.as_str());
    assert_eq!(last.json()["title"], "file");
    assert_eq!(
        server.apivideo().video(&id).unwrap().content().unwrap(),
        [a, b].concat()
    );
}

/// Upload requests as (Content-Range, file size).
type Steps<'a> = Vec<(Option<&'a str>, usize)>;

/// Sends `steps` (Content-Range, size) to one fresh video and returns the last answer.
async fn steps(server: &MockServer, steps: &[(Option<&str>, usize)]) -> Answer {
    let token = server.apivideo().create_token(None);
    let video = server.apivideo().create_video("v");
    let mut last = None;
    for (range, size) in steps {
        let form = Form::new()
            .text("videoId", video.id.clone())
            .part("file", Part::bytes(vec![7u8; *size]).file_name("f"));
        last = Some(upload(server, &token.token, form, *range).await);
    }
    last.unwrap()
}

#[tokio::test]
async fn every_content_range_rule_answers_its_own_error() {
    let server = MockServer::start().await;
    let five = 5 * MIB;
    let cases: Vec<(&str, Steps)> = vec![
        (
            "video-content-range-malformed",
            vec![(Some("parts 1/2"), 10)],
        ),
        (
            "video-content-range-by-part-part-zero",
            vec![(Some("part 0/2"), 10)],
        ),
        (
            "video-content-range-by-part-total-parts-zero",
            vec![(Some("part 1/0"), 10)],
        ),
        (
            "video-content-range-by-part-part-too-high-allowed",
            vec![(Some("part 10001/*"), 10)],
        ),
        (
            "video-content-range-by-part-total-parts-too-high",
            vec![(Some("part 1/10001"), 10)],
        ),
        (
            "video-content-range-by-part-part-too-high-total",
            vec![(Some("part 3/2"), 10)],
        ),
        (
            "video-content-range-by-part-different-total-parts",
            vec![(Some("part 1/3"), five), (Some("part 2/4"), five)],
        ),
        (
            "video-content-range-by-part-total-parts-too-low",
            vec![(Some("part 3/*"), five), (Some("part 2/2"), 10)],
        ),
        (
            "video-content-range-by-part-part-already-sent",
            vec![(Some("part 1/3"), five), (Some("part 1/3"), five)],
        ),
        (
            "video-content-range-by-part-uploaded-file-too-small",
            vec![(Some("part 1/2"), 10)],
        ),
        (
            "video-content-range-started-with-part",
            vec![(Some("part 1/2"), five), (Some("bytes 0-9/20"), 10)],
        ),
        (
            "video-content-range-started-with-bytes",
            vec![
                (Some("bytes 0-5242879/6000000"), five),
                (Some("part 2/2"), 10),
            ],
        ),
        (
            "video-content-range-already-initiated",
            vec![(Some("part 1/2"), five), (None, 10)],
        ),
        (
            "video-source-already-uploaded",
            vec![(None, 10), (None, 10)],
        ),
        (
            "video-content-range-by-bytes-from-byte-too-high",
            vec![(Some("bytes 9-0/10"), 10)],
        ),
        (
            "video-content-range-by-bytes-range-mismatch",
            vec![(Some("bytes 0-9/10"), 9)],
        ),
        (
            "video-content-range-by-bytes-range-overlap",
            vec![
                (Some("bytes 0-5242879/*"), five),
                (Some("bytes 5242870-5242889/5242890"), 20),
            ],
        ),
        (
            "video-content-range-by-bytes-range-too-small",
            vec![(Some("bytes 0-9/100"), 10)],
        ),
        (
            "video-content-range-by-bytes-to-byte-too-high-allowed",
            vec![(Some("bytes 0-52428800000/*"), 10)],
        ),
        (
            "video-content-range-by-bytes-to-byte-too-high-total",
            vec![(Some("bytes 0-10/10"), 11)],
        ),
        (
            "video-content-range-by-bytes-total-bytes-too-high",
            vec![(Some("bytes 0-9/52428800001"), 10)],
        ),
        (
            "video-content-range-by-bytes-total-bytes-too-low",
            vec![
                (Some("bytes 5242880-10485759/*"), five),
                (Some("bytes 0-9/10485759"), 10),
            ],
        ),
        (
            "video-content-range-by-bytes-total-bytes-zero",
            vec![(Some("bytes 0-9/0"), 10)],
        ),
        (
            "video-content-range-by-bytes-different-total-bytes",
            vec![
                (Some("bytes 0-5242879/20000000"), five),
                (Some("bytes 5242880-10485759/30000000"), five),
            ],
        ),
    ];

    let mut seen = Vec::new();
    for (expected, case) in cases {
        let answer = steps(&server, &case).await;

        assert_eq!(answer.status, 400, "{expected}: {}", answer.text);
        assert_eq!(slug(&answer), expected, "{}", answer.text);
        seen.push(json!({ "case": expected, "status": answer.status, "body": answer.json() }));
    }
    insta::assert_json_snapshot!("content_range_errors", seen);
}

#[tokio::test]
async fn file_problems_answer_their_own_errors() {
    let server = MockServer::builder()
        .apivideo_max_file_size(1000)
        .start()
        .await;
    let token = server.apivideo().create_token(None);
    let two_files = file_form("a", "a.mp4", b"1".to_vec())
        .part("b", Part::bytes(b"2".to_vec()).file_name("b.mp4"));
    let cases = [
        ("uploaded-file-no-file", Form::new().text("videoId", "x")),
        ("uploaded-file-multiple-files", two_files),
        (
            "uploaded-file-empty",
            file_form("file", "e.mp4", Vec::new()),
        ),
        (
            "uploaded-file-too-large",
            file_form("file", "big.mp4", vec![0; 1001]),
        ),
    ];

    let mut seen = Vec::new();
    for (expected, form) in cases {
        let answer = upload(&server, &token.token, form, None).await;

        assert_eq!(answer.status, 400, "{expected}: {}", answer.text);
        assert_eq!(slug(&answer), expected);
        seen.push(json!({ "case": expected, "body": answer.json() }));
    }
    let not_multipart = send(
        client()
            .post(format!("{}/upload?token={}", server.uri(), token.token))
            .body("raw"),
    )
    .await;
    assert_eq!(slug(&not_multipart), "uploaded-file-no-file");
    insta::assert_json_snapshot!("file_errors", seen);
}

#[tokio::test]
async fn an_unknown_video_id_is_404_resource_not_found() {
    let server = MockServer::start().await;
    let token = server.apivideo().create_token(None);

    let answer = upload(
        &server,
        &token.token,
        file_form("file", "f", b"x".to_vec()).text("videoId", "viNope"),
        None,
    )
    .await;

    assert_eq!(answer.status, 404);
    assert_eq!(answer.json()["name"], "videoId");
}

#[tokio::test]
async fn the_authenticated_source_upload_uses_the_same_engine() {
    let server = MockServer::start().await;
    let video = server.apivideo().create_video("by-source");
    let url = format!("{}/videos/{}/source", server.uri(), video.id);
    let file = bytes(6 * MIB, 10);

    let first = send(
        basic(client().post(&url), KEY)
            .header(
                "content-range",
                format!("bytes 0-{}/{}", 5 * MIB - 1, file.len()),
            )
            .multipart(file_form("file", "s.mp4", file[..5 * MIB].to_vec())),
    )
    .await;
    let second = send(
        basic(client().post(&url), KEY)
            .header(
                "content-range",
                format!("bytes {}-{}/{}", 5 * MIB, file.len() - 1, file.len()),
            )
            .multipart(file_form("file", "s.mp4", file[5 * MIB..].to_vec())),
    )
    .await;
    let again =
        send(basic(client().post(&url), KEY).multipart(file_form("file", "s.mp4", b"x".to_vec())))
            .await;
    let unauthenticated = send(client().post(&url).multipart(file_form(
        "file",
        "s.mp4",
        b"x".to_vec(),
    )))
    .await;
    let unknown = send(
        basic(
            client().post(format!("{}/videos/viNope/source", server.uri())),
            KEY,
        )
        .multipart(file_form("file", "s", b"x".to_vec())),
    )
    .await;

    assert_eq!(first.json(), json!({ "videoId": video.id }));
    assert_eq!(second.status, 201);
    assert_eq!(second.json()["title"], "by-source");
    assert_eq!(
        server.apivideo().video(&video.id).unwrap().sha256(),
        Some(sha256(&file).as_str())
    );
    assert_eq!(slug(&again), "video-source-already-uploaded");
    assert_eq!(unauthenticated.status, 401);
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn digest_only_retention_keeps_the_hash_but_not_the_bytes() {
    let server = MockServer::builder()
        .retention(vidmock::Retention::DigestOnly)
        .start()
        .await;
    let token = server.apivideo().create_token(None);
    let data = bytes(3000, 11);

    upload(
        &server,
        &token.token,
        file_form("file", "d", data.clone()),
        None,
    )
    .await;

    let video = &server.apivideo().videos()[0];
    assert_eq!(video.sha256(), Some(sha256(&data).as_str()));
    assert_eq!(video.size, Some(3000));
    assert_eq!(video.content(), None);
}

#[tokio::test]
async fn spill_retention_keeps_parts_sent_out_of_order_byte_exact_and_hashes_them() {
    // Arrange: two parts of a file larger than one spill block each, sent last part first.
    let server = MockServer::builder()
        .retention(vidmock::Retention::Spill)
        .start()
        .await;
    let token = server.apivideo().create_token(None);
    let data = bytes(5 * 1024 * 1024 + 1_300_000, 13);
    let (first, second) = data.split_at(5 * 1024 * 1024);
    let video = server.apivideo().create_video("spilled");
    let form = |part: &[u8]| {
        Form::new()
            .text("videoId", video.id.clone())
            .part("file", Part::bytes(part.to_vec()).file_name("spilled.mp4"))
    };

    // Act
    let last = upload(&server, &token.token, form(second), Some("part 2/2")).await;
    let completing = upload(&server, &token.token, form(first), Some("part 1/2")).await;

    // Assert
    assert_eq!(last.status, 201);
    assert_eq!(completing.status, 201);
    assert_eq!(completing.json()["videoId"], video.id.as_str());
    let stored = server.apivideo().video(&video.id).unwrap();
    assert_eq!(stored.size, Some(data.len() as u64));
    assert_eq!(stored.sha256(), Some(sha256(&data).as_str()));
    assert!(
        stored.content().unwrap() == data,
        "the spilled bytes differ"
    );
}

#[tokio::test]
async fn the_hls_manifest_answers_202_while_encoding_then_a_playlist() {
    let server = MockServer::builder()
        .apivideo_encoding_delay(Duration::from_secs(5))
        .start()
        .await;
    let token = server.apivideo().create_token(None);
    let video = upload(
        &server,
        &token.token,
        file_form("file", "v", b"x".to_vec()),
        None,
    )
    .await
    .json();
    let hls = video["assets"]["hls"].as_str().unwrap().to_owned();

    let encoding = send(client().get(&hls)).await;
    server.clock().advance(Duration::from_secs(5));
    let ready = send(client().get(&hls)).await;

    assert_eq!(encoding.status, 202);
    assert_eq!(encoding.text, "");
    assert_eq!(ready.status, 200);
    assert!(ready.text.starts_with("#EXTM3U"));
}

#[tokio::test]
async fn a_refused_first_chunk_leaves_the_video_free_to_use_any_scheme() {
    let server = MockServer::start().await;
    let token = server.apivideo().create_token(None);
    let video = server.apivideo().create_video("fresh");
    let form = |data: Vec<u8>| {
        Form::new()
            .text("videoId", video.id.clone())
            .part("file", Part::bytes(data).file_name("f"))
    };

    let refused = upload(&server, &token.token, form(vec![1; 10]), Some("part 1/2")).await;
    let whole = upload(&server, &token.token, form(vec![2; 10]), None).await;

    assert_eq!(
        slug(&refused),
        "video-content-range-by-part-uploaded-file-too-small"
    );
    assert_eq!(whole.status, 201, "{}", whole.text);
    assert_eq!(
        server
            .apivideo()
            .video(&video.id)
            .unwrap()
            .content()
            .unwrap(),
        vec![2; 10]
    );
}
