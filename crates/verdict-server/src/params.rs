//! Query-string parameters, parsed with messages that name the parameter.

use crate::error::ApiError;
use std::collections::HashMap;
use std::str::FromStr;
use verdict_store::Page;

pub struct Params(pub HashMap<String, String>);

impl Params {
    pub fn text(&self, key: &str) -> Option<String> {
        self.0.get(key).filter(|v| !v.is_empty()).cloned()
    }

    pub fn parsed<T: FromStr>(&self, key: &str, what: &str) -> Result<Option<T>, ApiError> {
        match self.0.get(key).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| ApiError::bad_request(format!("query parameter {key}={v:?} is not {what}"))),
        }
    }

    pub fn page(&self) -> Result<Page, ApiError> {
        let page = self.parsed::<u32>("page", "a page number (1, 2, ...)")?.unwrap_or(1);
        let per_page = self.parsed::<u32>("per_page", "a page size")?.unwrap_or(50);
        if page == 0 || per_page == 0 || per_page > Page::MAX_PER_PAGE {
            return Err(ApiError::bad_request(format!("page starts at 1 and per_page is 1 to {}", Page::MAX_PER_PAGE)));
        }
        Ok(Page::new(page, per_page))
    }
}
