//! `metrics.binproto`: what a ReSim metrics program writes (a serialized
//! `resim.metrics.proto.JobMetrics`, ../shared/specs/resim-reports.md §5),
//! decoded with `prost` from Verdict's own `.proto` of the schema (proto/),
//! checked by the rules of ReSim's own validator (`validate`), and turned
//! into what a page can show (`view`).

mod plotly;
mod validate;
mod view;

pub use plotly::{MAX_TABLE_ROWS, json_struct, show_number};
pub use validate::validate;
pub use view::{Bars, BarsCategory, Chart, ProgramMetric, ProgramMetrics, Shown, Trace, TraceKind, Xs};

/// The generated types, in ReSim's package layout (`resim.proto`,
/// `resim.metrics.proto`) so the generated cross-package paths resolve.
#[allow(clippy::all, missing_docs)]
pub mod resim {
    pub mod proto {
        include!(concat!(env!("OUT_DIR"), "/resim.proto.rs"));
    }
    pub mod metrics {
        pub mod proto {
            include!(concat!(env!("OUT_DIR"), "/resim.metrics.proto.rs"));
        }
    }
}

pub use resim::metrics::proto as pb;

/// The largest metrics file read (64 MiB): ReSim's default report program
/// writes tens of kilobytes per hundred batches; a file past this is refused
/// before it is decoded.
pub const MAX_METRICS_BYTES: u64 = 64 << 20;

/// Why a metrics file cannot be taken: what the validator would say, with
/// the metric or data series it is about.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct MetricsError(pub String);

pub(crate) fn bad(message: impl Into<String>) -> MetricsError {
    MetricsError(message.into())
}

/// Decode and validate a metrics file: the message, or why it is refused.
pub fn decode(bytes: &[u8]) -> Result<pb::JobMetrics, MetricsError> {
    if bytes.len() as u64 > MAX_METRICS_BYTES {
        return Err(bad(format!("{} bytes, more than the {MAX_METRICS_BYTES} a metrics file may have", bytes.len())));
    }
    if bytes.is_empty() {
        return Err(bad("the file is empty"));
    }
    let message =
        <pb::JobMetrics as prost::Message>::decode(bytes).map_err(|e| bad(format!("not a resim.metrics.proto.JobMetrics message: {e}")))?;
    validate(&message)?;
    Ok(message)
}

/// ReSim's API name of a metric status (`PASSED_METRIC_STATUS` → `PASSED`).
pub fn status_name(status: i32) -> &'static str {
    use pb::MetricStatus as S;
    match S::try_from(status).unwrap_or(S::NoMetricStatus) {
        S::NoMetricStatus => "NO_STATUS_REPORTED",
        S::PassedMetricStatus => "PASSED",
        S::FailWarnMetricStatus => "FAIL_WARN",
        S::NotApplicableMetricStatus => "NOT_APPLICABLE",
        S::RawMetricStatus => "RAW",
        S::FailBlockMetricStatus => "FAIL_BLOCK",
    }
}

/// The proto name of a metric type (`SCALAR_METRIC_TYPE`), or its number when unknown.
pub fn type_name(metric_type: i32) -> String {
    pb::MetricType::try_from(metric_type).map_or_else(|_| format!("metric type {metric_type}"), |t| t.as_str_name().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    const CAPTURED: &[u8] = include_bytes!("../../tests/fixtures/resim/E2_metrics.binproto");

    #[test]
    fn the_default_report_programs_file_decodes_validates_and_shows() {
        let m = decode(CAPTURED).unwrap();
        let shown = ProgramMetrics::of(&m);
        assert_eq!(shown.status, "PASSED");
        let names: Vec<&str> = shown.metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "test_status_over_time",
                "high_level_totals",
                "experience_status_counts",
                "job_metric_status_counts",
                "batch_metric_status_counts",
                "min_distance_distribution",
                "mean_min_distance_over_time"
            ]
        );
        let Shown::Bars(bars) = &shown.metrics[0].shown else { panic!("{:?}", shown.metrics[0].shown) };
        let passed: Vec<f64> = bars.categories[0].points.iter().map(|p| p.1).collect();
        assert_eq!((bars.categories[0].name.as_str(), bars.categories[0].color.as_deref()), ("PASSED", Some("#7CA0FB")));
        assert_eq!(passed.iter().sum::<f64>(), 11.0, "the captured PASSED counts are 4, 3, 2, 2 in some order");
        let Shown::Table { header, rows, .. } = &shown.metrics[1].shown else { panic!() };
        assert_eq!(header, &["Name", "Value"]);
        assert_eq!(rows.iter().map(|r| r[1].as_str()).collect::<Vec<_>>(), ["4", "16", "1", "1", "1", "1"]);
        let Shown::Chart(c) = &shown.metrics[5].shown else { panic!() };
        assert_eq!((c.traces[0].kind, c.traces[0].y.len()), (TraceKind::Box, 14));
        assert!(matches!(c.traces[0].x, Xs::Times(_)));
        let Shown::Chart(c) = &shown.metrics[6].shown else { panic!() };
        assert_eq!(c.traces[0].kind, TraceKind::Line);
    }

    /// The captured file with one change.
    fn changed(f: impl FnOnce(&mut pb::JobMetrics)) -> Result<pb::JobMetrics, MetricsError> {
        let mut m = pb::JobMetrics::decode(CAPTURED).unwrap();
        f(&mut m);
        decode(&m.encode_to_vec())
    }

    fn metric(m: &mut pb::JobMetrics, i: usize) -> &mut pb::Metric {
        &mut m.job_level_metrics.as_mut().unwrap().metrics[i]
    }

    #[test]
    fn the_validators_rules_refuse_with_the_metric_named() {
        let refused = |f: fn(&mut pb::JobMetrics), words: &str| {
            let e = changed(f).unwrap_err().0;
            assert!(e.contains(words), "{e:?} should say {words:?}");
        };
        refused(|m| metric(m, 1).name = metric(m, 2).name.clone(), "is not unique");
        refused(|m| metric(m, 1).status = 0, "\"high_level_totals\" has no status");
        refused(|m| metric(m, 1).importance = 0, "has no importance");
        refused(|m| metric(m, 1).r#type = pb::MetricType::ScalarMetricType as i32, "do not match its type");
        refused(|m| metric(m, 2).parent_id = None, "has no job_id");
        refused(|m| m.job_id.as_mut().unwrap().id.as_mut().unwrap().data = uuid::Uuid::nil().to_string(), "must be the file's");
        refused(|m| metric(m, 0).metric_id = None, "metric_id");
        refused(|m| m.metrics_status = 0, "the file has no metrics_status");
        refused(|m| m.metrics_data[0].name = m.metrics_data[1].name.clone(), "data name");
        refused(|m| m.metrics_data.truncate(3), "no data series has ID");
        refused(
            |m| {
                if let Some(pb::metric_values::MetricValues::BatchwiseBarChartMetricValues(v)) =
                    metric(m, 0).metric_values.as_mut().unwrap().metric_values.as_mut()
                {
                    v.colors[0] = "blue".into();
                }
            },
            "colour \"blue\"",
        );
        refused(
            |m| {
                if let Some(pb::metrics_data::Data::Series(s)) =
                    m.metrics_data.iter_mut().find(|d| d.name == "batch_ids").unwrap().data.as_mut()
                {
                    s.series = Some(pb::series::Series::Doubles(pb::DoubleSeries { series: vec![] }));
                }
            },
            "\"batch_ids\"",
        );
        let text = |text: &str, t: pb::MetricType| {
            changed(|m| {
                let x = metric(m, 1);
                x.r#type = t as i32;
                x.metric_values = Some(pb::MetricValues {
                    metric_values: Some(match t {
                        pb::MetricType::TextMetricType => {
                            pb::metric_values::MetricValues::TextMetricValues(pb::TextMetricValues { text: text.into() })
                        }
                        _ => pb::metric_values::MetricValues::ScalarMetricValues(pb::ScalarMetricValues {
                            value: text.parse().ok(),
                            ..Default::default()
                        }),
                    }),
                });
            })
        };
        assert!(text("# ok", pb::MetricType::TextMetricType).is_ok());
        assert!(text("", pb::MetricType::TextMetricType).unwrap_err().0.contains("has no text"));
        assert!(text("2.5", pb::MetricType::ScalarMetricType).is_ok());
        assert!(text("NaN", pb::MetricType::ScalarMetricType).unwrap_err().0.contains("NaN"));
        assert!(text("none", pb::MetricType::ScalarMetricType).unwrap_err().0.contains("has no value"));
    }

    #[test]
    fn what_a_page_shows_is_kept_as_json_and_read_back_whole() {
        let shown = ProgramMetrics::of(&decode(CAPTURED).unwrap());
        let back: ProgramMetrics = serde_json::from_str(&serde_json::to_string(&shown).unwrap()).unwrap();
        assert_eq!(back, shown);
        // Numbers JSON cannot hold come back as NaN, not as an error.
        let chart = Shown::Chart(Chart {
            x_title: None,
            y_title: None,
            traces: vec![Trace { kind: TraceKind::Line, name: None, x: Xs::Numbers(vec![f64::INFINITY, 1.0]), y: vec![f64::NAN, 2.0] }],
        });
        let Shown::Chart(c) = serde_json::from_str::<Shown>(&serde_json::to_string(&chart).unwrap()).unwrap() else { panic!() };
        assert!(c.traces[0].y[0].is_nan() && c.traces[0].y[1] == 2.0);
        assert!(matches!(&c.traces[0].x, Xs::Numbers(v) if v[0].is_nan() && v[1] == 1.0));
        let scalar = Shown::Scalar { value: f64::INFINITY, unit: None };
        let back: Shown = serde_json::from_str(&serde_json::to_string(&scalar).unwrap()).unwrap();
        assert!(matches!(back, Shown::Scalar { value, .. } if value.is_nan()));
    }

    #[test]
    fn timestamps_at_the_ends_of_the_range_do_not_overflow() {
        let m = changed(|m| {
            for d in &mut m.metrics_data {
                if let Some(pb::metrics_data::Data::Series(pb::Series { series: Some(pb::series::Series::Timestamps(t)) })) =
                    d.data.as_mut()
                {
                    for (i, ts) in t.series.iter_mut().enumerate() {
                        ts.seconds = if i % 2 == 0 { i64::MAX } else { i64::MIN };
                    }
                }
            }
        })
        .unwrap();
        let Shown::Bars(bars) = &ProgramMetrics::of(&m).metrics[0].shown else { panic!() };
        assert!(bars.categories[0].points.iter().all(|p| p.0 == i64::MAX || p.0 == i64::MIN));
    }

    #[test]
    fn bytes_that_are_not_the_message_are_refused() {
        assert!(decode(b"").unwrap_err().0.contains("empty"));
        assert!(decode(b"\xff\xff\xff").unwrap_err().0.contains("not a resim.metrics.proto.JobMetrics"));
        assert!(decode(&CAPTURED[..CAPTURED.len() / 2]).is_err(), "a file cut short");
        // A message with nothing in it decodes but fails the rules.
        assert!(decode(&[0x20, 0x01]).unwrap_err().0.contains("job_id"));
    }
}
