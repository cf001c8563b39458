//! Keyset pagination: lists are ordered by id (UUIDv7, so creation order) and a page
//! starts after the last id of the one before. Unlike OFFSET, a page stays stable while
//! rows are added elsewhere and costs the same deep in the list as at its start.

use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// Start after this id; `None` for the first page.
    pub after: Option<Uuid>,
    pub limit: u32,
}

impl PageRequest {
    pub const DEFAULT_LIMIT: u32 = 50;
    pub const MAX_LIMIT: u32 = 200;

    pub fn first(limit: u32) -> PageRequest {
        PageRequest { after: None, limit }
    }

    /// Rows to fetch: one more than the page, to learn whether another page follows.
    pub(crate) fn fetch_limit(&self) -> u64 {
        u64::from(self.limit) + 1
    }
}

/// One page of rows, the total matching the filter, and the cursor of the next page.
#[derive(Debug, Clone)]
pub struct PageOf<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub next: Option<Uuid>,
}

impl<T> PageOf<T> {
    /// Trims the look-ahead row and derives the next cursor from the last kept row.
    pub(crate) fn from_lookahead(
        mut rows: Vec<T>,
        request: PageRequest,
        total: u64,
        id_of: impl Fn(&T) -> Uuid,
    ) -> PageOf<T> {
        let more = rows.len() > request.limit as usize;
        rows.truncate(request.limit as usize);
        let next = if more { rows.last().map(id_of) } else { None };
        PageOf {
            items: rows,
            total,
            next,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> PageOf<U> {
        PageOf {
            items: self.items.into_iter().map(f).collect(),
            total: self.total,
            next: self.next,
        }
    }
}
