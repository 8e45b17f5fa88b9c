//! The peak heap of parsing each amplification payload of issue 11 (each
//! once drove the server past 1 GiB), measured with a counting global
//! allocator: parsing may cost a small multiple of the input, never what the
//! input expands into. One test, so that nothing else allocates meanwhile.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { System.dealloc(p, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Bytes allocated at the peak of `f`, above what was live before it.
fn peak_of<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let out = f();
    (PEAK.load(Ordering::Relaxed) - before, out)
}

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
        let (peak, result) = peak_of(|| verdict_formats::junit::parse(xml.as_bytes()).map(|r| r.executions.len()));
        let ratio = peak as f64 / xml.len() as f64;
        println!("{what}: {} bytes in, peak {peak} bytes ({ratio:.1}x), {result:?}", xml.len());
        assert!(peak <= 12 * xml.len() + (4 << 20), "{what}: {peak} bytes at the peak for {} bytes in", xml.len());
    }
}
