use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use verdict_store::StoreError;

/// Every error leaves as `{"message": ...}` with a status that says whose
/// problem it is.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }
    pub fn bad_request(m: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, m)
    }
    pub fn unauthorized(m: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, m)
    }
    pub fn forbidden(m: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, m)
    }
    pub fn not_found(m: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, m)
    }
    pub fn too_large(m: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, m)
    }
    pub fn unprocessable(m: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, m)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => Self::not_found(m),
            StoreError::Conflict(m) => Self::new(StatusCode::CONFLICT, m),
            StoreError::Closed => Self::new(StatusCode::SERVICE_UNAVAILABLE, "the server is shutting down"),
            // The detail (SQL, SQLSTATE, index names) goes to the log, not to the client.
            StoreError::Database(m) => {
                tracing::error!(error = %m, "store error");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error: the database failed (the server log has the details)")
            }
        }
    }
}

impl From<verdict_analysis::AnalysisError> for ApiError {
    fn from(e: verdict_analysis::AnalysisError) -> Self {
        match e {
            verdict_analysis::AnalysisError::NotFound(m) => Self::not_found(m),
            verdict_analysis::AnalysisError::Invalid(m) => Self::bad_request(m),
            verdict_analysis::AnalysisError::Store(e) => e.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(serde_json::json!({"message": self.message}))).into_response()
    }
}
