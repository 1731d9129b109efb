//! `KalturaFilterPager`, read and applied the same way by every list action, so that a new list
//! gets the server's defaults and limits without restating them.

use super::error::ApiError;
use super::params::Args;

/// `KalturaFilterPager::$pageSize`'s default.
const DEFAULT_PAGE_SIZE: i64 = 30;
/// `KalturaFilterPager::MAX_PAGE_SIZE`.
const MAX_PAGE_SIZE: i64 = 500;

/// Which page of a list to answer. A page size of 0 answers every match.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pager {
    size: usize,
    index: usize,
}

impl Pager {
    /// The `pager` argument, clamped as the server clamps it: the size to 0..=500 (30 when
    /// absent), the index to 1 or more.
    pub(crate) fn read(args: &Args<'_>) -> Result<Self, ApiError> {
        let (mut size, mut index) = (DEFAULT_PAGE_SIZE, 1);
        if let Some(pager) = args.object("pager")? {
            size = pager.int("pageSize").unwrap_or(DEFAULT_PAGE_SIZE);
            index = pager.int("pageIndex").unwrap_or(1);
        }
        Ok(Self {
            size: usize::try_from(size.clamp(0, MAX_PAGE_SIZE)).unwrap_or(0),
            index: usize::try_from(index.max(1)).unwrap_or(1),
        })
    }

    /// The page of `matched` this pager asks for.
    pub(crate) fn page<T>(&self, matched: Vec<T>) -> Vec<T> {
        if self.size == 0 {
            return matched;
        }
        let skip = (self.index - 1).saturating_mul(self.size);
        matched.into_iter().skip(skip).take(self.size).collect()
    }
}
