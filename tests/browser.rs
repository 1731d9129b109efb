//! Real browser uploaders in headless Chromium against the `vidmock` binary over HTTPS (see
//! tests/browser/run.sh): `@api.video/video-uploader` sends a 12 MiB file in 5 MiB chunks, and a
//! page sends a 12 MiB file in 2 MiB chunks the way Kaltura's browser client's parallel upload
//! adapter does (chunk 0 alone, then the rest together); the test checks each upload's sha256
//! through the admin API and in the dashboard's DOM. A page of another origin then tries to
//! read and change the admin API, and a page reaching the mock through a rebound name tries
//! every route: both are refused. An uploaded MP4 plays: the player page's `<video>` loads the
//! `mp4` asset to `readyState` 2 or more with the file's duration, and the thumbnail decodes as
//! an image. Last, the dashboard's controls, request detail, errors filter and download are
//! driven at 1280 px and checked through the admin API.
//!
//! Without Debian's Chromium at /usr/bin/chromium the run is skipped (loudly) and passes,
//! unless `VIDMOCK_REQUIRE_BROWSER=1`, as in CI, where it fails.

use std::process::Command;

#[test]
fn the_browser_uploader_uploads_through_tls_and_the_dashboard_shows_the_result() {
    let root = env!("CARGO_MANIFEST_DIR");

    let status = Command::new("bash")
        .arg(format!("{root}/tests/browser/run.sh"))
        .arg(env!("CARGO_BIN_EXE_vidmock"))
        .current_dir(root)
        .status()
        .expect("bash runs");

    assert!(
        status.success(),
        "the browser test failed; see its output above and target/browser/runs/"
    );
}
