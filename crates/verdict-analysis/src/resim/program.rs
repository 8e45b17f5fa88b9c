//! A report-metrics program's output (`metrics.binproto`, what `verdict
//! report run` collects): validated and kept with its report, shown back as
//! `verdict_formats::resim_metrics::ProgramMetrics` (the report page and
//! `GET /api/v1/reports/{id}`) and as ReSim's `reportMetrics` rows.

use super::{PAGE_SIZE, Paged, Project, ReportView, position, token};
use crate::AnalysisError;
use verdict_core::resim::Kind;
use verdict_formats::resim_metrics::{self, ProgramMetrics, Shown};
use verdict_store::Store;

fn stored_id(p: &Project, r: &ReportView) -> Result<i64, AnalysisError> {
    p.ids.id_of(Kind::Report, r.id).ok_or_else(|| AnalysisError::NotFound(format!("no report {}", r.id)))
}

/// Validate a program's output and keep it as the report's metrics,
/// replacing earlier ones; an invalid file changes nothing. What a page shows
/// of it is derived here, once, and kept beside it: decoding a file can cost
/// many times its size (a list of empty values is 2 bytes each in the file
/// and tens in memory), so reads never decode it again.
pub async fn store_program_metrics(
    store: &dyn Store,
    p: &Project,
    r: &ReportView,
    bytes: Vec<u8>,
    now_ms: i64,
) -> Result<ProgramMetrics, AnalysisError> {
    let message = resim_metrics::decode(&bytes).map_err(|e| AnalysisError::Invalid(format!("metrics.binproto: {e}")))?;
    let shown = ProgramMetrics::of(&message);
    drop(message);
    let view =
        serde_json::to_string(&shown).map_err(|e| AnalysisError::Invalid(format!("metrics.binproto: cannot keep what it shows: {e}")))?;
    if !store.reports().set_report_metrics(stored_id(p, r)?, bytes, view, shown.status.clone(), now_ms).await? {
        return Err(AnalysisError::NotFound(format!("no report {}", r.id)));
    }
    Ok(shown)
}

/// The report's program metrics, once a program's output was stored.
pub async fn program_metrics(store: &dyn Store, p: &Project, r: &ReportView) -> Result<Option<ProgramMetrics>, AnalysisError> {
    let Some(view) = store.reports().report_metrics_view(stored_id(p, r)?).await? else { return Ok(None) };
    let shown = serde_json::from_str(&view).map_err(|e| AnalysisError::Invalid(format!("the stored program metrics: {e}")))?;
    Ok(Some(shown))
}

/// One row of `GET …/reports/{r}/metrics`: a metric of the program's file,
/// SCALAR (with its value and unit) or COMPOSITE.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportMetricRow {
    pub id: String,
    pub name: String,
    pub scalar: bool,
    pub value: Option<f64>,
    pub unit: Option<String>,
    pub status: String,
    pub event_metric: bool,
}

pub async fn report_metric_rows(
    store: &dyn Store,
    p: &Project,
    r: &ReportView,
    page_token: Option<&str>,
) -> Result<Paged<ReportMetricRow>, AnalysisError> {
    let from = position("m", page_token)? as usize;
    let metrics = program_metrics(store, p, r).await?.map(|m| m.metrics).unwrap_or_default();
    let rows: Vec<ReportMetricRow> = metrics
        .into_iter()
        .skip(from)
        .take(PAGE_SIZE as usize + 1)
        .map(|m| {
            let (scalar, value, unit) = match m.shown {
                Shown::Scalar { value, unit } => (true, Some(value), unit),
                _ => (false, None, None),
            };
            ReportMetricRow { id: m.id, name: m.name, scalar, value, unit, status: m.status, event_metric: m.event_metric }
        })
        .collect();
    let more = rows.len() > PAGE_SIZE as usize;
    let items: Vec<_> = rows.into_iter().take(PAGE_SIZE as usize).collect();
    let next = more.then(|| token("m", (from + items.len()) as i64));
    Ok(Paged { items, next })
}
