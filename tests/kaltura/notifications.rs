//! HTTP event notifications over a real socket: `eventNotification_eventNotificationTemplate`
//! add/get/list/update/updateStatus/delete, and the signed notifications a real receiver gets
//! as an entry's status changes on the clock
//! (plugins/event_notification/services/EventNotificationTemplateService.php,
//! providers/http/lib/KDispatchHttpNotificationEngine.class.php,
//! providers/http/lib/api/KalturaHttpNotificationObjectData.php).

use std::time::Duration;

use serde_json::Value;
use sha1::Digest as _;
use vidmock::kaltura::{SessionType, DEFAULT_ADMIN_SECRET};
use vidmock::{DeliveryStatus, MockServer};

use crate::receiver::{Received, Receiver};
use crate::support::{admin, bytes, entry_with, redact_ids, slow_server, user, xml_result, Api};

const SERVICE: &str = "eventnotification_eventnotificationtemplate";

/// The condition of the server's "Entry Ready" templates
/// (deployment/base/scripts/init_content/03.EventNotificationTemplate.0.template.xml).
const ENTRY_READY: &str = "$scope->getObject() instanceof entry && in_array(entryPeer::STATUS, $scope->getEvent()->getModifiedColumns()) && $scope->getObject()->getStatus() == entryStatus::READY";
/// The condition of `HTTP_ENTRY_STATUS_CHANGED`
/// (deployment/updates/scripts/xml/2018_04_27_httpNotificationsTemplate.template.xml).
const STATUS_CHANGED: &str =
    "in_array(entryPeer::STATUS, $scope->getEvent()->getModifiedColumns())";

/// The form fields of an HTTP template posting to `url` on an entry change that `condition`
/// selects, in `format` (1 JSON, 2 XML), with `extra` fields.
fn template_fields<'a>(
    url: &'a str,
    condition: &'a str,
    format: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![
        (
            "eventNotificationTemplate:objectType",
            "KalturaHttpNotificationTemplate",
        ),
        ("eventNotificationTemplate:name", "Entry Ready"),
        ("eventNotificationTemplate:systemName", "HTTP_ENTRY_READY"),
        ("eventNotificationTemplate:automaticDispatchEnabled", "1"),
        ("eventNotificationTemplate:eventType", "3"),
        ("eventNotificationTemplate:eventObjectType", "1"),
        (
            "eventNotificationTemplate:eventConditions:0:objectType",
            "KalturaEventFieldCondition",
        ),
        (
            "eventNotificationTemplate:eventConditions:0:description",
            "Status changed to ready",
        ),
        (
            "eventNotificationTemplate:eventConditions:0:field:objectType",
            "KalturaEvalBooleanField",
        ),
        (
            "eventNotificationTemplate:eventConditions:0:field:code",
            condition,
        ),
        ("eventNotificationTemplate:url", url),
        ("eventNotificationTemplate:method", "2"),
        (
            "eventNotificationTemplate:data:objectType",
            "KalturaHttpNotificationObjectData",
        ),
        (
            "eventNotificationTemplate:data:apiObjectType",
            "KalturaMediaEntry",
        ),
        ("eventNotificationTemplate:data:format", format),
    ];
    fields.extend_from_slice(extra);
    fields
}

/// What `add` answers for a template to `url` on "entry ready" (JSON) with `extra` fields.
async fn add_refused(api: &Api, url: &str, extra: &[(&str, &str)]) -> Value {
    api.json(
        SERVICE,
        "add",
        &template_fields(url, ENTRY_READY, "1", extra),
    )
    .await
}

/// Adds a template (JSON answer).
async fn add_template(api: &Api, fields: &[(&str, &str)]) -> Value {
    let template = api.json(SERVICE, "add", fields).await;
    assert!(template["id"].is_i64(), "{template}");
    template
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether a notification verifies as a receiver following the vendor checks it: the hash
/// named by `X-KALTURA-HASH-ALGO` of the partner's admin secret followed by the raw body.
fn verifies(received: &Received) -> bool {
    let mut signed = DEFAULT_ADMIN_SECRET.as_bytes().to_vec();
    signed.extend_from_slice(&received.body);
    let expected = match received.header("x-kaltura-hash-algo") {
        Some("sha1") => hex(&sha1::Sha1::digest(&signed)),
        Some("sha256") => hex(&sha2::Sha256::digest(&signed)),
        other => panic!("unexpected hash algorithm {other:?}"),
    };
    received.header("x-kaltura-signature") == Some(expected.as_str())
}

/// Replaces the receiver's URL (as XML and as JSON write it) with `[url]`, then [`redact_ids`].
fn redact_template(text: &str, receiver: &Receiver) -> String {
    let escaped = receiver.url.replace('/', "\\/");
    redact_ids(
        &text
            .replace(&escaped, "[url]")
            .replace(&receiver.url, "[url]"),
    )
}

#[tokio::test]
async fn a_template_is_added_fetched_listed_updated_and_deleted_in_both_wire_forms() {
    let server = MockServer::start().await;
    let api = admin(&server);
    let receiver = Receiver::start().await;

    let added = api
        .text(
            SERVICE,
            "add",
            1,
            &template_fields(&receiver.url, ENTRY_READY, "1", &[]),
        )
        .await;
    let id = serde_json::from_str::<Value>(&added).unwrap()["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let got_xml = api.text(SERVICE, "get", 2, &[("id", &id)]).await;
    let listed = api.json(SERVICE, "list", &[]).await;
    let updated = api
        .json(
            SERVICE,
            "update",
            &[
                ("id", &id),
                (
                    "eventNotificationTemplate:objectType",
                    "KalturaHttpNotificationTemplate",
                ),
                ("eventNotificationTemplate:name", "Entry Ready (renamed)"),
                ("eventNotificationTemplate:secureHashingAlgo", "2"),
            ],
        )
        .await;
    let disabled = api
        .json(SERVICE, "updateStatus", &[("id", &id), ("status", "1")])
        .await;
    let by_status = api
        .json(SERVICE, "list", &[("filter:statusEqual", "2")])
        .await;
    let deleted = api.text(SERVICE, "delete", 1, &[("id", &id)]).await;
    let gone = api.json(SERVICE, "get", &[("id", &id)]).await;
    let listed_after = api.json(SERVICE, "list", &[]).await;

    insta::assert_snapshot!(
        "notification_template_add_json",
        redact_template(&added, &receiver)
    );
    insta::assert_snapshot!(
        "notification_template_get_xml",
        redact_template(xml_result(&got_xml), &receiver)
    );
    assert_eq!(listed["totalCount"], 1, "{listed}");
    assert_eq!(listed["objects"][0]["id"].to_string(), id);
    assert_eq!(updated["name"], "Entry Ready (renamed)");
    assert_eq!(updated["secureHashingAlgo"], 2);
    assert_eq!(updated["url"], receiver.url.as_str(), "kept: {updated}");
    assert_eq!(disabled["status"], 1);
    assert_eq!(by_status["totalCount"], 0, "{by_status}");
    assert_eq!(deleted, "null");
    assert_eq!(gone["code"], "EVENT_NOTIFICATION_TEMPLATE_NOT_FOUND");
    assert_eq!(
        gone["message"],
        format!("Event notification template id [{id}] not found")
    );
    assert_eq!(listed_after["totalCount"], 0);
}

#[tokio::test]
async fn an_entry_ready_notification_arrives_signed_once_the_clock_reaches_the_end_of_conversion() {
    let server = slow_server().await;
    let api = admin(&server);
    let mut receiver = Receiver::start().await;
    receiver.answer(&[200]);
    let template = add_template(&api, &template_fields(&receiver.url, ENTRY_READY, "1", &[])).await;
    let id = entry_with(&api, &bytes(4096, 1)).await;

    server.clock().advance(Duration::from_secs(5));
    server.deliveries().settled().await;
    let early = receiver.nothing_within(Duration::from_millis(200)).await;
    server.clock().advance(Duration::from_secs(10));
    let notification = receiver.next().await;
    server.deliveries().settled().await;

    assert!(early, "nothing is sent before the entry is ready");
    assert_eq!(notification.method, "POST");
    assert_eq!(notification.path, "/hooks");
    assert_eq!(
        notification.header("content-type"),
        Some("application/json")
    );
    assert_eq!(notification.header("x-kaltura-hash-algo"), Some("sha1"));
    assert!(verifies(&notification), "{:?}", notification.headers);
    let body = notification.json();
    assert_eq!(body["objectType"], "KalturaHttpNotification");
    assert_eq!(body["object"]["objectType"], "KalturaMediaEntry");
    assert_eq!(body["object"]["id"], id.as_str());
    assert_eq!(body["object"]["status"], "2");
    assert_eq!(body["templateId"], template["id"]);
    assert_eq!(body["templateName"], "Entry Ready");
    assert_eq!(body["templateSystemName"], "HTTP_ENTRY_READY");
    assert_eq!(body["eventType"], 3);
    assert_eq!(body["eventObjectType"], 1);
    assert!(body["eventNotificationJobId"].is_i64());
    let deliveries = server.deliveries().all();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].status, DeliveryStatus::Delivered);
}

#[tokio::test]
async fn a_status_changed_template_gets_every_change_as_xml_signed_with_sha256() {
    let server = slow_server().await;
    let api = admin(&server);
    let mut receiver = Receiver::start().await;
    receiver.answer(&[200, 200, 200]);
    add_template(
        &api,
        &template_fields(
            &receiver.url,
            STATUS_CHANGED,
            "2",
            &[("eventNotificationTemplate:secureHashingAlgo", "2")],
        ),
    )
    .await;
    let id = entry_with(&api, &bytes(2048, 3)).await;

    let import = receiver.next().await;
    server.clock().advance(Duration::from_secs(15));
    let mut later = [receiver.next().await, receiver.next().await];
    later.sort_by_key(|r| String::from_utf8_lossy(&r.body).contains("<status>2</status>"));

    for received in [&import, &later[0], &later[1]] {
        assert_eq!(received.header("content-type"), Some("application/xml"));
        assert_eq!(received.header("x-kaltura-hash-algo"), Some("sha256"));
        assert!(verifies(received), "{:?}", received.headers);
        let body = String::from_utf8(received.body.clone()).unwrap();
        assert!(
            body.starts_with("data=<notification><objectType>KalturaHttpNotification</objectType>"),
            "{body}"
        );
        assert!(
            body.ends_with("<eventType>3</eventType></notification>"),
            "{body}"
        );
        assert!(body.contains(&format!("<id>{id}</id>")), "{body}");
    }
    let status = |r: &Received| {
        let body = String::from_utf8_lossy(&r.body).into_owned();
        let object = body.split("<object>").nth(1).unwrap().to_owned();
        object
            .split("<status>")
            .nth(1)
            .and_then(|s| s.split('<').next())
            .unwrap()
            .to_owned()
    };
    assert_eq!(status(&import), "0");
    assert_eq!(status(&later[0]), "1");
    assert_eq!(status(&later[1]), "2");
}

#[tokio::test]
async fn a_template_without_a_method_sends_a_get_with_the_data_in_the_query_and_put_and_delete_a_body(
) {
    // Arrange: one template per method, the first naming none (a GET on the server).
    let server = slow_server().await;
    let api = admin(&server);
    let mut receiver = Receiver::start().await;
    for (name, method) in [
        ("NO_METHOD", None),
        ("PUT", Some("3")),
        ("DELETE", Some("4")),
    ] {
        let mut fields = template_fields(&receiver.url, ENTRY_READY, "2", &[]);
        fields.retain(|(key, _)| *key != "eventNotificationTemplate:method");
        for field in &mut fields {
            if field.0 == "eventNotificationTemplate:systemName" {
                field.1 = name;
            }
        }
        if let Some(method) = method {
            fields.push(("eventNotificationTemplate:method", method));
        }
        add_template(&api, &fields).await;
    }
    let id = entry_with(&api, &bytes(4096, 1)).await;

    // Act
    server.clock().advance(Duration::from_secs(15));
    let mut got = [
        receiver.next().await,
        receiver.next().await,
        receiver.next().await,
    ];
    got.sort_by(|a, b| a.method.cmp(&b.method));

    // Assert
    let methods: Vec<&str> = got.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, ["DELETE", "GET", "PUT"]);
    let (get, put) = (&got[1], &got[2]);
    assert!(get.body.is_empty());
    let query = get.query.clone().unwrap();
    let data = percent_encoding::percent_decode_str(&query)
        .decode_utf8()
        .unwrap()
        .into_owned();
    assert!(data.starts_with("data=<notification>"), "{data}");
    assert!(data.contains(&format!("<id>{id}</id>")), "{data}");
    let mut signed = DEFAULT_ADMIN_SECRET.as_bytes().to_vec();
    signed.extend_from_slice(data.as_bytes());
    assert_eq!(
        get.header("x-kaltura-signature"),
        Some(hex(&sha1::Sha1::digest(&signed)).as_str())
    );
    let put_body = String::from_utf8_lossy(&put.body);
    assert!(put_body.starts_with("data=<notification>"), "{put_body}");
    assert!(put_body.contains("<templateSystemName>PUT</templateSystemName>"));
    assert!(verifies(put));
    assert!(verifies(&got[0]));
    server.deliveries().settled().await;
    let mut recorded: Vec<String> = server
        .deliveries()
        .all()
        .iter()
        .map(|d| d.method.to_string())
        .collect();
    recorded.sort();
    assert_eq!(recorded, ["DELETE", "GET", "PUT"]);
}

#[tokio::test]
async fn a_templates_custom_headers_are_kept_and_sent_and_may_set_the_content_type() {
    // Arrange
    let server = slow_server().await;
    let api = admin(&server);
    let mut receiver = Receiver::start().await;
    let fields = template_fields(
        &receiver.url,
        ENTRY_READY,
        "1",
        &[
            (
                "eventNotificationTemplate:customHeaders:0:objectType",
                "KalturaKeyValue",
            ),
            (
                "eventNotificationTemplate:customHeaders:0:key",
                "Authorization",
            ),
            (
                "eventNotificationTemplate:customHeaders:0:value",
                "Bearer receiver-secret",
            ),
            (
                "eventNotificationTemplate:customHeaders:1:objectType",
                "KalturaKeyValue",
            ),
            (
                "eventNotificationTemplate:customHeaders:1:key",
                "Content-Type",
            ),
            (
                "eventNotificationTemplate:customHeaders:1:value",
                "application/vnd.example+json",
            ),
        ],
    );
    let template = add_template(&api, &fields).await;
    entry_with(&api, &bytes(4096, 1)).await;

    // Act
    server.clock().advance(Duration::from_secs(15));
    let notification = receiver.next().await;
    let fetched = api
        .json(SERVICE, "get", &[("id", &template["id"].to_string())])
        .await;

    // Assert
    assert_eq!(
        notification.header("authorization"),
        Some("Bearer receiver-secret")
    );
    let content_types: Vec<_> = notification
        .headers
        .get_all("content-type")
        .iter()
        .collect();
    assert_eq!(content_types, ["application/vnd.example+json"]);
    assert!(verifies(&notification));
    assert_eq!(fetched["customHeaders"], template["customHeaders"]);
    assert_eq!(
        fetched["customHeaders"][0],
        serde_json::json!({"objectType": "KalturaKeyValue", "key": "Authorization", "value": "Bearer receiver-secret"})
    );
}

#[tokio::test]
async fn a_custom_header_that_http_cannot_carry_is_refused() {
    // Arrange
    let server = MockServer::start().await;
    let api = admin(&server);
    let fields = template_fields(
        "http://127.0.0.1:9/hooks",
        ENTRY_READY,
        "1",
        &[
            (
                "eventNotificationTemplate:customHeaders:0:objectType",
                "KalturaKeyValue",
            ),
            (
                "eventNotificationTemplate:customHeaders:0:key",
                "Bad Header",
            ),
            ("eventNotificationTemplate:customHeaders:0:value", "x"),
        ],
    );

    // Act
    let refused = api.json(SERVICE, "add", &fields).await;

    // Assert
    assert_eq!(
        refused["code"], "PROPERTY_VALIDATION_WRONG_FORMAT",
        "{refused}"
    );
}

#[tokio::test]
async fn a_receiver_answering_500_gets_two_retries_sixty_seconds_apart() {
    let server = MockServer::start().await;
    let api = admin(&server);
    let mut receiver = Receiver::start().await;
    receiver.answer(&[500, 500, 500, 500]);
    add_template(&api, &template_fields(&receiver.url, ENTRY_READY, "1", &[])).await;

    entry_with(&api, &bytes(1024, 4)).await;
    let first = receiver.next().await;
    server.deliveries().settled().await;
    server.clock().advance(Duration::from_secs(59));
    server.deliveries().settled().await;
    let before_retry = receiver.nothing_within(Duration::from_millis(100)).await;
    server.clock().advance(Duration::from_secs(1));
    let second = receiver.next().await;
    server.deliveries().settled().await;
    server.clock().advance(Duration::from_secs(60));
    let third = receiver.next().await;
    server.deliveries().settled().await;
    server.clock().advance(Duration::from_secs(600));
    let after_last = receiver.nothing_within(Duration::from_millis(200)).await;

    assert!(before_retry);
    assert_eq!(first.body, second.body);
    assert_eq!(second.body, third.body);
    assert!(after_last, "three attempts in all");
    let delivery = &server.deliveries().all()[0];
    assert_eq!(delivery.status, DeliveryStatus::Failed);
    assert_eq!(delivery.attempts.len(), 3);
    assert_eq!(delivery.policy.attempts(), 3);
}

#[tokio::test]
async fn only_200_and_204_count_as_delivered() {
    let server = MockServer::start().await;
    let api = admin(&server);
    let mut receiver = Receiver::start().await;
    receiver.answer(&[202, 204]);
    add_template(&api, &template_fields(&receiver.url, ENTRY_READY, "1", &[])).await;

    entry_with(&api, &bytes(1024, 5)).await;
    receiver.next().await;
    server.deliveries().settled().await;
    server.clock().advance(Duration::from_secs(60));
    receiver.next().await;
    server.deliveries().settled().await;

    let delivery = &server.deliveries().all()[0];
    assert_eq!(delivery.status, DeliveryStatus::Delivered);
    let statuses: Vec<Option<u16>> = delivery.attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(202), Some(204)]);
}

#[tokio::test]
async fn a_disabled_or_deleted_template_or_one_not_dispatched_automatically_sends_nothing() {
    let server = MockServer::start().await;
    let api = admin(&server);
    let mut receiver = Receiver::start().await;
    let disabled = add_template(&api, &template_fields(&receiver.url, ENTRY_READY, "1", &[])).await;
    let manual = add_template(
        &api,
        &template_fields(
            &receiver.url,
            ENTRY_READY,
            "1",
            &[
                ("eventNotificationTemplate:systemName", "MANUAL"),
                ("eventNotificationTemplate:automaticDispatchEnabled", "0"),
            ],
        ),
    )
    .await;
    let deleted = add_template(
        &api,
        &template_fields(
            &receiver.url,
            STATUS_CHANGED,
            "1",
            &[("eventNotificationTemplate:systemName", "GONE")],
        ),
    )
    .await;
    let disabled_id = disabled["id"].to_string();
    api.json(
        SERVICE,
        "updateStatus",
        &[("id", &disabled_id), ("status", "1")],
    )
    .await;
    api.json(SERVICE, "delete", &[("id", &deleted["id"].to_string())])
        .await;

    entry_with(&api, &bytes(1024, 6)).await;
    server.deliveries().settled().await;

    assert_eq!(manual["automaticDispatchEnabled"], false);
    assert!(receiver.nothing_within(Duration::from_millis(300)).await);
    assert!(server.deliveries().all().is_empty());
}

#[tokio::test]
async fn bad_template_input_gets_the_servers_errors() {
    let server = MockServer::start().await;
    let api = admin(&server);
    let url = "http://127.0.0.1:9/hooks";
    add_template(&api, &template_fields(url, ENTRY_READY, "1", &[])).await;
    let code = |answer: Value| answer["code"].as_str().unwrap_or_default().to_owned();

    let missing = api.json(SERVICE, "add", &[]).await;
    let short_name = add_refused(
        &api,
        url,
        &[
            ("eventNotificationTemplate:name", "ab"),
            ("eventNotificationTemplate:systemName", "OTHER"),
        ],
    )
    .await;
    let duplicate = api
        .json(SERVICE, "add", &template_fields(url, ENTRY_READY, "1", &[]))
        .await;
    let bad_event = add_refused(
        &api,
        url,
        &[
            ("eventNotificationTemplate:eventType", "99"),
            ("eventNotificationTemplate:systemName", "OTHER"),
        ],
    )
    .await;
    let readonly = add_refused(
        &api,
        url,
        &[
            ("eventNotificationTemplate:id", "5"),
            ("eventNotificationTemplate:systemName", "OTHER"),
        ],
    )
    .await;
    let bad_data = add_refused(
        &api,
        url,
        &[
            ("eventNotificationTemplate:data:apiObjectType", "entry"),
            ("eventNotificationTemplate:systemName", "OTHER"),
        ],
    )
    .await;
    let no_id = api.json(SERVICE, "get", &[]).await;
    let unknown = api
        .json(
            SERVICE,
            "update",
            &[
                ("id", "999"),
                (
                    "eventNotificationTemplate:objectType",
                    "KalturaHttpNotificationTemplate",
                ),
            ],
        )
        .await;
    let bad_status = api
        .json(SERVICE, "updateStatus", &[("id", "1"), ("status", "7")])
        .await;
    let reactivated = api
        .json(SERVICE, "updateStatus", &[("id", "1"), ("status", "2")])
        .await;
    let as_user = user(&server, "someone").json(SERVICE, "list", &[]).await;
    let other_partner = {
        let ks = server
            .kaltura()
            .add_partner(202, "other-secret", "")
            .ks("admin", SessionType::Admin);
        Api::new(&server, &ks)
            .json(SERVICE, "get", &[("id", "1")])
            .await
    };

    assert_eq!(code(missing), "MISSING_MANDATORY_PARAMETER");
    assert_eq!(short_name["code"], "PROPERTY_VALIDATION_MIN_LENGTH");
    assert_eq!(
        short_name["message"],
        "The property \"KalturaHttpNotificationTemplate::name\" must have a min length of 3 characters"
    );
    assert_eq!(
        duplicate["code"],
        "EVENT_NOTIFICATION_TEMPLATE_DUPLICATE_SYSTEM_NAME"
    );
    assert_eq!(
        duplicate["message"],
        "Event notification template with system name [HTTP_ENTRY_READY] already exists."
    );
    assert_eq!(code(bad_event), "INVALID_ENUM_VALUE");
    assert_eq!(code(readonly), "PROPERTY_VALIDATION_NOT_UPDATABLE");
    assert_eq!(code(bad_data), "HTTP_NOTIFICATION_INVALID_OBJECT_TYPE");
    assert_eq!(code(no_id), "MISSING_MANDATORY_PARAMETER");
    assert_eq!(code(unknown), "EVENT_NOTIFICATION_TEMPLATE_NOT_FOUND");
    assert_eq!(code(bad_status), "INVALID_ENUM_VALUE");
    assert_eq!(
        code(reactivated),
        "EVENT_NOTIFICATION_TEMPLATE_DUPLICATE_SYSTEM_NAME",
        "the server finds the ACTIVE template itself"
    );
    assert_eq!(code(as_user), "SERVICE_FORBIDDEN");
    assert_eq!(code(other_partner), "EVENT_NOTIFICATION_TEMPLATE_NOT_FOUND");
}

#[tokio::test]
async fn templates_show_in_the_admin_state() {
    let server = MockServer::start().await;
    let api = admin(&server);
    add_template(
        &api,
        &template_fields("http://127.0.0.1:9/hooks", ENTRY_READY, "2", &[]),
    )
    .await;

    let state: Value = reqwest::get(format!("{}/__vidmock/state", server.uri()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let partner = &state["kaltura"]["partners"][0];
    let templates = partner["eventNotificationTemplates"]
        .as_array()
        .unwrap_or_else(|| panic!("{state}"));
    assert_eq!(templates.len(), 1);
    assert_eq!(templates[0]["systemName"], "HTTP_ENTRY_READY");
    assert_eq!(templates[0]["data"]["format"], 2);
}

#[tokio::test]
async fn templates_come_back_from_the_state_file() {
    let path = std::env::temp_dir().join(format!(
        "vidmock-kaltura-notifications-{}.json",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    let first = MockServer::builder()
        .state_file(&path)
        .unwrap()
        .start()
        .await;
    let api = admin(&first);
    let added = add_template(
        &api,
        &template_fields("http://127.0.0.1:9/hooks", STATUS_CHANGED, "2", &[]),
    )
    .await;
    let id = added["id"].to_string();
    api.json(SERVICE, "updateStatus", &[("id", &id), ("status", "1")])
        .await;
    let before = api.text(SERVICE, "get", 1, &[("id", &id)]).await;
    first.shutdown().await;

    let second = MockServer::builder()
        .state_file(&path)
        .unwrap()
        .start()
        .await;
    let after = admin(&second).text(SERVICE, "get", 1, &[("id", &id)]).await;
    let next = add_template(
        &admin(&second),
        &template_fields(
            "http://127.0.0.1:9/hooks",
            STATUS_CHANGED,
            "2",
            &[("eventNotificationTemplate:systemName", "NEXT")],
        ),
    )
    .await;
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(path.with_extension("json.log"));
    let _ = std::fs::remove_dir_all(path.with_extension("json.d"));

    assert_eq!(after, before);
    assert!(after.contains("\"status\":1"), "{after}");
    assert_eq!(next["id"], added["id"].as_i64().unwrap() + 1);
}

#[tokio::test]
async fn an_entry_ready_notification_still_to_come_at_a_restart_arrives_from_the_restarted_server()
{
    // Arrange: the entry is converting when the server stops.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let start = || async {
        MockServer::builder()
            .kaltura_conversion_delays(Duration::from_secs(5), Duration::from_secs(10))
            .state_file(&path)
            .unwrap()
            .start()
            .await
    };
    let mut receiver = Receiver::start().await;
    let first = start().await;
    let api = admin(&first);
    add_template(&api, &template_fields(&receiver.url, ENTRY_READY, "1", &[])).await;
    let id = entry_with(&api, &bytes(4096, 1)).await;
    first.shutdown().await;

    // Act
    let second = start().await;
    second.clock().advance(Duration::from_secs(15));
    let notification = receiver.next().await;
    second.deliveries().settled().await;

    // Assert
    assert!(verifies(&notification), "{:?}", notification.headers);
    assert_eq!(notification.json()["object"]["id"], id.as_str());
    assert_eq!(notification.json()["object"]["status"], "2");
    assert_eq!(second.deliveries().all().len(), 1);
}

#[tokio::test]
async fn a_condition_vidmock_cannot_read_never_holds_and_other_classes_are_refused() {
    let server = MockServer::start().await;
    let api = admin(&server);
    let mut receiver = Receiver::start().await;
    add_template(
        &api,
        &template_fields(
            &receiver.url,
            "$scope->getObject()->getPartnerData() == 'x'",
            "1",
            &[],
        ),
    )
    .await;

    let other_class = api
        .json(
            SERVICE,
            "add",
            &template_fields(
                &receiver.url,
                ENTRY_READY,
                "1",
                &[
                    (
                        "eventNotificationTemplate:eventConditions:0:objectType",
                        "KalturaOrCondition",
                    ),
                    ("eventNotificationTemplate:systemName", "OTHER"),
                ],
            ),
        )
        .await;
    let email = api
        .json(
            SERVICE,
            "add",
            &template_fields(
                &receiver.url,
                ENTRY_READY,
                "1",
                &[
                    (
                        "eventNotificationTemplate:objectType",
                        "KalturaEmailNotificationTemplate",
                    ),
                    ("eventNotificationTemplate:systemName", "MAIL"),
                ],
            ),
        )
        .await;
    entry_with(&api, &bytes(512, 7)).await;
    server.deliveries().settled().await;

    assert_eq!(other_class["code"], "OBJECT_TYPE_ABSTRACT", "{other_class}");
    assert_eq!(email["code"], "INTERNAL_SERVERL_ERROR", "{email}");
    assert!(receiver.nothing_within(Duration::from_millis(200)).await);
}

#[tokio::test]
async fn a_bad_signature_fault_spoils_the_kaltura_signature() {
    let server = MockServer::start().await;
    let api = admin(&server);
    let mut receiver = Receiver::start().await;
    receiver.answer(&[200]);
    add_template(&api, &template_fields(&receiver.url, ENTRY_READY, "1", &[])).await;
    server
        .deliveries()
        .fault(vidmock::Fault::bad_signature())
        .times(1)
        .mount();

    entry_with(&api, &bytes(512, 8)).await;
    let notification = receiver.next().await;

    assert_eq!(notification.header("x-kaltura-hash-algo"), Some("sha1"));
    assert_eq!(
        notification.header("x-kaltura-signature").map(str::len),
        Some(40)
    );
    assert!(!verifies(&notification));
}

#[tokio::test]
async fn a_partner_keeps_at_most_a_hundred_templates() {
    let server = MockServer::start().await;
    let api = admin(&server);
    for n in 0..100 {
        let name = format!("T{n:03}");
        add_template(
            &api,
            &template_fields(
                "http://127.0.0.1:9/hooks",
                ENTRY_READY,
                "1",
                &[("eventNotificationTemplate:systemName", &name)],
            ),
        )
        .await;
    }

    let refused = api
        .json(
            SERVICE,
            "add",
            &template_fields(
                "http://127.0.0.1:9/hooks",
                ENTRY_READY,
                "1",
                &[("eventNotificationTemplate:systemName", "ONE_TOO_MANY")],
            ),
        )
        .await;
    api.json(SERVICE, "delete", &[("id", "1")]).await;
    let after_delete = api
        .json(
            SERVICE,
            "add",
            &template_fields(
                "http://127.0.0.1:9/hooks",
                ENTRY_READY,
                "1",
                &[("eventNotificationTemplate:systemName", "ONE_MORE")],
            ),
        )
        .await;

    assert_eq!(refused["code"], "INTERNAL_SERVERL_ERROR", "{refused}");
    assert_eq!(after_delete["id"], 101, "{after_delete}");
}
