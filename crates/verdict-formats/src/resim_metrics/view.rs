//! A validated metrics file as Verdict shows it (the report page and its
//! JSON twin): each metric with its name, status and what is drawn of it.
//! Scalars, text, plotly tables and charts, batchwise bar charts and line
//! plots are shown; other types are listed by name with why not.

use super::pb::{self, metric_values::MetricValues as V, metrics_data::Data, series::Series as S};
use super::{plotly, status_name, type_name};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgramMetrics {
    pub job_id: String,
    /// The file's overall status (ReSim's API names: PASSED, FAIL_WARN, …).
    pub status: String,
    /// Ordered as the program ordered them (`order`, then as written).
    pub metrics: Vec<ProgramMetric>,
    pub events: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgramMetric {
    pub id: String,
    pub name: String,
    pub description: String,
    /// The proto type name, e.g. `PLOTLY_METRIC_TYPE`.
    #[serde(rename = "type")]
    pub metric_type: String,
    pub status: String,
    pub should_display: bool,
    pub blocking: bool,
    pub event_metric: bool,
    pub order: Option<f32>,
    pub shown: Shown,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Shown {
    Scalar {
        #[serde(deserialize_with = "lenient::number")]
        value: f64,
        unit: Option<String>,
    },
    /// Markdown, as written (the page escapes it).
    Text {
        markdown: String,
    },
    /// Rows past `plotly::MAX_TABLE_ROWS` are counted in `rows_total`, not kept.
    Table {
        header: Vec<String>,
        rows: Vec<Vec<String>>,
        rows_total: usize,
    },
    Chart(Chart),
    Bars(Bars),
    NotShown {
        why: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chart {
    pub x_title: Option<String>,
    pub y_title: Option<String>,
    pub traces: Vec<Trace>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceKind {
    Line,
    Points,
    /// One box per distinct x, over that x's values.
    Box,
    Bar,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    pub kind: TraceKind,
    pub name: Option<String>,
    pub x: Xs,
    #[serde(deserialize_with = "lenient::numbers")]
    pub y: Vec<f64>,
}

/// An x axis: times (ms since the epoch), numbers, or labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "values", rename_all = "snake_case")]
pub enum Xs {
    Times(Vec<i64>),
    Numbers(#[serde(deserialize_with = "lenient::numbers")] Vec<f64>),
    Labels(Vec<String>),
}

/// A batchwise bar chart: per category, a value at each batch's time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bars {
    pub x_title: Option<String>,
    pub y_title: Option<String>,
    pub stacked: bool,
    pub categories: Vec<BarsCategory>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BarsCategory {
    pub name: String,
    pub color: Option<String>,
    /// `(ms since the epoch, value)`, as written.
    #[serde(deserialize_with = "lenient::points")]
    pub points: Vec<(i64, f64)>,
}

/// JSON has no NaN or infinity (serde_json writes them as null): a kept view
/// reads null back as NaN, which the pages skip as they skip NaN.
mod lenient {
    use serde::{Deserialize, Deserializer};

    pub fn number<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }

    pub fn numbers<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Ok(Vec::<Option<f64>>::deserialize(d)?.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect())
    }

    pub fn points<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(i64, f64)>, D::Error> {
        Ok(Vec::<(i64, Option<f64>)>::deserialize(d)?.into_iter().map(|(t, v)| (t, v.unwrap_or(f64::NAN))).collect())
    }
}

type DataMap<'a> = HashMap<&'a str, &'a pb::MetricsData>;

fn series<'a>(map: &DataMap<'a>, id: &pb::MetricsDataId) -> Option<&'a S> {
    let key = id.id.as_ref().map_or("", |u| u.data.as_str());
    match &map.get(key)?.data {
        Some(Data::Series(s)) => s.series.as_ref(),
        _ => None,
    }
}

fn doubles(map: &DataMap, id: &pb::MetricsDataId) -> Vec<f64> {
    match series(map, id) {
        Some(S::Doubles(d)) => d.series.clone(),
        _ => vec![],
    }
}

fn times_ms(map: &DataMap, id: &pb::MetricsDataId) -> Vec<i64> {
    match series(map, id) {
        // Saturating: the validator does not bound a series' timestamps.
        Some(S::Timestamps(t)) => {
            t.series.iter().map(|t| t.seconds.saturating_mul(1000).saturating_add(i64::from(t.nanos) / 1_000_000)).collect()
        }
        _ => vec![],
    }
}

fn shown(values: Option<&V>, map: &DataMap) -> Shown {
    match values {
        Some(V::ScalarMetricValues(v)) => {
            Shown::Scalar { value: v.value.unwrap_or(f64::NAN), unit: v.unit.clone().filter(|u| !u.is_empty()) }
        }
        Some(V::TextMetricValues(v)) => Shown::Text { markdown: v.text.clone() },
        Some(V::PlotlyMetricValues(v)) => v.json.as_ref().map_or(Shown::NotShown { why: "no figure".into() }, plotly::figure),
        Some(V::BatchwiseBarChartMetricValues(v)) => Shown::Bars(Bars {
            x_title: v.x_axis_name.clone(),
            y_title: v.y_axis_name.clone(),
            stacked: v.stack_bars.unwrap_or(false),
            categories: v
                .categories
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    let times = v.times_data_id.get(i).map(|d| times_ms(map, d)).unwrap_or_default();
                    let values = v.values_data_id.get(i).map(|d| doubles(map, d)).unwrap_or_default();
                    BarsCategory { name: name.clone(), color: v.colors.get(i).cloned(), points: times.into_iter().zip(values).collect() }
                })
                .collect(),
        }),
        Some(V::LinePlotMetricValues(v)) => Shown::Chart(Chart {
            x_title: v.x_axis_name.clone(),
            y_title: v.y_axis_name.clone(),
            traces: v
                .x_doubles_data_id
                .iter()
                .zip(&v.y_doubles_data_id)
                .enumerate()
                .map(|(i, (x, y))| Trace {
                    kind: TraceKind::Line,
                    name: v.legend_series_names.get(i).cloned(),
                    x: Xs::Numbers(doubles(map, x)),
                    y: doubles(map, y),
                })
                .collect(),
        }),
        _ => Shown::NotShown { why: "Verdict does not draw this type yet".into() },
    }
}

impl ProgramMetrics {
    /// What is shown of a validated file (`super::decode`).
    pub fn of(m: &pb::JobMetrics) -> ProgramMetrics {
        let map: DataMap = m
            .metrics_data
            .iter()
            .map(|d| (d.metrics_data_id.as_ref().and_then(|i| i.id.as_ref()).map_or("", |u| u.data.as_str()), d))
            .collect();
        let listed = m.job_level_metrics.as_ref().map_or(&[][..], |c| &c.metrics[..]);
        let mut metrics: Vec<ProgramMetric> = listed
            .iter()
            .map(|x| ProgramMetric {
                id: x.metric_id.as_ref().and_then(|i| i.id.as_ref()).map_or_else(String::new, |u| u.data.clone()),
                name: x.name.clone(),
                description: x.description.clone(),
                metric_type: type_name(x.r#type),
                status: status_name(x.status).to_owned(),
                should_display: x.should_display.unwrap_or(true),
                blocking: x.blocking.unwrap_or(false),
                event_metric: x.event_metric.unwrap_or(false),
                order: x.order,
                shown: shown(x.metric_values.as_ref().and_then(|v| v.metric_values.as_ref()), &map),
            })
            .collect();
        // Stable: metrics without an order keep their place after the ordered ones.
        metrics.sort_by(|a, b| match (a.order, b.order) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        });
        ProgramMetrics {
            job_id: m.job_id.as_ref().and_then(|j| j.id.as_ref()).map_or_else(String::new, |u| u.data.clone()),
            status: status_name(m.metrics_status).to_owned(),
            metrics,
            events: m.events.len(),
        }
    }
}
