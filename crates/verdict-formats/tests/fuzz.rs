//! The stable fuzz harness (issue 11): each parser target is fed mutations of
//! a seed corpus (real files from the fixtures plus edge cases), with a fixed
//! budget of inputs so that CI is deterministic and quick. Properties checked
//! on every input: no panic; the peak heap stays within a small multiple of
//! the input (a counting allocator); what a parse accepts is within the caps
//! (at most 5000 results, every kept record storable).
//!
//! `VERDICT_FUZZ_INPUTS` sets the inputs per target (default 20,000) and
//! `VERDICT_FUZZ_SEED` the first seed; `scripts/fuzz` runs the same targets
//! longer in release mode, and with cargo-fuzz where a nightly toolchain is
//! installed (`fuzz/`).

use std::panic::{AssertUnwindSafe, catch_unwind};
use verdict_formats::{buildkite, junit, pytest_monitor, resim_metrics};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::peak_of;

/// xorshift64*: deterministic, so a failing input can be regenerated from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One mutation of a seed: one to four edits among byte flips, dictionary
/// tokens, deletions, duplications (amplification), splices with another
/// seed and truncation.
fn mutate(rng: &mut Rng, corpus: &[Vec<u8>], dict: &[&[u8]]) -> Vec<u8> {
    let mut v = corpus[rng.below(corpus.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(7) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 => {
                let token = dict[rng.below(dict.len())];
                v.splice(at..at, token.iter().copied());
            }
            2 if !v.is_empty() => {
                let end = (at + 1 + rng.below(64)).min(v.len());
                v.drain(at.min(end)..end);
            }
            3 if !v.is_empty() => {
                let start = rng.below(v.len());
                let end = (start + 1 + rng.below(256)).min(v.len());
                let piece: Vec<u8> = v[start..end].to_vec();
                for _ in 0..1 + rng.below(50) {
                    v.splice(at..at, piece.iter().copied());
                }
            }
            4 => {
                let other = &corpus[rng.below(corpus.len())];
                let from = rng.below(other.len() + 1);
                v.truncate(at);
                v.extend_from_slice(&other[from..]);
            }
            5 => v.truncate(at),
            _ => {
                let i = rng.below(v.len() + 1);
                v.insert(i, rng.next() as u8);
            }
        }
    }
    v
}

fn inputs_per_target() -> usize {
    std::env::var("VERDICT_FUZZ_INPUTS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000)
}

/// Run `check` on the seeds and on `n` mutations; panics (with the input's
/// seed) on the first input that breaks a property. Returns how many inputs
/// were accepted.
fn run(target: &str, corpus: &[Vec<u8>], dict: &[&[u8]], check: impl Fn(&[u8]) -> Result<bool, String>) -> usize {
    let n = inputs_per_target();
    let first_seed: u64 = std::env::var("VERDICT_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    let mut accepted = 0;
    let inputs = corpus.iter().cloned().map(|c| (0, c)).chain((0..n as u64).map(|i| {
        let seed = first_seed + i;
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        (seed, mutate(&mut rng, corpus, dict))
    }));
    for (seed, input) in inputs {
        let (peak, outcome) = peak_of(|| catch_unwind(AssertUnwindSafe(|| check(&input))));
        let show = || String::from_utf8_lossy(&input[..input.len().min(300)]).into_owned();
        match outcome {
            Err(_) => panic!("{target}: panic on the input of seed {seed}: {}", show()),
            Ok(Err(why)) => panic!("{target}: {why}, on the input of seed {seed}: {}", show()),
            Ok(Ok(ok)) => accepted += usize::from(ok),
        }
        assert!(peak <= 16 * input.len() + (8 << 20), "{target}: peak heap {peak} bytes for {} bytes in (seed {seed})", input.len());
    }
    println!("{target}: {} inputs ({} seeds, {n} mutations), {accepted} accepted, no property broken", corpus.len() + n, corpus.len());
    accepted
}

fn fixtures(dir: &str, ext: &str) -> Vec<Vec<u8>> {
    let dir = format!("{}/{dir}", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == ext)).collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// Every record an accepted upload holds can be stored: it passes the
/// checks the store's writer relies on, and there are at most 5000.
fn storable(up: &verdict_core::Upload) -> Result<(), String> {
    if up.executions.len() > verdict_core::MAX_RESULTS_PER_UPLOAD {
        return Err(format!("{} results accepted", up.executions.len()));
    }
    if let Some(p) = up.executions.iter().find_map(|e| e.problem()) {
        return Err(format!("an accepted record is invalid: {p}"));
    }
    if up.executions.iter().any(|e| e.name.contains('\0') || e.scope.contains('\0')) {
        return Err("a NUL reached a stored name".into());
    }
    Ok(())
}

#[test]
fn parsers_hold_their_properties_on_mutated_inputs() {
    let mut junit_corpus = fixtures("tests/fixtures", "xml");
    junit_corpus.push(br#"<?xml version="1.0" encoding="ISO-8859-1"?><testsuite name="s"><testcase classname="c" name="t" time="0,5"><flakyFailure/><failure message="m">x</failure><system-out>o</system-out><properties><property name="p" value="v"/></properties></testcase></testsuite>"#.to_vec());
    let junit_dict: &[&[u8]] = &[
        b"<testsuite name='a'>",
        b"</testsuite>",
        b"<testcase name='t'>",
        b"<testcase classname='c' name=''/>",
        b"</testcase>",
        b"<failure message='m'>",
        b"</failure>",
        b"<error/>",
        b"<skipped/>",
        b"<flakyFailure/>",
        b"<rerunError/>",
        b"<system-out>",
        b"</system-out>",
        b"<property name='p' value='v'/>",
        b"time='-1'",
        b"time='1,234'",
        b"&amp;",
        b"&#0;",
        b"&#x1F600;",
        b"<![CDATA[",
        b"]]>",
        b"<!DOCTYPE x>",
        b"&xxe;",
        b"\xff\xfe",
        b"\0",
        b"<?xml version='1.0' encoding='UTF-16'?>",
    ];
    let junit_accepted = run("JUnit", &junit_corpus, junit_dict, |b| match junit::parse(b) {
        Ok(r) if r.executions.len() > verdict_core::MAX_RESULTS_PER_UPLOAD => Err(format!("{} results", r.executions.len())),
        Ok(_) => Ok(true),
        Err(_) => Ok(false),
    });
    assert!(junit_accepted > 100, "the mutations should leave many files valid: {junit_accepted}");

    let mut json_corpus = fixtures("../verdict-server/tests/fixtures", "json");
    json_corpus.push(br#"{"format":"json","run_env":{"key":"k","branch":"b","number":3},"tags":{"t":"v"},"data":[{"name":"n","scope":"s","result":"failed","failure_reason":"r","failure_expanded":[{"expanded":["a","b"],"backtrace":["c"]}],"history":{"duration":0.5,"children":[{"section":"sql","detail":{"query":"q"},"children":[{}]}]},"attempt":1,"properties":{"p":["a","b"],"q":"c"},"metrics":{"m":1.5,"n":-2e3},"tags":{"x":"y"},"system_out":"o"}]}"#.to_vec());
    let json_dict: &[&[u8]] = &[
        b"{",
        b"}",
        b"[",
        b"]",
        b",",
        b":",
        b"\"",
        b"null",
        b"true",
        b"-1e999",
        b"1e308",
        b"\"\\u0000\"",
        b"\"\\ud800\"",
        b"\"name\":",
        b"\"result\":\"failed\"",
        b"\"failure_expanded\":[{\"expanded\":[\"x\"]}]",
        b"\"history\":{\"children\":[[[[",
        b"\"attempt\":4294967296",
        b"\"properties\":{\"p\":[1]}",
        b"\"metrics\":{\"m\":1e999}",
        b"\"data\":",
        b"\"format\":\"junit\"",
        b"\"run_env\":{\"key\":\"k\"}",
    ];
    let json_accepted = run("Buildkite JSON", &json_corpus, json_dict, |b| match buildkite::parse_json_body(b) {
        Ok(up) => storable(&up).map(|()| true),
        Err(_) => Ok(false),
    });
    assert!(json_accepted > 100, "{json_accepted}");

    let monitor_corpus: Vec<Vec<u8>> = vec![
        br#"{"h":"c1","cpu_count":2,"cpu_frequency":2.5,"cpu_type":"x","cpu_vendor":"v","ram_total":1,"machine_node":"n","machine_type":"x86_64","machine_arch":"64bit","system_info":"L","python_info":"3"}"#.to_vec(),
        br#"{"session_h":"s1","run_date":"2026-11-22T02:59:08.427059","scm_ref":null,"description":{"pipeline_branch":"main","pipeline_build_no":"7","b":1,"c":true}}"#.to_vec(),
        br#"{"session_h":"s","context_h":"c","item_start_time":"2026-11-22T02:59:07","item_path":"pkg.t","item":"test_x","item_variant":"test_x[1]","item_fs_loc":"pkg/t.py","kind":"function","component":"","total_time":1,"user_time":0.5,"kernel_time":0.1,"cpu_usage":0.6,"mem_usage":2.5}"#.to_vec(),
    ];
    let monitor_dict: &[&[u8]] = &[b"{", b"}", b"\"", b"null", b"\"\\u0000\"", b"1e999", b"-1", b"\"2026-13-40\"", b"[", b"]"];
    run("pytest-monitor", &monitor_corpus, monitor_dict, |b| {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(b) else {
            return Ok(false);
        };
        let ok = [pytest_monitor::parse_context(&v).is_ok(), pytest_monitor::parse_metric(&v).is_ok()];
        let session = pytest_monitor::parse_session(&v, Some("h"));
        if let Ok(mut s) = session {
            pytest_monitor::order_description(&mut s, b);
            if s.description.0.iter().any(|(k, _)| k.contains('\0')) {
                return Err("a NUL reached a description key".into());
            }
            return Ok(true);
        }
        Ok(ok.contains(&true))
    });

    // metrics.binproto (what `verdict report run` reads from a program): the
    // captured default_report_metrics files; what decodes and validates must
    // also turn into what a page shows.
    let binproto_corpus = fixtures("tests/fixtures/resim", "binproto");
    let binproto_dict: &[&[u8]] =
        &[b"\x0a\x00", b"\x12\xff\xff\xff\x0f", b"\x20\x05", b"\x0a\x24", b"\x3a\x02\x0a\x00", b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"];
    let binproto_accepted = run("metrics.binproto", &binproto_corpus, binproto_dict, |b| match resim_metrics::decode(b) {
        Ok(m) => {
            let shown = resim_metrics::ProgramMetrics::of(&m);
            serde_json::to_vec(&shown).map_err(|e| format!("the shown metrics do not serialise: {e}"))?;
            Ok(true)
        }
        Err(_) => Ok(false),
    });
    assert!(binproto_accepted >= binproto_corpus.len(), "{binproto_accepted}");
}
