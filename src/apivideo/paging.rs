//! List parameters and the pagination object shared by every api.video list
//! (../shared/specs/apivideo.md §3.2).

use serde::Serialize;

use super::Problem;

/// A validated list query.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ListQuery {
    /// One of the sort fields the list allows.
    pub sort_by: Option<&'static str>,
    /// `Some(true)` for `sortOrder=desc`.
    pub descending: Option<bool>,
    pub current_page: u64,
    pub page_size: u64,
    /// Other parameters the list knows (filters), last value wins.
    pub filters: Vec<(&'static str, String)>,
}

impl ListQuery {
    /// Parses `sortBy` (one of `sort_fields`), `sortOrder`, `currentPage` (≥ 1) and `pageSize`
    /// (1..=100), plus the named `filters`; unknown parameters are ignored and repeated ones
    /// take their last value, as PHP reads query strings.
    pub(crate) fn parse(
        query: Option<&str>,
        sort_fields: &[&'static str],
        filters: &[&'static str],
    ) -> Result<Self, Problem> {
        let mut parsed = ListQuery {
            sort_by: None,
            descending: None,
            current_page: 1,
            page_size: 25,
            filters: Vec::new(),
        };
        for (name, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match name.as_ref() {
                "sortBy" => {
                    let field = sort_fields.iter().find(|f| **f == value.as_ref());
                    parsed.sort_by = Some(*field.ok_or_else(|| invalid_choice("sortBy"))?);
                }
                "sortOrder" => {
                    parsed.descending = Some(match value.as_ref() {
                        "asc" => false,
                        "desc" => true,
                        _ => return Err(invalid_choice("sortOrder")),
                    })
                }
                "currentPage" => parsed.current_page = integer("currentPage", &value, 1, None)?,
                "pageSize" => parsed.page_size = integer("pageSize", &value, 1, Some(100))?,
                other => {
                    if let Some(filter) = filters.iter().find(|f| **f == other) {
                        parsed.filters.retain(|(f, _)| f != filter);
                        parsed.filters.push((filter, value.into_owned()));
                    }
                }
            }
        }
        Ok(parsed)
    }

    pub(crate) fn filter(&self, name: &str) -> Option<&str> {
        self.filters
            .iter()
            .find(|(f, _)| *f == name)
            .map(|(_, v)| v.as_str())
    }

    /// The page asked for out of `items` (already filtered and sorted), with its pagination;
    /// `path` is the list's path as its links show it (`/upload-tokens`, `http://host/videos`).
    pub(crate) fn page<T>(&self, items: Vec<T>, path: &str) -> (Vec<T>, Pagination) {
        let items_total = items.len() as u64;
        let skip = (self.current_page - 1).saturating_mul(self.page_size);
        let data: Vec<T> = items
            .into_iter()
            .skip(usize::try_from(skip).unwrap_or(usize::MAX))
            .take(self.page_size as usize)
            .collect();
        let mut base = format!("{path}?");
        if let Some(sort_by) = self.sort_by {
            base.push_str(&format!("sortBy={sort_by}&"));
        }
        if let Some(descending) = self.descending {
            base.push_str(if descending {
                "sortOrder=desc&"
            } else {
                "sortOrder=asc&"
            });
        }
        let pagination = Pagination::new(
            &base,
            self.current_page,
            self.page_size,
            items_total,
            data.len() as u64,
        );
        (data, pagination)
    }
}

fn invalid_choice(name: &str) -> Problem {
    Problem::invalid_query_parameter(name, "The value you selected is not a valid choice.")
}

fn integer(name: &str, value: &str, min: u64, max: Option<u64>) -> Result<u64, Problem> {
    let digits = value.strip_prefix('+').unwrap_or(value);
    if let Some(magnitude) = digits.strip_prefix('-') {
        if !magnitude.is_empty() && magnitude.bytes().all(|b| b.is_ascii_digit()) {
            return Err(too_low(name, min));
        }
    }
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Problem::invalid_query_parameter(
            name,
            "This value should be of type int.",
        ));
    }
    let Ok(n) = digits.parse::<u64>() else {
        // All digits but beyond u64: as far above any maximum as a value can be.
        return Err(match max {
            Some(max) => too_high(name, max),
            None => Problem::invalid_query_parameter(name, "This value should be of type int."),
        });
    };
    if n < min {
        return Err(too_low(name, min));
    }
    match max {
        Some(max) if n > max => Err(too_high(name, max)),
        _ => Ok(n),
    }
}

fn too_low(name: &str, min: u64) -> Problem {
    Problem::invalid_query_parameter(
        name,
        format!("This value should be greater than or equal to {min}."),
    )
}

fn too_high(name: &str, max: u64) -> Problem {
    Problem::invalid_query_parameter(
        name,
        format!("This value should be less than or equal to {max}."),
    )
}

/// api.video's pagination object: links in the order self, first, previous, next, last.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Pagination {
    current_page: u64,
    current_page_items: u64,
    page_size: u64,
    pages_total: u64,
    items_total: u64,
    links: Vec<Link>,
}

#[derive(Serialize)]
pub(crate) struct Link {
    rel: &'static str,
    uri: String,
}

impl Pagination {
    fn new(
        base: &str,
        current_page: u64,
        page_size: u64,
        items_total: u64,
        current_page_items: u64,
    ) -> Self {
        // An empty list still has one (empty) page, so `first` and `last` stay valid pages.
        let pages_total = items_total.div_ceil(page_size).max(1);
        let link = |rel, page| Link {
            rel,
            uri: format!("{base}currentPage={page}&pageSize={page_size}"),
        };
        let mut links = vec![link("self", current_page), link("first", 1)];
        if current_page > 1 {
            links.push(link("previous", current_page - 1));
        }
        if current_page < pages_total {
            links.push(link("next", current_page + 1));
        }
        links.push(link("last", pages_total));
        Self {
            current_page,
            current_page_items,
            page_size,
            pages_total,
            items_total,
            links,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_numbers_accept_digits_only() {
        assert_eq!(integer("pageSize", "25", 1, Some(100)).ok(), Some(25));
        assert!(integer("pageSize", "0", 1, Some(100)).is_err());
        assert!(integer("pageSize", "101", 1, Some(100)).is_err());
        assert!(integer("pageSize", "-3", 1, Some(100)).is_err());
        assert!(integer("pageSize", "2.5", 1, Some(100)).is_err());
        assert!(integer("pageSize", "", 1, Some(100)).is_err());
        assert!(integer("currentPage", "99999999999999999999999", 1, None).is_err());
    }

    #[test]
    fn links_are_ordered_self_first_previous_next_last() {
        let p = Pagination::new("/upload-tokens?", 2, 1, 3, 1);
        let rels: Vec<_> = p.links.iter().map(|l| l.rel).collect();
        assert_eq!(rels, ["self", "first", "previous", "next", "last"]);
        assert_eq!(p.links[0].uri, "/upload-tokens?currentPage=2&pageSize=1");
        assert_eq!(p.pages_total, 3);
    }
}
