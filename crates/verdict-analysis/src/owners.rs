//! Owners as the API, the pages and the CLI use them: uploading a suite's
//! owners file, resolving a test's owners, and the `owner=` filter of the
//! tests, flaky and clusters lists.

use crate::AnalysisError;
use serde::Serialize;
use std::collections::HashSet;
use std::sync::Arc;
use verdict_core::owners::{LineProblem, OwnersError, OwnersFile, test_path};
use verdict_store::owners::{StoredOwners, parsed};
use verdict_store::views::{Test, TestStats};
use verdict_store::{Store, StoreError, TestFilter};

/// What an upload answers: the version kept, the lines used, the lines left out.
#[derive(Debug, Clone, Serialize)]
pub struct Uploaded {
    pub suite: String,
    pub version: i64,
    pub rules: usize,
    pub problems: Vec<LineProblem>,
}

/// Keep `bytes` as the suite's owners file (it replaces the last one).
pub async fn upload(store: &dyn Store, suite: &verdict_store::Suite, bytes: &[u8], by: &str, now_ms: i64) -> Result<Uploaded, UploadError> {
    let file = OwnersFile::parse(bytes).map_err(UploadError::Invalid)?;
    // Parsing proved it UTF-8.
    let text = String::from_utf8_lossy(bytes);
    let version = store.owners().set_owners_file(suite.id, &text, by, now_ms).await?;
    Ok(Uploaded { suite: suite.slug.clone(), version, rules: file.rules(), problems: file.problems })
}

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("{0}")]
    Invalid(OwnersError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A suite's owners file and what it says, as `GET …/owners` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct OwnersView {
    #[serde(flatten)]
    pub stored: StoredOwners,
    pub rules: usize,
    pub problems: Vec<LineProblem>,
}

pub async fn owners_view(store: &dyn Store, suite_id: i64) -> Result<Option<OwnersView>, AnalysisError> {
    Ok(store.owners().owners_file(suite_id).await?.map(|stored| {
        let file = parsed(&stored);
        OwnersView { rules: file.rules(), problems: file.problems.clone(), stored }
    }))
}

/// A suite's owners, resolved from its current file (none: nobody owns anything).
#[derive(Clone, Default)]
pub struct Owners(Option<Arc<OwnersFile>>);

impl Owners {
    pub async fn of_suite(store: &dyn Store, suite_id: i64) -> Result<Owners, StoreError> {
        Ok(Owners(store.owners().owners_file(suite_id).await?.map(|f| parsed(&f))))
    }

    /// Whether the suite has no owners file.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// Every owner of the tests (`file_name`, `location`), each once, in their order.
    pub fn of_all<'a>(&self, tests: impl IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>) -> Vec<String> {
        match &self.0 {
            Some(f) => f.owners_of_all(tests.into_iter().filter_map(|(file, location)| test_path(file, location))),
            None => Vec::new(),
        }
    }

    /// A test's owners (first = primary).
    pub fn of(&self, file_name: Option<&str>, location: Option<&str>) -> Vec<String> {
        match (&self.0, test_path(file_name, location)) {
            (Some(f), Some(path)) => f.owners_of(path).to_vec(),
            _ => Vec::new(),
        }
    }
}

/// `owner=team-a,!team-b`: tests owned by any listed owner and by none of the `!` ones.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OwnerFilter {
    pub any_of: Vec<String>,
    pub none_of: Vec<String>,
}

impl OwnerFilter {
    /// None for an absent or empty parameter.
    pub fn parse(raw: Option<&str>) -> Result<Option<OwnerFilter>, String> {
        let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else { return Ok(None) };
        let mut f = OwnerFilter::default();
        for part in raw.split(',').map(str::trim) {
            if part.is_empty() {
                return Err(format!("owner: an empty name in {raw:?}"));
            }
            match part.strip_prefix('!') {
                Some("") => return Err(format!("owner: `!` with no name in {raw:?}")),
                Some(name) => f.none_of.push(name.to_owned()),
                None => f.any_of.push(part.to_owned()),
            }
        }
        Ok(Some(f))
    }

    pub fn takes(&self, owners: &[String]) -> bool {
        (self.any_of.is_empty() || owners.iter().any(|o| self.any_of.contains(o))) && !owners.iter().any(|o| self.none_of.contains(o))
    }
}

/// The suite's tests the filter takes (the store filters its lists and pages by these).
pub async fn tests_owned(store: &dyn Store, suite_id: i64, filter: &OwnerFilter) -> Result<Vec<i64>, StoreError> {
    let owners = Owners::of_suite(store, suite_id).await?;
    let tests = store.owners().test_paths(suite_id).await?;
    let ids: HashSet<i64> =
        tests.iter().filter(|t| filter.takes(&owners.of(t.file_name.as_deref(), t.location.as_deref()))).map(|t| t.id).collect();
    let mut ids: Vec<i64> = ids.into_iter().collect();
    ids.sort_unstable();
    Ok(ids)
}

/// A test with its owners.
#[derive(Debug, Clone, Serialize)]
pub struct Owned<T: Serialize> {
    #[serde(flatten)]
    pub item: T,
    pub owners: Vec<String>,
}

/// The tests list (`GET /api/v1/suites/{slug}/tests`): a page of tests with
/// their owners; with an owner filter, the page is of the tests it takes.
pub async fn tests_list(
    store: &dyn Store,
    suite_id: i64,
    mut filter: TestFilter,
    owner: Option<&OwnerFilter>,
) -> Result<Vec<Owned<TestStats>>, StoreError> {
    if let Some(f) = owner {
        filter.only = Some(tests_owned(store, suite_id, f).await?);
    }
    let (tests, owners) = tokio::try_join!(store.tests(suite_id, &filter), Owners::of_suite(store, suite_id))?;
    Ok(tests
        .into_iter()
        .map(|t| {
            let owners = owners.of(t.test.file_name.as_deref(), t.test.location.as_deref());
            Owned { item: t, owners }
        })
        .collect())
}

/// One test with its owners (`GET /api/v1/tests/{id}`, the test page).
pub async fn test_with_owners(store: &dyn Store, test: Test) -> Result<Owned<Test>, StoreError> {
    let owners = Owners::of_suite(store, test.suite_id).await?.of(test.file_name.as_deref(), test.location.as_deref());
    Ok(Owned { item: test, owners })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_filters_take_any_listed_and_none_excluded() {
        let f = OwnerFilter::parse(Some("payments, @ruby,!billing")).unwrap().unwrap();
        assert_eq!(f.any_of, ["payments", "@ruby"]);
        assert_eq!(f.none_of, ["billing"]);
        let own = |o: &[&str]| o.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(f.takes(&own(&["payments"])));
        assert!(!f.takes(&own(&["payments", "billing"])));
        assert!(!f.takes(&own(&["@all"])));
        assert!(!f.takes(&[]));
        let only_not = OwnerFilter::parse(Some("!billing")).unwrap().unwrap();
        assert!(only_not.takes(&[]) && only_not.takes(&own(&["x"])) && !only_not.takes(&own(&["billing"])));
        assert_eq!(OwnerFilter::parse(Some("  ")).unwrap(), None);
        assert!(OwnerFilter::parse(Some("a,,b")).is_err());
        assert!(OwnerFilter::parse(Some("!")).is_err());
    }
}
