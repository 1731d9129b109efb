//! Per-minute request budgets, per project and per class, measured on the server's clock.
//!
//! The vendor announces its budget on every response (`X-RateLimit-*`), so clients and tests can
//! observe it; the windows are whole clock minutes, so advancing the clock refills them.

use http::{HeaderMap, HeaderName, HeaderValue};
use time::OffsetDateTime;

use super::routes::Class;

/// Requests per minute allowed for each class of api.video operation.
///
/// # Example
///
/// ```
/// use vidmock::apivideo::RateLimits;
/// assert_eq!(RateLimits::SANDBOX.writes, 40);
/// let tight = RateLimits { reads: 2, ..RateLimits::default() };
/// assert_eq!(tight.reads, 2);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// GET requests.
    pub reads: u32,
    /// POST, PATCH and DELETE requests other than uploads.
    pub writes: u32,
    /// Upload requests (`/upload`, `/videos/{id}/source`).
    pub uploads: u32,
}

impl RateLimits {
    /// The vendor's sandbox budgets.
    pub const SANDBOX: RateLimits = RateLimits {
        reads: 100,
        writes: 40,
        uploads: 40,
    };
    /// The vendor's production budgets.
    pub const PRODUCTION: RateLimits = RateLimits {
        reads: 500,
        writes: 200,
        uploads: 100,
    };
    /// vidmock's default: high enough that no ordinary test meets it.
    pub const GENEROUS: RateLimits = RateLimits {
        reads: 100_000,
        writes: 100_000,
        uploads: 100_000,
    };

    fn of(&self, class: Class) -> u32 {
        match class {
            Class::Read | Class::Exempt => self.reads,
            Class::Write => self.writes,
            Class::Upload => self.uploads,
        }
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        Self::GENEROUS
    }
}

/// What the `X-RateLimit-*` headers of one response say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RateInfo {
    pub limit: u32,
    pub remaining: u32,
    pub retry_after: u32,
}

impl RateInfo {
    /// The headers for a request that counts against no project's budget.
    pub(crate) fn untouched(limits: &RateLimits, class: Class, now: OffsetDateTime) -> Self {
        let limit = limits.of(class);
        Self {
            limit,
            remaining: limit,
            retry_after: seconds_to_next_minute(now),
        }
    }

    pub(crate) fn apply(&self, headers: &mut HeaderMap) {
        // Names made once, at compile time, rather than parsed from a string on every answer.
        const LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
        const REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
        const RETRY_AFTER: HeaderName = HeaderName::from_static("x-ratelimit-retry-after");
        headers.insert(LIMIT, HeaderValue::from(self.limit));
        headers.insert(REMAINING, HeaderValue::from(self.remaining));
        headers.insert(RETRY_AFTER, HeaderValue::from(self.retry_after));
    }
}

/// One project's use of each class in the current minute.
#[derive(Clone, Debug, Default)]
pub(crate) struct Budget {
    /// (minute since the epoch, requests counted in it) for reads, writes, uploads.
    windows: [(i64, u32); 3],
}

impl Budget {
    /// Counts one request; `Err` (with the headers to send) when the budget is spent.
    pub(crate) fn take(
        &mut self,
        limits: &RateLimits,
        class: Class,
        now: OffsetDateTime,
    ) -> Result<RateInfo, RateInfo> {
        let limit = limits.of(class);
        let minute = now.unix_timestamp().div_euclid(60);
        let window = &mut self.windows[match class {
            Class::Read | Class::Exempt => 0,
            Class::Write => 1,
            Class::Upload => 2,
        }];
        if window.0 != minute {
            *window = (minute, 0);
        }
        let retry_after = seconds_to_next_minute(now);
        if window.1 >= limit {
            return Err(RateInfo {
                limit,
                remaining: 0,
                retry_after,
            });
        }
        window.1 += 1;
        Ok(RateInfo {
            limit,
            remaining: limit - window.1,
            retry_after,
        })
    }
}

fn seconds_to_next_minute(now: OffsetDateTime) -> u32 {
    (60 - now.unix_timestamp().rem_euclid(60)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_refills_when_the_minute_changes() {
        let limits = RateLimits {
            reads: 1,
            ..RateLimits::GENEROUS
        };
        let t0 = time::macros::datetime!(2024-01-01 00:00:10 UTC);
        let mut budget = Budget::default();
        assert_eq!(
            budget.take(&limits, Class::Read, t0).map(|i| i.remaining),
            Ok(0)
        );
        let refused = budget.take(&limits, Class::Read, t0).unwrap_err();
        assert_eq!(refused.retry_after, 50);
        assert!(budget
            .take(&limits, Class::Read, t0 + time::Duration::seconds(50))
            .is_ok());
    }
}
