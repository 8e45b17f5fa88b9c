//! The rules of ReSim's `validate_job_metrics` (resim-open-core 1.6.0,
//! `resim/metrics/proto/validate_metrics_proto.py`; the spec's §5.3), ported
//! check for check so a file Verdict takes is one ReSim's platform would
//! take, each refusal saying which metric or data series broke which rule.

use super::pb::{self, metric_values::MetricValues as V, metrics_data::Data, series::Series as S};
use super::{MetricsError, bad};
use pb::MetricsDataType as T;
use std::collections::{HashMap, HashSet};

type DataMap<'a> = HashMap<&'a str, &'a pb::MetricsData>;

fn check(ok: bool, what: impl FnOnce() -> String) -> Result<(), MetricsError> {
    if ok { Ok(()) } else { Err(bad(what())) }
}

fn uuid(id: Option<&super::resim::proto::Uuid>, what: &str) -> Result<(), MetricsError> {
    let text = id.map_or("", |u| u.data.as_str());
    uuid::Uuid::parse_str(text).map(|_| ()).map_err(|_| bad(format!("{what}: {text:?} is not a UUID")))
}

fn id_of(id: Option<&pb::MetricsDataId>) -> &str {
    id.and_then(|i| i.id.as_ref()).map_or("", |u| u.data.as_str())
}

fn data_type(d: &pb::MetricsData) -> T {
    T::try_from(d.data_type).unwrap_or(T::NoDataType)
}

fn is_indexed(t: T) -> bool {
    matches!(
        t,
        T::IndexedDoubleSeriesDataType
            | T::IndexedTimestampSeriesDataType
            | T::IndexedUuidSeriesDataType
            | T::IndexedStringSeriesDataType
            | T::IndexedMetricStatusSeriesDataType
    )
}

const ALL_SERIES: &[T] = &[
    T::DoubleSeriesDataType,
    T::TimestampSeriesDataType,
    T::UuidSeriesDataType,
    T::StringSeriesDataType,
    T::MetricStatusSeriesDataType,
    T::IndexedDoubleSeriesDataType,
    T::IndexedTimestampSeriesDataType,
    T::IndexedUuidSeriesDataType,
    T::IndexedStringSeriesDataType,
    T::IndexedMetricStatusSeriesDataType,
];

pub(crate) fn series_len(s: &pb::Series) -> Option<usize> {
    Some(match s.series.as_ref()? {
        S::Doubles(x) => x.series.len(),
        S::Timestamps(x) => x.series.len(),
        S::Uuids(x) => x.series.len(),
        S::Strings(x) => x.series.len(),
        S::Statuses(x) => x.series.len(),
    })
}

fn series_matches(s: &pb::Series, t: T) -> bool {
    matches!(
        (s.series.as_ref(), t),
        (Some(S::Doubles(_)), T::DoubleSeriesDataType | T::IndexedDoubleSeriesDataType)
            | (Some(S::Timestamps(_)), T::TimestampSeriesDataType | T::IndexedTimestampSeriesDataType)
            | (Some(S::Uuids(_)), T::UuidSeriesDataType | T::IndexedUuidSeriesDataType)
            | (Some(S::Strings(_)), T::StringSeriesDataType | T::IndexedStringSeriesDataType)
            | (Some(S::Statuses(_)), T::MetricStatusSeriesDataType | T::IndexedMetricStatusSeriesDataType)
    )
}

/// Two data of one shape: both one series of one length, or both per
/// category with the same categories and lengths.
fn agree(a: &pb::MetricsData, b: &pb::MetricsData) -> Result<(), MetricsError> {
    let fail = || format!("data {:?} and {:?} differ in shape (kind, length or categories)", a.name, b.name);
    match (&a.data, &b.data) {
        (Some(Data::Series(x)), Some(Data::Series(y))) => check(series_len(x).is_some() && series_len(x) == series_len(y), fail),
        (Some(Data::SeriesPerCategory(x)), Some(Data::SeriesPerCategory(y))) => {
            check(x.category_to_series.len() == y.category_to_series.len(), fail)?;
            for (k, s) in &x.category_to_series {
                let other = y.category_to_series.get(k);
                check(other.is_some_and(|o| series_len(o) == series_len(s)), fail)?;
            }
            Ok(())
        }
        _ => Err(bad(fail())),
    }
}

fn lookup<'a>(map: &DataMap<'a>, id: Option<&pb::MetricsDataId>, what: &str) -> Result<&'a pb::MetricsData, MetricsError> {
    uuid(id.and_then(|i| i.id.as_ref()), what)?;
    map.get(id_of(id)).copied().ok_or_else(|| bad(format!("{what}: no data series has ID {}", id_of(id))))
}

/// A values series and its statuses: both found, the values of an allowed
/// type, the statuses indexed exactly when the values are (by the same
/// index, of an allowed type), and of one shape.
fn values_and_statuses(
    map: &DataMap,
    values: Option<&pb::MetricsDataId>,
    statuses: Option<&pb::MetricsDataId>,
    allowed_values: &[T],
    allowed_index: &[T],
    metric: &str,
) -> Result<(), MetricsError> {
    let v = lookup(map, values, &format!("metric {metric:?}: values"))?;
    check(allowed_values.contains(&data_type(v)), || {
        format!("metric {metric:?}: data {:?} is {}, not a type this metric takes", v.name, data_type(v).as_str_name())
    })?;
    let s = lookup(map, statuses, &format!("metric {metric:?}: statuses"))?;
    if !is_indexed(data_type(v)) {
        check(data_type(s) == T::MetricStatusSeriesDataType, || {
            format!("metric {metric:?}: statuses {:?} must be METRIC_STATUS_SERIES_DATA_TYPE", s.name)
        })?;
    } else {
        let index_type = |d: &pb::MetricsData| T::try_from(d.index_data_type).unwrap_or(T::NoDataType);
        check(data_type(s) == T::IndexedMetricStatusSeriesDataType, || {
            format!("metric {metric:?}: statuses {:?} must be INDEXED_METRIC_STATUS_SERIES_DATA_TYPE", s.name)
        })?;
        check(s.index_data_id == v.index_data_id, || format!("metric {metric:?}: {:?} and {:?} have different indexes", v.name, s.name))?;
        check(allowed_index.contains(&index_type(s)) && allowed_index.contains(&index_type(v)), || {
            format!("metric {metric:?}: {:?} is indexed by a type this metric does not take", v.name)
        })?;
    }
    agree(v, s)
}

fn metric_values(m: &pb::Metric, map: &DataMap) -> Result<(), MetricsError> {
    let name = m.name.as_str();
    let values = m.metric_values.as_ref().and_then(|v| v.metric_values.as_ref());
    let values = values.ok_or_else(|| bad(format!("metric {name:?} has no values")))?;
    let double_index = [T::DoubleSeriesDataType, T::IndexedDoubleSeriesDataType];
    let time_index = [T::TimestampSeriesDataType, T::IndexedTimestampSeriesDataType];
    let uuid_index = [T::UuidSeriesDataType, T::IndexedUuidSeriesDataType];
    let string_index = [T::StringSeriesDataType, T::IndexedStringSeriesDataType];
    let indexed_double = [T::IndexedDoubleSeriesDataType];
    let lengths = |a: usize, b: usize| check(a == b, || format!("metric {name:?}: its lists of series differ in length"));
    match values {
        V::DoubleMetricValues(v) => {
            use pb::double_summary_metric_values::Index;
            let (allowed, index): (&[T], &[T]) = match v.index {
                Some(Index::TimestampIndex(_)) => (&indexed_double, &time_index),
                Some(Index::UuidIndex(_)) => (&indexed_double, &uuid_index),
                Some(Index::StringIndex(_)) => (&indexed_double, &string_index),
                _ => (&double_index, ALL_SERIES),
            };
            values_and_statuses(map, v.value_data_id.as_ref(), v.status_data_id.as_ref(), allowed, index, name)
        }
        V::DoubleOverTimeMetricValues(v) => {
            lengths(v.doubles_over_time_data_id.len(), v.statuses_over_time_data_id.len())?;
            lengths(v.doubles_over_time_data_id.len(), v.failure_definition.len())?;
            for (d, s) in v.doubles_over_time_data_id.iter().zip(&v.statuses_over_time_data_id) {
                values_and_statuses(map, Some(d), Some(s), &indexed_double, &time_index, name)?;
            }
            Ok(())
        }
        V::LinePlotMetricValues(v) => {
            lengths(v.x_doubles_data_id.len(), v.y_doubles_data_id.len())?;
            lengths(v.x_doubles_data_id.len(), v.statuses_data_id.len())?;
            for ((x, y), s) in v.x_doubles_data_id.iter().zip(&v.y_doubles_data_id).zip(&v.statuses_data_id) {
                for d in [x, y] {
                    values_and_statuses(map, Some(d), Some(s), &double_index, &time_index, name)?;
                }
            }
            Ok(())
        }
        V::BarChartMetricValues(v) => {
            lengths(v.values_data_id.len(), v.statuses_data_id.len())?;
            for (d, s) in v.values_data_id.iter().zip(&v.statuses_data_id) {
                values_and_statuses(map, Some(d), Some(s), &indexed_double, &string_index, name)?;
            }
            Ok(())
        }
        V::BatchwiseBarChartMetricValues(v) => {
            lengths(v.values_data_id.len(), v.times_data_id.len())?;
            lengths(v.values_data_id.len(), v.statuses_data_id.len())?;
            lengths(v.values_data_id.len(), v.categories.len())?;
            for c in &v.colors {
                check(is_hex_colour(c), || format!("metric {name:?}: colour {c:?} is not #RRGGBB or #RRGGBBAA"))?;
            }
            uuid(v.project_id.as_ref(), &format!("metric {name:?}: project_id"))?;
            for ((d, t), s) in v.values_data_id.iter().zip(&v.times_data_id).zip(&v.statuses_data_id) {
                values_and_statuses(map, Some(d), Some(s), &indexed_double, &uuid_index, name)?;
                values_and_statuses(map, Some(t), Some(s), &[T::IndexedTimestampSeriesDataType], &uuid_index, name)?;
            }
            Ok(())
        }
        V::StatesOverTimeMetricValues(v) => {
            lengths(v.states_over_time_data_id.len(), v.statuses_over_time_data_id.len())?;
            for (d, s) in v.states_over_time_data_id.iter().zip(&v.statuses_over_time_data_id) {
                let d = Some(d);
                values_and_statuses(map, d, Some(s), &[T::IndexedStringSeriesDataType], &time_index, name)?;
                let data = lookup(map, d, name)?;
                let serieses: Vec<&pb::Series> = match &data.data {
                    Some(Data::Series(s)) => vec![s],
                    Some(Data::SeriesPerCategory(c)) => c.category_to_series.values().collect(),
                    _ => vec![],
                };
                for s in serieses {
                    let Some(S::Strings(states)) = &s.series else {
                        return Err(bad(format!("metric {name:?}: states {:?} are not strings", data.name)));
                    };
                    for state in &states.series {
                        check(v.states_set.contains(state), || format!("metric {name:?}: state {state:?} is not in its states_set"))?;
                    }
                }
                check(v.failure_states.iter().all(|f| v.states_set.contains(f)), || {
                    format!("metric {name:?}: a failure state is not in its states_set")
                })?;
            }
            Ok(())
        }
        V::HistogramMetricValues(v) => {
            values_and_statuses(map, v.values_data_id.as_ref(), v.statuses_data_id.as_ref(), &double_index, ALL_SERIES, name)?;
            // Unset optionals read as 0.0, as in the Python bindings the rules come from.
            let (lower_bound, upper_bound) = (v.lower_bound.unwrap_or(0.0), v.upper_bound.unwrap_or(0.0));
            let mut last_upper: Option<f64> = None;
            for b in &v.buckets {
                let (lower, upper) = (b.lower.unwrap_or(0.0), b.upper.unwrap_or(0.0));
                match last_upper {
                    None => check(lower == lower_bound, || format!("metric {name:?}: the first bucket must start at lower_bound"))?,
                    Some(u) => check(u == lower, || format!("metric {name:?}: buckets must be contiguous"))?,
                }
                check(lower < upper, || format!("metric {name:?}: a bucket's lower must be below its upper"))?;
                last_upper = Some(upper);
            }
            check(last_upper == Some(upper_bound), || format!("metric {name:?}: the last bucket must end at upper_bound"))
        }
        V::ScalarMetricValues(v) => {
            check(v.value.is_some(), || format!("scalar metric {name:?} has no value"))?;
            check(!v.value.is_some_and(f64::is_nan), || format!("scalar metric {name:?}: the value cannot be NaN"))
        }
        V::PlotlyMetricValues(v) => check(v.json.is_some(), || format!("plotly metric {name:?} has no json")),
        V::TextMetricValues(v) => check(!v.text.is_empty(), || format!("text metric {name:?} has no text")),
        V::ImageMetricValues(v) => {
            check(v.image_data_id.is_some(), || format!("image metric {name:?} has no image"))?;
            let d = lookup(map, v.image_data_id.as_ref(), name)?;
            check(data_type(d) == T::ExternalFileDataType, || format!("image metric {name:?}: {:?} is not an external file", d.name))
        }
        V::ImageListMetricValues(v) => {
            check(!v.image_data_ids.is_empty(), || format!("image list metric {name:?} has no images"))?;
            for id in &v.image_data_ids {
                let d = lookup(map, Some(id), name)?;
                check(data_type(d) == T::ExternalFileDataType, || {
                    format!("image list metric {name:?}: {:?} is not an external file", d.name)
                })?;
            }
            Ok(())
        }
    }
}

fn is_hex_colour(c: &str) -> bool {
    let hex = c.strip_prefix('#').unwrap_or("");
    c.starts_with('#') && (hex.len() == 6 || hex.len() == 8) && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The `metric_values` field a type needs (`None` for a type the schema does not know).
fn values_match_type(m: &pb::Metric) -> bool {
    use pb::MetricType as M;
    let v = m.metric_values.as_ref().and_then(|v| v.metric_values.as_ref());
    matches!(
        (M::try_from(m.r#type), v),
        (Ok(M::DoubleSummaryMetricType), Some(V::DoubleMetricValues(_)))
            | (Ok(M::DoubleOverTimeMetricType), Some(V::DoubleOverTimeMetricValues(_)))
            | (Ok(M::LinePlotMetricType), Some(V::LinePlotMetricValues(_)))
            | (Ok(M::BarChartMetricType), Some(V::BarChartMetricValues(_)))
            | (Ok(M::BatchwiseBarChartMetricType), Some(V::BatchwiseBarChartMetricValues(_)))
            | (Ok(M::StatesOverTimeMetricType), Some(V::StatesOverTimeMetricValues(_)))
            | (Ok(M::HistogramMetricType), Some(V::HistogramMetricValues(_)))
            | (Ok(M::ScalarMetricType), Some(V::ScalarMetricValues(_)))
            | (Ok(M::PlotlyMetricType), Some(V::PlotlyMetricValues(_)))
            | (Ok(M::TextMetricType), Some(V::TextMetricValues(_)))
            | (Ok(M::ImageListMetricType), Some(V::ImageListMetricValues(_)))
            | (Ok(M::ImageMetricType), Some(V::ImageMetricValues(_)))
    )
}

fn job_id(j: &Option<pb::JobId>) -> Option<&str> {
    j.as_ref().and_then(|j| j.id.as_ref()).map(|u| u.data.as_str())
}

fn status_set(status: i32) -> bool {
    status != pb::MetricStatus::NoMetricStatus as i32
}

fn metric(m: &pb::Metric, map: &DataMap, file_job: Option<&str>) -> Result<(), MetricsError> {
    let name = m.name.as_str();
    uuid(m.metric_id.as_ref().and_then(|i| i.id.as_ref()), &format!("metric {name:?}: metric_id"))?;
    check(!name.is_empty(), || "a metric has no name".to_owned())?;
    check(m.r#type != pb::MetricType::NoMetricType as i32, || format!("metric {name:?} has no type"))?;
    check(status_set(m.status), || format!("metric {name:?} has no status"))?;
    metric_values(m, map)?;
    check(m.importance != pb::MetricImportance::NoSpecifiedImportance as i32, || format!("metric {name:?} has no importance"))?;
    let pb::metric::ParentId::JobId(parent) = m.parent_id.as_ref().ok_or_else(|| bad(format!("metric {name:?} has no job_id")))?;
    uuid(parent.id.as_ref(), &format!("metric {name:?}: job_id"))?;
    check(m.tags.iter().all(|t| !t.key.is_empty() && !t.value.is_empty()), || format!("metric {name:?}: a tag has an empty key or value"))?;
    check(values_match_type(m), || format!("metric {name:?}: its values do not match its type {}", super::type_name(m.r#type)))?;
    check(parent.id.as_ref().map(|u| u.data.as_str()) == file_job, || format!("metric {name:?}: its job ID must be the file's"))
}

fn data(d: &pb::MetricsData, map: &DataMap) -> Result<(), MetricsError> {
    let name = d.name.as_str();
    uuid(d.metrics_data_id.as_ref().and_then(|i| i.id.as_ref()), &format!("data {name:?}: its ID"))?;
    let t = data_type(d);
    check(t != T::NoDataType, || format!("data {name:?} has no data type"))?;
    if t == T::ExternalFileDataType {
        let path = match &d.data {
            Some(Data::ExternalFile(f)) => f.path.as_str(),
            _ => "",
        };
        check(!path.is_empty(), || format!("data {name:?}: an external file needs a path"))?;
    } else if d.is_per_category {
        let Some(Data::SeriesPerCategory(c)) = &d.data else {
            return Err(bad(format!("data {name:?} is per category but has no series per category")));
        };
        for s in c.category_to_series.values() {
            check(series_len(s).unwrap_or(0) > 0, || format!("data {name:?}: a category's series is empty"))?;
            check(series_matches(s, t), || format!("data {name:?}: a series is not of its type {}", t.as_str_name()))?;
        }
        check(!d.category_names.is_empty(), || format!("data {name:?} has no category names"))?;
        let keys: HashSet<&str> = c.category_to_series.keys().map(String::as_str).collect();
        let names: HashSet<&str> = d.category_names.iter().map(String::as_str).collect();
        check(keys == names, || format!("data {name:?}: its categories and category names differ"))?;
    } else {
        let Some(Data::Series(s)) = &d.data else {
            return Err(bad(format!("data {name:?} has no series")));
        };
        check(series_len(s).unwrap_or(0) > 0, || format!("data {name:?}: the series is empty"))?;
        check(series_matches(s, t), || format!("data {name:?}: the series is not of its type {}", t.as_str_name()))?;
    }
    if d.is_indexed {
        let index = lookup(map, d.index_data_id.as_ref(), &format!("data {name:?}: its index"))?;
        agree(d, index)?;
        check(d.index_data_type == index.data_type, || format!("data {name:?}: index_data_type is not its index's type"))?;
    }
    Ok(())
}

fn event(e: &pb::Event, metrics: &HashMap<&str, &pb::Metric>) -> Result<(), MetricsError> {
    let name = e.name.as_str();
    uuid(e.event_id.as_ref().and_then(|i| i.id.as_ref()), &format!("event {name:?}: its ID"))?;
    check(!name.is_empty(), || "an event has no name".to_owned())?;
    let mut names = HashSet::new();
    for id in &e.metrics {
        let u = id.id.as_ref();
        uuid(u, &format!("event {name:?}: a metric ID"))?;
        let m = metrics
            .get(u.map_or("", |u| u.data.as_str()))
            .ok_or_else(|| bad(format!("event {name:?}: a metric it names is not in the file")))?;
        check(names.insert(m.name.as_str()), || format!("event {name:?}: its metrics' names must be unique"))?;
    }
    check(status_set(e.status), || format!("event {name:?} has no status"))?;
    check(e.timestamp_type != pb::TimestampType::NoType as i32, || format!("event {name:?} has no timestamp type"))?;
    let t = e.timestamp.unwrap_or_default();
    check(t.seconds >= 0 && (0..1_000_000_000).contains(&t.nanos), || format!("event {name:?}: a bad timestamp"))?;
    check(e.importance != pb::MetricImportance::NoSpecifiedImportance as i32, || format!("event {name:?} has no importance"))
}

/// Every rule of ReSim's validator, in its order.
pub fn validate(m: &pb::JobMetrics) -> Result<(), MetricsError> {
    let mut map: DataMap = HashMap::new();
    for d in &m.metrics_data {
        uuid(d.metrics_data_id.as_ref().and_then(|i| i.id.as_ref()), &format!("data {:?}: its ID", d.name))?;
        map.insert(id_of(d.metrics_data_id.as_ref()), d);
    }
    check(map.len() == m.metrics_data.len(), || "two data series share an ID".to_owned())?;
    let mut metrics: HashMap<&str, &pb::Metric> = HashMap::new();
    let listed = m.job_level_metrics.as_ref().map_or(&[][..], |c| &c.metrics[..]);
    for x in listed {
        let u = x.metric_id.as_ref().and_then(|i| i.id.as_ref());
        uuid(u, &format!("metric {:?}: metric_id", x.name))?;
        metrics.insert(u.map_or("", |u| u.data.as_str()), x);
    }
    check(metrics.len() == listed.len(), || "two metrics share an ID".to_owned())?;
    for e in &m.events {
        uuid(e.event_id.as_ref().and_then(|i| i.id.as_ref()), &format!("event {:?}: its ID", e.name))?;
    }
    uuid(m.job_id.as_ref().and_then(|j| j.id.as_ref()), "the file's job_id")?;
    for x in listed {
        metric(x, &map, job_id(&m.job_id))?;
    }
    check(status_set(m.job_level_metrics.as_ref().map_or(0, |c| c.metrics_status)), || {
        "job_level_metrics has no metrics_status".to_owned()
    })?;
    check(status_set(m.metrics_status), || "the file has no metrics_status".to_owned())?;
    let mut names = HashSet::new();
    for x in listed.iter().filter(|x| !x.event_metric.unwrap_or(false)) {
        check(names.insert(x.name.as_str()), || format!("metric name {:?} is not unique", x.name))?;
    }
    let mut data_names = HashSet::new();
    for d in &m.metrics_data {
        check(data_names.insert(d.name.as_str()), || format!("data name {:?} is not unique", d.name))?;
        data(d, &map)?;
    }
    if let Some(first) = m.events.first() {
        let mut event_names = HashSet::new();
        for e in &m.events {
            check(event_names.insert(e.name.as_str()), || format!("event name {:?} is not unique", e.name))?;
            check(e.timestamp_type == first.timestamp_type, || "events must share one timestamp type".to_owned())?;
            event(e, &metrics)?;
        }
    }
    Ok(())
}
