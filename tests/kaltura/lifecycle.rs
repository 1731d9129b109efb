//! The entry lifecycle over a real socket: IMPORT → PRECONVERT → READY on the server's clock,
//! flavors and the default conversion profile, the media URLs vidmock serves, a scripted
//! ERROR_CONVERTING, `media.updateContent` and `uploadUrl`
//! (api_v3/lib/KalturaEntryService.php, api_v3/services/FlavorAssetService.php,
//! alpha/lib/model/entry.php, alpha/apps/kaltura/lib/batch2/kFlowHelper.php).

use std::time::Duration;

use crate::support::{
    admin, bytes, entry_with, redact_ids, sha256, slow_server, user, xml_result, Api, Chunk,
};
use serde_json::Value;
use vidmock::kaltura::{EntryStatus, SessionType};
use vidmock::MockServer;

/// `media.updateContent` of entry `id` from upload token `token`.
async fn update_content(api: &Api, id: &str, token: &str) -> Value {
    api.json(
        "media",
        "updateContent",
        &[("entryId", id), ("resource:token", token)],
    )
    .await
}

async fn flavors(api: &Api, id: &str) -> Value {
    api.json("flavorAsset", "list", &[("filter:entryIdEqual", id)])
        .await
}

fn statuses(list: &Value) -> Vec<i64> {
    list["objects"]
        .as_array()
        .unwrap_or_else(|| panic!("{list}"))
        .iter()
        .map(|f| f["status"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn an_entry_imports_then_converts_then_is_ready_as_the_clock_moves() {
    let server = slow_server().await;
    let api = admin(&server);
    let id = entry_with(&api, &bytes(4096, 1)).await;

    let importing = api.json("media", "get", &[("entryId", &id)]).await;
    let importing_flavors = flavors(&api, &id).await;
    server.clock().advance(Duration::from_secs(5));
    let converting = api.json("media", "get", &[("entryId", &id)]).await;
    let converting_flavors = flavors(&api, &id).await;
    server.clock().advance(Duration::from_secs(10));
    let ready = api.json("media", "get", &[("entryId", &id)]).await;
    let ready_flavors = flavors(&api, &id).await;

    assert_eq!(importing["status"], "0");
    assert_eq!(statuses(&importing_flavors), [7, 6, 6, 6]);
    assert_eq!(converting["status"], "1");
    assert_eq!(statuses(&converting_flavors), [2, 1, 1, 1]);
    assert_eq!(ready["status"], "2");
    assert_eq!(statuses(&ready_flavors), [2, 2, 2, 2]);
    assert_eq!(ready["flavorParamsIds"], "0,487041,487051,487061");
    assert_eq!(
        server.kaltura().entry(&id).map(|e| e.status),
        Some(EntryStatus::Ready)
    );
}

#[tokio::test]
async fn flavor_asset_list_and_get_answer_in_both_wire_forms() {
    let server = MockServer::start().await;
    let api = admin(&server);
    let id = entry_with(&api, &bytes(3000, 2)).await;

    let json = api
        .text("flavorAsset", "list", 1, &[("filter:entryIdEqual", &id)])
        .await;
    let xml = api
        .text("flavorAsset", "list", 2, &[("filter:entryIdEqual", &id)])
        .await;
    let listed: Value = serde_json::from_str(&json).unwrap();
    let source = listed["objects"][0]["id"].as_str().unwrap().to_owned();
    let got = api.json("flavorAsset", "get", &[("id", &source)]).await;
    let missing = api.json("flavorAsset", "get", &[("id", "0_nothere")]).await;

    insta::assert_snapshot!("flavor_asset_list_json", redact_ids(&json));
    insta::assert_snapshot!("flavor_asset_list_xml", redact_ids(xml_result(&xml)));
    assert_eq!(got["isOriginal"], true);
    assert_eq!(got["sizeInBytes"], 3000);
    assert_eq!(missing["code"], "FLAVOR_ASSET_ID_NOT_FOUND");
}

#[tokio::test]
async fn conversion_profile_get_and_list_answer_the_default_profile_in_both_wire_forms() {
    let server = MockServer::start().await;
    let api = admin(&server);

    let json = api
        .text("conversionProfile", "get", 1, &[("id", "1001")])
        .await;
    let xml = api.text("conversionProfile", "list", 2, &[]).await;
    let missing = api.json("conversionProfile", "get", &[("id", "7")]).await;

    insta::assert_snapshot!("conversion_profile_get_json", redact_ids(&json));
    insta::assert_snapshot!("conversion_profile_list_xml", redact_ids(xml_result(&xml)));
    assert_eq!(missing["code"], "CONVERSION_PROFILE_ID_NOT_FOUND");
}

#[tokio::test]
async fn the_data_url_serves_the_uploaded_bytes_with_ranges() {
    let server = MockServer::start().await;
    let api = admin(&server);
    let data = bytes(10_000, 3);
    let id = entry_with(&api, &data).await;
    let entry = api.json("media", "get", &[("entryId", &id)]).await;
    let url = entry["dataUrl"].as_str().unwrap().to_owned();
    let client = reqwest::Client::new();

    let whole = client.get(&url).send().await.unwrap();
    let whole_status = whole.status();
    let whole_body = whole.bytes().await.unwrap();
    let part = client
        .get(&url)
        .header("Range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    let part_status = part.status();
    let part_range = part.headers()["content-range"].to_str().unwrap().to_owned();
    let part_body = part.bytes().await.unwrap();
    let outside = client
        .get(&url)
        .header("Range", "bytes=20000-")
        .send()
        .await
        .unwrap();
    let download = client
        .get(entry["downloadUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap();

    assert_eq!(whole_status, 200);
    assert_eq!(sha256(&whole_body), sha256(&data));
    assert_eq!(part_status, 206);
    assert_eq!(part_range, "bytes 100-199/10000");
    assert_eq!(&part_body[..], &data[100..200]);
    assert_eq!(outside.status(), 416);
    assert_eq!(outside.headers()["content-range"], "bytes */10000");
    assert_eq!(download.status(), 200);
    assert_eq!(download.bytes().await.unwrap().len(), 10_000);
}

#[tokio::test]
async fn flavor_urls_serve_each_ready_flavor_and_refuse_one_that_is_not() {
    let server = slow_server().await;
    let api = admin(&server);
    let data = bytes(2048, 4);
    let id = entry_with(&api, &data).await;
    let list = api
        .json("flavorAsset", "list", &[("filter:entryIdEqual", &id)])
        .await;
    let converted = list["objects"][1]["id"].as_str().unwrap().to_owned();

    let early = api
        .json("flavorAsset", "getUrl", &[("id", &converted)])
        .await;
    server.clock().advance(Duration::from_secs(15));
    let url = api
        .json("flavorAsset", "getUrl", &[("id", &converted)])
        .await;
    let download = api
        .json("flavorAsset", "getDownloadUrl", &[("id", &converted)])
        .await;
    let fetched = reqwest::get(url.as_str().unwrap()).await.unwrap();
    let fetched_download = reqwest::get(download.as_str().unwrap()).await.unwrap();

    assert_eq!(early["code"], "FLAVOR_ASSET_IS_NOT_READY");
    assert!(
        url.as_str().unwrap().ends_with("/format/url/a.mp4"),
        "{url}"
    );
    assert_eq!(
        sha256(&fetched.bytes().await.unwrap()),
        sha256(&data),
        "vidmock does not transcode: a flavor is the source's bytes"
    );
    assert_eq!(fetched_download.status(), 200);
}

#[tokio::test]
async fn the_thumbnail_url_serves_a_png_of_the_asked_size() {
    let server = MockServer::start().await;
    let api = admin(&server);
    let id = entry_with(&api, &bytes(100, 5)).await;
    let entry = api.json("media", "get", &[("entryId", &id)]).await;
    let url = entry["thumbnailUrl"].as_str().unwrap();

    let default = reqwest::get(url).await.unwrap();
    let sized = reqwest::get(format!("{url}/width/64/height/48"))
        .await
        .unwrap();
    let unknown = reqwest::get(format!(
        "{}/p/101/thumbnail/entry_id/0_nothere",
        server.uri()
    ))
    .await
    .unwrap();

    assert_eq!(default.headers()["content-type"], "image/png");
    let default = default.bytes().await.unwrap();
    assert_eq!(&default[1..4], b"PNG");
    assert_eq!(&default[16..24], &[0, 0, 0, 120, 0, 0, 0, 90]);
    let sized = sized.bytes().await.unwrap();
    assert_eq!(&sized[16..24], &[0, 0, 0, 64, 0, 0, 0, 48]);
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn a_conversion_failed_through_the_admin_api_is_error_converting() {
    let server = slow_server().await;
    let api = admin(&server);
    let id = entry_with(&api, &bytes(512, 6)).await;
    let client = reqwest::Client::new();

    let failed = client
        .post(format!(
            "{}/__vidmock/vendors/kaltura/entries/{id}/fail",
            server.uri()
        ))
        .send()
        .await
        .unwrap();
    let failed_status = failed.status();
    let failed_body: Value = failed.json().await.unwrap();
    let entry = api.json("media", "get", &[("entryId", &id)]).await;
    let flavors = api
        .json("flavorAsset", "list", &[("filter:entryIdEqual", &id)])
        .await;
    let unknown = client
        .post(format!(
            "{}/__vidmock/vendors/kaltura/entries/0_nothere/ready",
            server.uri()
        ))
        .send()
        .await
        .unwrap();

    assert_eq!(failed_status, 200);
    assert_eq!(failed_body["status"], "-1");
    assert_eq!(entry["status"], "-1");
    assert_eq!(statuses(&flavors), [2, -1, -1, -1]);
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn the_next_conversion_scripted_to_fail_ends_in_error_converting_when_due() {
    let server = slow_server().await;
    let api = admin(&server);
    server.kaltura().fail_next_conversions(1);
    let failing = entry_with(&api, &bytes(64, 7)).await;
    let fine = entry_with(&api, &bytes(64, 8)).await;

    let before = api.json("media", "get", &[("entryId", &failing)]).await;
    server.clock().advance(Duration::from_secs(15));
    let failed = api.json("media", "get", &[("entryId", &failing)]).await;
    let ready = api.json("media", "get", &[("entryId", &fine)]).await;

    assert_eq!(before["status"], "0");
    assert_eq!(failed["status"], "-1");
    assert_eq!(ready["status"], "2");
}

#[tokio::test]
async fn the_admin_api_makes_an_entry_ready_at_once_and_shows_its_flavors_in_the_state() {
    let server = slow_server().await;
    let api = admin(&server);
    let id = entry_with(&api, &bytes(64, 9)).await;

    let answer = reqwest::Client::new()
        .post(format!(
            "{}/__vidmock/vendors/kaltura/entries/{id}/ready",
            server.uri()
        ))
        .send()
        .await
        .unwrap();
    let state: Value = reqwest::get(format!("{}/__vidmock/state", server.uri()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(answer.status(), 200);
    let entry = &state["kaltura"]["partners"][0]["entries"][0];
    assert_eq!(entry["status"], "2", "{state}");
    assert_eq!(
        entry["flavors"].as_array().map(Vec::len),
        Some(4),
        "{state}"
    );
}

#[tokio::test]
async fn update_content_replaces_a_ready_entrys_file_through_a_replacement_entry() {
    let server = slow_server().await;
    let api = admin(&server);
    let old = bytes(1000, 10);
    let new = bytes(2000, 11);
    let id = entry_with(&api, &old).await;
    server.clock().advance(Duration::from_secs(15));
    let token = api.add_token(&[]).await;
    api.upload_text(1, &token, &new, "new.mp4", Chunk::WHOLE)
        .await;

    let replacing = update_content(&api, &id, &token).await;
    let again = update_content(&api, &id, &token).await;
    server.clock().advance(Duration::from_secs(15));
    let replaced = api.json("media", "get", &[("entryId", &id)]).await;
    let served = reqwest::get(replaced["dataUrl"].as_str().unwrap())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let listed = api
        .json("media", "list", &[("filter:statusIn", "-1,0,1,2,7")])
        .await;

    assert_eq!(
        replacing["status"], "2",
        "the entry stays READY: {replacing}"
    );
    assert_eq!(replacing["replacementStatus"], "1", "{replacing}");
    assert!(replacing["replacingEntryId"].is_string(), "{replacing}");
    assert_eq!(again["code"], "ENTRY_REPLACEMENT_ALREADY_EXISTS");
    assert_eq!(replaced["replacementStatus"], "0", "{replaced}");
    assert!(replaced.get("replacingEntryId").is_none(), "{replaced}");
    assert_eq!(sha256(&served), sha256(&new));
    assert_eq!(listed["totalCount"], 1, "the temporary entry is not listed");
}

#[tokio::test]
async fn update_content_follows_the_edit_rights_of_user_sessions() {
    let server = MockServer::start().await;
    let owner = user(&server, "owner");
    let other = user(&server, "other");
    let id = entry_with(&owner, &bytes(10, 12)).await;
    let token = other.add_token(&[]).await;
    other.upload(&token, b"x", Chunk::WHOLE).await;

    let refused = update_content(&other, &id, &token).await;
    let allowed = update_content(&owner, &id, &token).await;
    let no_resource = owner
        .json("media", "updateContent", &[("entryId", &id)])
        .await;

    assert_eq!(refused["code"], "PERMISSION_DENIED_TO_UPDATE_ENTRY");
    assert_eq!(allowed["id"], id.as_str(), "{allowed}");
    assert_eq!(no_resource["code"], "MISSING_MANDATORY_PARAMETER");
}

#[tokio::test]
async fn update_content_in_xml_answers_the_entry_being_replaced() {
    let server = slow_server().await;
    let api = admin(&server);
    let id = entry_with(&api, &bytes(10, 13)).await;
    server.clock().advance(Duration::from_secs(15));
    let token = api.add_token(&[]).await;

    let xml = api
        .text(
            "media",
            "updateContent",
            2,
            &[("entryId", &id), ("resource:token", &token)],
        )
        .await;

    insta::assert_snapshot!("update_content_xml", redact_ids(xml_result(&xml)));
}

#[tokio::test]
async fn upload_tokens_answer_the_configured_upload_url_and_the_api_answers_under_it() {
    let server = MockServer::builder()
        .kaltura_upload_url("127.0.0.1:1/upload")
        .start()
        .await;
    let api = admin(&server);
    let token = api.json("uploadtoken", "add", &[]).await;
    let id = token["id"].as_str().unwrap().to_owned();
    let form = reqwest::multipart::Form::new()
        .text("ks", server.kaltura().ks("editor", SessionType::Admin))
        .text("format", "1")
        .text("uploadTokenId", id.clone())
        .part(
            "fileData",
            reqwest::multipart::Part::bytes(b"hello".to_vec()).file_name("a.mp4"),
        );

    let uploaded: Value = reqwest::Client::new()
        .post(format!(
            "{}/upload/api_v3/service/uploadtoken/action/upload",
            server.uri()
        ))
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(token["uploadUrl"], "http://127.0.0.1:1/upload");
    assert_eq!(uploaded["status"], 2, "{uploaded}");
    assert_eq!(uploaded["uploadUrl"], "http://127.0.0.1:1/upload");
}

#[tokio::test]
async fn a_server_without_an_upload_url_answers_none() {
    let server = MockServer::start().await;
    let api = admin(&server);

    let token = api.json("uploadtoken", "add", &[]).await;

    assert!(token.get("uploadUrl").is_none(), "{token}");
}

#[tokio::test]
async fn an_entry_reads_its_duration_and_picture_size_from_the_uploaded_file() {
    let server = MockServer::start().await;
    let api = admin(&server);
    let file = std::fs::read("fixtures/media/sample-320x240.mp4").unwrap();
    let token = api.add_token(&[]).await;
    let entry = api
        .json(
            "media",
            "add",
            &[("entry:name", "sample"), ("entry:mediaType", "1")],
        )
        .await;
    let id = entry["id"].as_str().unwrap().to_owned();
    api.json(
        "media",
        "addContent",
        &[("entryId", &id), ("resource:token", &token)],
    )
    .await;

    api.upload_text(1, &token, &file, "sample.mp4", Chunk::WHOLE)
        .await;
    let ready = api.json("media", "get", &[("entryId", &id)]).await;
    let flavors = flavors(&api, &id).await;

    assert_eq!(ready["status"], "2", "{ready}");
    assert_eq!(
        (&ready["width"], &ready["height"]),
        (&Value::from(320), &Value::from(240))
    );
    assert_eq!(ready["duration"], 2);
    assert_eq!(ready["msDuration"], 2000);
    assert_eq!(flavors["objects"][0]["width"], 320, "{flavors}");
    assert_eq!(flavors["objects"][3]["height"], 240, "capped by the source");
    let entry = server.kaltura().entry(&id).unwrap();
    assert_eq!(
        (entry.width, entry.height, entry.duration_ms),
        (Some(320), Some(240), Some(2000))
    );
}

#[tokio::test]
async fn an_entry_given_a_token_already_uploaded_reads_the_file_read_at_upload() {
    // Arrange: the file is whole before any entry takes the token.
    let server = MockServer::start().await;
    let api = admin(&server);
    let file = std::fs::read("fixtures/media/sample-180x320-portrait.mp4").unwrap();

    // Act
    let id = entry_with(&api, &file).await;
    let ready = api.json("media", "get", &[("entryId", &id)]).await;

    // Assert
    assert_eq!(ready["status"], "2", "{ready}");
    assert_eq!(
        (&ready["width"], &ready["height"]),
        (&Value::from(180), &Value::from(320)),
        "{ready}"
    );
    assert_eq!(ready["msDuration"], 1000, "{ready}");
}

#[tokio::test]
async fn a_conversion_under_way_and_its_flavors_come_back_from_the_state_file() {
    let path = std::env::temp_dir().join(format!(
        "vidmock-kaltura-lifecycle-{}.json",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    let delays = (Duration::from_secs(600), Duration::from_secs(600));
    let first = MockServer::builder()
        .kaltura_conversion_delays(delays.0, delays.1)
        .retention(vidmock::Retention::Memory)
        .state_file(&path)
        .unwrap()
        .start()
        .await;
    let data = bytes(777, 14);
    let id = entry_with(&admin(&first), &data).await;
    first.shutdown().await;

    let second = MockServer::builder()
        .kaltura_conversion_delays(delays.0, delays.1)
        .retention(vidmock::Retention::Memory)
        .state_file(&path)
        .unwrap()
        .start()
        .await;
    let restored = second.kaltura().entry(&id).unwrap();
    second.clock().advance(Duration::from_secs(1200));
    let ready = second.kaltura().entry(&id).unwrap();
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(path.with_extension("json.log"));
    let _ = std::fs::remove_dir_all(path.with_extension("json.d"));

    assert_eq!(restored.status, EntryStatus::Import);
    assert_eq!(restored.flavors.len(), 4);
    assert_eq!(ready.status, EntryStatus::Ready);
    assert!(ready.flavors.iter().all(|f| f.status == 2), "{ready:?}");
    assert_eq!(ready.content(), Some(data));
}

#[tokio::test]
async fn a_fail_processing_fault_makes_the_partners_next_conversion_error_converting() {
    let server = slow_server().await;
    let api = admin(&server);
    let posted = reqwest::Client::new()
        .post(format!("{}/__vidmock/faults", server.uri()))
        .json(&serde_json::json!({
            "match": {"operation": "media.addContent"},
            "action": {"type": "failProcessing"},
            "times": 1,
        }))
        .send()
        .await
        .unwrap();
    let failing = entry_with(&api, &bytes(64, 7)).await;
    let fine = entry_with(&api, &bytes(64, 8)).await;

    server.clock().advance(Duration::from_secs(15));
    let failed = api.json("media", "get", &[("entryId", &failing)]).await;
    let ready = api.json("media", "get", &[("entryId", &fine)]).await;

    assert_eq!(posted.status(), 201);
    assert_eq!(failed["status"], "-1");
    assert_eq!(ready["status"], "2");
}
