//! Kaltura's `uploadToken` service over a real socket: `add`, `get`, `list`, `delete`, the chunk
//! engine of `upload` (replace, append, offsets, overlaps, gaps, duplicates, the verified final
//! chunk and its wait, autoFinalize, the resume window) and every error the service can answer
//! (../shared/specs/kaltura.md §3–§5), in both wire formats.

use std::time::{Duration, Instant};

use crate::support::{bytes, code, redact_ids, sha256, Api, Chunk};
use serde_json::Value;
use vidmock::kaltura::{SessionType, UploadTokenStatus};
use vidmock::MockServer;

/// An ADMIN client whose KS outlives the clock moves of these tests (30 days).
async fn admin(server: &MockServer) -> Api {
    let ks = server.kaltura().ks_valid_for(
        "admin@example.com",
        SessionType::Admin,
        Duration::from_secs(30 * 24 * 3600),
    );
    Api::new(server, &ks)
}

/// Waits until token `id` has received `n` upload calls (a spawned upload has reached it).
async fn received_calls(server: &MockServer, id: &str, n: usize) {
    for _ in 0..500 {
        if server
            .kaltura()
            .upload_token(id)
            .is_some_and(|t| t.chunks.len() >= n)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("token {id} never received {n} upload calls");
}

fn status(answer: &Value) -> i64 {
    answer["status"].as_i64().unwrap_or(-1)
}

fn uploaded(answer: &Value) -> &str {
    answer["uploadedFileSize"].as_str().unwrap_or("absent")
}

// ------------------------------------------------------------------ add, get, list, delete

/// The assembled bytes of token `id`, which must exist and keep its bytes.
fn content(server: &MockServer, id: &str) -> Vec<u8> {
    server
        .kaltura()
        .upload_token(id)
        .unwrap()
        .content()
        .unwrap()
}

#[tokio::test]
async fn add_creates_a_pending_token_with_a_0_prefixed_hex_id() {
    let server = MockServer::start().await;
    let api = admin(&server).await;

    let json = api
        .json(
            "uploadtoken",
            "add",
            &[
                ("uploadToken:objectType", "KalturaUploadToken"),
                ("uploadToken:fileName", "clip.mp4"),
                ("uploadToken:fileSize", "1048576"),
            ],
        )
        .await;
    let xml = api
        .text(
            "uploadtoken",
            "add",
            2,
            &[("uploadToken:objectType", "KalturaUploadToken")],
        )
        .await;

    let id = json["id"].as_str().unwrap();
    assert_eq!(id.len(), 34);
    assert!(id.starts_with("0_") && id[2..].bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(json["createdAt"], json["updatedAt"]);
    insta::assert_snapshot!("add_json", redact_ids(&json.to_string()));
    insta::assert_snapshot!("add_xml", redact_ids(&xml));
}

#[tokio::test]
async fn get_answers_the_token_and_an_unknown_id_is_not_found() {
    let server = MockServer::start().await;
    let api = admin(&server).await;
    let id = api.add_token(&[("uploadToken:fileName", "a.mp4")]).await;

    let got = api
        .json("uploadtoken", "get", &[("uploadTokenId", &id)])
        .await;
    let unknown = api
        .json("uploadtoken", "get", &[("uploadTokenId", "0_nope")])
        .await;

    assert_eq!(got["id"], id.as_str());
    assert_eq!(got["fileName"], "a.mp4");
    assert_eq!(status(&got), 0);
    assert!(got.get("uploadedFileSize").is_none());
    assert_eq!(code(&unknown), "UPLOAD_TOKEN_NOT_FOUND");
}

#[tokio::test]
async fn delete_is_void_and_makes_the_token_invisible_everywhere() {
    let server = MockServer::start().await;
    let api = admin(&server).await;
    let id = api.add_token(&[]).await;

    let json = api
        .text("uploadtoken", "delete", 1, &[("uploadTokenId", &id)])
        .await;
    let again = api
        .text("uploadtoken", "delete", 2, &[("uploadTokenId", &id)])
        .await;
    let other = api.add_token(&[]).await;
    let xml = api
        .text("uploadtoken", "delete", 2, &[("uploadTokenId", &other)])
        .await;

    assert_eq!(json, "null");
    assert!(again.contains("<code>UPLOAD_TOKEN_NOT_FOUND</code>"));
    insta::assert_snapshot!("delete_xml", redact_ids(&xml));
    let get = api
        .json("uploadtoken", "get", &[("uploadTokenId", &id)])
        .await;
    assert_eq!(code(&get), "UPLOAD_TOKEN_NOT_FOUND");
    let upload = api.upload(&id, b"x", Chunk::WHOLE).await;
    assert_eq!(code(&upload), "UPLOAD_TOKEN_NOT_FOUND");
    let listed = api
        .json("uploadtoken", "list", &[("filter:statusEqual", "5")])
        .await;
    assert_eq!(listed["totalCount"], 0);
    assert_eq!(
        server.kaltura().upload_token(&id).unwrap().status,
        UploadTokenStatus::Deleted
    );
}

#[tokio::test]
async fn list_filters_counts_before_paging_and_pages_by_30_by_default() {
    let server = MockServer::start().await;
    let api = admin(&server).await;
    let mut ids = Vec::new();
    for i in 0..35 {
        let name = format!("f{}.mp4", i % 2);
        let size = (i % 3).to_string();
        ids.push(
            api.add_token(&[
                ("uploadToken:fileName", &name),
                ("uploadToken:fileSize", &size),
            ])
            .await,
        );
        server.clock().advance(Duration::from_secs(1));
    }
    api.upload(&ids[0], b"abc", Chunk::WHOLE).await;
    api.upload(&ids[2], b"abc", Chunk::FIRST).await;

    let all = api.json("uploadtoken", "list", &[]).await;
    let page2 = api
        .json(
            "uploadtoken",
            "list",
            &[("pager:pageSize", "10"), ("pager:pageIndex", "4")],
        )
        .await;
    let huge = api
        .json("uploadtoken", "list", &[("pager:pageSize", "1000")])
        .await;
    let zero = api
        .json("uploadtoken", "list", &[("pager:pageSize", "0")])
        .await;
    let newest = api
        .json(
            "uploadtoken",
            "list",
            &[("filter:orderBy", "-createdAt"), ("pager:pageSize", "1")],
        )
        .await;
    let by_id = api
        .json(
            "uploadtoken",
            "list",
            &[("filter:idIn", &format!("{},{},0_nope", ids[3], ids[4]))],
        )
        .await;
    let full = api
        .json("uploadtoken", "list", &[("filter:statusEqual", "2")])
        .await;
    let partial_or_full = api
        .json("uploadtoken", "list", &[("filter:statusIn", "1,2")])
        .await;
    let named = api
        .json("uploadtoken", "list", &[("filter:fileNameEqual", "f0.mp4")])
        .await;
    let sized = api
        .json("uploadtoken", "list", &[("filter:fileSizeEqual", "2")])
        .await;
    let equal = api
        .json("uploadtoken", "list", &[("filter:idEqual", &ids[7])])
        .await;

    assert_eq!(all["totalCount"], 35);
    assert_eq!(all["objects"].as_array().unwrap().len(), 30);
    assert_eq!(all["objects"][0]["id"], ids[0].as_str());
    assert_eq!(page2["totalCount"], 35);
    assert_eq!(page2["objects"].as_array().unwrap().len(), 5);
    assert_eq!(page2["objects"][0]["id"], ids[30].as_str());
    assert_eq!(huge["objects"].as_array().unwrap().len(), 35);
    assert_eq!(zero["objects"].as_array().unwrap().len(), 35);
    assert_eq!(newest["objects"][0]["id"], ids[34].as_str());
    assert_eq!(by_id["totalCount"], 2);
    assert_eq!(full["totalCount"], 1);
    assert_eq!(partial_or_full["totalCount"], 2);
    assert_eq!(named["totalCount"], 18);
    assert_eq!(sized["totalCount"], 11);
    assert_eq!(equal["objects"][0]["id"], ids[7].as_str());
}

#[tokio::test]
async fn list_answers_an_empty_array_and_has_both_wire_forms() {
    let server = MockServer::start().await;
    let api = admin(&server).await;

    let empty = api.text("uploadtoken", "list", 1, &[]).await;
    api.add_token(&[("uploadToken:fileName", "a & b.mp4")])
        .await;
    let json = api.text("uploadtoken", "list", 1, &[]).await;
    let xml = api.text("uploadtoken", "list", 2, &[]).await;

    assert_eq!(
        empty,
        r#"{"objects":[],"totalCount":0,"objectType":"KalturaUploadTokenListResponse"}"#
    );
    insta::assert_snapshot!("list_json", redact_ids(&json));
    insta::assert_snapshot!("list_xml", redact_ids(&xml));
}

#[tokio::test]
async fn a_file_name_filter_implies_unfinished_statuses_and_a_stale_partial_is_dropped() {
    let server = MockServer::start().await;
    let api = admin(&server).await;
    let pending = api.add_token(&[("uploadToken:fileName", "n.mp4")]).await;
    let done = api.add_token(&[("uploadToken:fileName", "n.mp4")]).await;
    let stale = api.add_token(&[("uploadToken:fileName", "n.mp4")]).await;
    api.upload(&done, b"x", Chunk::WHOLE).await;
    api.upload(&stale, b"x", Chunk::FIRST).await;
    let closed = api.add_token(&[("uploadToken:fileName", "n.mp4")]).await;
    api.upload(&closed, b"x", Chunk::WHOLE).await;
    api.json(
        "media",
        "addFromUploadedFile",
        &[("mediaEntry:mediaType", "1"), ("uploadTokenId", &closed)],
    )
    .await;
    server
        .clock()
        .advance(Duration::from_secs(7 * 24 * 3600 + 1));

    let implied = api
        .json("uploadtoken", "list", &[("filter:fileNameEqual", "n.mp4")])
        .await;
    let partial = api
        .json(
            "uploadtoken",
            "list",
            &[
                ("filter:fileNameEqual", "n.mp4"),
                ("filter:statusEqual", "1"),
            ],
        )
        .await;

    let ids: Vec<&str> = implied["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["id"].as_str())
        .collect();
    assert_eq!(ids, vec![pending.as_str(), done.as_str(), stale.as_str()]);
    assert_eq!(partial["totalCount"], 0);
}

#[tokio::test]
async fn a_user_session_sees_only_its_own_tokens_and_an_admin_sees_all() {
    let server = MockServer::start().await;
    let alice = Api::new(&server, &server.kaltura().ks("alice", SessionType::User));
    let bob = Api::new(&server, &server.kaltura().ks("bob", SessionType::User));
    let root = admin(&server).await;
    let of_alice = alice.add_token(&[]).await;
    bob.add_token(&[]).await;

    let alice_list = alice.json("uploadtoken", "list", &[]).await;
    let bob_get = bob
        .json("uploadtoken", "get", &[("uploadTokenId", &of_alice)])
        .await;
    let bob_upload = bob.upload(&of_alice, b"x", Chunk::WHOLE).await;
    let bob_delete = bob
        .json("uploadtoken", "delete", &[("uploadTokenId", &of_alice)])
        .await;
    let admin_list = root.json("uploadtoken", "list", &[]).await;
    let by_user = root
        .json("uploadtoken", "list", &[("filter:userIdEqual", "alice")])
        .await;
    let nobody = root
        .json("uploadtoken", "list", &[("filter:userIdEqual", "carol")])
        .await;

    assert_eq!(alice_list["totalCount"], 1);
    assert_eq!(alice_list["objects"][0]["userId"], "alice");
    assert_eq!(code(&bob_get), "UPLOAD_TOKEN_NOT_FOUND");
    assert_eq!(code(&bob_upload), "UPLOAD_TOKEN_NOT_FOUND");
    assert_eq!(code(&bob_delete), "UPLOAD_TOKEN_NOT_FOUND");
    assert_eq!(admin_list["totalCount"], 2);
    assert_eq!(by_user["totalCount"], 1);
    assert_eq!(nobody["totalCount"], 0);
}

#[tokio::test]
async fn partners_do_not_see_each_others_tokens() {
    let server = MockServer::start().await;
    let other = server.kaltura().add_partner(202, "secret-202", "user-202");
    let api = admin(&server).await;
    let elsewhere = Api::new(&server, &other.ks("", SessionType::Admin));
    let id = api.add_token(&[]).await;

    let got = elsewhere
        .json("uploadtoken", "get", &[("uploadTokenId", &id)])
        .await;

    assert_eq!(code(&got), "UPLOAD_TOKEN_NOT_FOUND");
    assert!(other.upload_tokens().is_empty());
    assert_eq!(server.kaltura().upload_tokens().len(), 1);
}

#[tokio::test]
async fn a_widget_session_may_get_and_list_but_not_add() {
    let server = MockServer::start().await;
    let widget = Api::started(
        &server,
        "start?format=1&secret=vidmock-admin-secret&partnerId=101&privileges=view:*,widget:1",
    )
    .await;

    let list = widget.json("uploadtoken", "list", &[]).await;
    let add = widget.json("uploadtoken", "add", &[]).await;

    assert_eq!(list["totalCount"], 0);
    assert_eq!(code(&add), "SERVICE_FORBIDDEN");
    assert_eq!(add["args"]["SERVICE"], "uploadtoken->add");
}

// ------------------------------------------------------------------ the chunk engine

#[tokio::test]
async fn a_single_shot_upload_completes_the_token_and_keeps_the_bytes() {
    let server = MockServer::start().await;
    let api = admin(&server).await;
    let id = api.add_token(&[]).await;
    let data = bytes(100_000, 1);

    let answer = api
        .upload_text(2, &id, &data, "dir/clip.mp4", Chunk::WHOLE)
        .await;

    insta::assert_snapshot!("single_shot_xml", redact_ids(&answer));
    let token = server.kaltura().upload_token(&id).unwrap();
    assert_eq!(token.status, UploadTokenStatus::FullUpload);
    assert_eq!(token.file_name.as_deref(), Some("clip.mp4"));
    assert_eq!(token.content().unwrap(), data);
    assert_eq!(token.sha256(), Some(sha256(&data).as_str()));
    assert_eq!(token.chunks.len(), 1);
    assert_eq!(token.chunks[0].size, 100_000);
    assert_eq!(token.chunks[0].resume_at, -1.0);
    let recorded = server.received_requests().pop().unwrap();
    assert_eq!(recorded.operation.as_deref(), Some("uploadtoken.upload"));
    assert_eq!(recorded.target.as_deref(), Some(id.as_str()));
}

#[tokio::test]
async fn resume_false_replaces_the_file_and_resume_at_minus_one_appends() {
    let server = MockServer::start().await;
    let api = admin(&server).await;
    let id = api.add_token(&[]).await;

    let first = api.upload(&id, b"aaaa", Chunk::FIRST).await;
    let replaced = api.upload(&id, b"bb", Chunk::FIRST).await;
    let appended = api
        .upload(
            &id,
            b"cc",
            Chunk {
                resume: true,
                final_chunk: false,
                resume_at: -1,
            },
        )
        .await;
    let last = api
        .upload(
            &id,
            b"dd",
            Chunk {
                resume: true,
                final_chunk: true,
                resume_at: -1,
            },
        )
        .await;

    assert_eq!((status(&first), uploaded(&first)), (1, "4"));
    assert_eq!((status(&replaced), uploaded(&replaced)), (1, "2"));
    assert_eq!((status(&appended), uploaded(&appended)), (1, "4"));
    assert_eq!((status(&last), uploaded(&last)), (2, "6"));
    assert_eq!(content(&server, &id), b"bbccdd");
}

#[tokio::test]
async fn sequential_offsets_assemble_the_file_as_kaltura_uploader_sends_it() {
    let server = MockServer::start().await;
    let api = admin(&server).await;
    let data = bytes(7 * 1024, 2);
    let id = api.add_token(&[("uploadToken:fileName", "clip.mp4")]).await;

    let mut answers = Vec::new();
    for (i, piece) in data.chunks(2048).enumerate() {
        let offset = i * 2048;
        let chunk = Chunk {
            resume: offset > 0,
            final_chunk: offset + piece.len() >= data.len(),
            resume_at: offset as i64,
        };
        answers.push(api.upload(&id, piece, chunk).await);
    }

    let statuses: Vec<i64> = answers.iter().map(status).collect();
    let sizes: Vec<&str> = answers.iter().map(uploaded).collect();
    assert_eq!(statuses, vec![1, 1, 1, 2]);
    assert_eq!(sizes, vec!["2048", "4096", "6144", "7168"]);
    let token = server.kaltura().upload_token(&id).unwrap();
    assert_eq!(token.sha256(), Some(sha256(&data).as_str()));
    assert_eq!(token.file_name.as_deref(), Some("clip.mp4"));
}

#[tokio::test]
async fn an_overlapping_chunk_extends_the_file_and_a_contained_duplicate_is_ignored() {
    let server = MockServer::start().await;
    let api = admin(&server).await;
    let data = bytes(12, 3);
    let id = api.add_token(&[]).await;

    api.upload(&id, &data[..6], Chunk::FIRST).await;
    let overlap = api.upload(&id, &data[4..10], Chunk::at(4)).await;
    let duplicate = api.upload(&id, &data[2..8], Chunk::at(2)).await;
    let last = api.upload(&id, &data[10..], Chunk::last_at(10)).await;

    assert_eq!(uploaded(&overlap), "10");
    assert_eq!((status(&duplicate), uploaded(&duplicate)), (1, "10"));
    assert_eq!((status(&last), uploaded(&last)), (2, "12"));
    assert_eq!(content(&server, &id), data);
}

#[tokio::test]
async fn a_chunk_past_a_gap_waits_and_is_applied_when_the_file_reaches_it() {
    let server = MockServer::start().await;
    let api = admin(&server).await;
    let data = bytes(12, 4);
    let id = api.add_token(&[]).await;

    api.upload(&id, &data[..4], Chunk::FIRST).await;
    let gap = api.upload(&id, &data[8..], Chunk::at(8)).await;
    let waiting = server.kaltura().upload_token(&id).unwrap().waiting_chunks;
    let filled = api.upload(&id, &data[4..8], Chunk::at(4)).await;
    let closing = api.upload(&id, b"", Chunk::last_at(12)).await;

    assert_eq!((status(&gap), uploaded(&gap)), (1, "4"));
    assert_eq!(waiting, vec![(8, 4)]);
    assert_eq!(uploaded(&filled), "12");
    assert_eq!((status(&closing), uploaded(&closing)), (2, "12"));
    let token = server.kaltura().upload_token(&id).unwrap();
    assert_eq!(token.content().unwrap(), data);
    assert!(token.waiting_chunks.is_empty());
}

#[tokio::test]
async fn a_final_chunk_sent_first_waits_for_the_others_without_blocking_them() {
    let server = MockServer::start().await;
    let api = admin(&server).await;
    let data = bytes(30_000, 5);
    let id = api.add_token(&[]).await;
    api.upload(&id, &data[..10_000], Chunk::FIRST).await;

    let last = {
        let (api, id, piece) = (api.clone(), id.clone(), data[20_000..].to_vec());
        tokio::spawn(async move { api.upload(&id, &piece, Chunk::last_at(20_000)).await })
    };
    received_calls(&server, &id, 2).await;
    let started = Instant::now();
    let read_meanwhile = api
        .json("uploadtoken", "get", &[("uploadTokenId", &id)])
        .await;
    let middle = api
        .upload(&id, &data[10_000..20_000], Chunk::at(10_000))
        .await;
    let answered_in = started.elapsed();
    let last = last.await.unwrap();

    assert_eq!(status(&read_meanwhile), 1);
    assert_eq!(status(&middle), 1);
    assert!(answered_in < Duration::from_secs(2), "{answered_in:?}");
    assert_eq!((status(&last), uploaded(&last)), (2, "30000"));
    assert_eq!(
        server.kaltura().upload_token(&id).unwrap().sha256(),
        Some(sha256(&data).as_str())
    );
}

#[tokio::test]
async fn a_final_chunk_whose_predecessors_never_come_fails_and_a_retry_succeeds() {
    let server = MockServer::builder()
        .kaltura_final_chunk_wait(Duration::from_millis(150))
        .start()
        .await;
    let api = admin(&server).await;
    let data = bytes(9, 6);
    let id = api.add_token(&[]).await;
    api.upload(&id, &data[..3], Chunk::FIRST).await;

    let started = Instant::now();
    let failed = api.upload(&id, &data[6..], Chunk::last_at(6)).await;
    let waited = started.elapsed();
    let still = api
        .json("uploadtoken", "get", &[("uploadTokenId", &id)])
        .await;
    api.upload(&id, &data[3..6], Chunk::at(3)).await;
    let retried = api.upload(&id, &data[6..], Chunk::last_at(6)).await;

    assert_eq!(code(&failed), "UPLOAD_TOKEN_CANNOT_MATCH_EXPECTED_SIZE");
    assert!(waited >= Duration::from_millis(150), "{waited:?}");
    assert_eq!((status(&still), uploaded(&still)), (1, "3"));
    assert_eq!((status(&retried), uploaded(&retried)), (2, "9"));
    assert_eq!(content(&server, &id), data);
}

#[tokio::test]
async fn a_final_chunk_that_leaves_the_file_longer_than_expected_fails_at_once() {
    let server = MockServer::start().await;
    let api = admin(&server).await;
    let id = api.add_token(&[]).await;
    api.upload(&id, b"0123456789", Chunk::FIRST).await;

    let started = Instant::now();
    let answer = api.upload(&id, b"45", Chunk::last_at(4)).await;

    assert_eq!(code(&answer), "UPLOAD_TOKEN_CANNOT_MATCH_EXPECTED_SIZE");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_zero_length_final_chunk_closes_a_parallel_session() {
    let server = MockServer::start().await;
    let api = admin(&server).await;
    let data = bytes(64, 7);
    let id = api.add_token(&[]).await;
    api.upload(&id, &data[..16], Chunk::FIRST).await;
    for offset in [48usize, 16, 32] {
        api.upload(&id, &data[offset..offset + 16], Chunk::at(offset as i64))
            .await;
    }

    let closing = api.upload(&id, b"", Chunk::last_at(64)).await;

    assert_eq!((status(&closing), uploaded(&closing)), (2, "64"));
    assert_eq!(content(&server, &id), data);
}

#[tokio::test]
async fn an_empty_non_final_chunk_past_zero_changes_nothing() {
    let server = MockServer::start().await;
    let api = admin(&server).await;
    let id = api.add_token(&[]).await;
    let opened = api.upload(&id, b"abc", Chunk::FIRST).await;
    server.clock().advance(Duration::from_secs(5));

    let empty = api.upload(&id, b"", Chunk::at(3)).await;
    let empty_on_pending = {
        let fresh = api.add_token(&[]).await;
        api.upload(&fresh, b"", Chunk::at(9)).await
    };

    assert_eq!(empty["updatedAt"], opened["updatedAt"]);
    assert_eq!((status(&empty), uploaded(&empty)), (1, "3"));
    assert_eq!(status(&empty_on_pending), 0);
}

#[tokio::test]
async fn a_zero_byte_first_part_opens_a_session_as_the_node_client_does() {
    let server = MockServer::start().await;
    let api = admin(&server).await;
    let id = api.add_token(&[]).await;

    let opened = api.upload(&id, b"", Chunk::FIRST).await;

    assert_eq!((status(&opened), uploaded(&opened)), (1, "0"));
}

#[tokio::test]
async fn the_file_name_comes_from_the_first_part_only_when_none_was_given() {
    let server = MockServer::start().await;
    let api = admin(&server).await;
    let unnamed = api.add_token(&[]).await;
    let named = api
        .add_token(&[("uploadToken:fileName", "given.mp4")])
        .await;

    api.upload_text(1, &unnamed, b"a", "C:\\videos\\first.mov", Chunk::FIRST)
        .await;
    let second = api
        .upload_text(1, &unnamed, b"b", "second.mov", Chunk::last_at(1))
        .await;
    let kept = api
        .upload_text(1, &named, b"a", "other.mov", Chunk::WHOLE)
        .await;

    assert!(second.contains(r#""fileName":"first.mov""#), "{second}");
    assert!(kept.contains(r#""fileName":"given.mp4""#), "{kept}");
}

#[tokio::test]
async fn a_partial_upload_untouched_for_seven_days_cannot_resume() {
    let server = MockServer::start().await;
    let api = admin(&server).await;
    let partial = api.add_token(&[]).await;
    let pending = api.add_token(&[]).await;
    api.upload(&partial, b"abc", Chunk::FIRST).await;
    server.clock().advance(Duration::from_secs(604_799));
    let within = api.upload(&partial, b"d", Chunk::at(3)).await;
    server.clock().advance(Duration::from_secs(604_801));

    let json = api.upload(&partial, b"e", Chunk::at(4)).await;
    let xml = api
        .upload_text(2, &partial, b"e", "blob", Chunk::at(4))
        .await;
    let still_pending = api.upload(&pending, b"x", Chunk::WHOLE).await;

    assert_eq!(status(&within), 1);
    assert_eq!(code(&json), "UPLOAD_PASSED_MAX_RESUME_TIME_ALLOWED");
    assert_eq!(
        json["message"],
        "Max resume time of 604800 seconds reached, cannot resume upload"
    );
    assert!(xml.contains("<name>MAX_RESUME_TIME</name><value>604800</value>"));
    assert_eq!(status(&still_pending), 2);
}

#[tokio::test]
async fn a_complete_token_refuses_further_uploads() {
    let server = MockServer::start().await;
    let api = admin(&server).await;
    let id = api.add_token(&[]).await;
    api.upload(&id, b"abc", Chunk::WHOLE).await;

    let again = api.upload(&id, b"abc", Chunk::WHOLE).await;
    let resumed = api.upload(&id, b"d", Chunk::at(3)).await;

    assert_eq!(code(&again), "UPLOAD_TOKEN_INVALID_STATUS_FOR_UPLOAD");
    assert_eq!(code(&resumed), "UPLOAD_TOKEN_INVALID_STATUS_FOR_UPLOAD");
}

#[tokio::test]
async fn resuming_a_token_that_never_received_a_first_part_cannot_resume() {
    let server = MockServer::start().await;
    let api = admin(&server).await;
    let id = api.add_token(&[]).await;

    let answer = api.upload(&id, b"abc", Chunk::at(0)).await;

    assert_eq!(code(&answer), "UPLOAD_TOKEN_CANNOT_RESUME");
    assert_eq!(
        answer["message"],
        "Cannot resume the upload, original file was not found"
    );
}

#[tokio::test]
async fn a_final_chunk_at_offset_zero_is_not_verified_but_completes() {
    let server = MockServer::start().await;
    let api = admin(&server).await;
    let id = api.add_token(&[]).await;
    api.upload(&id, b"", Chunk::FIRST).await;

    let answer = api.upload(&id, b"abcdef", Chunk::last_at(0)).await;

    assert_eq!((status(&answer), uploaded(&answer)), (2, "6"));
}

#[tokio::test]
async fn every_chunk_at_once_with_the_last_marked_final_assembles_byte_exact() {
    let server = MockServer::start().await;
    let api = admin(&server).await;
    let data = bytes(64 * 1024 * 5 + 123, 8);
    let id = api.add_token(&[]).await;
    api.upload(&id, b"", Chunk::FIRST).await;

    let pieces: Vec<(usize, Vec<u8>)> = data
        .chunks(64 * 1024)
        .enumerate()
        .map(|(i, piece)| (i * 64 * 1024, piece.to_vec()))
        .collect();
    let count = pieces.len();
    let tasks: Vec<_> = pieces
        .into_iter()
        .enumerate()
        .map(|(i, (offset, piece))| {
            let (api, id) = (api.clone(), id.clone());
            let chunk = Chunk {
                resume: true,
                final_chunk: i == count - 1,
                resume_at: offset as i64,
            };
            tokio::spawn(async move { api.upload(&id, &piece, chunk).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }

    let last = answers.pop().unwrap();
    assert!(answers.iter().all(|a| status(a) == 1), "{answers:?}");
    assert_eq!(status(&last), 2);
    assert_eq!(
        server.kaltura().upload_token(&id).unwrap().sha256(),
        Some(sha256(&data).as_str())
    );
}

// ------------------------------------------------------------------ autoFinalize

#[tokio::test]
async fn auto_finalize_completes_a_first_part_of_the_declared_size() {
    let server = MockServer::start().await;
    let api = admin(&server).await;
    let id = api
        .add_token(&[
            ("uploadToken:autoFinalize", "1"),
            ("uploadToken:fileSize", "5"),
        ])
        .await;

    let answer = api.upload(&id, b"abcde", Chunk::FIRST).await;

    assert_eq!(answer["autoFinalize"], true);
    assert_eq!((status(&answer), uploaded(&answer)), (2, "5"));
}

#[tokio::test]
async fn auto_finalize_completes_when_offset_chunks_add_up_to_the_declared_size() {
    let server = MockServer::start().await;
    let api = admin(&server).await;
    let data = bytes(12, 9);
    let id = api
        .add_token(&[
            ("uploadToken:autoFinalize", "true"),
            ("uploadToken:fileSize", "12"),
        ])
        .await;
    api.upload(&id, &data[..4], Chunk::FIRST).await;
    // A retried chunk counts twice: the count reaches 12 with the middle still missing, so the
    // request that reaches it finalises and waits for the middle.
    api.upload(&id, &data[..4], Chunk::at(0)).await;

    let finaliser = {
        let (api, id, piece) = (api.clone(), id.clone(), data[8..].to_vec());
        tokio::spawn(async move { api.upload(&id, &piece, Chunk::at(8)).await })
    };
    received_calls(&server, &id, 3).await;
    let middle = api.upload(&id, &data[4..8], Chunk::at(4)).await;
    let completing = finaliser.await.unwrap();

    assert_eq!(status(&middle), 1);
    assert_eq!((status(&completing), uploaded(&completing)), (2, "12"));
    assert_eq!(content(&server, &id), data);
}

#[tokio::test]
async fn auto_finalize_with_appends_finalises_any_append_within_the_declared_size() {
    let server = MockServer::start().await;
    let api = admin(&server).await;
    let id = api
        .add_token(&[
            ("uploadToken:autoFinalize", "1"),
            ("uploadToken:fileSize", "10"),
        ])
        .await;
    api.upload(&id, b"abc", Chunk::FIRST).await;

    let append = Chunk {
        resume: true,
        final_chunk: false,
        resume_at: -1,
    };
    let answer = api.upload(&id, b"def", append).await;

    assert_eq!((status(&answer), uploaded(&answer)), (2, "6"));
}

#[tokio::test]
async fn auto_finalize_gives_up_after_four_finaliser_attempts() {
    let server = MockServer::builder()
        .kaltura_final_chunk_wait(Duration::from_millis(20))
        .start()
        .await;
    let api = admin(&server).await;
    let id = api
        .add_token(&[
            ("uploadToken:autoFinalize", "1"),
            ("uploadToken:fileSize", "10"),
        ])
        .await;
    api.upload(&id, b"abcd", Chunk::FIRST).await;
    api.upload(&id, b"ijkl", Chunk::at(8)).await;

    let mut codes = Vec::new();
    for _ in 0..5 {
        let answer = api.upload(&id, b"ijkl", Chunk::at(8)).await;
        codes.push(code(&answer).to_owned());
        server.clock().advance(Duration::from_secs(31));
    }

    assert_eq!(
        codes,
        vec![
            "UPLOAD_TOKEN_CANNOT_MATCH_EXPECTED_SIZE",
            "UPLOAD_TOKEN_CANNOT_MATCH_EXPECTED_SIZE",
            "UPLOAD_TOKEN_CANNOT_MATCH_EXPECTED_SIZE",
            "UPLOAD_TOKEN_CANNOT_MATCH_EXPECTED_SIZE",
            "INTERNAL_SERVERL_ERROR",
        ]
    );
}

// ------------------------------------------------------------------ errors, both formats

/// One call of every error the service can answer, labelled; `(label, json, xml)`.
async fn every_error(server: &MockServer) -> Vec<(&'static str, String, String)> {
    let api = admin(server).await;
    let plain = Api::new(server, "");
    let expired = Api::new(
        server,
        &server
            .kaltura()
            .ks_valid_for("u", SessionType::Admin, Duration::from_secs(1)),
    );
    let complete = api.add_token(&[]).await;
    api.upload(&complete, b"x", Chunk::WHOLE).await;
    let pending = api.add_token(&[]).await;
    let stale = api.add_token(&[]).await;
    api.upload(&stale, b"x", Chunk::FIRST).await;
    server.clock().advance(Duration::from_secs(2));

    let mut out = Vec::new();
    macro_rules! both {
        ($label:expr, |$f:ident| $call:expr) => {{
            let json = {
                let $f = 1u8;
                $call.await
            };
            let xml = {
                let $f = 2u8;
                $call.await
            };
            out.push(($label, json, xml));
        }};
    }
    both!("MISSING_MANDATORY_PARAMETER uploadTokenId", |f| api.text(
        "uploadtoken",
        "get",
        f,
        &[]
    ));
    both!("MISSING_MANDATORY_PARAMETER fileData", |f| api.text(
        "uploadtoken",
        "upload",
        f,
        &[("uploadTokenId", &pending)]
    ));
    both!("UPLOAD_ERROR (a plain field, not a file)", |f| api.text(
        "uploadtoken",
        "upload",
        f,
        &[("uploadTokenId", &pending), ("fileData", "not a file")]
    ));
    both!("INVALID_ENUM_VALUE autoFinalize", |f| api.text(
        "uploadtoken",
        "add",
        f,
        &[("uploadToken:autoFinalize", "7")]
    ));
    both!("INVALID_ENUM_VALUE statusEqual", |f| api.text(
        "uploadtoken",
        "list",
        f,
        &[("filter:statusEqual", "9")]
    ));
    both!("PROPERTY_VALIDATION_WRONG_FORMAT", |f| api.text(
        "uploadtoken",
        "add",
        f,
        &[("uploadToken", "scalar")]
    ));
    both!("INVALID_PARAMETER_CHAR", |f| api.text(
        "uploadtoken",
        "add",
        f,
        &[("uploadToken:fileName", "a\u{1}b")]
    ));
    both!("MISSING_KS", |f| plain.text(
        "uploadtoken",
        "get",
        f,
        &[("uploadTokenId", &pending)]
    ));
    both!("INVALID_KS expired", |f| expired.text(
        "uploadtoken",
        "add",
        f,
        &[]
    ));
    both!("SERVICE_FORBIDDEN", |f| plain.text(
        "uploadtoken",
        "add",
        f,
        &[("partnerId", "101")]
    ));
    both!("PROPERTY_VALIDATION_NOT_UPDATABLE", |f| api.text(
        "uploadtoken",
        "add",
        f,
        &[("uploadToken:status", "2")]
    ));
    both!("UPLOAD_TOKEN_MISSING_FILE_SIZE", |f| api.text(
        "uploadtoken",
        "add",
        f,
        &[("uploadToken:autoFinalize", "1")]
    ));
    both!("UPLOAD_TOKEN_NOT_FOUND", |f| api.text(
        "uploadtoken",
        "delete",
        f,
        &[("uploadTokenId", "0_00000000000000000000000000000000")]
    ));
    server.clock().advance(Duration::from_secs(604_801));
    both!("UPLOAD_PASSED_MAX_RESUME_TIME_ALLOWED", |f| api
        .upload_text(f, &stale, b"y", "blob", Chunk::at(1)));
    both!("UPLOAD_TOKEN_INVALID_STATUS_FOR_UPLOAD", |f| api
        .upload_text(f, &complete, b"y", "blob", Chunk::WHOLE));
    both!("UPLOAD_TOKEN_CANNOT_RESUME", |f| api.upload_text(
        f,
        &pending,
        b"y",
        "blob",
        Chunk::at(0)
    ));
    out
}

#[tokio::test]
async fn every_error_of_the_service_in_json_and_xml() {
    let server = MockServer::builder()
        .kaltura_final_chunk_wait(Duration::from_millis(50))
        .start()
        .await;
    let mut errors = every_error(&server).await;
    // The wait of a final chunk that cannot be matched, separately: it takes a wait per format.
    let api = admin(&server).await;
    let gapped = api.add_token(&[]).await;
    api.upload(&gapped, b"x", Chunk::FIRST).await;
    let json = api
        .upload_text(1, &gapped, b"z", "blob", Chunk::last_at(5))
        .await;
    let xml = api
        .upload_text(2, &gapped, b"z", "blob", Chunk::last_at(5))
        .await;
    errors.push(("UPLOAD_TOKEN_CANNOT_MATCH_EXPECTED_SIZE", json, xml));

    let mut json_text = String::new();
    let mut xml_text = String::new();
    for (label, json, xml) in &errors {
        json_text.push_str(&format!("{label}\n{}\n\n", redact_ids(json)));
        xml_text.push_str(&format!("{label}\n{}\n\n", redact_ids(xml)));
        let expected = label.split(' ').next().unwrap();
        let parsed: Value = serde_json::from_str(json).unwrap();
        assert_eq!(parsed["code"], expected, "{label}: {json}");
        assert!(
            xml.contains(&format!("<code>{expected}</code>")),
            "{label}: {xml}"
        );
    }
    insta::assert_snapshot!("errors_json", json_text);
    insta::assert_snapshot!("errors_xml", xml_text);
}

#[tokio::test]
async fn a_file_part_with_an_empty_filename_is_an_upload_error() {
    let server = MockServer::start().await;
    let api = admin(&server).await;
    let id = api.add_token(&[]).await;

    let answer = api.upload_text(1, &id, b"abc", "", Chunk::WHOLE).await;

    assert!(answer.contains(r#""code":"UPLOAD_ERROR""#), "{answer}");
    assert_eq!(
        server.kaltura().upload_token(&id).unwrap().status,
        UploadTokenStatus::Pending
    );
}

// ------------------------------------------------------------------ state

#[tokio::test]
async fn the_admin_state_shows_progress_and_the_sha256_of_completed_uploads() {
    let server = MockServer::start().await;
    let api = admin(&server).await;
    let data = bytes(1000, 10);
    let done = api.add_token(&[("uploadToken:fileName", "done.bin")]).await;
    let partial = api.add_token(&[]).await;
    api.upload(&done, &data, Chunk::WHOLE).await;
    api.upload(&partial, &data[..100], Chunk::FIRST).await;
    api.upload(&partial, &data[300..400], Chunk::at(300)).await;

    let state: Value = reqwest::get(format!("{}/__vidmock/state", server.uri()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let tokens = &state["kaltura"]["partners"][0]["uploadTokens"];
    assert_eq!(tokens[0]["id"], done.as_str());
    assert_eq!(tokens[0]["statusName"], "FULL_UPLOAD");
    assert_eq!(tokens[0]["complete"], true);
    assert_eq!(tokens[0]["size"], 1000);
    assert_eq!(tokens[0]["sha256"], sha256(&data));
    assert_eq!(tokens[1]["status"], 1);
    assert_eq!(tokens[1]["complete"], false);
    assert_eq!(tokens[1]["uploadedFileSize"], 100);
    assert_eq!(tokens[1]["receivedBytes"], 200);
    assert_eq!(
        tokens[1]["waitingChunks"],
        serde_json::json!([{ "offset": 300, "size": 100 }])
    );
    assert_eq!(tokens[1]["sha256"], Value::Null);
}

#[tokio::test]
async fn digest_only_retention_keeps_the_sha256_but_not_the_bytes() {
    let server = MockServer::builder()
        .retention(vidmock::Retention::DigestOnly)
        .start()
        .await;
    let api = admin(&server).await;
    let data = bytes(5000, 11);
    let id = api.add_token(&[]).await;

    api.upload(&id, &data[..2500], Chunk::FIRST).await;
    api.upload(&id, &data[2500..], Chunk::last_at(2500)).await;

    let token = server.kaltura().upload_token(&id).unwrap();
    assert_eq!(token.content(), None);
    assert_eq!(token.chunks[0].data, None);
    assert_eq!(token.sha256(), Some(sha256(&data).as_str()));
    assert_eq!(token.size(), Some(5000));
}

#[tokio::test]
async fn spill_retention_keeps_overlapping_chunks_byte_exact_and_hashes_them() {
    // Arrange: chunks that overlap and arrive past a gap, with the bytes kept on disk.
    let server = MockServer::builder()
        .retention(vidmock::Retention::Spill)
        .start()
        .await;
    let api = admin(&server).await;
    let data = bytes(3_000_000, 17);
    let id = api.add_token(&[]).await;

    // Act
    api.upload(&id, &data[..1_200_000], Chunk::FIRST).await;
    api.upload(&id, &data[2_100_000..2_500_000], Chunk::at(2_100_000))
        .await;
    api.upload(&id, &data[1_000_000..2_200_000], Chunk::at(1_000_000))
        .await;
    api.upload(&id, &data[2_500_000..], Chunk::last_at(2_500_000))
        .await;

    // Assert
    let token = server.kaltura().upload_token(&id).unwrap();
    assert_eq!(token.size(), Some(3_000_000));
    assert_eq!(token.sha256(), Some(sha256(&data).as_str()));
    assert!(token.content().unwrap() == data, "the spilled bytes differ");
    let state: Value = reqwest::get(format!("{}/__vidmock/state", server.uri()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        state["kaltura"]["partners"][0]["uploadTokens"][0]["sha256"],
        sha256(&data)
    );
}

#[tokio::test]
async fn a_reset_forgets_tokens() {
    let server = MockServer::start().await;
    let api = admin(&server).await;
    api.add_token(&[]).await;

    server.reset();

    assert!(server.kaltura().upload_tokens().is_empty());
    let listed = api.json("uploadtoken", "list", &[]).await;
    assert_eq!(listed["totalCount"], 0);
}
