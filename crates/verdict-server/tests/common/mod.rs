//! The real server on a random loopback port over a throwaway store, shared
//! by the HTTP and page tests.
#![allow(dead_code)]

use reqwest::StatusCode;
use reqwest::multipart::Form;
use serde_json::Value;
use verdict_core::SuiteSlug;
use verdict_server::{AppState, ServerConfig};
use verdict_store::testing::{Backend, TestStore};
use verdict_store::{NewSuite, RunFilter, token};

pub const MAX_BODY: usize = 1024 * 1024;
pub const MAX_INFLATED: usize = 8 * 1024 * 1024;
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

pub struct Server {
    pub url: String,
    pub token: String,
    pub suite_id: i64,
    pub http: reqwest::Client,
    pub store: TestStore,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, None).await
    }

    pub async fn start_with(backend: Backend, read_token: Option<&str>) -> Self {
        Self::start_config(backend, |c| c.read_token = read_token.map(Into::into)).await
    }

    pub async fn start_config(backend: Backend, adjust: impl FnOnce(&mut ServerConfig)) -> Self {
        Self::boot(backend, true, adjust).await
    }

    /// A server over a store without any suite.
    pub async fn start_empty(backend: Backend) -> Self {
        Self::boot(backend, false, |_| {}).await
    }

    async fn boot(backend: Backend, with_suite: bool, adjust: impl FnOnce(&mut ServerConfig)) -> Self {
        let store = TestStore::new(backend).await;
        let token = token::generate();
        let suite_id = if with_suite { create(&store, "web", "Web", &token).await } else { 0 };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mut config = ServerConfig {
            public_url: url.clone(),
            max_body_bytes: MAX_BODY,
            max_decompressed_bytes: MAX_INFLATED,
            body_timeout: BODY_TIMEOUT,
            pytest_monitor_suite: Some("web".into()),
            ..ServerConfig::default()
        };
        adjust(&mut config);
        let state = AppState::new(store.store.clone(), config);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            verdict_server::serve(listener, state, async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        Server { url, token, suite_id, http: reqwest::Client::new(), store, stop: Some(stop), task }
    }

    /// Another suite; its upload token.
    pub async fn create_other_suite(&self, slug: &str) -> String {
        let token = token::generate();
        create(&self.store, slug, slug, &token).await;
        token
    }

    /// A JSON upload with another suite's token.
    pub async fn post_json_with(&self, token: &str, body: &Value) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}/v1/uploads", self.url))
            .header("Authorization", format!("Token token=\"{token}\""))
            .json(body)
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap())
    }

    pub async fn finish(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap();
        self.store.cleanup().await;
    }

    pub fn auth(&self) -> String {
        format!("Token token=\"{}\"", self.token)
    }

    pub async fn post_json(&self, body: &Value) -> (StatusCode, Value) {
        let r = self.http.post(format!("{}/v1/uploads", self.url)).header("Authorization", self.auth()).json(body).send().await.unwrap();
        (r.status(), r.json().await.unwrap())
    }

    pub async fn post_raw(&self, headers: &[(&str, String)], body: Vec<u8>) -> (StatusCode, Value) {
        let mut req = self.http.post(format!("{}/v1/uploads", self.url)).body(body);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_form(&self, form: Form) -> (StatusCode, Value) {
        let r =
            self.http.post(format!("{}/v1/uploads", self.url)).header("Authorization", self.auth()).multipart(form).send().await.unwrap();
        (r.status(), r.json().await.unwrap())
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self.http.get(format!("{}{path}", self.url)).send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_metrics(&self, run_id: &Value, token: &str, body: &Value) -> (StatusCode, Value) {
        let run_id = run_id.as_str().map_or_else(|| run_id.to_string(), str::to_owned);
        let url = format!("{}/api/v1/runs/{run_id}/metrics", self.url);
        let r = self.http.post(url).header("Authorization", format!("Token token=\"{token}\"")).json(body).send().await.unwrap();
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    pub async fn runs_stored(&self) -> usize {
        self.store.store.runs(self.suite_id, &RunFilter::default()).await.unwrap().len()
    }
}

async fn create(store: &TestStore, slug: &str, name: &str, token: &str) -> i64 {
    let suite = NewSuite {
        slug: SuiteSlug::parse(slug).unwrap(),
        name: name.into(),
        default_branch: "main".into(),
        token_hash: token::hash(token),
    };
    store.store.create_suite(suite).await.unwrap().id
}

/// A webhook receiver on a loopback port: it keeps every request (path,
/// headers, body) and answers each path from a script (then 200).
pub struct Receiver {
    pub url: String,
    pub got: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
    pub at: std::time::Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> String {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

impl Receiver {
    /// `script`: per path, the statuses of its first answers.
    pub async fn start(script: &[(&str, &[u16])]) -> Self {
        use std::collections::{HashMap, VecDeque};
        use std::sync::{Arc, Mutex};
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let answers: Arc<Mutex<HashMap<String, VecDeque<u16>>>> =
            Arc::new(Mutex::new(script.iter().map(|(p, s)| ((*p).to_owned(), s.iter().copied().collect())).collect()));
        let (g, a) = (got.clone(), answers.clone());
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let (g, a) = (g.clone(), a.clone());
            async move {
                let (parts, body) = req.into_parts();
                let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default().to_vec();
                let path = parts.uri.path().to_owned();
                let status = a.lock().unwrap().get_mut(&path).and_then(VecDeque::pop_front).unwrap_or(200);
                g.lock().unwrap().push(Received { path, headers: parts.headers, body, at: std::time::Instant::now() });
                (axum::http::StatusCode::from_u16(status).unwrap(), "thanks")
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { url, got, task }
    }

    /// The requests to `path` so far.
    pub fn at(&self, path: &str) -> Vec<Received> {
        self.got.lock().unwrap().iter().filter(|r| r.path == path).cloned().collect()
    }

    /// Wait (up to `secs`) until `path` has had `n` requests.
    pub async fn wait_for(&self, path: &str, n: usize, secs: u64) -> Vec<Received> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let got = self.at(path);
            if got.len() >= n || std::time::Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
