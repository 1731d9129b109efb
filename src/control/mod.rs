//! The control plane: what drives a running server from outside its vendors' APIs.
//!
//! The admin API under `/__vidmock` (with the dashboard page it serves), the state and seed
//! files, and who may reach a server at all (the `Host` allow-list). It reaches the vendors only through the registry and their contract. [`Shared`], the
//! state one server's connections and its control plane work on, is defined here, so that the
//! control plane needs nothing of the server that runs it.

pub(crate) mod admin;
pub(crate) mod hosts;
pub(crate) mod persist;

use std::sync::Arc;

use crate::engine::journal::Journal;
use crate::engine::vendor::Context;
use crate::registry::Vendors;

/// State shared by every connection of one server. Each field guards its own data with a
/// `std::sync::Mutex` held only for synchronous work, never across an `.await`.
pub(crate) struct Shared {
    /// What the vendors read of the server: the clock, the ids, the base URL, the spill space.
    pub cx: Arc<Context>,
    /// The request log.
    pub journal: Journal,
    /// Mounted fault rules.
    pub faults: Arc<crate::engine::faults::Faults>,
    /// Expectations checked on drop, and strict-mode violations.
    pub expectations: Arc<crate::engine::expect::Expectations>,
    /// Whether responses carry CORS headers and preflights are answered.
    pub cors: bool,
    /// When set (never empty: the builder refuses that), admin routes require it.
    pub admin_token: Option<String>,
    /// The names, besides addresses and `localhost`, that requests may give in `Host`.
    pub allowed_hosts: hosts::AllowedHosts,
    /// The emulated vendors, reached through their contract.
    pub vendors: Vendors,
    /// With a state file: saves the state; every change is on disk before it is answered.
    pub persister: Option<Arc<persist::Persister>>,
}

impl Shared {
    /// Clears vendor state and the journal; credentials (API keys) stay.
    pub(crate) fn reset(&self) {
        self.journal.clear();
        self.faults.clear();
        self.expectations.clear();
        self.vendors.reset();
        self.cx.deliveries.clear();
        self.cx.deliveries.faults().clear();
    }
}
