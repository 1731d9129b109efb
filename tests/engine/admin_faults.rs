//! Faults driven over HTTP through `/__vidmock/faults`, for test suites in any language.

use crate::common::{basic, client, send};
use serde_json::json;
use vidmock::MockServer;

const KEY: &str = "vidmock-api-key";

async fn add(server: &MockServer, fault: serde_json::Value) -> crate::common::Answer {
    send(
        client()
            .post(format!("{}/__vidmock/faults", server.uri()))
            .json(&fault),
    )
    .await
}

#[tokio::test]
async fn a_fault_posted_as_json_applies_and_can_be_listed_and_removed() {
    let server = MockServer::start().await;

    let created = add(
        &server,
        json!({"name": "busy list", "match": {"operation": "listTokens"}, "action": {"type": "status", "status": 503, "body": "busy"}, "times": 1}),
    )
    .await;
    let listed = send(client().get(format!("{}/__vidmock/faults", server.uri())))
        .await
        .json();
    let faulted = send(basic(
        client().get(format!("{}/upload-tokens", server.uri())),
        KEY,
    ))
    .await;
    let id = created.json()["id"].as_u64().unwrap();
    let removed = send(client().delete(format!("{}/__vidmock/faults/{id}", server.uri()))).await;
    let removed_again =
        send(client().delete(format!("{}/__vidmock/faults/{id}", server.uri()))).await;

    assert_eq!(created.status, 201);
    assert_eq!(listed[0]["name"], "busy list");
    assert_eq!(listed[0]["times"], 1);
    assert_eq!(faulted.status, 503);
    assert_eq!(faulted.text, "busy");
    assert_eq!(removed.status, 204);
    assert_eq!(removed_again.status, 404);
}

#[tokio::test]
async fn an_apivideo_problem_posted_as_json_answers_the_vendor_shape() {
    let server = MockServer::start().await;
    add(
        &server,
        json!({"match": {"method": "POST", "path": "/upload-tokens"}, "action": {
            "type": "apivideoProblem", "status": 400, "slug": "invalid-attribute",
            "title": "An attribute is invalid.", "name": "ttl",
            "problems": [{"slug": "invalid-attribute", "title": "An attribute is invalid.", "name": "ttl"}]}}),
    )
    .await;

    let answer = send(basic(
        client().post(format!("{}/upload-tokens", server.uri())),
        KEY,
    ))
    .await;

    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.content_type.as_deref(),
        Some("application/problem+json")
    );
    assert_eq!(answer.json()["problems"][0]["name"], "ttl");
}

#[tokio::test]
async fn a_kaltura_error_is_answered_in_the_format_the_request_asked_for() {
    let server = MockServer::start().await;
    add(
        &server,
        json!({"match": {"operation": "uploadtoken.get"}, "action": {"type": "kalturaError", "code": "UPLOAD_TOKEN_NOT_FOUND"}}),
    )
    .await;
    let url = format!("{}/api_v3/service/uploadToken/action/get", server.uri());

    let json_answer = send(client().get(format!("{url}?format=1&uploadTokenId=0_x"))).await;
    let xml_answer = send(client().get(format!("{url}?uploadTokenId=0_x"))).await;

    assert_eq!(json_answer.status, 200);
    assert_eq!(json_answer.json()["code"], "UPLOAD_TOKEN_NOT_FOUND");
    assert_eq!(json_answer.json()["objectType"], "KalturaAPIException");
    assert!(
        xml_answer
            .text
            .contains("<code>UPLOAD_TOKEN_NOT_FOUND</code>"),
        "{}",
        xml_answer.text
    );
}

#[tokio::test]
async fn invalid_fault_descriptions_are_refused_with_a_reason() {
    let server = MockServer::start().await;
    let invalid = [
        json!({"action": {"type": "explode"}}),
        json!({"match": {"pathRegex": "("}, "action": {"type": "hang"}}),
        json!({"action": {"type": "status", "status": 42}}),
        json!({"match": {"headers": {"bad header": "x"}}, "action": {"type": "close"}}),
        json!({"action": {"type": "close"}, "surprise": true}),
    ];

    for fault in invalid {
        let answer = add(&server, fault.clone()).await;

        assert_eq!(answer.status, 400, "{fault}");
        assert!(answer.json()["error"].is_string(), "{fault}");
    }
    assert!(server.faults().is_empty());
}

#[tokio::test]
async fn deleting_all_faults_clears_them() {
    let server = MockServer::start().await;
    add(&server, json!({"action": {"type": "close"}})).await;

    let cleared = send(client().delete(format!("{}/__vidmock/faults", server.uri()))).await;

    assert_eq!(cleared.status, 204);
    assert!(server.faults().is_empty());
    assert_eq!(
        send(client().get(format!("{}/upload-tokens", server.uri())))
            .await
            .status,
        401
    );
}

/// One of every action, as the README writes them.
fn every_action() -> Vec<serde_json::Value> {
    vec![
        json!({"type": "status", "status": 503, "body": "busy", "headers": {"retry-after": "2"}}),
        json!({"type": "apivideoProblem", "status": 400, "slug": "invalid-attribute",
               "title": "An attribute is invalid.", "name": "ttl", "detail": "Too long.",
               "problems": [{"slug": "attribute-required", "title": "Required.", "name": "title"}]}),
        json!({"type": "kalturaError", "code": "MISSING_MANDATORY_PARAMETER", "args": ["uploadTokenId"]}),
        json!({"type": "delay", "ms": 250}),
        json!({"type": "delayUniform", "minMs": 10, "maxMs": 50}),
        json!({"type": "delayLognormal", "medianMs": 40, "sigma": 0.5, "capMs": 1000}),
        json!({"type": "dribble", "chunkBytes": 8, "everyMs": 20}),
        json!({"type": "hang"}),
        json!({"type": "reset"}),
        json!({"type": "close"}),
        json!({"type": "garbage", "body": "not http"}),
        json!({"type": "truncate", "afterBytes": 10}),
        json!({"type": "resetAfterRequestBytes", "bytes": 1048576}),
        json!({"type": "loseResponse"}),
        json!({"type": "failProcessing"}),
    ]
}

#[tokio::test]
async fn every_action_posted_as_json_is_listed_back_as_it_was_posted() {
    // Arrange
    let server = MockServer::start().await;
    for action in every_action() {
        let answer = add(&server, json!({"action": action, "times": 0})).await;
        assert_eq!(answer.status, 201, "{action}: {}", answer.text);
    }

    // Act
    let listed = send(client().get(format!("{}/__vidmock/faults", server.uri())))
        .await
        .json();

    // Assert
    let actions: Vec<serde_json::Value> = listed
        .as_array()
        .expect("a list")
        .iter()
        .map(|fault| fault["action"].clone())
        .collect();
    assert_eq!(actions, every_action());
    insta::assert_json_snapshot!(listed, { "[].id" => "[id]" });
}

#[tokio::test]
async fn a_fault_built_in_rust_reads_as_the_admin_json() {
    // Arrange
    use std::time::Duration;
    use vidmock::Fault;
    let built = [
        Fault::from(Fault::status(503).body("busy").header("retry-after", "2")),
        Fault::delay(Duration::from_millis(250)),
        Fault::dribble(8, Duration::from_millis(20)),
        Fault::truncate_after(10),
        Fault::kaltura(vidmock::kaltura::ApiError::new(
            "MISSING_MANDATORY_PARAMETER",
            &["uploadTokenId"],
        )),
    ];

    // Act
    let json: Vec<serde_json::Value> = built
        .iter()
        .map(|fault| serde_json::to_value(fault.action()).expect("an action serialises"))
        .collect();
    let read: Vec<vidmock::Action> = json
        .iter()
        .map(|json| serde_json::from_value(json.clone()).expect("and reads back"))
        .collect();

    // Assert
    let posted = every_action();
    assert_eq!(json, [0, 3, 6, 11, 2].map(|i| posted[i].clone()));
    assert_eq!(
        read,
        built.iter().map(|f| f.action().clone()).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_misspelt_field_of_an_action_is_named_in_the_refusal() {
    // Arrange
    let server = MockServer::start().await;

    // Act
    let wrong_type = add(&server, json!({"action": {"type": "delay", "ms": "soon"}})).await;
    let unknown = add(
        &server,
        json!({"action": {"type": "kalturaError", "code": "X", "argz": []}}),
    )
    .await;

    // Assert
    assert_eq!(wrong_type.status, 400);
    assert!(
        wrong_type.json()["error"]
            .as_str()
            .unwrap_or_default()
            .contains("invalid type"),
        "{}",
        wrong_type.text
    );
    assert_eq!(unknown.status, 400);
    assert!(
        unknown.json()["error"]
            .as_str()
            .unwrap_or_default()
            .contains("argz"),
        "{}",
        unknown.text
    );
}

#[tokio::test]
async fn a_misspelt_operation_is_refused_with_the_vendors_operations() {
    // Arrange
    let server = MockServer::start().await;
    let on = |operation: &str| json!({"match": {"operation": operation}, "action": {"type": "status", "status": 503}});

    // Act
    let apivideo = add(&server, on("createTokne")).await;
    let kaltura = add(&server, on("uploadtoken.uplaod")).await;
    let known = add(&server, on("uploadToken.upload")).await;

    // Assert
    assert_eq!(apivideo.status, 400, "{}", apivideo.text);
    let said = apivideo.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        said.contains("\"createTokne\"") && said.contains("createToken"),
        "{said}"
    );
    assert_eq!(kaltura.status, 400, "{}", kaltura.text);
    let said = kaltura.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(said.contains("uploadtoken.upload"), "{said}");
    assert_eq!(known.status, 201, "{}", known.text);
    assert_eq!(server.faults().len(), 1);
}

#[test]
#[should_panic(expected = "api.video has no operation named \"createTokne\"; its operations are")]
fn a_misspelt_api_video_operation_in_rust_is_refused_with_the_operations() {
    let _ = vidmock::apivideo::op("createTokne");
}

#[test]
#[should_panic(expected = "Kaltura has no action uploadtoken.uplaod in vidmock; its actions are")]
fn a_misspelt_kaltura_action_in_rust_is_refused_with_the_actions() {
    let _ = vidmock::kaltura::action("uploadtoken", "uplaod");
}

#[tokio::test]
async fn every_vendor_describes_its_operations_and_fault_presets_that_the_faults_route_takes() {
    // Arrange
    let server = MockServer::start().await;

    // Act
    let vendors = send(client().get(format!("{}/__vidmock/vendors", server.uri())))
        .await
        .json();
    let mut answers = Vec::new();
    for (vendor, described) in vendors.as_object().unwrap() {
        for preset in described["faultPresets"].as_array().unwrap() {
            let added = add(
                &server,
                json!({"name": preset["name"], "match": {"vendor": vendor}, "action": preset["action"]}),
            )
            .await;
            answers.push((preset["name"].clone(), added.status));
        }
    }

    // Assert
    let names: Vec<&String> = vendors.as_object().unwrap().keys().collect();
    assert_eq!(names, ["apivideo", "kaltura"]);
    assert!(vendors["apivideo"]["operations"]
        .as_array()
        .unwrap()
        .contains(&json!("createToken")));
    assert!(vendors["kaltura"]["operations"]
        .as_array()
        .unwrap()
        .contains(&json!("uploadtoken.upload")));
    assert_eq!(
        vendors["apivideo"]["faultPresets"][4]["action"],
        json!({"type": "apivideoProblem", "status": 404, "slug": "resource-not-found",
               "title": "The requested resource could not be found.", "name": "videoId"})
    );
    assert!(answers.len() >= 10, "{answers:?}");
    assert!(
        answers.iter().all(|(_, status)| *status == 201),
        "{answers:?}"
    );
}

#[tokio::test]
async fn a_fault_matching_a_vendor_answers_its_requests_and_leaves_the_others_alone() {
    // Arrange
    let server = MockServer::start().await;
    let added = add(
        &server,
        json!({"match": {"vendor": "kaltura"}, "action": {"type": "status", "status": 503}}),
    )
    .await;

    // Act
    let kaltura = send(client().get(format!(
        "{}/api_v3/service/system/action/ping?format=1",
        server.uri()
    )))
    .await;
    let apivideo = send(basic(
        client().get(format!("{}/upload-tokens", server.uri())),
        KEY,
    ))
    .await;
    let unknown = add(
        &server,
        json!({"match": {"vendor": "vimeo"}, "action": {"type": "status", "status": 503}}),
    )
    .await;

    // Assert
    assert_eq!(added.status, 201);
    assert_eq!(kaltura.status, 503);
    assert_eq!(apivideo.status, 200);
    assert_eq!(unknown.status, 400);
    assert!(unknown.text.contains("vimeo"), "{}", unknown.text);
}
