//! Suites found by upload token or slug, remembered for a second. The
//! pytest-monitor client sends one request per test, and looking the suite up
//! in the store for each cost more than storing the sample (a read
//! transaction on another thread). A rotated token keeps working for at most
//! `TTL` on a node that had just seen it; an unknown token is never cached, so
//! a new suite or token works at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use verdict_store::Suite;

pub const TTL: Duration = Duration::from_secs(1);

/// What a suite was looked up by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SuiteKey {
    TokenHash(String),
    Slug(String),
}

#[derive(Default)]
pub struct SuiteCache {
    found: Mutex<HashMap<SuiteKey, (Suite, Instant)>>,
}

impl SuiteCache {
    pub fn get(&self, key: &SuiteKey) -> Option<Suite> {
        let found = self.found.lock().expect("suite cache");
        found.get(key).filter(|(_, at)| at.elapsed() < TTL).map(|(suite, _)| suite.clone())
    }

    pub fn put(&self, key: SuiteKey, suite: Suite) {
        let mut found = self.found.lock().expect("suite cache");
        // Tokens that are no longer used must not pile up.
        found.retain(|_, (_, at)| at.elapsed() < TTL);
        found.insert(key, (suite, Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire() {
        let cache = SuiteCache::default();
        let suite = Suite {
            id: 7,
            slug: "web".into(),
            name: "web".into(),
            default_branch: "main".into(),
            created_at: chrono::Utc::now(),
            commit_url: None,
            file_url: None,
        };
        let key = SuiteKey::TokenHash("h".into());
        assert!(cache.get(&key).is_none());
        cache.put(key.clone(), suite);
        assert_eq!(cache.get(&key).map(|s| s.id), Some(7));
        assert!(cache.get(&SuiteKey::Slug("h".into())).is_none(), "keys of another kind are apart");
        cache.found.lock().unwrap().get_mut(&key).unwrap().1 -= TTL;
        assert!(cache.get(&key).is_none(), "an entry older than the TTL is not used");
    }
}
