//! The `appToken` service over a real socket: an admin makes an app token, an application
//! proves it knows the token with `tokenHash = hash(ks + token)` from its widget session and
//! gets a session shaped by the app token (api_v3/services/AppTokenService.php,
//! alpha/lib/model/AppToken.php, api_v3/lib/types/KalturaAppToken.php).

use std::time::Duration;

use crate::support::{admin, code, redact, Api};
use serde_json::Value;
use sha2::Digest;
use vidmock::kaltura::SessionType;
use vidmock::MockServer;

/// `hash($hashType, $ks . $token)` as PHP writes it (alpha/lib/model/AppToken.php:70–74).
fn token_hash(hash_type: &str, ks: &str, token: &str) -> String {
    let input = format!("{ks}{token}");
    let bytes = input.as_bytes();
    match hash_type {
        "MD5" => hex::encode(md5::Md5::digest(bytes)),
        "SHA256" => hex::encode(sha2::Sha256::digest(bytes)),
        "SHA512" => hex::encode(sha2::Sha512::digest(bytes)),
        _ => hex::encode(sha1::Sha1::digest(bytes)),
    }
}

/// Replaces the ids, the token, the KSs and the dates (expiries too) of an app token answer.
fn redact_app_token(text: &str) -> String {
    let text = redact(text);
    let rules = [
        (r"\b0_[0-9a-f]{8}\b", "[id]"),
        (r"\b[0-9a-f]{32}\b", "[token]"),
        (r#""(createdAt|updatedAt|expiry)":\d+"#, "\"$1\":[time]"),
        (r"<(createdAt|updatedAt|expiry)>\d+</", "<$1>[time]</"),
    ];
    rules.iter().fold(text, |text, (pattern, to)| {
        regex::Regex::new(pattern)
            .unwrap()
            .replace_all(&text, *to)
            .into_owned()
    })
}

async fn widget_api(server: &MockServer) -> Api {
    Api::started(server, "startWidgetSession?format=1&widgetId=_101").await
}

/// Makes an app token with `fields` (`appToken:` prefixed); its id and token.
async fn add(api: &Api, fields: &[(&str, &str)]) -> (String, String) {
    let answer = api.json("appToken", "add", fields).await;
    let id = answer["id"].as_str().unwrap_or_else(|| panic!("{answer}"));
    (id.to_owned(), answer["token"].as_str().unwrap().to_owned())
}

async fn start_session(api: &Api, id: &str, hash: &str, more: &[(&str, &str)]) -> Value {
    let mut fields = vec![("id", id), ("tokenHash", hash)];
    fields.extend_from_slice(more);
    api.json("appToken", "startSession", &fields).await
}

/// KalturaAppToken.php:143–160 — a new app token is ACTIVE (2), with a 32-hex token, the
/// partner's longest session as its duration, and SHA1 unless told (AppToken.php:64–67).
#[tokio::test]
async fn add_answers_an_active_app_token_in_both_wire_forms() {
    let server = MockServer::start().await;
    let api = admin(&server);
    let fields = [
        ("appToken:objectType", "KalturaAppToken"),
        ("appToken:sessionUserId", "player"),
        ("appToken:description", "the player"),
    ];

    let json = api.text("appToken", "add", 1, &fields).await;
    let xml = api.text("appToken", "add", 2, &fields).await;

    let parsed: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed["status"], 2, "{json}");
    assert_eq!(parsed["hashType"], "SHA1");
    assert_eq!(parsed["sessionDuration"], 86400);
    assert_eq!(parsed["token"].as_str().unwrap().len(), 32);
    insta::assert_snapshot!("app_token_add_json", redact_app_token(&json));
    insta::assert_snapshot!("app_token_add_xml", redact_app_token(&xml));
}

/// AppTokenService.php:166–235 — the hash is checked (175–177), then the app token's type, user and
/// privileges shape the session; the answer is a `KalturaSessionInfo`.
#[tokio::test]
async fn a_widget_session_proving_the_token_starts_the_session_the_app_token_describes() {
    let server = MockServer::start().await;
    let (id, token) = add(
        &admin(&server),
        &[
            ("appToken:sessionType", "2"),
            ("appToken:sessionUserId", "uploader"),
            ("appToken:sessionPrivileges", "edit:*"),
            ("appToken:hashType", "SHA256"),
        ],
    )
    .await;
    let widget = widget_api(&server).await;
    let hash = token_hash("SHA256", &widget.ks, &token);

    let json = widget
        .text(
            "appToken",
            "startSession",
            1,
            &[("id", &id), ("tokenHash", &hash), ("userId", "ignored")],
        )
        .await;
    let xml = widget
        .text(
            "appToken",
            "startSession",
            2,
            &[("id", &id), ("tokenHash", &hash)],
        )
        .await;

    let info: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(info["objectType"], "KalturaSessionInfo", "{json}");
    assert_eq!(info["sessionType"], 2);
    assert_eq!(info["userId"], "uploader");
    assert_eq!(
        info["privileges"],
        format!("sessionid:{id},apptoken:{id},edit:*")
    );
    let session = Api::new(&server, info["ks"].as_str().unwrap());
    let upload_token = session.json("uploadtoken", "add", &[]).await;
    assert_eq!(upload_token["userId"], "uploader", "{upload_token}");
    insta::assert_snapshot!("app_token_session_xml", redact_app_token(&xml));
}

/// KalturaAppTokenHashType: SHA1, MD5, SHA256, SHA512; a hash of anything else is
/// `INVALID_APP_TOKEN_HASH` (AppTokenService.php:175–177).
#[tokio::test]
async fn every_hash_type_is_checked_and_a_wrong_hash_is_refused() {
    let server = MockServer::start().await;
    let api = admin(&server);
    let widget = widget_api(&server).await;

    for hash_type in ["SHA1", "MD5", "SHA256", "SHA512"] {
        let (id, token) = add(&api, &[("appToken:hashType", hash_type)]).await;
        let right = token_hash(hash_type, &widget.ks, &token);
        let wrong = token_hash(hash_type, "another ks", &token);

        let started = start_session(&widget, &id, &right, &[]).await;
        let refused = start_session(&widget, &id, &wrong, &[]).await;

        assert!(started["ks"].is_string(), "{hash_type}: {started}");
        assert_eq!(started["sessionType"], 0, "{hash_type}");
        assert_eq!(code(&refused), "INVALID_APP_TOKEN_HASH", "{hash_type}");
    }
    let bad_type = api
        .json("appToken", "add", &[("appToken:hashType", "SHA3")])
        .await;
    assert_eq!(code(&bad_type), "INVALID_ENUM_VALUE", "{bad_type}");
}

/// AppTokenService.php:181–192 — the session lasts the asked expiry, at most the app token's
/// duration and what is left of its own expiry; an app token past its expiry is
/// `APP_TOKEN_EXPIRED`.
#[tokio::test]
async fn a_session_lasts_at_most_the_app_tokens_duration_and_never_past_its_expiry() {
    let server = MockServer::start().await;
    let api = admin(&server);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let until = (now + 3600).to_string();
    let (id, token) = add(
        &api,
        &[
            ("appToken:sessionDuration", "600"),
            ("appToken:expiry", &until),
        ],
    )
    .await;
    let widget = widget_api(&server).await;
    let hash = token_hash("SHA1", &widget.ks, &token);

    let long = start_session(&widget, &id, &hash, &[("expiry", "5000")]).await;
    let short = start_session(&widget, &id, &hash, &[("expiry", "60")]).await;
    server.clock().advance(Duration::from_secs(3601));
    let widget = widget_api(&server).await;
    let late = start_session(&widget, &id, &token_hash("SHA1", &widget.ks, &token), &[]).await;

    let lasts = |info: &Value| info["expiry"].as_i64().unwrap() - now;
    assert!((600..610).contains(&lasts(&long)), "{long}");
    assert!((60..70).contains(&lasts(&short)), "{short}");
    assert_eq!(code(&late), "APP_TOKEN_EXPIRED", "{late}");
    assert_eq!(
        late["message"],
        format!("Application token id \"{id}\" expired")
    );
}

/// AppTokenService.php:85–95 — a deleted app token is not found any more, and the sessions
/// it started are logged out (their `sessionid` is invalidated; kSessionBase.class.php:462–473).
#[tokio::test]
async fn deleting_an_app_token_logs_out_the_sessions_it_started() {
    let server = MockServer::start().await;
    let api = admin(&server);
    let (id, token) = add(&api, &[("appToken:sessionUserId", "u")]).await;
    let widget = widget_api(&server).await;
    let hash = token_hash("SHA1", &widget.ks, &token);
    let info = start_session(&widget, &id, &hash, &[]).await;
    let session = Api::new(&server, info["ks"].as_str().unwrap());
    let before = session.json("uploadtoken", "add", &[]).await;

    let deleted = api.text("appToken", "delete", 1, &[("id", &id)]).await;
    let after = session.json("uploadtoken", "add", &[]).await;
    let got = api.json("appToken", "get", &[("id", &id)]).await;
    let again = start_session(&widget, &id, &hash, &[]).await;
    let listed = api.json("appToken", "list", &[]).await;

    assert!(before["id"].is_string(), "{before}");
    assert_eq!(deleted, "null");
    assert_eq!(code(&after), "INVALID_KS", "{after}");
    assert_eq!(
        after["message"],
        "Invalid KS \"LOGOUT\", Error \"-1,INVALID_STR\""
    );
    assert_eq!(code(&got), "APP_TOKEN_ID_NOT_FOUND");
    assert_eq!(code(&again), "APP_TOKEN_ID_NOT_FOUND");
    assert_eq!(listed["totalCount"], 0);
}

/// deployment/permissions/service.appToken.ini — add, get, list and delete need the
/// APP_TOKEN_* permissions of an admin; startSession is open to USER and widget sessions.
#[tokio::test]
async fn only_an_admin_session_manages_app_tokens() {
    let server = MockServer::start().await;
    let user = Api::new(&server, &server.kaltura().ks("u", SessionType::User));
    let widget = widget_api(&server).await;

    let by_user = user
        .json("appToken", "add", &[("appToken:description", "x")])
        .await;
    let by_widget = widget.json("appToken", "list", &[]).await;
    let unknown = widget
        .json(
            "appToken",
            "startSession",
            &[("id", "0_00000000"), ("tokenHash", "x")],
        )
        .await;

    assert_eq!(code(&by_user), "SERVICE_FORBIDDEN", "{by_user}");
    assert_eq!(code(&by_widget), "SERVICE_FORBIDDEN", "{by_widget}");
    assert_eq!(code(&unknown), "APP_TOKEN_ID_NOT_FOUND", "{unknown}");
}

/// KalturaAppTokenBaseFilter: `idIn`, `statusEqual`, `sessionUserIdEqual`; the pager.
#[tokio::test]
async fn list_filters_and_pages_the_partners_app_tokens() {
    let server = MockServer::start().await;
    let api = admin(&server);
    let (first, _) = add(&api, &[("appToken:sessionUserId", "a")]).await;
    let (second, _) = add(&api, &[("appToken:sessionUserId", "b")]).await;
    add(&api, &[("appToken:sessionUserId", "a")]).await;

    let by_user = api
        .json("appToken", "list", &[("filter:sessionUserIdEqual", "a")])
        .await;
    let by_id = api
        .json(
            "appToken",
            "list",
            &[("filter:idIn", &format!("{first},{second}"))],
        )
        .await;
    let paged = api
        .json(
            "appToken",
            "list",
            &[("pager:pageSize", "2"), ("pager:pageIndex", "2")],
        )
        .await;

    assert_eq!(by_user["totalCount"], 2, "{by_user}");
    assert_eq!(by_id["totalCount"], 2);
    assert_eq!(paged["totalCount"], 3);
    assert_eq!(paged["objects"].as_array().unwrap().len(), 1);
    assert_eq!(by_user["objectType"], "KalturaAppTokenListResponse");
}

/// A seed may give app tokens with their token (so a test knows it in advance) and leave out
/// the id and dates; a DISABLED one starts nothing; a malformed id is refused at start.
#[tokio::test]
async fn a_seeded_app_token_starts_sessions_with_its_known_token() {
    let token = "0123456789abcdef0123456789abcdef";
    let server = MockServer::builder()
        .seed_json(&format!(
            r#"{{"kaltura": {{"partners": [{{"id": 101, "adminSecret": "vidmock-admin-secret",
                "appTokens": [{{"id": "0_a0a0a0a0", "token": "{token}", "sessionUserId": "seeded"}},
                              {{"id": "0_b0b0b0b0", "token": "{token}", "status": 1}}]}}]}}}}"#
        ))
        .unwrap()
        .start()
        .await;
    let refused = MockServer::builder().seed_json(
        r#"{"kaltura": {"partners": [{"id": 101, "adminSecret": "x",
            "appTokens": [{"id": "app-1"}]}]}}"#,
    );
    let widget = widget_api(&server).await;

    let info = start_session(
        &widget,
        "0_a0a0a0a0",
        &token_hash("SHA1", &widget.ks, token),
        &[],
    )
    .await;

    let disabled = start_session(
        &widget,
        "0_b0b0b0b0",
        &token_hash("SHA1", &widget.ks, token),
        &[],
    )
    .await;

    assert_eq!(info["userId"], "seeded", "{info}");
    // AppTokenService.php:172–173: only an ACTIVE app token starts sessions.
    assert_eq!(code(&disabled), "APP_TOKEN_NOT_ACTIVE", "{disabled}");
    let error = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(error.contains("appTokens[0].id"), "{error}");
}
