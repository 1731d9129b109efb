//! Kaltura API v3's front door over a real socket: the requests the official clients really
//! send (captured once into fixtures/kaltura/requests/, replayed byte for byte), URL forms,
//! parameter precedence, output formats, errors and headers (../shared/specs/kaltura.md §1, §9).

use crate::support::{
    fixture, new_token, redact, redact_ids, replay, xml_result, Raw, FIXTURE_TOKEN,
};
use vidmock::kaltura::SessionType;
use vidmock::MockServer;

/// Sends a request built with reqwest and reads it back as a [`Raw`].
async fn send(request: reqwest::RequestBuilder) -> Raw {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect();
    let body = response.text().await.unwrap();
    Raw {
        status,
        headers,
        body,
    }
}

fn get(server: &MockServer, path_and_query: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new().get(format!("{}{path_and_query}", server.uri()))
}

fn post(server: &MockServer, path_and_query: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new().post(format!("{}{path_and_query}", server.uri()))
}

// ------------------------------------------------------------------ captured client requests

#[tokio::test]
async fn the_python_clients_session_start_gets_a_v2_ks_in_xml() {
    let server = MockServer::start().await;

    let answer = replay(&server, &fixture("python_session_start.http", &[])).await;

    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("text/xml"));
    assert!(xml_result(&answer.body).starts_with("djJ8"));
    insta::assert_snapshot!(redact(&answer.body));
}

#[tokio::test]
async fn the_node_clients_session_start_gets_a_json_string() {
    let server = MockServer::start().await;

    let answer = replay(&server, &fixture("node_session_start.http", &[])).await;

    assert_eq!(answer.header("content-type"), Some("application/json"));
    let ks: String = serde_json::from_str(&answer.body).unwrap();
    assert!(ks.starts_with("djJ8"));
    assert_eq!(
        server
            .received(vidmock::kaltura::action("session", "start"))
            .len(),
        1
    );
    assert_eq!(
        server.received_requests()[0].operation.as_deref(),
        Some("session.start")
    );
}

#[tokio::test]
async fn a_double_slash_before_api_v3_is_collapsed() {
    let server = MockServer::start().await;

    let answer = replay(
        &server,
        &fixture("python_session_start_double_slash.http", &[]),
    )
    .await;

    assert!(
        xml_result(&answer.body).starts_with("djJ8"),
        "{}",
        answer.body
    );
}

#[tokio::test]
async fn a_ks_issued_by_session_start_opens_a_session() {
    let server = MockServer::start().await;
    let started = replay(&server, &fixture("node_session_start.http", &[])).await;
    let ks: String = serde_json::from_str(&started.body).unwrap();

    let ended = send(get(
        &server,
        &format!("/api_v3/service/session/action/end?format=1&ks={ks}"),
    ))
    .await;
    let again = send(get(
        &server,
        &format!("/api_v3/service/session/action/end?format=1&ks={ks}"),
    ))
    .await;

    assert_eq!(ended.body, "null");
    insta::assert_snapshot!("logged_out_ks", again.body);
}

#[tokio::test]
async fn the_python_clients_multipart_upload_reaches_the_dispatcher_in_xml() {
    // The `json` field gives format, ks and the token; the file part keeps its basename.
    let server = MockServer::start().await;
    let ks = server.kaltura().ks("", SessionType::Admin);
    let token = new_token(&server, &ks).await;

    let answer = replay(
        &server,
        &fixture(
            "python_multipart_upload.http",
            &[("KS_PLACEHOLDER", &ks), (FIXTURE_TOKEN, &token)],
        ),
    )
    .await;

    assert_eq!(answer.header("content-type"), Some("text/xml"));
    insta::assert_snapshot!(redact_ids(&answer.body));
    let stored = server.kaltura().upload_token(&token).unwrap();
    assert_eq!(stored.content().unwrap(), b"hello kaltura\n");
    let recorded = server.received_requests().pop().unwrap();
    assert_eq!(recorded.operation.as_deref(), Some("uploadtoken.upload"));
    assert_eq!(recorded.target.as_deref(), Some(token.as_str()));
}

#[tokio::test]
async fn the_node_clients_hand_built_multipart_body_is_read() {
    // format=1 is only inside the `json` part, after a leading CRLF: a JSON answer shows the
    // body was parsed.
    let server = MockServer::start().await;
    let ks = server.kaltura().ks("", SessionType::Admin);

    for (name, expected) in [
        ("node_multipart_upload.http", "2"),
        (
            "node_multipart_chunk_buffer.http",
            "UPLOAD_TOKEN_CANNOT_RESUME",
        ),
    ] {
        let token = new_token(&server, &ks).await;
        let answer = replay(
            &server,
            &fixture(name, &[("KS_PLACEHOLDER", &ks), (FIXTURE_TOKEN, &token)]),
        )
        .await;

        assert_eq!(
            answer.header("content-type"),
            Some("application/json"),
            "{name}"
        );
        let body: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
        let got = body["code"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| body["status"].to_string());
        assert_eq!(got, expected, "{name}: {body}");
    }
}

#[tokio::test]
async fn the_python_clients_multirequest_chains_a_ks_by_reference() {
    let server = MockServer::start().await;

    let answer = replay(&server, &fixture("python_multirequest.http", &[])).await;

    insta::assert_snapshot!(redact(&answer.body));
    assert_eq!(
        server.received_requests()[0].operation.as_deref(),
        Some("multirequest")
    );
}

#[tokio::test]
async fn the_node_clients_multirequest_answers_a_json_array_with_errors_inline() {
    let server = MockServer::start().await;
    let ks = server.kaltura().ks("", SessionType::Admin);

    let answer = replay(
        &server,
        &fixture(
            "node_multirequest_with_file.http",
            &[("KS_PLACEHOLDER", &ks)],
        ),
    )
    .await;

    insta::assert_snapshot!(redact(&answer.body));
}

#[tokio::test]
async fn flat_multipart_fields_with_ks_in_the_query_answer_in_xml_by_default() {
    let server = MockServer::start().await;
    let ks = server.kaltura().ks("", SessionType::Admin);

    let answer = replay(
        &server,
        &fixture(
            "uploader_chunk_flat_multipart.http",
            &[("KS_PLACEHOLDER", &ks)],
        ),
    )
    .await;

    assert_eq!(answer.header("content-type"), Some("text/xml"));
    assert!(answer.body.contains("<code>UPLOAD_TOKEN_NOT_FOUND</code>"));
    let token = new_token(&server, &ks).await;
    let answer = replay(
        &server,
        &fixture(
            "uploader_chunk_flat_multipart.http",
            &[("KS_PLACEHOLDER", &ks), (FIXTURE_TOKEN, &token)],
        ),
    )
    .await;
    assert!(
        answer.body.contains("<status>2</status>"),
        "{}",
        answer.body
    );
    assert!(answer.body.contains("<fileName>chunk_0</fileName>"));
}

#[tokio::test]
async fn a_urlencoded_form_to_api_v3_names_service_and_action_in_the_body() {
    let server = MockServer::start().await;

    let ks = server.kaltura().ks("", SessionType::Admin);
    let token = new_token(&server, &ks).await;
    let upload = reqwest::multipart::Form::new()
        .text("ks", ks.clone())
        .text("uploadTokenId", token.clone())
        .part(
            "fileData",
            reqwest::multipart::Part::bytes(b"0123456789".to_vec()).file_name("clip.mp4"),
        );
    reqwest::Client::new()
        .post(format!(
            "{}/api_v3/service/uploadtoken/action/upload",
            server.uri()
        ))
        .multipart(upload)
        .send()
        .await
        .unwrap();
    server.clear_requests();

    let answer = replay(
        &server,
        &fixture(
            "uploader_form_add_entry.http",
            &[("KS_PLACEHOLDER", &ks), (FIXTURE_TOKEN, &token)],
        ),
    )
    .await;

    insta::assert_snapshot!(redact_ids(&answer.body));
    assert_eq!(
        server.received_requests()[0].operation.as_deref(),
        Some("media.addfromuploadedfile")
    );
}

// ------------------------------------------------------------------ URL forms and precedence

#[tokio::test]
async fn every_url_form_reaches_the_same_action() {
    let server = MockServer::start().await;
    let forms = [
        "/api_v3/service/session/action/start?secret=vidmock-admin-secret&partnerId=101&format=1",
        "/api_v3/service/SESSION/action/Start/secret/vidmock-admin-secret/partnerId/101/format/1",
        "/api_v3/index.php/service/session/action/start?secret=vidmock-admin-secret&partnerId=101&format=1",
        "/api_v3/index.php?service=session&action=start&secret=vidmock-admin-secret&partnerId=101&format=1",
        "/api_v3/?service=session&action=start&secret=vidmock-admin-secret&partnerId=101&format=1",
        "//api_v3//service/session/action/start?secret=vidmock-admin-secret&partnerId=101&format=1",
    ];

    for form in forms {
        let answer = send(get(&server, form)).await;

        assert!(answer.body.starts_with("\"djJ8"), "{form}: {}", answer.body);
    }
}

#[tokio::test]
async fn path_pairs_beat_the_query_and_the_query_beats_the_body() {
    let server = MockServer::start().await;
    let ks = server.kaltura().ks("", SessionType::Admin);

    let path_over_query = send(get(
        &server,
        "/api_v3/service/session/action/end/format/1?format=2",
    ))
    .await;
    let query_over_json = send(
        post(
            &server,
            &format!("/api_v3/service/session/action/end?ks={ks}"),
        )
        .header("content-type", "application/json")
        .body(r#"{"ks":"not-a-ks","format":1}"#),
    )
    .await;
    let json_body_alone = send(
        post(&server, "/api_v3/service/session/action/end")
            .header("content-type", "application/json; charset=utf-8")
            .body(r#"{"ks":"not-a-ks","format":1}"#),
    )
    .await;

    assert_eq!(path_over_query.body, "null");
    assert_eq!(query_over_json.body, "null");
    insta::assert_snapshot!("invalid_ks_string", json_body_alone.body);
}

#[tokio::test]
async fn a_urlencoded_body_with_php_brackets_is_read() {
    let server = MockServer::start().await;

    let answer = send(
        post(&server, "/api_v3/")
            .header("content-type", "application/x-www-form-urlencoded")
            .body("service=session&action=start&secret=vidmock-user-secret&partnerId=101&format=1&privileges__null=&extra[a]=1"),
    )
    .await;

    assert!(answer.body.starts_with("\"djJ8"), "{}", answer.body);
}

// ------------------------------------------------------------------ formats and errors

#[tokio::test]
async fn an_unknown_service_is_an_error_in_xml_by_default() {
    let server = MockServer::start().await;

    let answer = send(get(&server, "/api_v3/service/NoSuch/action/thing")).await;

    assert_eq!(answer.status, 200);
    insta::assert_snapshot!(redact(&answer.body));
}

#[tokio::test]
async fn an_unknown_action_is_an_error_in_json_with_both_names_lower_case() {
    let server = MockServer::start().await;

    let answer = send(get(&server, "/api_v3/service/Session/action/Nope?format=1")).await;

    assert_eq!(answer.status, 200);
    insta::assert_snapshot!(answer.body);
}

#[tokio::test]
async fn service_names_are_lowered_like_strtolower_so_only_ascii_letters_change() {
    let server = MockServer::start().await;

    let answer = send(get(
        &server,
        "/api_v3/service/%C3%9CploadTOKEN/action/Get?format=1",
    ))
    .await;

    assert_eq!(answer.status, 200);
    assert!(
        answer.body.contains(r#""code":"SERVICE_DOES_NOT_EXISTS""#),
        "{}",
        answer.body
    );
    assert!(answer.body.contains(r"\u00dcploadtoken"), "{}", answer.body);
    let recorded = server.received_requests();
    assert_eq!(recorded[0].operation.as_deref(), Some("Üploadtoken.get"));
}

#[tokio::test]
async fn a_request_without_service_or_action_says_which_is_missing() {
    let server = MockServer::start().await;

    let no_service = send(get(&server, "/api_v3/?format=1")).await;
    let no_action = send(get(&server, "/api_v3/service/session?format=1")).await;

    insta::assert_snapshot!("no_service", no_service.body);
    insta::assert_snapshot!("no_action", no_action.body);
}

#[tokio::test]
async fn a_missing_parameter_is_named_in_both_formats() {
    let server = MockServer::start().await;

    let json = send(get(
        &server,
        "/api_v3/service/session/action/start?format=1",
    ))
    .await;
    let xml = send(get(&server, "/api_v3/service/session/action/start")).await;

    insta::assert_snapshot!("missing_secret_json", json.body);
    insta::assert_snapshot!("missing_secret_xml", redact(&xml.body));
}

#[tokio::test]
async fn jsonp_wraps_the_json_in_the_callback() {
    let server = MockServer::start().await;

    let answer = send(get(
        &server,
        "/api_v3/service/session/action/end?format=9&callback=cb.done_1",
    ))
    .await;

    assert_eq!(
        answer.header("content-type"),
        Some("application/javascript")
    );
    assert_eq!(answer.body, "cb.done_1(null);");
}

#[tokio::test]
async fn a_percent_encoded_callback_name_is_read_as_php_decodes_it() {
    let server = MockServer::start().await;

    let answer = send(get(
        &server,
        "/api_v3/service/session/action/end?format=9&%63allback=cb%2Edone",
    ))
    .await;

    assert_eq!(answer.body, "cb.done(null);");
}

#[tokio::test]
async fn an_unknown_format_gets_an_empty_body_and_an_x_kaltura_header() {
    let server = MockServer::start().await;

    let unknown = send(get(&server, "/api_v3/service/session/action/end?format=7")).await;
    let no_callback = send(get(&server, "/api_v3/service/session/action/end?format=9")).await;

    assert_eq!(unknown.status, 200);
    assert_eq!(unknown.body, "");
    assert_eq!(
        unknown.header("x-kaltura"),
        Some("error- UNKNOWN_RESPONSE_FORMAT")
    );
    assert_eq!(no_callback.body, "");
    assert!(no_callback.header("x-kaltura").is_some());
}

#[tokio::test]
async fn every_answer_carries_the_cache_and_cors_headers() {
    let server = MockServer::start().await;

    let answer = send(get(&server, "/api_v3/service/session/action/end?format=1")).await;

    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        answer.header("access-control-expose-headers"),
        Some("Server, Content-Length, Content-Range, Date, X-Kaltura, X-Kaltura-Session, X-Me")
    );
    assert_eq!(
        answer.header("expires"),
        Some("Sun, 19 Nov 2000 08:52:00 GMT")
    );
    assert_eq!(
        answer.header("cache-control"),
        Some("no-store, no-cache, must-revalidate, post-check=0, pre-check=0")
    );
    assert_eq!(answer.header("pragma"), Some("no-cache"));
}

#[tokio::test]
async fn options_is_answered_at_once_with_cors_preflight_headers() {
    let server = MockServer::start().await;

    let answer = send(reqwest::Client::new().request(
        reqwest::Method::OPTIONS,
        format!("{}/api_v3/service/uploadtoken/action/upload", server.uri()),
    ))
    .await;

    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, "");
    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        answer.header("access-control-allow-methods"),
        Some("POST, GET, HEAD, OPTIONS")
    );
    assert_eq!(
        answer.header("access-control-allow-headers"),
        Some("Origin, X-Requested-With, Content-Type, Accept, Range, Cache-Control")
    );
    assert_eq!(answer.header("access-control-max-age"), Some("86400"));
}

#[tokio::test]
async fn a_content_type_parameter_overrides_the_header() {
    let server = MockServer::start().await;

    let answer = send(get(
        &server,
        "/api_v3/service/session/action/end?format=1&content-type=text/plain",
    ))
    .await;

    assert_eq!(answer.header("content-type"), Some("text/plain"));
}

#[tokio::test]
async fn garbage_bodies_are_answered_with_kaltura_errors_never_a_500() {
    let server = MockServer::start().await;
    let bodies: [(&str, &[u8]); 5] = [
        ("application/json", b"{not json"),
        ("application/json", b"[1,2,3]"),
        (
            "multipart/form-data; boundary=x",
            b"--x\r\nContent-Disposition: form-data; name=\"json\"\r\n\r\n{\"format\":1",
        ),
        ("multipart/form-data", b"no boundary at all"),
        ("application/x-www-form-urlencoded", b"%%%=%ff&x=%C0"),
    ];

    for (content_type, body) in bodies {
        let answer = send(
            post(&server, "/api_v3/service/session/action/start")
                .header("content-type", content_type)
                .body(body.to_vec()),
        )
        .await;

        assert_eq!(answer.status, 200, "{content_type}");
        assert!(
            answer.body.contains("MISSING_MANDATORY_PARAMETER"),
            "{content_type}: {}",
            answer.body
        );
    }
}

#[tokio::test]
async fn a_missing_parameter_beats_a_missing_ks() {
    // The dispatcher reads parameters before it checks the session (spec §1.7).
    let server = vidmock::MockServer::start().await;
    let url = format!(
        "{}/api_v3/service/uploadtoken/action/get?format=1",
        server.uri()
    );

    let neither: serde_json::Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    let no_ks: serde_json::Value = reqwest::get(format!("{url}&uploadTokenId=0_x"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(neither["code"], "MISSING_MANDATORY_PARAMETER");
    assert_eq!(neither["args"]["PARAM_NAME"], "uploadTokenId");
    assert_eq!(no_ks["code"], "MISSING_KS");
}
