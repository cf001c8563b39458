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

/// Which way a list runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Oldest first (registry lists).
    Ascending,
    /// Newest first (matters).
    Descending,
}

impl PageRequest {
    /// Pages a set of matching ids in memory: sorts them in `direction`, and returns how
    /// many there are and the ids of this page plus the look-ahead one. Used where a
    /// search reads only the ids of its matches and then the page's rows by id.
    pub(crate) fn slice_ids(&self, ids: Vec<Uuid>, direction: Direction) -> (u64, Vec<Uuid>) {
        self.slice_keyed(ids, |id| *id, direction)
    }

    /// [`PageRequest::slice_ids`] for matches that carry more than their id (e.g. the
    /// SQLite rowid to read the page by).
    pub(crate) fn slice_keyed<T>(
        &self,
        mut items: Vec<T>,
        id: impl Fn(&T) -> Uuid,
        direction: Direction,
    ) -> (u64, Vec<T>) {
        let start = match direction {
            Direction::Ascending => {
                items.sort_unstable_by_key(|t| id(t));
                self.after
                    .map_or(0, |after| items.partition_point(|t| id(t) <= after))
            }
            Direction::Descending => {
                items.sort_unstable_by_key(|t| std::cmp::Reverse(id(t)));
                self.after
                    .map_or(0, |after| items.partition_point(|t| id(t) >= after))
            }
        };
        let total = items.len() as u64;
        let wanted = items
            .into_iter()
            .skip(start)
            .take(self.fetch_limit() as usize)
            .collect();
        (total, wanted)
    }
}

/// One page of rows, the total matching the filter, and the cursor of the next page.
#[derive(Debug, Clone)]
pub struct PageOf<T> {
    pub items: Vec<T>,
    pub total: u64,
    /// `total` is a floor, not a count: there are more matches than it, and counting
    /// stopped there (text searches, where an exact count of a common word costs more
    /// than the page itself).
    pub total_capped: bool,
    pub next: Option<Uuid>,
}

impl<T> PageOf<T> {
    /// No rows (a filter that leaves nothing to see).
    pub fn empty() -> PageOf<T> {
        PageOf {
            items: Vec::new(),
            total: 0,
            total_capped: false,
            next: None,
        }
    }

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
            total_capped: false,
            next,
        }
    }

    /// The same page with `total` stated as a floor when `capped` (see
    /// [`PageOf::total_capped`]).
    pub(crate) fn capped_if(mut self, capped: bool) -> PageOf<T> {
        self.total_capped = capped;
        self
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> PageOf<U> {
        PageOf {
            items: self.items.into_iter().map(f).collect(),
            total: self.total,
            total_capped: self.total_capped,
            next: self.next,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_page_after_the_cursor_in_either_direction() {
        let ids: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
        let first = PageRequest::first(2);
        let (total, page) = first.slice_ids(ids.clone(), Direction::Ascending);
        assert_eq!(
            (total, page),
            (5, ids[0..3].to_vec()),
            "two and the look-ahead"
        );
        let next = PageRequest {
            after: Some(ids[1]),
            limit: 2,
        };
        assert_eq!(
            next.slice_ids(ids.clone(), Direction::Ascending).1,
            ids[2..5].to_vec()
        );
        let newest = PageRequest {
            after: Some(ids[3]),
            limit: 2,
        };
        assert_eq!(
            newest.slice_ids(ids.clone(), Direction::Descending).1,
            vec![ids[2], ids[1], ids[0]]
        );
    }
}
