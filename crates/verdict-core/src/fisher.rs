//! Fisher's exact test on 2×2 tables, one-sided, as SciPy's
//! `fisher_exact(table, alternative=...)` computes it.

use statrs::function::factorial::ln_binomial;

/// A 2×2 contingency table `[[a, b], [c, d]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    pub a: u64,
    pub b: u64,
    pub c: u64,
    pub d: u64,
}

impl Table {
    pub fn new(rows: [[u64; 2]; 2]) -> Self {
        Table { a: rows[0][0], b: rows[0][1], c: rows[1][0], d: rows[1][1] }
    }

    /// P(X = k) for the top-left cell X under fixed margins (hypergeometric).
    fn point(&self, k: u64) -> f64 {
        let (row1, col1, n) = (self.a + self.b, self.a + self.c, self.a + self.b + self.c + self.d);
        (ln_binomial(col1, k) + ln_binomial(n - col1, row1 - k) - ln_binomial(n, row1)).exp()
    }

    fn support(&self) -> (u64, u64) {
        let (row1, col1, n) = (self.a + self.b, self.a + self.c, self.a + self.b + self.c + self.d);
        ((row1 + col1).saturating_sub(n), row1.min(col1))
    }
}

/// One-sided p-value for an odds ratio greater than 1: P(X ≥ a).
pub fn greater(t: Table) -> f64 {
    let (_, hi) = t.support();
    (t.a..=hi).map(|k| t.point(k)).sum::<f64>().min(1.0)
}

/// One-sided p-value for an odds ratio less than 1: P(X ≤ a).
pub fn less(t: Table) -> f64 {
    let (lo, _) = t.support();
    (lo..=t.a).map(|k| t.point(k)).sum::<f64>().min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_scipy() {
        // Exact hypergeometric sums (Python fractions), as scipy.stats.fisher_exact gives them.
        assert!((greater(Table::new([[8, 2], [1, 5]])) - 0.0244755).abs() < 1e-6);
        // and with alternative="less":
        assert!((less(Table::new([[8, 2], [1, 5]])) - 0.9991259).abs() < 1e-6);
        assert!((greater(Table::new([[0, 0], [0, 0]])) - 1.0).abs() < 1e-12);
    }
}
