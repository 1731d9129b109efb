//! The entry calls that consume an upload token, over a real socket: `media.add` +
//! `media.addContent`, `media.addFromUploadedFile`, `baseEntry.addFromUploadedFile`, the reads
//! and the delete, `partner.get`, and the token's move to CLOSED — at once when it is complete,
//! or in the very upload that completes it (../shared/specs/kaltura.md §4.8).

use crate::support::{admin, bytes, code, redact, redact_ids, sha256, Api, Chunk};
use serde_json::Value;
use vidmock::kaltura::{EntryStatus, SessionType, UploadTokenStatus};
use vidmock::MockServer;

async fn new_entry(api: &Api) -> String {
    let entry = api
        .json(
            "media",
            "add",
            &[
                ("entry:objectType", "KalturaMediaEntry"),
                ("entry:name", "clip"),
                ("entry:mediaType", "1"),
            ],
        )
        .await;
    entry["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{entry}"))
        .to_owned()
}

async fn complete_token(api: &Api, data: &[u8]) -> String {
    let id = api.add_token(&[]).await;
    let answer = api.upload(&id, data, Chunk::WHOLE).await;
    assert_eq!(answer["status"], 2, "{answer}");
    id
}

#[tokio::test]
async fn media_add_creates_an_entry_without_content_in_both_wire_forms() {
    let server = MockServer::start().await;
    let api = admin(&server);
    let fields = [
        ("entry:objectType", "KalturaMediaEntry"),
        ("entry:name", "test"),
        ("entry:mediaType", "1"),
    ];

    let json = api.text("media", "add", 1, &fields).await;
    let xml = api.text("media", "add", 2, &fields).await;

    let parsed: Value = serde_json::from_str(&json).unwrap();
    let id = parsed["id"].as_str().unwrap();
    assert!(id.len() == 10 && id.starts_with("0_"), "{id}");
    assert_eq!(parsed["status"], "7");
    insta::assert_snapshot!("media_add_json", redact_ids(&json));
    insta::assert_snapshot!("media_add_xml", redact_ids(&xml));
    assert_eq!(server.kaltura().entries().len(), 2);
}

#[tokio::test]
async fn media_add_needs_an_entry_with_a_media_type() {
    let server = MockServer::start().await;
    let api = admin(&server);

    let missing = api.json("media", "add", &[]).await;
    let untyped = api.json("media", "add", &[("entry:name", "x")]).await;
    let bad_type = api.json("media", "add", &[("entry:mediaType", "3")]).await;
    let readonly = api
        .json(
            "media",
            "add",
            &[("entry:mediaType", "1"), ("entry:id", "0_mine")],
        )
        .await;

    assert_eq!(code(&missing), "MISSING_MANDATORY_PARAMETER");
    assert_eq!(code(&untyped), "PROPERTY_VALIDATION_CANNOT_BE_NULL");
    assert_eq!(untyped["args"]["PROP_NAME"], "KalturaMediaEntry::mediaType");
    assert_eq!(code(&bad_type), "INVALID_ENUM_VALUE");
    assert_eq!(code(&readonly), "PROPERTY_VALIDATION_NOT_UPDATABLE");
}

#[tokio::test]
async fn add_content_with_a_complete_token_closes_it_at_once() {
    let server = MockServer::start().await;
    let api = admin(&server);
    let data = bytes(4096, 1);
    let entry = new_entry(&api).await;
    let token = complete_token(&api, &data).await;

    let answer = api
        .json(
            "media",
            "addContent",
            &[
                ("entryId", &entry),
                ("resource:objectType", "KalturaUploadedFileTokenResource"),
                ("resource:token", &token),
            ],
        )
        .await;

    assert_eq!(answer["status"], "2");
    let got = api
        .json("uploadtoken", "get", &[("uploadTokenId", &token)])
        .await;
    assert_eq!(got["status"], 3);
    let stored = server.kaltura().entry(&entry).unwrap();
    assert_eq!(stored.status, EntryStatus::Ready);
    assert_eq!(stored.upload_token_id.as_deref(), Some(token.as_str()));
    assert_eq!(stored.sha256(), Some(sha256(&data).as_str()));
    assert_eq!(stored.content().unwrap(), data);
}

#[tokio::test]
async fn a_token_attached_before_its_upload_is_closed_by_the_upload_that_completes_it() {
    let server = MockServer::start().await;
    let api = admin(&server);
    let entry = new_entry(&api).await;
    let token = api.add_token(&[]).await;

    let attached = api
        .json(
            "media",
            "addContent",
            &[
                ("entryId", &entry),
                ("resource:objectType", "KalturaUploadedFileTokenResource"),
                ("resource:token", &token),
            ],
        )
        .await;
    let pending = api
        .json("uploadtoken", "get", &[("uploadTokenId", &token)])
        .await;
    let uploaded = api.upload(&token, b"whole file", Chunk::WHOLE).await;

    assert_eq!(attached["status"], "0");
    assert_eq!(pending["status"], 0);
    assert_eq!(pending["attachedObjectType"], "flavorAsset");
    assert!(pending["attachedObjectId"].is_string(), "{pending}");
    assert_eq!(uploaded["status"], 3);
    assert_eq!(uploaded["uploadedFileSize"], "10");
    let stored = server.kaltura().entry(&entry).unwrap();
    assert_eq!(stored.status, EntryStatus::Ready);
    assert_eq!(stored.sha256(), Some(sha256(b"whole file").as_str()));
}

#[tokio::test]
async fn parallel_chunks_on_an_attached_token_are_partial_until_the_last_closes_it() {
    // The Node client's own test: a 0-byte first part, the entry attached, then every chunk at
    // once with the last marked final.
    let server = MockServer::start().await;
    let api = admin(&server);
    let data = bytes(10 * 65536 + 17, 2);
    let token = api.add_token(&[]).await;
    let opened = api.upload(&token, b"", Chunk::FIRST).await;
    let entry = new_entry(&api).await;
    api.json(
        "media",
        "addContent",
        &[("entryId", &entry), ("resource:token", &token)],
    )
    .await;

    let pieces: Vec<(usize, Vec<u8>)> = data
        .chunks(65536)
        .enumerate()
        .map(|(i, p)| (i * 65536, p.to_vec()))
        .collect();
    let count = pieces.len();
    let tasks: Vec<_> = pieces
        .into_iter()
        .enumerate()
        .map(|(i, (offset, piece))| {
            let (api, token) = (api.clone(), token.clone());
            let chunk = Chunk {
                resume: true,
                final_chunk: i + 1 == count,
                resume_at: offset as i64,
            };
            tokio::spawn(async move { api.upload(&token, &piece, chunk).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }

    assert_eq!(opened["status"], 1);
    let last = answers.pop().unwrap();
    assert!(answers.iter().all(|a| a["status"] == 1), "{answers:?}");
    assert_eq!(last["status"], 3, "{last}");
    let stored = server.kaltura().entry(&entry).unwrap();
    assert_eq!(stored.status, EntryStatus::Ready);
    assert_eq!(stored.sha256(), Some(sha256(&data).as_str()));
}

#[tokio::test]
async fn the_node_clients_single_multirequest_adds_attaches_and_uploads() {
    // media.add, uploadToken.add, media.addContent('{1:result:id}', token '{2:result:id}'),
    // uploadToken.upload('{2:result:id}', file), as the Node client sends it.
    let server = MockServer::start().await;
    let ks = server.kaltura().ks("", SessionType::Admin);
    let json = serde_json::json!({
        "ks": ks,
        "format": 1,
        "0": {"service": "media", "action": "add",
              "entry": {"objectType": "KalturaMediaEntry", "mediaType": 1, "name": "test"}},
        "1": {"service": "uploadtoken", "action": "add",
              "uploadToken": {"objectType": "KalturaUploadToken"}},
        "2": {"service": "media", "action": "addContent", "entryId": "{1:result:id}",
              "resource": {"objectType": "KalturaUploadedFileTokenResource", "token": "{2:result:id}"}},
        "3": {"service": "uploadtoken", "action": "upload", "uploadTokenId": "{2:result:id}"},
    });
    let form = reqwest::multipart::Form::new()
        .text("json", json.to_string())
        .part(
            "3:fileData",
            reqwest::multipart::Part::bytes(b"in a multirequest".to_vec())
                .file_name("DemoVideo.mp4"),
        );

    let answers: Value = reqwest::Client::new()
        .post(format!("{}/api_v3/service/multirequest", server.uri()))
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(answers[0]["status"], "7", "{answers}");
    assert_eq!(answers[1]["status"], 0);
    assert_eq!(answers[2]["status"], "0");
    assert_eq!(answers[3]["status"], 3);
    assert_eq!(answers[3]["fileName"], "DemoVideo.mp4");
    insta::assert_snapshot!(redact_ids(&answers.to_string()));
}

#[tokio::test]
async fn add_content_refuses_what_the_server_refuses() {
    let server = MockServer::start().await;
    let api = admin(&server);
    let entry = new_entry(&api).await;
    let closed = complete_token(&api, b"x").await;
    let other = new_entry(&api).await;
    api.json(
        "media",
        "addContent",
        &[("entryId", &other), ("resource:token", &closed)],
    )
    .await;
    let add_content = |fields: Vec<(&'static str, String)>| {
        let api = api.clone();
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            api.json("media", "addContent", &fields).await
        }
    };

    let unknown_entry = add_content(vec![("entryId", "0_00000000".into())]).await;
    let unknown_token = add_content(vec![
        ("entryId", entry.clone()),
        ("resource:token", "0_nope".into()),
    ])
    .await;
    let null_token = add_content(vec![
        ("entryId", entry.clone()),
        (
            "resource:objectType",
            "KalturaUploadedFileTokenResource".into(),
        ),
        ("resource:token__null", String::new()),
    ])
    .await;
    let url = add_content(vec![
        ("entryId", entry.clone()),
        ("resource:objectType", "KalturaUrlResource".into()),
        ("resource:url", "http://example.com/a.mp4".into()),
    ])
    .await;
    let reused = add_content(vec![
        ("entryId", entry.clone()),
        ("resource:token", closed.clone()),
    ])
    .await;
    let twice = add_content(vec![
        ("entryId", other.clone()),
        ("resource:token", closed.clone()),
    ])
    .await;

    assert_eq!(code(&unknown_entry), "ENTRY_ID_NOT_FOUND");
    assert_eq!(
        unknown_entry["message"],
        "Entry id \"0_00000000\" not found"
    );
    assert_eq!(code(&unknown_token), "UPLOAD_TOKEN_NOT_FOUND");
    assert_eq!(code(&null_token), "PROPERTY_VALIDATION_CANNOT_BE_NULL");
    assert_eq!(code(&url), "RESOURCE_TYPE_NOT_SUPPORTED");
    assert_eq!(code(&reused), "UPLOAD_TOKEN_INVALID_STATUS_FOR_ADD_ENTRY");
    assert_eq!(code(&twice), "ENTRY_ALREADY_WITH_CONTENT");
}

#[tokio::test]
async fn add_from_uploaded_file_needs_a_complete_token_and_closes_it() {
    let server = MockServer::start().await;
    let api = admin(&server);
    let data = bytes(2000, 3);
    let token = complete_token(&api, &data).await;
    let partial = api.add_token(&[]).await;
    api.upload(&partial, b"abc", Chunk::FIRST).await;
    let fields = |id: &str| {
        vec![
            ("mediaEntry:objectType", "KalturaMediaEntry".to_owned()),
            ("mediaEntry:name", "clip.mp4".to_owned()),
            ("mediaEntry:mediaType", "1".to_owned()),
            ("uploadTokenId", id.to_owned()),
        ]
    };
    let call = |fields: Vec<(&'static str, String)>| {
        let api = api.clone();
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            api.json("media", "addFromUploadedFile", &fields).await
        }
    };

    let created = call(fields(&token)).await;
    let reused = call(fields(&token)).await;
    let unfinished = call(fields(&partial)).await;
    let unknown = call(fields("0_00000000000000000000000000000000")).await;
    let xml = api
        .text(
            "media",
            "addFromUploadedFile",
            2,
            &[("mediaEntry:mediaType", "1"), ("uploadTokenId", "0_nope")],
        )
        .await;

    assert_eq!(created["status"], "2");
    assert_eq!(created["name"], "clip.mp4");
    assert_eq!(code(&reused), "UPLOAD_TOKEN_INVALID_STATUS_FOR_ADD_ENTRY");
    assert_eq!(
        code(&unfinished),
        "UPLOAD_TOKEN_INVALID_STATUS_FOR_ADD_ENTRY"
    );
    assert_eq!(code(&unknown), "UPLOADED_FILE_NOT_FOUND_BY_TOKEN");
    insta::assert_snapshot!("add_from_uploaded_file_error_xml", redact(&xml));
    assert_eq!(
        server.kaltura().upload_token(&token).unwrap().status,
        UploadTokenStatus::Closed
    );
    let entry = server
        .kaltura()
        .entry(created["id"].as_str().unwrap())
        .unwrap();
    assert_eq!(entry.sha256(), Some(sha256(&data).as_str()));
}

#[tokio::test]
async fn base_entry_add_from_uploaded_file_creates_a_data_entry_as_kaltura_uploader_asks() {
    let server = MockServer::start().await;
    let api = admin(&server);
    let token = complete_token(&api, b"{}").await;

    let entry = api
        .json(
            "baseEntry",
            "addFromUploadedFile",
            &[
                ("entry:objectType", "KalturaDataEntry"),
                ("type", "6"),
                ("entry:name", "data.json"),
                ("entry:conversionProfileId", "-1"),
                ("uploadTokenId", &token),
            ],
        )
        .await;
    let id = entry["id"].as_str().unwrap();
    let as_base = api.json("baseEntry", "get", &[("entryId", id)]).await;
    let as_media = api.json("media", "get", &[("entryId", id)]).await;

    assert_eq!(entry["objectType"], "KalturaDataEntry");
    assert_eq!(entry["type"], "6");
    assert_eq!(entry["status"], "2");
    assert_eq!(as_base["objectType"], "KalturaDataEntry");
    assert_eq!(code(&as_media), "ENTRY_ID_NOT_FOUND");
}

#[tokio::test]
async fn get_and_delete_an_entry() {
    let server = MockServer::start().await;
    let api = admin(&server);
    let entry = new_entry(&api).await;

    let media = api.json("media", "get", &[("entryId", &entry)]).await;
    let base = api
        .text("baseEntry", "get", 2, &[("entryId", &entry)])
        .await;
    let deleted = api.text("media", "delete", 1, &[("entryId", &entry)]).await;
    let after = api.json("media", "get", &[("entryId", &entry)]).await;
    let again = api.json("media", "delete", &[("entryId", &entry)]).await;

    assert_eq!(media["id"], entry.as_str());
    assert_eq!(media["objectType"], "KalturaMediaEntry");
    assert!(base.contains("<objectType>KalturaMediaEntry</objectType>"));
    assert_eq!(deleted, "null");
    assert_eq!(code(&after), "ENTRY_ID_NOT_FOUND");
    assert_eq!(code(&again), "ENTRY_ID_NOT_FOUND");
    assert_eq!(
        server.kaltura().entry(&entry).unwrap().status,
        EntryStatus::Deleted
    );
}

#[tokio::test]
async fn a_user_session_edits_only_its_own_entries() {
    let server = MockServer::start().await;
    let alice = Api::new(&server, &server.kaltura().ks("alice", SessionType::User));
    let bob = Api::new(&server, &server.kaltura().ks("bob", SessionType::User));
    let entry = new_entry(&alice).await;

    let denied = bob.json("media", "delete", &[("entryId", &entry)]).await;
    let read = bob.json("media", "get", &[("entryId", &entry)]).await;
    let own = alice
        .text("media", "delete", 1, &[("entryId", &entry)])
        .await;

    assert_eq!(code(&denied), "PERMISSION_DENIED_TO_UPDATE_ENTRY");
    assert_eq!(read["userId"], "alice");
    assert_eq!(own, "null");
}

#[tokio::test]
async fn partner_get_answers_the_sessions_partner() {
    let server = MockServer::start().await;
    let api = admin(&server);

    let json = api.json("partner", "get", &[("id", "101")]).await;
    let xml = api.text("partner", "get", 2, &[]).await;
    let other = api.json("partner", "get", &[("id", "7")]).await;

    assert_eq!(json["id"], 101);
    assert_eq!(json["name"], "vidmock partner 101");
    assert!(xml.contains("<name>vidmock partner 101</name>"));
    assert_eq!(code(&other), "INVALID_PARTNER_ID");
}

#[tokio::test]
async fn the_admin_state_lists_entries_with_their_contents_digest() {
    let server = MockServer::start().await;
    let api = admin(&server);
    let data = bytes(300, 4);
    let token = complete_token(&api, &data).await;
    let created = api
        .json(
            "media",
            "addFromUploadedFile",
            &[
                ("mediaEntry:name", "clip"),
                ("mediaEntry:mediaType", "1"),
                ("uploadTokenId", &token),
            ],
        )
        .await;

    let state: Value = reqwest::get(format!("{}/__vidmock/state", server.uri()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let partner = &state["kaltura"]["partners"][0];
    assert_eq!(partner["uploadTokens"][0]["statusName"], "CLOSED");
    assert_eq!(partner["uploadTokens"][0]["sha256"], sha256(&data));
    assert_eq!(partner["entries"][0]["id"], created["id"]);
    assert_eq!(partner["entries"][0]["status"], "2");
    assert_eq!(partner["entries"][0]["uploadTokenId"], token.as_str());
    assert_eq!(partner["entries"][0]["sha256"], sha256(&data));
}
