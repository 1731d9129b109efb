//! The dashboard page at `/__vidmock/`: one self-contained HTML page over the admin API.
//! What it shows in a real browser is checked by tests/browser.rs.

use crate::common::{client, send};
use vidmock::MockServer;

#[tokio::test]
async fn the_dashboard_is_an_html_page_that_polls_the_admin_routes() {
    let server = MockServer::start().await;

    let page = send(client().get(format!("{}/__vidmock/", server.uri()))).await;

    assert_eq!(page.status, 200);
    assert_eq!(
        page.content_type.as_deref(),
        Some("text/html; charset=utf-8")
    );
    assert!(page.text.starts_with("<!doctype html>"), "{}", page.text);
    for route in [
        "/__vidmock/state",
        "/__vidmock/requests",
        "/__vidmock/faults",
        "/__vidmock/clock",
    ] {
        assert!(page.text.contains(route), "the page never asks for {route}");
    }
}

#[tokio::test]
async fn the_dashboard_is_also_served_without_the_trailing_slash() {
    let server = MockServer::start().await;

    let page = send(client().get(format!("{}/__vidmock", server.uri()))).await;

    assert_eq!(page.status, 200);
    assert_eq!(
        page.content_type.as_deref(),
        Some("text/html; charset=utf-8")
    );
    assert!(page.text.contains("/__vidmock/state"));
}

#[tokio::test]
async fn the_dashboard_loads_nothing_from_elsewhere() {
    let server = MockServer::start().await;

    let page = send(client().get(format!("{}/__vidmock/", server.uri()))).await;

    let lower = page.text.to_lowercase();
    for outside in ["http://", "https://", "//cdn", "@import", "url(", " src="] {
        assert!(!lower.contains(outside), "the page refers to {outside:?}");
    }
    let policy = page.header("content-security-policy").unwrap_or_default();
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(policy.contains("connect-src 'self'"), "{policy}");
}

#[tokio::test]
async fn with_an_admin_token_the_page_needs_it_and_passes_it_on_to_its_fetches() {
    let server = MockServer::builder().admin_token("s3cret").start().await;
    let url = format!("{}/__vidmock/", server.uri());

    let without = send(client().get(&url)).await;
    let with = send(client().get(format!("{url}?token=s3cret"))).await;

    assert_eq!(without.status, 401);
    assert_eq!(with.status, 200);
    assert!(
        with.text.contains("x-vidmock-admin-token"),
        "the page sends the token it was opened with on its fetches"
    );
}

#[tokio::test]
async fn the_page_is_only_read_and_unknown_admin_paths_are_still_not_found() {
    let server = MockServer::start().await;

    let post = send(client().post(format!("{}/__vidmock/", server.uri()))).await;
    let unknown = send(client().get(format!("{}/__vidmock/nope", server.uri()))).await;

    assert_eq!(post.status, 405);
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"], "no such admin route");
}
