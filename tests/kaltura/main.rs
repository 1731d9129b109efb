//! Kaltura API v3 over a real socket: the front door, sessions and multirequests, the
//! `uploadToken` service and its chunk engine, the entry calls, and malformed requests.
//! One test binary, so the dependencies are linked once for all of them.

#[path = "../raw/mod.rs"]
mod raw;
#[path = "../common/receiver.rs"]
mod receiver;
mod support;

mod app_tokens;
mod bad_input;
mod bounds;
mod chunks_prop;
mod entries;
mod front_door;
mod lifecycle;
mod media;
mod notifications;
mod server_source;
mod sessions;
mod uploads;
mod widget_sessions;
