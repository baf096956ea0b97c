//! Hyperband (Li et al., JMLR 2018) run asynchronously: brackets of successive halving with
//! ASHA's promotion inside each (no waiting for a rung to fill). With the least resource
//! `first` (`after_epochs`), the most `max` (the runs' `epochs`) and the reduction `eta`,
//! `s_max = ⌊log_eta(max / first)⌋`; bracket `s` (from `s_max`, the most aggressive, down to
//! 0, which stops nothing) has its first rung at `first · eta^(s_max - s)` and keeps the top
//! 1/eta of its own runs at each rung. A run's bracket follows from its position (a search's
//! trial number, else the run's index in the plan) alone: positions go round the brackets in
//! proportion to Hyperband's numbers of configurations `n_s = ⌈(s_max + 1)/(s + 1) · eta^s⌉`,
//! interleaved ([`Hyperband::bracket`]).

use super::Rule;

#[derive(Debug)]
pub struct Hyperband {
    pub eta: u32,
}

impl Hyperband {
    fn eta(&self) -> i64 {
        self.eta.max(2) as i64
    }

    /// `⌊log_eta(max / first)⌋` in integers.
    pub fn s_max(&self, first: i64, max: i64) -> u32 {
        let (mut s, mut r) = (0, first.max(1));
        while r * self.eta() <= max {
            r *= self.eta();
            s += 1;
        }
        s
    }

    /// Bracket `s`'s (configurations, resource) at each of its rungs, as Hyperband's table
    /// gives them (`n_i = ⌊n / eta^i⌋`, `r_i = r · eta^i`) with `r = max · eta^-s`.
    pub fn bracket_table(&self, s: u32, first: i64, max: i64) -> Vec<(i64, f64)> {
        let s_max = self.s_max(first, max) as i64;
        let eta = self.eta() as f64;
        let n = ((s_max as f64 + 1.0) / (s as f64 + 1.0) * eta.powi(s as i32)).ceil() as i64;
        let r = max as f64 * eta.powi(-(s as i32));
        (0..=s as i32)
            .map(|i| (n / self.eta().pow(i as u32), r * eta.powi(i)))
            .collect()
    }

    /// The bracket `s` of position `p`. Positions go round the brackets in rounds of
    /// `Σ n_s` positions, bracket s taking `n_s` of each round, interleaved by smooth weighted
    /// round-robin (each step adds every bracket's `n_s` to its credit and takes the bracket
    /// of most credit, `s_max` first on ties, which pays the round's total): so a small budget
    /// already meets every bracket, rather than `n_{s_max}` aggressive trials first.
    pub fn bracket(&self, p: usize, first: i64, max: i64) -> u32 {
        let s_max = self.s_max(first, max);
        let n: Vec<(u32, i64)> = (0..=s_max)
            .rev()
            .map(|s| (s, self.bracket_table(s, first, max)[0].0.max(1)))
            .collect();
        let round: i64 = n.iter().map(|(_, c)| c).sum();
        let mut credit = vec![0i64; n.len()];
        let mut chosen = 0;
        for _ in 0..=(p % round as usize) {
            for (c, (_, w)) in credit.iter_mut().zip(&n) {
                *c += w;
            }
            chosen = (0..n.len())
                .max_by(|&a, &b| credit[a].cmp(&credit[b]).then(b.cmp(&a)))
                .expect("a bracket");
            credit[chosen] -= round;
        }
        n[chosen].0
    }

    /// The rung epochs of bracket `s` (where it decides), in whole epochs: its `s` halvings
    /// at `first · eta^(s_max - s + i)`, i = 0 … s−1, those below `max`; bracket 0 has none.
    pub fn rungs(&self, s: u32, first: i64, max: i64) -> Vec<i64> {
        let s_max = self.s_max(first, max);
        let s = s.min(s_max);
        let mut r = first.max(1) * self.eta().pow(s_max - s);
        let mut out = Vec::new();
        for _ in 0..s {
            if r >= max {
                break;
            }
            out.push(r);
            r *= self.eta();
        }
        out
    }
}

impl Rule for Hyperband {
    fn name(&self) -> String {
        format!("hyperband (eta {})", self.eta)
    }

    fn bracket(&self, position: usize, first: i64, max: i64) -> u32 {
        self.bracket(position, first, max)
    }

    fn has_brackets(&self) -> bool {
        true
    }

    fn decides_at(&self, epoch: i64, first: i64, max: i64, bracket: u32) -> bool {
        self.rungs(bracket, first, max).contains(&epoch)
    }

    fn rung_eta(&self) -> Option<u32> {
        Some(self.eta)
    }

    fn threshold(&self, value: f64, others: &[f64]) -> Option<f64> {
        super::asha::top_fraction(value, others, self.eta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Hyperband paper's Table 1 (R = 81, eta = 3), worked by hand there: (n_i, r_i) per
    /// bracket.
    #[test]
    fn the_papers_bracket_table() {
        let h = Hyperband { eta: 3 };
        assert_eq!(h.s_max(1, 81), 4);
        let table = |s| {
            h.bracket_table(s, 1, 81)
                .into_iter()
                .map(|(n, r)| (n, r.round() as i64))
                .collect::<Vec<_>>()
        };
        assert_eq!(table(4), [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)]);
        assert_eq!(table(3), [(34, 3), (11, 9), (3, 27), (1, 81)]);
        assert_eq!(table(2), [(15, 9), (5, 27), (1, 81)]);
        assert_eq!(table(1), [(8, 27), (2, 81)]);
        assert_eq!(table(0), [(5, 81)]);
        assert_eq!(h.rungs(4, 1, 81), [1, 3, 9, 27]);
        assert_eq!(h.rungs(3, 1, 81), [3, 9, 27]);
        assert_eq!(h.rungs(1, 1, 81), [27]);
        assert!(h.rungs(0, 1, 81).is_empty());
    }

    /// Positions 0..143 are one round: 81 in bracket 4, then 34, 15, 8, 5 of the others,
    /// interleaved; the next round repeats it. For 9 epochs from 1 (eta 3: n = 9, 5, 3), the
    /// credits worked by hand give brackets 2, 1, 2, 0, 2, 1, 2 first.
    #[test]
    fn positions_go_round_the_brackets_in_proportion() {
        let h = Hyperband { eta: 3 };
        let mut counts = [0usize; 5];
        for p in 0..143 {
            counts[h.bracket(p, 1, 81) as usize] += 1;
        }
        assert_eq!(counts, [5, 8, 15, 34, 81]);
        assert_eq!((h.bracket(0, 1, 81), h.bracket(1, 1, 81)), (4, 3));
        for p in 0..143 {
            assert_eq!(h.bracket(p, 1, 81), h.bracket(p + 143, 1, 81));
        }
        assert_eq!(h.s_max(1, 9), 2);
        assert_eq!(h.rungs(2, 1, 9), [1, 3]);
        assert_eq!(h.rungs(1, 1, 9), [3]);
        // 10 epochs: the same brackets; bracket 0 still stops nothing.
        assert_eq!(h.rungs(2, 1, 10), [1, 3]);
        assert!(h.rungs(0, 1, 10).is_empty());
        let first: Vec<u32> = (0..7).map(|p| h.bracket(p, 1, 9)).collect();
        assert_eq!(first, [2, 1, 2, 0, 2, 1, 2]);
        let mut counts = [0usize; 3];
        for p in 0..17 {
            counts[h.bracket(p, 1, 9) as usize] += 1;
        }
        assert_eq!(counts, [3, 5, 9]);
    }
}
