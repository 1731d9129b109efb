//! `GET /tags`, the list filters of `GET /videos`, and discarded videos, over a real socket.

use crate::video_api::*;
use serde_json::json;
use vidmock::MockServer;

#[tokio::test]
async fn tags_are_listed_with_their_video_counts_and_searched_without_case_or_accents() {
    let server = MockServer::start().await;
    video(
        &server,
        json!({"title": "1", "tags": ["maths", "Économie"]}),
    )
    .await;
    video(&server, json!({"title": "2", "tags": ["maths"]})).await;

    let listed = get(&server, "/tags?sortBy=videoCount&sortOrder=desc").await;
    let searched = get(&server, "/tags?value=ECO").await;

    insta::assert_json_snapshot!("tag_list", redacted(&server, &listed));
    assert_eq!(values(&searched.json(), "value"), ["Économie"]);
}

#[tokio::test]
async fn videos_are_filtered_by_every_tag_and_metadata_pair_given() {
    let server = MockServer::start().await;
    let both = video(&server, json!({"title": "Maths video", "description": "strings", "tags": ["tag1", "tag2"], "metadata": [{"key": "Author", "value": "John Doe"}]})).await;
    let one = video(&server, json!({"title": "Physics", "tags": ["tag1"]})).await;

    let ids = |answer: crate::common::Answer| values(&answer.json(), "videoId");
    let only_both = vec![both.clone()];
    assert_eq!(
        ids(get(&server, "/videos?tags%5B%5D=tag1").await),
        [both.clone(), one.clone()]
    );
    assert_eq!(
        ids(get(&server, "/videos?tags[]=tag1&tags[]=tag2").await),
        only_both
    );
    assert_eq!(
        ids(get(&server, "/videos?metadata%5BAuthor%5D=John%20Doe").await),
        only_both
    );
    assert_eq!(
        ids(get(&server, "/videos?metadata[Author]=Jane").await),
        Vec::<String>::new()
    );
    assert_eq!(ids(get(&server, "/videos?title=Maths").await), only_both);
    assert_eq!(
        ids(get(&server, "/videos?description=string").await),
        [both]
    );
    assert_eq!(
        ids(get(&server, "/videos?liveStreamId=li1").await),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_project_without_video_restore_has_no_discarded_videos() {
    let server = MockServer::start().await;
    let id = video(&server, json!({"title": "gone"})).await;
    delete(&server, &format!("/videos/{id}")).await;

    let listed = get(&server, "/discarded/videos").await;
    let got = get(&server, &format!("/discarded/videos/{id}")).await;
    let restore = patch_json(
        &server,
        &format!("/discarded/videos/{id}"),
        json!({"discarded": true}),
    )
    .await;

    insta::assert_json_snapshot!("discarded_list", redacted(&server, &listed));
    assert_eq!(got.status, 404);
    assert_eq!(restore.json()["detail"], "Value must be false.");
}

#[tokio::test]
async fn the_journal_names_the_new_operations_from_the_route_table() {
    let server = MockServer::start().await;
    let id = video(&server, json!({"title": "t"})).await;

    get(&server, &format!("/videos/{id}/captions")).await;
    get(&server, "/tags").await;

    assert_eq!(
        server.received(vidmock::apivideo::op("listCaptions")).len(),
        1
    );
    assert_eq!(server.received(vidmock::apivideo::op("listTags")).len(), 1);
}
