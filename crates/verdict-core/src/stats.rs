//! Statistics over plain numbers.

use serde::Serialize;

/// A proportion with its Wilson score interval, so that 1/1 and 990/1000 are
/// not presented as the same claim.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Proportion {
    pub successes: u64,
    pub trials: u64,
    pub rate: f64,
    pub low: f64,
    pub high: f64,
}

/// z for a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// Passed / (passed + failed) with its 95% Wilson interval; `None` when the
/// test has no passed or failed execution (reliability is undefined then).
pub fn reliability(passed: u64, failed: u64) -> Option<Proportion> {
    wilson(passed, passed + failed, Z95)
}

pub fn wilson(successes: u64, trials: u64, z: f64) -> Option<Proportion> {
    if trials == 0 || successes > trials {
        return None;
    }
    let n = trials as f64;
    let p = successes as f64 / n;
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    Some(Proportion { successes, trials, rate: p, low: (centre - half).max(0.0), high: (centre + half).min(1.0) })
}

/// Consecutive clean runs needed before a test that flaked can be called
/// fixed: the smallest n for which the 95% Wilson upper bound of its failure
/// rate with no failures, z²/(n + z²), is below `target`, that is
/// n ≥ z²(1 − t)/t with z = 1.96 (the dashboard spec, §4).
pub fn clean_runs_to_call_fixed(target: f64) -> u64 {
    const Z: f64 = 1.96;
    let t = target.clamp(1e-9, 1.0);
    // Rounded to 9 decimals first, so that a product that is whole in exact
    // arithmetic is not pushed up by floating-point error.
    let n = (Z * Z * (1.0 - t) / t * 1e9).round() / 1e9;
    n.ceil() as u64
}

/// The q-quantile (0..=1) of values by linear interpolation between closest
/// ranks (numpy's default); `None` for no values. Sorts in place.
pub fn quantile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (values.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    Some(values[lo] + (values[hi] - values[lo]) * (pos - lo as f64))
}

/// Several quantiles of `values` (each in `0..=1`, linear interpolation as
/// `quantile`) without sorting them: an order statistic each, found by
/// selection on the part of the slice right of the last one (O(n) apiece).
/// `qs` must be ascending; the values are reordered.
pub fn quantiles(values: &mut [f64], qs: &[f64]) -> Option<Vec<f64>> {
    if values.is_empty() {
        return None;
    }
    let n = values.len();
    let mut out = Vec::with_capacity(qs.len());
    // Indices below `done` are never selected again (the last one selected holds its order statistic).
    let mut done = 0;
    let nth = |values: &mut [f64], k: usize, done: &mut usize| -> f64 {
        if k >= *done {
            values[*done..].select_nth_unstable_by(k - *done, f64::total_cmp);
            *done = k + 1;
        }
        values[k]
    };
    for &q in qs {
        let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        let a = nth(values, lo, &mut done);
        let b = if hi == lo { a } else { nth(values, hi, &mut done) };
        out.push(a + (b - a) * (pos - lo as f64));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn quantiles_by_selection_equal_quantiles_by_sorting() {
        let data: Vec<f64> = (0..1001).map(|i| ((i * 7919) % 1009) as f64 / 10.0).collect();
        let qs = [0.0, 0.25, 0.5, 0.5, 0.75, 0.95, 1.0];
        let mut a = data.clone();
        let got = quantiles(&mut a, &qs).unwrap();
        for (q, g) in qs.iter().zip(got) {
            let mut b = data.clone();
            assert_eq!(Some(g), quantile(&mut b, *q), "q {q}");
        }
        for n in 1..6 {
            let v: Vec<f64> = (0..n).map(|i| (n - i) as f64).collect();
            for q in [0.0, 0.3, 0.5, 0.95, 1.0] {
                assert_eq!(quantiles(&mut v.clone(), &[q]).unwrap()[0], quantile(&mut v.clone(), q).unwrap(), "n {n} q {q}");
            }
        }
        assert_eq!(quantiles(&mut [], &[0.5]), None);
    }

    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-4
    }

    #[test]
    fn clean_runs_to_call_fixed_match_the_spec() {
        assert_eq!(clean_runs_to_call_fixed(0.05), 73);
        assert_eq!(clean_runs_to_call_fixed(0.02), 189);
        assert_eq!(clean_runs_to_call_fixed(0.01), 381);
        // At n the bound is below target, at n - 1 it is not.
        for t in [0.05, 0.02, 0.01] {
            let n = clean_runs_to_call_fixed(t) as f64;
            let bound = |n: f64| 1.96f64.powi(2) / (n + 1.96f64.powi(2));
            assert!(bound(n) <= t && bound(n - 1.0) > t, "{t}");
        }
    }

    #[test]
    fn wilson_matches_reference_values() {
        // Reference: statsmodels proportion_confint(8, 10, method="wilson")
        let p = reliability(8, 2).unwrap();
        assert!(close(p.rate, 0.8));
        assert!(close(p.low, 0.4902), "{p:?}");
        assert!(close(p.high, 0.9433), "{p:?}");
        // 1/1 is a much weaker claim than 990/1000.
        let one = reliability(1, 0).unwrap();
        let many = reliability(990, 10).unwrap();
        assert!(one.low < 0.25 && many.low > 0.98, "{one:?} {many:?}");
        assert!(reliability(0, 0).is_none());
    }

    #[test]
    fn quantiles_interpolate() {
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(quantile(&mut v, 0.5), Some(2.5));
        assert_eq!(quantile(&mut v, 0.0), Some(1.0));
        assert_eq!(quantile(&mut v, 1.0), Some(4.0));
        assert!(close(quantile(&mut v, 0.95).unwrap(), 3.85));
        assert_eq!(quantile(&mut [], 0.5), None);
    }
}
