//! Many clients at once: nothing lost, nothing mixed up, every file byte-exact.

use std::collections::HashSet;

use crate::common::{basic, client};
use reqwest::multipart::{Form, Part};
use sha2::{Digest, Sha256};
use vidmock::kaltura::SessionType;
use vidmock::MockServer;

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2654435761) ^ seed.wrapping_mul(40503)).to_le_bytes()[2])
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_token_creations_give_a_thousand_distinct_listed_tokens() {
    let server = MockServer::start().await;
    let http = client();

    let creations = (0..1000).map(|_| {
        let request = basic(
            http.post(format!("{}/upload-tokens", server.uri())),
            "vidmock-api-key",
        );
        async move {
            let answer: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
            answer["token"].as_str().unwrap().to_owned()
        }
    });
    let tokens: Vec<String> = futures::future::join_all(creations).await;

    let distinct: HashSet<&String> = tokens.iter().collect();
    assert_eq!(distinct.len(), 1000);
    let mut listed = HashSet::new();
    for page in 1..=10 {
        let answer: serde_json::Value = basic(
            http.get(format!(
                "{}/upload-tokens?pageSize=100&currentPage={page}",
                server.uri()
            )),
            "vidmock-api-key",
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        assert_eq!(answer["pagination"]["itemsTotal"], 1000);
        for token in answer["data"].as_array().unwrap() {
            listed.insert(token["token"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(listed, tokens.into_iter().collect::<HashSet<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_apivideo_parts_over_eight_videos_all_assemble_byte_exact() {
    const PART: usize = 5 * 1024 * 1024;
    let server = MockServer::builder()
        .retention(vidmock::Retention::DigestOnly)
        .start()
        .await;
    let token = server.apivideo().create_token(None);
    let videos: Vec<_> = (0..8)
        .map(|i| server.apivideo().create_video(&format!("v{i}")))
        .collect();
    let files: Vec<Vec<u8>> = (0..8)
        .map(|i| pattern(7 * PART + 1000 + i, i as u32))
        .collect();
    let http = client();

    let mut uploads = Vec::new();
    for (v, file) in files.iter().enumerate() {
        for (p, part) in file.chunks(PART).enumerate() {
            let form = Form::new()
                .text("videoId", videos[v].id.clone())
                .part("file", Part::bytes(part.to_vec()).file_name("f"));
            let request = http
                .post(format!("{}/upload?token={}", server.uri(), token.token))
                .header("content-range", format!("part {}/8", p + 1))
                .multipart(form);
            uploads.push(async move { request.send().await.unwrap().status() });
        }
    }
    // Interleave the videos' parts, last parts first for half of them.
    uploads.reverse();
    let statuses = futures::future::join_all(uploads).await;

    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    for (video, file) in videos.iter().zip(&files) {
        let stored = server.apivideo().video(&video.id).unwrap();
        assert_eq!(
            stored.sha256(),
            Some(hex::encode(Sha256::digest(file)).as_str())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_kaltura_chunks_over_eight_tokens_all_assemble_byte_exact() {
    const CHUNK: usize = 256 * 1024;
    let server = MockServer::start().await;
    let ks = server.kaltura().ks("parallel", SessionType::Admin);
    let http = client();
    let base = format!("{}/api_v3/service/uploadtoken/action", server.uri());
    let mut tokens = Vec::new();
    for _ in 0..8 {
        let added: serde_json::Value = http
            .post(format!("{base}/add?format=1"))
            .json(
                &serde_json::json!({"ks": ks, "uploadToken": {"objectType": "KalturaUploadToken"}}),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        tokens.push(added["id"].as_str().unwrap().to_owned());
    }
    let files: Vec<Vec<u8>> = (0..8)
        .map(|i| pattern(8 * CHUNK - 100 - i, 100 + i as u32))
        .collect();

    // The documented parallel protocol: chunk 0 alone, then the rest at once, the last final.
    let chunk = |t: usize, i: usize| {
        let file = &files[t];
        let data = file[i * CHUNK..((i + 1) * CHUNK).min(file.len())].to_vec();
        let last = (i + 1) * CHUNK >= file.len();
        let form = Form::new()
            .text("ks", ks.clone())
            .text("uploadTokenId", tokens[t].clone())
            .text("resume", if i == 0 { "false" } else { "true" })
            .text("resumeAt", (i * CHUNK).to_string())
            .text("finalChunk", if last { "true" } else { "false" })
            .text("format", "1")
            .part("fileData", Part::bytes(data).file_name("blob"));
        let request = http.post(format!("{base}/upload")).multipart(form);
        async move {
            let answer: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
            answer
        }
    };
    let firsts = futures::future::join_all((0..8).map(|t| chunk(t, 0))).await;
    let rest = futures::future::join_all(
        (0..8)
            .flat_map(|t| (1..8).map(move |i| (t, i)))
            .map(|(t, i)| chunk(t, i)),
    )
    .await;

    for answer in firsts.iter().chain(&rest) {
        assert!(answer.get("uploadedFileSize").is_some(), "{answer}");
    }
    for (t, file) in files.iter().enumerate() {
        let token = server.kaltura().upload_token(&tokens[t]).unwrap();
        assert_eq!(
            token.sha256(),
            Some(hex::encode(Sha256::digest(file)).as_str()),
            "token {t}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_token_while_uploads_use_it_ends_in_a_state_the_vendor_could_produce() {
    let server = MockServer::start().await;
    let token = server.apivideo().create_token(None);
    let http = client();
    let uploads = (0..16).map(|i| {
        let request = http
            .post(format!("{}/upload?token={}", server.uri(), token.token))
            .multipart(Form::new().part("file", Part::bytes(pattern(1000, i)).file_name("f")));
        async move { request.send().await.unwrap().status().as_u16() }
    });
    let delete = basic(
        http.delete(format!("{}/upload-tokens/{}", server.uri(), token.token)),
        "vidmock-api-key",
    )
    .send();

    let (statuses, deleted) = tokio::join!(futures::future::join_all(uploads), delete);

    assert_eq!(deleted.unwrap().status(), 204);
    // Each upload either made it before the deletion (a complete video) or was refused after it.
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 401),
        "{statuses:?}"
    );
    let accepted = statuses.iter().filter(|s| **s == 201).count();
    let videos = server.apivideo().videos();
    assert_eq!(videos.len(), accepted);
    assert!(videos.iter().all(|v| v.complete));
    assert!(server.apivideo().token(&token.token).is_none());
}
