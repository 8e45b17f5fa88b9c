//! The peak heap of parsing each amplification payload of issue 11 (each
//! once drove the server past 1 GiB), measured with a counting global
//! allocator: parsing may cost a small multiple of the input, never what the
//! input expands into. One test, so that nothing else allocates meanwhile.

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::peak_of;

#[test]
fn parsing_costs_a_small_multiple_of_the_input() {
    let payloads: Vec<(&str, String)> = vec![
        (
            "1 MB name, 1,500 flakyFailure",
            format!(
                "<testsuite name='s'><testcase classname='c' name='{}'>{}</testcase></testsuite>",
                "n".repeat(1_000_000),
                "<flakyFailure/>".repeat(1500)
            ),
        ),
        (
            "20,000 flakyFailure in one testcase",
            format!("<testsuite name='s'><testcase classname='c' name='t'>{}</testcase></testsuite>", "<flakyFailure/>".repeat(20_000)),
        ),
        (
            "3,000 nested suites of 200-byte names",
            (0..3000).map(|i| format!("<testsuite name='{}'><testcase name='t{i}'/>", "s".repeat(200))).collect(),
        ),
        (
            "a 1 MB outer suite name",
            format!("<testsuite name='{}'><testsuite name='a'><testcase name='t'/></testsuite></testsuite>", "s".repeat(1_000_000)),
        ),
        (
            "5,000 testcases of 60 one-character failure lines each",
            format!(
                "<testsuite name='s'>{}</testsuite>",
                (0..5000).map(|i| format!("<testcase name='t{i}'><failure>{}</failure></testcase>", "x\n".repeat(60))).collect::<String>()
            ),
        ),
    ];
    for (what, xml) in payloads {
        check_peak(what, xml.as_bytes(), || {
            verdict_formats::junit::parse(xml.as_bytes()).map(|r| r.executions.len()).map_err(|e| e.to_string())
        });
    }
    // Buildkite JSON, read by the typed reader.
    let envelope = |data: String| format!(r#"{{"format":"json","run_env":{{"key":"k"}},"data":[{data}]}}"#);
    let json_payloads: Vec<(&str, String)> = vec![
        (
            "20 MB of one-character failure_expanded lines",
            envelope(format!(r#"{{"name":"t","failure_expanded":[{{"expanded":[{}"x"]}}]}}"#, "\"x\",".repeat(5_000_000))),
        ),
        (
            "1,000 results with 20 details of 500 lines",
            envelope(
                (0..1000)
                    .map(|i| {
                        let detail = format!(r#"{{"expanded":[{}"x"]}}"#, "\"x\",".repeat(499));
                        format!(r#"{{"name":"t{i}","failure_expanded":[{}]}}"#, vec![detail; 20].join(","))
                    })
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        ),
        (
            "3 results with 10 MB of system_out",
            envelope(vec![format!(r#"{{"name":"t","system_out":"{}"}}"#, "o".repeat(10 << 20)); 3].join(",")),
        ),
        ("2,000,000 empty spans", envelope(format!(r#"{{"name":"t","history":{{"children":[{}{{}}]}}}}"#, "{},".repeat(2_000_000)))),
        (
            "spans nested 100 deep, 20,000 times",
            envelope(format!(
                r#"{{"name":"t","history":{{"children":[{}]}}}}"#,
                vec![format!("{}{}", "[".repeat(100), "]".repeat(100)); 20_000].join(",")
            )),
        ),
        (
            "100,000 run_env keys",
            format!(
                r#"{{"format":"json","run_env":{{"key":"k",{}}},"data":[{{"name":"t"}}]}}"#,
                (0..100_000).map(|i| format!(r#""x{i}":"v""#)).collect::<Vec<_>>().join(",")
            ),
        ),
        (
            "one result with 200,000 properties",
            envelope(format!(
                r#"{{"name":"t","properties":{{{}}}}}"#,
                (0..200_000).map(|i| format!(r#""p{i}":"v""#)).collect::<Vec<_>>().join(",")
            )),
        ),
        ("one property with 500,000 values", envelope(format!(r#"{{"name":"t","properties":{{"p":[{}"v"]}}}}"#, "\"v\",".repeat(500_000)))),
        (
            "one result with 200,000 tags",
            envelope(format!(
                r#"{{"name":"t","tags":{{{}}}}}"#,
                (0..200_000).map(|i| format!(r#""t{i}":"v""#)).collect::<Vec<_>>().join(",")
            )),
        ),
        (
            "5,000 results with 4 KiB names",
            envelope((0..5000).map(|i| format!(r#"{{"name":"{i}{}"}}"#, "n".repeat(4090))).collect::<Vec<_>>().join(",")),
        ),
    ];
    for (what, body) in json_payloads {
        // What the reader before the typed one built first: a Value of the whole body.
        let (value_peak, _) = peak_of(|| serde_json::from_slice::<serde_json::Value>(body.as_bytes()).map(|_| ()));
        println!("{what}: a serde_json::Value of the body peaks at {value_peak} bytes ({:.1}x)", value_peak as f64 / body.len() as f64);
        check_peak(what, body.as_bytes(), || {
            verdict_formats::buildkite::parse_json_body(body.as_bytes()).map(|u| u.executions.len()).map_err(|e| e.message)
        });
    }
    reading_kept_program_metrics_costs_a_small_multiple_of_them();
}

/// A metrics.binproto whose one plotly metric's figure is `json`, built by
/// encoding: the captured file with its second metric's figure replaced.
fn binproto_with_figure(list: prost_types::ListValue) -> Vec<u8> {
    use prost::Message;
    use verdict_formats::resim_metrics::pb;
    let captured = include_bytes!("fixtures/resim/E2_metrics.binproto");
    let mut m = pb::JobMetrics::decode(&captured[..]).unwrap();
    let metric = &mut m.job_level_metrics.as_mut().unwrap().metrics[1];
    let mut figure = prost_types::Struct::default();
    figure.fields.insert("data".into(), prost_types::Value { kind: Some(prost_types::value::Kind::ListValue(list)) });
    metric.metric_values = Some(pb::MetricValues {
        metric_values: Some(pb::metric_values::MetricValues::PlotlyMetricValues(pb::PlotlyMetricValues { json: Some(figure) })),
    });
    m.encode_to_vec()
}

/// A program's file is decoded once, when `verdict report run` stores it (a
/// file of tiny elements can cost far more than its size there: 2,000,000
/// empty values, 4 MB, peaked at 271 MB); pages read the view kept beside
/// it, whose reading costs a small multiple of its size. (Called from the
/// one test: the allocator counts every thread.)
fn reading_kept_program_metrics_costs_a_small_multiple_of_them() {
    use prost_types::{ListValue, Struct, Value, value::Kind};
    let numbers = |n: usize| Value {
        kind: Some(Kind::ListValue(ListValue { values: (0..n).map(|i| Value { kind: Some(Kind::NumberValue(i as f64)) }).collect() })),
    };
    let trace = Struct { fields: [("y".to_owned(), numbers(1_000_000)), ("x".to_owned(), numbers(1_000_000))].into_iter().collect() };
    let bytes = binproto_with_figure(ListValue { values: vec![Value { kind: Some(Kind::StructValue(trace)) }] });
    check_peak("a figure of 1,000,000 points, decoded", &bytes, || {
        let m = verdict_formats::resim_metrics::decode(&bytes).map_err(|e| e.to_string())?;
        Ok(verdict_formats::resim_metrics::ProgramMetrics::of(&m).metrics.len())
    });
    let shown = verdict_formats::resim_metrics::ProgramMetrics::of(&verdict_formats::resim_metrics::decode(&bytes).unwrap());
    let view = serde_json::to_string(&shown).unwrap();
    check_peak("its kept view, read back", view.as_bytes(), || {
        serde_json::from_str::<verdict_formats::resim_metrics::ProgramMetrics>(&view).map(|m| m.metrics.len()).map_err(|e| e.to_string())
    });
}

/// Parse with `f` and check its peak heap against the size of `input`.
fn check_peak(what: &str, input: &[u8], f: impl FnOnce() -> Result<usize, String>) {
    let (peak, result) = peak_of(f);
    let ratio = peak as f64 / input.len() as f64;
    println!("{what}: {} bytes in, peak {peak} bytes ({ratio:.1}x), {result:?}", input.len());
    assert!(peak <= 12 * input.len() + (4 << 20), "{what}: {peak} bytes at the peak for {} bytes in", input.len());
}
