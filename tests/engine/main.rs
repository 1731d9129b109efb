//! What both vendors share, over a real socket: the journal, faults, expectations, the admin
//! API and dashboard, CORS, TLS, the edge (origins, hosts, connections that stall), many clients
//! at once, and servers starting and stopping.
//! One test binary, so the dependencies are linked once for all of them.

#[path = "../common/mod.rs"]
mod common;

mod admin;
mod admin_faults;
mod concurrency;
mod cors_and_admin_token;
mod dashboard;
mod edge;
mod expectations;
mod faults;
mod journal;
mod layers;
mod server_lifecycle;
mod start_errors;
mod tls;
