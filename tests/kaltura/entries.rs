//! Entry management over a real socket: `media.list` and `baseEntry.list` with the common
//! `KalturaMediaEntryFilter` fields and the pager, and `media.update`, each with the server's
//! rules for USER and ADMIN sessions (api_v3/lib/KalturaEntryService.php,
//! api_v3/services/MediaService.php, api_v3/lib/types/entry/filters/KalturaBaseEntryFilter.php).

use crate::support::{admin, code, redact_ids, user, Api, Chunk};
use serde_json::Value;
use vidmock::MockServer;

/// A READY video entry named `name` with `fields` added to `media.add`.
async fn ready_entry(api: &Api, name: &str, fields: &[(&str, &str)]) -> String {
    let mut all = vec![("entry:name", name), ("entry:mediaType", "1")];
    all.extend_from_slice(fields);
    let entry = api.json("media", "add", &all).await;
    let id = entry["id"].as_str().unwrap_or_else(|| panic!("{entry}"));
    let token = api.add_token(&[]).await;
    api.upload(&token, name.as_bytes(), Chunk::WHOLE).await;
    api.json(
        "media",
        "addContent",
        &[("entryId", id), ("resource:token", &token)],
    )
    .await;
    id.to_owned()
}

fn names(list: &Value) -> Vec<&str> {
    list["objects"]
        .as_array()
        .unwrap_or_else(|| panic!("{list}"))
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect()
}

/// KalturaBaseEntryFilter.php:94–102 — without a status filter only READY entries are listed.
#[tokio::test]
async fn media_list_shows_ready_entries_in_both_wire_forms() {
    let server = MockServer::start().await;
    let api = admin(&server);
    ready_entry(&api, "ready", &[]).await;
    api.json(
        "media",
        "add",
        &[("entry:name", "empty"), ("entry:mediaType", "1")],
    )
    .await;

    let json = api.text("media", "list", 1, &[]).await;
    let xml = api.text("media", "list", 2, &[]).await;
    let no_content = api
        .json("media", "list", &[("filter:statusEqual", "7")])
        .await;

    let parsed: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed["totalCount"], 1, "{json}");
    assert_eq!(names(&parsed), ["ready"]);
    assert_eq!(names(&no_content), ["empty"]);
    insta::assert_snapshot!("media_list_json", redact_ids(&json));
    insta::assert_snapshot!("media_list_xml", redact_ids(&xml));
}

/// The common filter fields, `orderBy` and the pager.
#[tokio::test]
async fn media_list_filters_by_the_common_fields_orders_and_pages() {
    let server = MockServer::start().await;
    let api = admin(&server);
    let a = ready_entry(
        &api,
        "Alpha clip",
        &[("entry:tags", "cats,dogs"), ("entry:referenceId", "ref-a")],
    )
    .await;
    let b = ready_entry(&api, "beta clip", &[("entry:tags", "dogs")]).await;
    ready_entry(&api, "gamma", &[("entry:userId", "someone")]).await;

    let by_ids = api
        .json("media", "list", &[("filter:idIn", &format!("{a},{b}"))])
        .await;
    let by_name = api
        .json("media", "list", &[("filter:nameLike", "CLIP")])
        .await;
    let by_tag = api
        .json("media", "list", &[("filter:tagsLike", "cats")])
        .await;
    let by_reference = api
        .json("media", "list", &[("filter:referenceIdEqual", "ref-a")])
        .await;
    let by_user = api
        .json("media", "list", &[("filter:userIdEqual", "someone")])
        .await;
    let by_type = api
        .json("media", "list", &[("filter:mediaTypeEqual", "2")])
        .await;
    let ordered = api
        .json("media", "list", &[("filter:orderBy", "-name")])
        .await;
    let paged = api
        .json(
            "baseEntry",
            "list",
            &[
                ("filter:orderBy", "+name"),
                ("pager:pageSize", "2"),
                ("pager:pageIndex", "2"),
            ],
        )
        .await;

    assert_eq!(by_ids["totalCount"], 2, "{by_ids}");
    assert_eq!(names(&by_name), ["Alpha clip", "beta clip"]);
    assert_eq!(names(&by_tag), ["Alpha clip"]);
    assert_eq!(names(&by_reference), ["Alpha clip"]);
    assert_eq!(names(&by_user), ["gamma"]);
    assert_eq!(by_type["totalCount"], 0);
    assert_eq!(names(&ordered), ["gamma", "beta clip", "Alpha clip"]);
    assert_eq!(paged["totalCount"], 3);
    assert_eq!(names(&paged), ["gamma"]);
    assert_eq!(paged["objectType"], "KalturaBaseEntryListResponse");
}

/// KalturaEntryService.php:15–23 and alpha/lib/model/entryPeer.php:446–450 — a session that
/// is neither ADMIN nor holds `list:*` lists only its own user's entries;
/// KalturaEntryService.php:1366–1388 — unless the filter names entries (`idEqual`, `idIn`,
/// `referenceIdEqual`).
#[tokio::test]
async fn a_user_session_lists_its_own_entries_unless_it_names_others() {
    let server = MockServer::start().await;
    let alice = user(&server, "alice");
    let bob = user(&server, "bob");
    ready_entry(&alice, "alice's", &[]).await;
    let bobs = ready_entry(&bob, "bob's", &[]).await;
    let lister = Api::started(
        &server,
        "start?format=1&secret=vidmock-user-secret&partnerId=101&userId=carol&type=0\
         &privileges=list:*",
    )
    .await;

    let own = alice.json("media", "list", &[]).await;
    let named = alice
        .json("media", "list", &[("filter:idEqual", &bobs)])
        .await;
    let all = lister.json("media", "list", &[]).await;
    let everything = admin(&server).json("baseEntry", "list", &[]).await;

    assert_eq!(names(&own), ["alice's"]);
    assert_eq!(names(&named), ["bob's"]);
    assert_eq!(all["totalCount"], 2, "{all}");
    assert_eq!(everything["totalCount"], 2);
}

/// api_v3/services/MediaService.php:756–774 — `@validateUser entry entryId edit`: a USER
/// session updates its own entries; `mediaType` is insert-only.
#[tokio::test]
async fn media_update_changes_an_entry_its_owner_or_an_admin_may_edit() {
    let server = MockServer::start().await;
    let alice = user(&server, "alice");
    let bob = user(&server, "bob");
    let entry = ready_entry(&alice, "before", &[]).await;

    let updated = alice
        .json(
            "media",
            "update",
            &[
                ("entryId", &entry),
                ("mediaEntry:name", "after"),
                ("mediaEntry:tags", "new"),
            ],
        )
        .await;
    let by_other = bob
        .json(
            "media",
            "update",
            &[("entryId", &entry), ("mediaEntry:name", "bob's")],
        )
        .await;
    let by_admin = admin(&server)
        .json(
            "media",
            "update",
            &[("entryId", &entry), ("mediaEntry:description", "d")],
        )
        .await;
    let media_type = alice
        .json(
            "media",
            "update",
            &[("entryId", &entry), ("mediaEntry:mediaType", "2")],
        )
        .await;
    let unknown = alice
        .json(
            "media",
            "update",
            &[("entryId", "0_00000000"), ("mediaEntry:name", "x")],
        )
        .await;

    assert_eq!(updated["name"], "after", "{updated}");
    assert_eq!(updated["tags"], "new");
    assert_eq!(code(&by_other), "PERMISSION_DENIED_TO_UPDATE_ENTRY");
    assert_eq!(by_admin["description"], "d");
    assert_eq!(by_admin["name"], "after");
    assert_eq!(code(&media_type), "PROPERTY_VALIDATION_NOT_UPDATABLE");
    assert_eq!(code(&unknown), "ENTRY_ID_NOT_FOUND");
    assert_eq!(server.kaltura().entry(&entry).unwrap().name, "after");
}
