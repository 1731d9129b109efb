//! The vendor-neutral engine: what every emulated vendor shares and none of them names.
//!
//! The clock every expiry reads, the id generator, the request journal, faults and
//! expectations with their matchers, outbound deliveries, the HTTP body type, the library's error type, and the
//! contract the vendors implement. Nothing here imports a vendor, the server or the control
//! plane, so a change to a vendor's wire format never reaches it.

pub(crate) mod body;
pub(crate) mod clock;
pub(crate) mod connection;
pub(crate) mod deliveries;
pub(crate) mod error;
pub(crate) mod expect;
pub(crate) mod faults;
#[cfg(feature = "fuzzing")]
pub(crate) mod fuzz;
pub(crate) mod hex;
pub(crate) mod ids;
pub(crate) mod journal;
pub mod matchers;
pub(crate) mod tracked;
pub(crate) mod vendor;
