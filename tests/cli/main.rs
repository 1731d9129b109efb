//! The `vidmock` binary as other programs run it: its first lines and signals, the state and
//! seed files, limits and exposure, HTTPS trusted once, the README's curl recipes, the edge (an
//! empty admin token, running out of file descriptors), and the soak under mixed traffic.
//! One test binary, so the dependencies are linked once for all of them.

mod binary;
#[path = "../common/receiver.rs"]
mod receiver;

mod contract;
mod edge;
mod limits_and_exposure;
mod readme;
mod seed_file;
mod soak;
mod state_file;
mod terminal;
mod tls;
mod webhooks;
