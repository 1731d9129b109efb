//! Behaviours read from the Kaltura server's source (github.com/kaltura/server), each test
//! naming the file and line it follows: what `uploadToken.add` takes as a size, when an upload
//! deletes its token, what a token is attached to, whose tokens the entry calls may use, and
//! how sizes are written.

use crate::support::{admin, code, redact_ids, user, Api, Chunk};
use serde_json::Value;
use vidmock::kaltura::{EntryStatus, UploadTokenStatus};
use vidmock::MockServer;

async fn new_entry(api: &Api, media_type: &str) -> String {
    let entry = api
        .json(
            "media",
            "add",
            &[("entry:name", "clip"), ("entry:mediaType", media_type)],
        )
        .await;
    entry["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{entry}"))
        .to_owned()
}

async fn add_content(api: &Api, entry: &str, token: &str) -> Value {
    api.json(
        "media",
        "addContent",
        &[
            ("entryId", entry),
            ("resource:objectType", "KalturaUploadedFileTokenResource"),
            ("resource:token", token),
        ],
    )
    .await
}

fn is_short_id(id: &str) -> bool {
    id.len() == 10 && id.starts_with("0_") && id[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

// --- uploadToken.add --------------------------------------------------------------------------

/// api_v3/lib/types/KalturaUploadToken.php:158 — `if(!isset($this->fileSize))`: 0 is set.
#[tokio::test]
async fn auto_finalize_takes_a_file_size_of_zero_as_given() {
    let server = MockServer::start().await;
    let api = admin(&server);

    let zero = api
        .json(
            "uploadtoken",
            "add",
            &[
                ("uploadToken:autoFinalize", "1"),
                ("uploadToken:fileSize", "0"),
            ],
        )
        .await;
    let null = api
        .json(
            "uploadtoken",
            "add",
            &[
                ("uploadToken:autoFinalize", "1"),
                ("uploadToken:fileSize__null", "1"),
            ],
        )
        .await;

    assert_eq!(zero["status"], 0, "{zero}");
    assert_eq!(zero["fileSize"], "0");
    assert_eq!(zero["autoFinalize"], true);
    assert_eq!(code(&null), "UPLOAD_TOKEN_MISSING_FILE_SIZE");
}

// --- uploadToken.upload: a part the manager refuses -------------------------------------------

/// alpha/apps/kaltura/lib/kUploadTokenMgr.php:157–169 — `checkIfFileIsValid` (line 295:
/// `if (!$fileName)`) fails, and with `!$resume && $this->_finalChunk` the token goes through
/// `kFlowHelper::handleUploadFailed` (alpha/apps/kaltura/lib/batch2/kFlowHelper.php:2621–2624),
/// which sets it DELETED; UploadTokenService.php:105–108 answers `UPLOAD_ERROR`.
#[tokio::test]
async fn a_whole_upload_of_a_part_named_zero_fails_and_deletes_its_token() {
    let server = MockServer::start().await;
    let api = admin(&server);
    let token = api.add_token(&[]).await;

    let failed = api.upload_text(1, &token, b"data", "0", Chunk::WHOLE).await;
    let got = api
        .json("uploadtoken", "get", &[("uploadTokenId", &token)])
        .await;

    let failed: Value = serde_json::from_str(&failed).unwrap();
    assert_eq!(code(&failed), "UPLOAD_ERROR", "{failed}");
    assert_eq!(code(&got), "UPLOAD_TOKEN_NOT_FOUND");
    let stored = server.kaltura().upload_token(&token).unwrap();
    assert_eq!(stored.status, UploadTokenStatus::Deleted);
    assert_eq!(stored.file_name.as_deref(), Some("0"));
}

/// alpha/apps/kaltura/lib/kUploadTokenMgr.php:166 — only `!$resume && $this->_finalChunk`
/// deletes: a failed chunk of a chunked upload leaves the token as it was.
#[tokio::test]
async fn a_chunk_of_a_part_named_zero_fails_and_leaves_its_token_pending() {
    let server = MockServer::start().await;
    let api = admin(&server);
    let first = api.add_token(&[]).await;
    let resumed = api.add_token(&[]).await;
    api.upload(&resumed, b"abc", Chunk::FIRST).await;

    let opening = api.upload_text(1, &first, b"data", "0", Chunk::FIRST).await;
    let last = api
        .upload_text(1, &resumed, b"def", "0", Chunk::last_at(3))
        .await;
    let still = api
        .json("uploadtoken", "get", &[("uploadTokenId", &first)])
        .await;

    assert!(opening.contains("UPLOAD_ERROR"), "{opening}");
    assert!(last.contains("UPLOAD_ERROR"), "{last}");
    assert_eq!(still["status"], 0, "{still}");
    let resumed = server.kaltura().upload_token(&resumed).unwrap();
    assert_eq!(resumed.status, UploadTokenStatus::PartialUpload);
    assert_eq!(resumed.uploaded_file_size, Some(3));
}

// --- media.addContent: what the token is attached to ------------------------------------------

/// api_v3/lib/KalturaEntryService.php:469–490 — a token still uploading is attached to the
/// entry's source flavor asset (`kFlowHelper::createOriginalFlavorAsset`, then
/// alpha/lib/data/resource/kUploadedFileTokenResource.php:28–29 writes `get_class` and id);
/// the upload that completes it still closes it into the entry.
#[tokio::test]
async fn a_pending_token_added_to_a_video_is_attached_to_its_source_flavor() {
    let server = MockServer::start().await;
    let api = admin(&server);
    let entry = new_entry(&api, "1").await;
    let token = api.add_token(&[]).await;

    add_content(&api, &entry, &token).await;
    let json = api
        .text("uploadtoken", "get", 1, &[("uploadTokenId", &token)])
        .await;
    let xml = api
        .text("uploadtoken", "get", 2, &[("uploadTokenId", &token)])
        .await;
    let uploaded = api.upload(&token, b"whole file", Chunk::WHOLE).await;

    let got: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(got["attachedObjectType"], "flavorAsset");
    let flavor = got["attachedObjectId"].as_str().unwrap();
    assert!(is_short_id(flavor) && flavor != entry, "{flavor}");
    insta::assert_snapshot!("attached_to_flavor_json", redact_ids(&json));
    insta::assert_snapshot!("attached_to_flavor_xml", redact_ids(&xml));
    assert_eq!(uploaded["status"], 3, "{uploaded}");
    assert_eq!(uploaded["attachedObjectId"], flavor);
    assert_eq!(
        server.kaltura().entry(&entry).unwrap().status,
        EntryStatus::Ready
    );
}

/// api_v3/lib/KalturaEntryService.php:463–466 — an image entry is itself the attached object.
#[tokio::test]
async fn a_pending_token_added_to_an_image_is_attached_to_the_entry() {
    let server = MockServer::start().await;
    let api = admin(&server);
    let entry = new_entry(&api, "2").await;
    let token = api.add_token(&[]).await;

    add_content(&api, &entry, &token).await;
    let got = api
        .json("uploadtoken", "get", &[("uploadTokenId", &token)])
        .await;
    let uploaded = api.upload(&token, b"png", Chunk::WHOLE).await;

    assert_eq!(got["attachedObjectType"], "entry");
    assert_eq!(got["attachedObjectId"], entry.as_str());
    assert_eq!(uploaded["status"], 3, "{uploaded}");
}

/// api_v3/lib/types/resource/KalturaUploadedFileTokenResource.php:71–103 — a FULL_UPLOAD token
/// is a ready local file, which KalturaEntryService.php:430–432 attaches as a file, not as a
/// token; api_v3/services/MediaService.php:449–518 (`addFromUploadedFile`) takes the path and
/// closes the token. Neither writes `attachedObjectType`/`attachedObjectId`.
#[tokio::test]
async fn a_complete_token_consumed_by_an_entry_stays_unattached() {
    let server = MockServer::start().await;
    let api = admin(&server);
    let entry = new_entry(&api, "1").await;
    let added = api.add_token(&[]).await;
    api.upload(&added, b"one", Chunk::WHOLE).await;
    let from_file = api.add_token(&[]).await;
    api.upload(&from_file, b"two", Chunk::WHOLE).await;

    let content = add_content(&api, &entry, &added).await;
    let created = api
        .json(
            "media",
            "addFromUploadedFile",
            &[("mediaEntry:mediaType", "1"), ("uploadTokenId", &from_file)],
        )
        .await;
    let tokens = api.json("uploadtoken", "list", &[]).await;

    assert_eq!(content["status"], "2", "{content}");
    assert_eq!(created["status"], "2", "{created}");
    let objects = tokens["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 2);
    for token in objects {
        assert_eq!(token["status"], 3, "{token}");
        assert!(token.get("attachedObjectType").is_none(), "{token}");
        assert!(token.get("attachedObjectId").is_none(), "{token}");
    }
}

// --- whose tokens the entry calls take --------------------------------------------------------

/// api_v3/services/UploadTokenService.php:220–226 — only the uploadToken service restricts a
/// USER session to its own tokens; the media service reads tokens through
/// alpha/lib/model/UploadTokenPeer.php:13–23, whose default criteria exclude only DELETED.
#[tokio::test]
async fn a_user_session_may_add_another_users_token_to_its_entry() {
    let server = MockServer::start().await;
    let alice = user(&server, "alice");
    let bob = user(&server, "bob");
    let for_content = alice.add_token(&[]).await;
    alice.upload(&for_content, b"alice's", Chunk::WHOLE).await;
    let for_file = alice.add_token(&[]).await;
    alice.upload(&for_file, b"also alice's", Chunk::WHOLE).await;
    let entry = new_entry(&bob, "1").await;

    let content = add_content(&bob, &entry, &for_content).await;
    let created = bob
        .json(
            "media",
            "addFromUploadedFile",
            &[("mediaEntry:mediaType", "1"), ("uploadTokenId", &for_file)],
        )
        .await;
    let bob_get = bob
        .json("uploadtoken", "get", &[("uploadTokenId", &for_content)])
        .await;

    assert_eq!(content["status"], "2", "{content}");
    assert_eq!(created["status"], "2", "{created}");
    assert_eq!(created["userId"], "bob");
    assert_eq!(code(&bob_get), "UPLOAD_TOKEN_NOT_FOUND");
    let kaltura = server.kaltura();
    assert_eq!(
        kaltura.upload_token(&for_content).unwrap().status,
        UploadTokenStatus::Closed
    );
    assert_eq!(
        kaltura.upload_token(&for_file).unwrap().status,
        UploadTokenStatus::Closed
    );
}

/// alpha/lib/model/UploadTokenPeer.php:21 — a DELETED token stays out of the entry calls.
#[tokio::test]
async fn a_deleted_token_of_another_user_is_still_not_found_by_the_entry_calls() {
    let server = MockServer::start().await;
    let alice = user(&server, "alice");
    let bob = user(&server, "bob");
    let token = alice.add_token(&[]).await;
    alice.upload(&token, b"gone", Chunk::WHOLE).await;
    alice
        .json("uploadtoken", "delete", &[("uploadTokenId", &token)])
        .await;
    let entry = new_entry(&bob, "1").await;

    let content = add_content(&bob, &entry, &token).await;
    let created = bob
        .json(
            "media",
            "addFromUploadedFile",
            &[("mediaEntry:mediaType", "1"), ("uploadTokenId", &token)],
        )
        .await;

    assert_eq!(code(&content), "UPLOAD_TOKEN_NOT_FOUND");
    assert_eq!(code(&created), "UPLOADED_FILE_NOT_FOUND_BY_TOKEN");
}

// --- number fields ----------------------------------------------------------------------------

/// alpha/lib/model/om/BaseUploadToken.php:565–572 — `setUploadedFileSize` (and `setFileSize`,
/// line 542–549) cast the value to a string before it is kept, so the object the upload action
/// answers without reloading it (api_v3/services/UploadTokenService.php:129–131) carries the
/// size as a string, like a token read from the database.
#[tokio::test]
async fn an_upload_answers_its_sizes_as_strings_like_a_read() {
    let server = MockServer::start().await;
    let api = admin(&server);
    let token = api.add_token(&[("uploadToken:fileSize", "10")]).await;

    let partial = api.upload(&token, b"01234", Chunk::FIRST).await;
    let whole = api.upload(&token, b"56789", Chunk::last_at(5)).await;
    let got = api
        .json("uploadtoken", "get", &[("uploadTokenId", &token)])
        .await;

    assert_eq!(partial["uploadedFileSize"], "5", "{partial}");
    assert_eq!(whole["uploadedFileSize"], "10", "{whole}");
    assert_eq!(whole["fileSize"], "10");
    assert_eq!(got["uploadedFileSize"], "10");
    assert_eq!(whole["status"], 2);
    assert_eq!(whole["partnerId"], 101);
}
