//! The control plane: what drives a running server from outside its vendors' APIs.
//!
//! The admin API under `/__vidmock` (with the dashboard page it serves) and the state and seed
//! files. It reaches the vendors only through the registry and their contract.

pub(crate) mod admin;
pub(crate) mod persist;
