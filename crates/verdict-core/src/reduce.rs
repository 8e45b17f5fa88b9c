//! Reducing a chart's points to what a fixed width can show: a point cloud
//! is cut into one bucket per horizontal unit and keeps each bucket's
//! minimum and maximum, so spikes survive (the dashboard spec, §5.4).

/// The indices of `points` (x, y), sorted by x, to draw at `width` units
/// over `[x0, x1)`: at most two per unit (its lowest and highest y), in the
/// input's order. The global minimum and maximum are always kept.
pub fn min_max_buckets(points: &[(f64, f64)], x0: f64, x1: f64, width: u32) -> Vec<usize> {
    let width = width.max(1) as usize;
    if points.len() <= 2 * width {
        return (0..points.len()).collect();
    }
    let span = (x1 - x0).max(f64::MIN_POSITIVE);
    // Per bucket: (index of min y, index of max y).
    let mut buckets: Vec<Option<(usize, usize)>> = vec![None; width];
    for (i, &(x, y)) in points.iter().enumerate() {
        let b = (((x - x0) / span) * width as f64).floor().clamp(0.0, (width - 1) as f64) as usize;
        buckets[b] = Some(match buckets[b] {
            None => (i, i),
            Some((lo, hi)) => (if y < points[lo].1 { i } else { lo }, if y > points[hi].1 { i } else { hi }),
        });
    }
    let mut keep: Vec<usize> = buckets.into_iter().flatten().flat_map(|(lo, hi)| [lo, hi]).collect();
    keep.sort_unstable();
    keep.dedup();
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator, so the property runs are repeatable.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    #[test]
    fn never_more_than_two_per_unit_min_and_max_kept_order_preserved() {
        let mut rng = Lcg(7);
        for case in 0..200 {
            let n = 1 + (rng.next() * 20_000.0) as usize;
            let width = 1 + (rng.next() * 960.0) as u32;
            let mut xs: Vec<f64> = (0..n).map(|_| rng.next() * 1000.0).collect();
            xs.sort_by(f64::total_cmp);
            let points: Vec<(f64, f64)> = xs.iter().map(|&x| (x, (rng.next() * 100.0).powi(3))).collect();
            let kept = min_max_buckets(&points, 0.0, 1000.0, width);
            assert!(kept.len() <= 2 * width as usize, "case {case}: {} points for width {width}", kept.len());
            assert!(kept.windows(2).all(|w| w[0] < w[1]), "case {case}: input order kept");
            let argmin = (0..n).min_by(|&a, &b| points[a].1.total_cmp(&points[b].1)).unwrap();
            let argmax = (0..n).max_by(|&a, &b| points[a].1.total_cmp(&points[b].1)).unwrap();
            let (kmin, kmax) = kept.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &i| (lo.min(points[i].1), hi.max(points[i].1)));
            assert_eq!((kmin, kmax), (points[argmin].1, points[argmax].1), "case {case}: the global min and max are kept");
        }
    }

    #[test]
    fn few_points_are_all_kept_and_a_spike_survives() {
        let points: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 1.0)).collect();
        assert_eq!(min_max_buckets(&points, 0.0, 10.0, 960), (0..10).collect::<Vec<_>>());
        let mut flat: Vec<(f64, f64)> = (0..100_000).map(|i| (i as f64, 1.0)).collect();
        flat[54_321].1 = 500.0;
        let kept = min_max_buckets(&flat, 0.0, 100_000.0, 100);
        assert!(kept.contains(&54_321));
        assert!(kept.len() <= 200);
    }
}
