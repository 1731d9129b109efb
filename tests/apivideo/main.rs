//! api.video over a real socket: authentication, upload tokens, uploads, videos, the transport
//! rules every operation shares, the vendor's documented examples, and malformed requests.
//! One test binary, so the dependencies are linked once for all of them.

#[path = "../common/mod.rs"]
mod common;
#[path = "../raw/mod.rs"]
mod raw;
#[path = "../common/receiver.rs"]
mod receiver;

mod auth;
mod bad_input;
mod edges;
mod fixtures;
mod lifecycle;
mod tokens;
mod transport;
mod uploads;
mod video_api;
mod videos;

mod captions;
mod chapters;
mod players;
mod tags;
mod watermarks;
mod webhooks;
