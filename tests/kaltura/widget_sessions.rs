//! `session.startWidgetSession` over a real socket: the widget KS a player starts from a
//! partner's default widget (api_v3/services/SessionService.php:280–373).

use std::time::Duration;

use crate::support::{call, call_json, redact};
use serde_json::Value;
use vidmock::kaltura::SessionType;
use vidmock::MockServer;

async fn widget_ks(server: &MockServer, query: &str) -> String {
    let answer = call_json(
        server,
        &format!("service/session/action/startWidgetSession?format=1&widgetId=_101{query}"),
    )
    .await;
    answer["ks"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"))
        .to_owned()
}

/// SessionService.php:365–369 — partner, KS and user (`$userId = 0`, line 325), in both forms.
#[tokio::test]
async fn a_partners_default_widget_starts_a_session_in_both_wire_forms() {
    let server = MockServer::start().await;

    let json = call(
        &server,
        "service/session/action/startWidgetSession?format=1&widgetId=_101",
    )
    .await;
    let xml = call(
        &server,
        "service/session/action/startWidgetSession?format=2&widgetId=_101",
    )
    .await;

    let parsed: Value = serde_json::from_str(&json).unwrap();
    assert!(parsed["ks"].as_str().unwrap().starts_with("djJ8"), "{json}");
    assert_eq!(parsed["partnerId"], 101);
    assert_eq!(parsed["userId"], 0);
    insta::assert_snapshot!("widget_session_json", redact(&json));
    insta::assert_snapshot!("widget_session_xml", redact(&xml));
}

/// SessionService.php:284–288 — `widgetPeer::retrieveByPK` finds nothing: `INVALID_WIDGET_ID`
/// (alpha/apps/kaltura/lib/webservices/APIErrors.class.php:222); the action is `@ksIgnored`
/// (line 272), so a garbage KS does not matter, and `widgetId` is mandatory.
#[tokio::test]
async fn an_unknown_widget_is_refused_and_the_ks_is_never_read() {
    let server = MockServer::start().await;

    let unknown = call_json(
        &server,
        "service/session/action/startWidgetSession?format=1&widgetId=_999&ks=garbage",
    )
    .await;
    let not_default = call_json(
        &server,
        "service/session/action/startWidgetSession?format=1&widgetId=0_abcdefgh",
    )
    .await;
    let missing = call_json(
        &server,
        "service/session/action/startWidgetSession?format=1",
    )
    .await;

    assert_eq!(unknown["code"], "INVALID_WIDGET_ID", "{unknown}");
    assert_eq!(unknown["message"], "Unknown widget [_999]");
    assert_eq!(unknown["args"]["WIDGET_ID"], "_999");
    assert_eq!(not_default["code"], "INVALID_WIDGET_ID");
    assert_eq!(missing["code"], "MISSING_MANDATORY_PARAMETER");
}

/// SessionService.php:298 — privileges `view:*,widget:1`: the session may read tokens
/// (deployment/permissions/service.uploadtoken.ini gives get and list to widget sessions) but
/// not create one.
#[tokio::test]
async fn a_widget_session_may_list_tokens_but_not_add_one() {
    let server = MockServer::start().await;
    let ks = widget_ks(&server, "").await;

    let listed = call_json(
        &server,
        &format!("service/uploadtoken/action/list?format=1&ks={ks}"),
    )
    .await;
    let added = call_json(
        &server,
        &format!("service/uploadtoken/action/add?format=1&ks={ks}"),
    )
    .await;

    assert_eq!(listed["totalCount"], 0, "{listed}");
    assert_eq!(added["code"], "SERVICE_FORBIDDEN", "{added}");
}

/// alpha/apps/kaltura/lib/webservices/kSessionUtils.class.php:116–121 — the expiry is lowered
/// to the partner's maximum (86400 s) and otherwise taken as given.
#[tokio::test]
async fn a_widget_session_lasts_its_expiry_at_most_a_day() {
    let server = MockServer::start().await;
    let short = widget_ks(&server, "&expiry=60").await;
    let long = widget_ks(&server, "&expiry=999999").await;
    let list = |ks: &str| format!("service/uploadtoken/action/list?format=1&ks={ks}");

    server.clock().advance(Duration::from_secs(61));
    let short_after = call_json(&server, &list(&short)).await;
    let long_within = call_json(&server, &list(&long)).await;
    server.clock().advance(Duration::from_secs(86_400));
    let long_after = call_json(&server, &list(&long)).await;

    assert_eq!(short_after["code"], "INVALID_KS", "{short_after}");
    assert_eq!(long_within["totalCount"], 0, "{long_within}");
    assert_eq!(long_after["code"], "INVALID_KS", "{long_after}");
}

/// A widget session is a USER session (`createKSessionNoValidations` with `$admin = false`,
/// kSessionUtils.class.php:123–124) of user `0`: UploadTokenService.php:220–226 shows it only
/// that user's tokens, so an editor's token is not listed.
#[tokio::test]
async fn a_widget_session_does_not_see_an_editors_tokens() {
    let server = MockServer::start().await;
    let admin = server.kaltura().ks("editor", SessionType::Admin);
    call(
        &server,
        &format!("service/uploadtoken/action/add?format=1&ks={admin}"),
    )
    .await;
    let ks = widget_ks(&server, "").await;

    let listed = call_json(
        &server,
        &format!("service/uploadtoken/action/list?format=1&ks={ks}"),
    )
    .await;

    assert_eq!(listed["totalCount"], 0, "{listed}");
}
