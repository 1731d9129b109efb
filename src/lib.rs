//! # vidmock
//!
//! A mock of the upload-token APIs of two video platforms — **api.video** (Upload Tokens,
//! delegated uploads, the auth and video calls around them) and **Kaltura** (API v3
//! `uploadToken`) — built so that code integrating with them can be tested without the network,
//! without accounts, and with failures on demand. Official clients are the judge of fidelity:
//! the same status codes, media types, field names and error shapes as the vendors. Where the
//! vendors' documentation is silent, the choice made is listed in `FIDELITY.md`.
//!
//! ## Getting started
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let server = vidmock::MockServer::start().await;
//!
//! // Point a client at `server.uri()` with the default project's API key.
//! let client = reqwest::Client::new();
//! let token: serde_json::Value = client
//!     .post(format!("{}/upload-tokens", server.uri()))
//!     .basic_auth(server.apivideo().api_key(), Some(""))
//!     .json(&serde_json::json!({ "ttl": 3600 }))
//!     .send()
//!     .await
//!     .unwrap()
//!     .json()
//!     .await
//!     .unwrap();
//!
//! // Assert on state…
//! let id = token["token"].as_str().unwrap();
//! assert!(server.apivideo().token(id).is_some());
//! // …move time instead of sleeping…
//! server.clock().advance(std::time::Duration::from_secs(3601));
//! assert!(server.apivideo().token(id).is_none());
//! // …and look at what the client sent.
//! assert_eq!(server.received(vidmock::apivideo::op("createToken")).len(), 1);
//! # }
//! ```
//!
//! ## Webhooks
//!
//! Events a vendor sends (api.video's `video.encoding.quality.completed` to its webhooks) are
//! real signed HTTP POSTs to the URL registered, due on the server's clock:
//! [`MockServer::deliveries`] records each with every attempt, scripts faults on them
//! ([`Fault::drop_delivery`], [`Fault::duplicate`], [`Fault::reorder`],
//! [`Fault::bad_signature`], [`Fault::delay`]), replays one, and expects them.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let server = vidmock::MockServer::start().await;
//! server.clock().advance(std::time::Duration::from_secs(3));
//! server.deliveries().settled().await; // what fell due has been sent
//! assert!(server.deliveries().all().is_empty()); // nobody registered a webhook
//! # }
//! ```
//!
//! ## Standalone
//!
//! The `vidmock` binary (feature `cli`) serves the same engine for frontend developers and for
//! test suites in other languages, with an admin API under `/__vidmock`.

#![warn(missing_docs)]
// On docs.rs, items behind a feature say which one.
#![cfg_attr(docsrs, feature(doc_cfg))]
// The engine serves every vendor; a build with one vendor leaves what only the other uses
// unused. Dead code is still an error in the full build, where every caller exists.
#![cfg_attr(
    not(all(feature = "apivideo", feature = "kaltura")),
    allow(dead_code, unused_imports)
)]

// The layers, each using only those below it: the server (facade, builder, the pipeline,
// connections, TLS); the control plane (admin API, dashboard, state and seed files); the
// registry, which lists the vendors; the vendors; the engine (clock, ids, journal, faults,
// expectations, matchers, outbound deliveries, the vendor contract) and upload storage.
mod control;
mod engine;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(any(feature = "apivideo", feature = "kaltura"))]
pub mod media;
mod registry;
mod server;
mod upload;

#[cfg(feature = "apivideo")]
pub mod apivideo;
#[cfg(feature = "kaltura")]
pub mod kaltura;

#[doc(inline)]
pub use engine::matchers;

pub use engine::clock::Clock;
pub use engine::deliveries::{
    Deliveries, Delivery, DeliveryAttempt, DeliveryExpectationBuilder, DeliveryStatus, RetryPolicy,
};
pub use engine::error::{Document, Error};
pub use engine::expect::{ExpectationBuilder, Times};
pub use engine::faults::{
    Action, Fault, FaultBuilder, FaultGuard, MountedFault, StatusFault, VendorFault,
};
pub use engine::journal::RecordedRequest;
pub use engine::vendor::Vendor;
#[cfg(feature = "tls")]
pub use server::LocalCa;
pub use server::{MockServer, MockServerBuilder};
pub use upload::Retention;

pub use engine::matchers::{Match, Request};

/// wiremock-rs (with the `wiremock` feature), whose matchers work wherever vidmock takes one
/// through [`matchers::wiremock()`].
///
/// # Example
///
/// ```
/// use vidmock::matchers::wiremock;
/// use vidmock::wiremock::matchers::method;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = vidmock::MockServer::start().await;
/// reqwest::get(format!("{}/upload-tokens", server.uri())).await.unwrap();
///
/// assert_eq!(server.received(wiremock(method("GET"))).len(), 1);
/// # }
/// ```
#[cfg(feature = "wiremock")]
pub use wiremock;

/// The README's Rust snippets, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
