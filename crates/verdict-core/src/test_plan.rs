//! Test splitting (the flaky spec, §5): spread a suite's files (or test
//! cases) over N CI nodes by their timing history, so that every node
//! finishes at about the same time. Deterministic: every node that asks with
//! the same items computes the same plan.

use sha2::{Digest, Sha256};

/// What an item with no history at all is taken to cost (ms), as bktec's server does.
pub const DEFAULT_DURATION_MS: u64 = 1000;

/// Items with every estimate filled in: an unknown item gets the median of
/// the known ones, or `DEFAULT_DURATION_MS` when none is known.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimated {
    pub estimates_ms: Vec<u64>,
    /// The median the unknown items got (`None` when no item was known).
    pub median_ms: Option<f64>,
    pub known: usize,
}

/// `known_ms`: each item's estimate from its history, `None` without one.
pub fn estimate(known_ms: &[Option<u64>]) -> Estimated {
    let mut known: Vec<u64> = known_ms.iter().flatten().copied().collect();
    known.sort_unstable();
    let median_ms = match known.len() {
        0 => None,
        n if n % 2 == 1 => Some(known[n / 2] as f64),
        n => Some((known[n / 2 - 1] + known[n / 2]) as f64 / 2.0),
    };
    let fill = median_ms.map_or(DEFAULT_DURATION_MS, |m| m.round() as u64);
    Estimated { estimates_ms: known_ms.iter().map(|k| k.unwrap_or(fill)).collect(), median_ms, known: known.len() }
}

/// Longest processing time first: items by estimate (largest first, then
/// key), each to the least-loaded node (ties to the lowest index). Each
/// node's item indices in the order they were given, and its load (ms).
pub fn pack(keys: &[&str], estimates_ms: &[u64], nodes: usize) -> (Vec<Vec<usize>>, Vec<u64>) {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let nodes = nodes.max(1);
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by(|&a, &b| estimates_ms[b].cmp(&estimates_ms[a]).then_with(|| keys[a].cmp(keys[b])));
    let mut heap: BinaryHeap<Reverse<(u64, usize)>> = (0..nodes).map(|n| Reverse((0, n))).collect();
    let mut shares = vec![Vec::new(); nodes];
    let mut loads = vec![0; nodes];
    for i in order {
        let Reverse((load, node)) = heap.pop().expect("at least one node");
        shares[node].push(i);
        loads[node] = load + estimates_ms[i];
        heap.push(Reverse((loads[node], node)));
    }
    (shares, loads)
}

/// The nodes to use under `max_parallelism`: the fewest (at least
/// `min_nodes`) whose plan finishes within `target_ms`, else the maximum.
pub fn parallelism_for(keys: &[&str], estimates_ms: &[u64], min_nodes: usize, max_parallelism: usize, target_ms: u64) -> usize {
    let max = max_parallelism.max(min_nodes.max(1));
    let total: u64 = estimates_ms.iter().sum();
    let longest = estimates_ms.iter().copied().max().unwrap_or(0);
    for p in min_nodes.max(1)..=max {
        // No plan on p nodes beats these bounds: skip the packing when they already miss.
        if longest > target_ms || total.div_ceil(p as u64) > target_ms {
            continue;
        }
        let (_, loads) = pack(keys, estimates_ms, p);
        if loads.into_iter().max().unwrap_or(0) <= target_ms {
            return p;
        }
    }
    max
}

/// bktec's fallback when no plan can be had: keys sorted, the i-th to node `i % nodes`.
pub fn fallback(keys: &[&str], nodes: usize) -> Vec<Vec<String>> {
    let nodes = nodes.max(1);
    let mut sorted: Vec<&str> = keys.to_vec();
    sorted.sort_unstable();
    let mut shares = vec![Vec::new(); nodes];
    for (i, k) in sorted.into_iter().enumerate() {
        shares[i % nodes].push(k.to_owned());
    }
    shares
}

/// `verdict plan`'s default identifier: the same on every node of one build without coordination.
pub fn default_identifier(commit: &str, nodes: usize, files: &[String]) -> String {
    let mut sorted: Vec<&str> = files.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    let text = format!("{commit}\n{nodes}\n{}", sorted.join("\n"));
    hex_prefix(&Sha256::digest(text.as_bytes()), 8)
}

fn hex_prefix(bytes: &[u8], n: usize) -> String {
    bytes.iter().take(n).map(|b| format!("{b:02x}")).collect()
}

/// The median of a test's durations (seconds), in ms.
pub fn p50_ms(durations_s: &[f64]) -> Option<u64> {
    p50_ms_in(durations_s, &mut Vec::new())
}

/// As `p50_ms`, working in `scratch` (a plan takes the median of every test's durations).
pub fn p50_ms_in(durations_s: &[f64], scratch: &mut Vec<f64>) -> Option<u64> {
    scratch.clear();
    scratch.extend(durations_s.iter().copied().filter(|x| x.is_finite() && *x >= 0.0));
    let d = scratch;
    if d.is_empty() {
        return None;
    }
    let n = d.len();
    let (low, upper, _) = d.select_nth_unstable_by(n / 2, f64::total_cmp);
    let upper = *upper;
    // An even count: the mean of the two middle values (the lower one is the largest of the low half).
    let m = if n % 2 == 1 { upper } else { (low.iter().copied().fold(f64::MIN, f64::max) + upper) / 2.0 };
    Some((m * 1000.0).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(shares: &[Vec<usize>], keys: &[&str]) -> Vec<Vec<String>> {
        shares.iter().map(|s| s.iter().map(|&i| keys[i].to_owned()).collect()).collect()
    }

    /// The spec's acceptance check (§8, plan packing).
    #[test]
    fn packing_follows_the_spec_example() {
        let keys = ["a", "b", "c", "d", "e", "f"];
        let ms = [10_000, 8_000, 7_000, 5_000, 4_000, 2_000];
        let (shares, loads) = pack(&keys, &ms, 2);
        assert_eq!(names(&shares, &keys), [vec!["a", "d", "e"], vec!["b", "c", "f"]]);
        assert_eq!(loads, [19_000, 17_000]);

        let items: Vec<Option<u64>> = ms.iter().map(|m| Some(*m)).chain([None]).collect();
        let e = estimate(&items);
        assert_eq!((e.median_ms, e.estimates_ms[6], e.known), (Some(6_000.0), 6_000, 6));
        assert!((e.known as f64 / items.len() as f64 - 0.857).abs() < 0.001);
    }

    #[test]
    fn nothing_known_takes_the_default_and_every_node_is_present() {
        let items = [None];
        let e = estimate(&items);
        assert_eq!((e.median_ms, e.estimates_ms.as_slice()), (None, &[DEFAULT_DURATION_MS][..]));
        let (shares, loads) = pack(&["x"], &e.estimates_ms, 3);
        assert_eq!((shares.len(), loads), (3, vec![1000, 0, 0]));
    }

    #[test]
    fn ties_go_by_key_and_to_the_lowest_node() {
        let keys = ["b", "a", "c", "d"];
        let (shares, _) = pack(&keys, &[5, 5, 5, 5], 2);
        assert_eq!(names(&shares, &keys), [vec!["a", "c"], vec!["b", "d"]]);
    }

    #[test]
    fn the_fallback_is_bktecs() {
        assert_eq!(fallback(&["e", "c", "a", "d", "b"], 2), [vec!["a", "c", "e"], vec!["b", "d"]]);
    }

    #[test]
    fn parallelism_is_the_fewest_nodes_that_meet_the_target() {
        let keys = ["a", "b", "c", "d"];
        let ms = [4_000, 4_000, 4_000, 4_000];
        assert_eq!(parallelism_for(&keys, &ms, 1, 10, 8_000), 2);
        assert_eq!(parallelism_for(&keys, &ms, 3, 10, 8_000), 3, "never below what the job asked for");
        assert_eq!(parallelism_for(&keys, &ms, 1, 3, 1_000), 3, "the target cannot be met: the maximum");
    }

    #[test]
    fn identifiers_ignore_file_order_and_medians_are_in_ms() {
        let a = default_identifier("c0ffee", 4, &["b.py".into(), "a.py".into()]);
        assert_eq!(a, default_identifier("c0ffee", 4, &["a.py".into(), "b.py".into()]));
        assert_ne!(a, default_identifier("c0ffee", 5, &["a.py".into(), "b.py".into()]));
        assert_eq!(a.len(), 16);
        assert_eq!(p50_ms(&[1.0, 3.0, 2.0]), Some(2_000));
        assert_eq!(p50_ms(&[1.0, 2.0]), Some(1_500));
        assert_eq!(p50_ms(&[]), None);
    }
}
