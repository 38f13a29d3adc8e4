//! Longest common subsequence of two sequences by Myers' O(ND) algorithm in linear space
//! (bidirectional search for the middle of an optimal path, then divide and conquer), with the
//! common prefix and suffix stripped at every step.
//!
//! Cost cap: when the search for a middle point passes `max(256, sqrt(N + M))` edits, the
//! range is split at the forward frontier point that got furthest (`x + y` largest), as GNU
//! diff does for expensive inputs. The result is then still a common subsequence, but possibly
//! not a longest one; in exchange the time stays near `O((N + M) · cap)` on inputs with many
//! edits. Inputs with fewer than 512 differences are always diffed exactly.
//!
//! Work budget: once the searches have computed `max(2^26, 64 · (N + M))` frontier entries and
//! snake steps in all, ranges not yet split stay unmatched (all removed, all inserted). This
//! bounds unrelated inputs (1M slots against 1M unrelated ones: under a second) and is far from
//! reached by edited programs (1M slots with 5,000 edits use about a quarter of it).
//!
//! Works on any `PartialEq` element, so the same code serves [`super::diff`] (normalised
//! instruction keys) and the raw-slot baseline of the benchmark.

/// The matched index pairs `(i, j)` (`a[i] == b[j]`) of a common subsequence of `a` and `b`,
/// increasing in both components.
pub fn matches<T: PartialEq>(a: &[T], b: &[T]) -> Vec<(u32, u32)> {
    matches_within(a, b, budget(a.len() + b.len()))
}

/// [`matches`] with a given work budget.
fn matches_within<T: PartialEq>(a: &[T], b: &[T], budget: u64) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    let mut search = Search { vf: Vec::new(), vb: Vec::new(), work: 0 };
    // Ranges left to right; a range's common suffix is emitted after the ranges inside it, so
    // the output comes out sorted.
    let mut stack = vec![Work::Range(0, a.len(), 0, b.len())];
    while let Some(work) = stack.pop() {
        let (mut alo, mut ahi, mut blo, mut bhi) = match work {
            Work::Range(alo, ahi, blo, bhi) => (alo, ahi, blo, bhi),
            Work::Suffix(ai, bi, len) => {
                out.extend((0..len).map(|k| (index(ai + k), index(bi + k))));
                continue;
            }
        };
        while alo < ahi && blo < bhi && a[alo] == b[blo] {
            out.push((index(alo), index(blo)));
            alo += 1;
            blo += 1;
        }
        let mut suffix = 0;
        while alo < ahi && blo < bhi && a[ahi - 1] == b[bhi - 1] {
            ahi -= 1;
            bhi -= 1;
            suffix += 1;
        }
        if suffix > 0 {
            stack.push(Work::Suffix(ahi, bhi, suffix));
        }
        if alo == ahi || blo == bhi {
            continue;
        }
        if search.work >= budget {
            // Past the work budget: this range stays unmatched (removed plus inserted).
            continue;
        }
        let (x, y) = search.split(&a[alo..ahi], &b[blo..bhi]);
        stack.push(Work::Range(alo + x, ahi, blo + y, bhi));
        stack.push(Work::Range(alo, alo + x, blo, blo + y));
    }
    out
}

/// A pending step of [`matches`].
enum Work {
    /// Diff `a[.0...1]` against `b[.2...3]`.
    Range(usize, usize, usize, usize),
    /// Emit `len` matched pairs from `(a, b)` on.
    Suffix(usize, usize, usize),
}

/// Positions are limited to `u32` like instruction streams.
fn index(i: usize) -> u32 {
    u32::try_from(i).expect("diffed sequences hold at most u32::MAX elements")
}

/// Frontier arrays, allocated once for the whole diff and reused by every range (a search only
/// reads entries it wrote itself, plus the one seeded entry).
struct Search {
    vf: Vec<isize>,
    vb: Vec<isize>,
    /// Frontier entries computed plus snake steps taken, over all searches.
    work: u64,
}

impl Search {
    /// A split point `(x, y)` strictly inside `a × b` (neither `(0, 0)` nor `(n, m)`) lying on
    /// an optimal edit path, or past the cost cap on the furthest forward path. The inputs are
    /// non-empty, with differing first and differing last elements.
    fn split<T: PartialEq>(&mut self, a: &[T], b: &[T]) -> (usize, usize) {
        let (point, work) = self.search(a, b);
        self.work += work;
        point
    }

    /// [`Search::split`] and the work it took.
    fn search<T: PartialEq>(&mut self, a: &[T], b: &[T]) -> ((usize, usize), u64) {
        let (n, m) = (a.len() as isize, b.len() as isize);
        let max_d = (n + m + 1) / 2;
        let cap = cap(a.len() + b.len()) as isize;
        // Diagonals -(top + 1)..=top + 1 are read; `-1` marks one not reached in this search.
        let top = max_d.min(cap + 1);
        let off = top + 1;
        let width = (2 * off + 1) as usize;
        self.vf.clear();
        self.vf.resize(width, -1);
        self.vb.clear();
        self.vb.resize(width, -1);
        let (vf, vb) = (&mut self.vf, &mut self.vb);
        let mut work = 0u64;
        vf[(off + 1) as usize] = 0;
        vb[(off + 1) as usize] = 0;
        let delta = n - m;
        let odd = delta & 1 == 1;
        // A frontier point on diagonal `k` (x - y) of the other direction, if reached and on
        // the grid.
        let reached = |v: &[isize], k: isize| -> Option<isize> {
            let j = off + k;
            if j < 0 || j >= width as isize {
                return None;
            }
            let x = v[j as usize];
            (x >= 0 && x <= n && x - k <= m && x - k >= 0).then_some(x)
        };
        // Diagonals that ran off the grid are skipped from then on.
        let (mut fstart, mut fend, mut bstart, mut bend) = (0, 0, 0, 0);
        for d in 0..=top {
            if d > cap {
                let point = furthest(vf, off, d - 1, fstart, fend, n, m)
                    .unwrap_or((a.len().div_ceil(2), b.len().div_ceil(2)));
                return (point, work);
            }
            let mut k = -d + fstart;
            while k <= d - fend {
                let i = (off + k) as usize;
                let mut x =
                    if k == -d || (k != d && vf[i - 1] < vf[i + 1]) { vf[i + 1] } else { vf[i - 1] + 1 };
                let mut y = x - k;
                let from = x;
                while x < n && y < m && a[x as usize] == b[y as usize] {
                    x += 1;
                    y += 1;
                }
                work += 1 + (x - from) as u64;
                vf[i] = x;
                if x > n {
                    fend += 2;
                } else if y > m {
                    fstart += 2;
                } else if odd {
                    if let Some(xb) = reached(vb, delta - k) {
                        if n - xb <= x {
                            return ((x as usize, y as usize), work);
                        }
                    }
                }
                k += 2;
            }
            let mut k = -d + bstart;
            while k <= d - bend {
                let i = (off + k) as usize;
                let mut x =
                    if k == -d || (k != d && vb[i - 1] < vb[i + 1]) { vb[i + 1] } else { vb[i - 1] + 1 };
                let mut y = x - k;
                let from = x;
                while x < n && y < m && a[(n - x - 1) as usize] == b[(m - y - 1) as usize] {
                    x += 1;
                    y += 1;
                }
                work += 1 + (x - from) as u64;
                vb[i] = x;
                if x > n {
                    bend += 2;
                } else if y > m {
                    bstart += 2;
                } else if !odd {
                    let kf = delta - k;
                    if let Some(xf) = reached(vf, kf) {
                        if xf >= n - x {
                            return ((xf as usize, (xf - kf) as usize), work);
                        }
                    }
                }
                k += 2;
            }
        }
        // Unreachable for inputs meeting the precondition (the paths meet by `max_d`); a
        // midpoint split is still a valid, terminating answer.
        ((a.len().div_ceil(2), b.len().div_ceil(2)), work)
    }
}

/// Total search work (frontier entries plus snake steps) after which [`matches`] stops refining.
fn budget(len: usize) -> u64 {
    let len = len as u64;
    (64 * len).max(1 << 26)
}

/// The number of edits a middle-point search may spend before it splits at the furthest
/// forward point instead.
fn cap(len: usize) -> usize {
    256.max((len as f64).sqrt() as usize)
}

/// The forward frontier point after `d` edits with the largest `x + y`, if it is strictly
/// inside the grid.
fn furthest(
    vf: &[isize],
    off: isize,
    d: isize,
    fstart: isize,
    fend: isize,
    n: isize,
    m: isize,
) -> Option<(usize, usize)> {
    let mut best: Option<(isize, isize)> = None;
    let mut k = -d + fstart;
    while k <= d - fend {
        let x = vf[(off + k) as usize];
        let y = x - k;
        if x <= n && y <= m && y >= 0 && best.is_none_or(|(bx, by)| x + y > bx + by) {
            best = Some((x, y));
        }
        k += 2;
    }
    best.filter(|&(x, y)| x + y > 0 && (x, y) != (n, m)).map(|(x, y)| (x as usize, y as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Length of a longest common subsequence by dynamic programming.
    fn lcs_len(a: &[u8], b: &[u8]) -> usize {
        let mut row = vec![0usize; b.len() + 1];
        for x in a {
            let mut diag = 0;
            for (j, y) in b.iter().enumerate() {
                let up = row[j + 1];
                row[j + 1] = if x == y { diag + 1 } else { up.max(row[j]) };
                diag = up;
            }
        }
        row[b.len()]
    }

    fn check(a: &[u8], b: &[u8]) {
        let m = matches(a, b);
        for w in m.windows(2) {
            assert!(w[0].0 < w[1].0 && w[0].1 < w[1].1, "not increasing: {m:?}");
        }
        for &(i, j) in &m {
            assert_eq!(a[i as usize], b[j as usize], "unequal pair ({i}, {j})");
        }
        assert_eq!(m.len(), lcs_len(a, b), "not longest: {a:?} {b:?} {m:?}");
    }

    #[test]
    fn matches_are_a_longest_common_subsequence_on_a_table() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"", b""),
            (b"abc", b""),
            (b"", b"abc"),
            (b"abc", b"abc"),
            (b"abcabba", b"cbabac"),
            (b"xaby", b"ab"),
            (b"ab", b"xaby"),
            (b"abcdef", b"fedcba"),
            (b"aaaa", b"aa"),
            (b"abab", b"baba"),
        ];
        for (a, b) in cases {
            check(a, b);
        }
    }

    proptest::proptest! {
        #[test]
        fn matches_are_a_longest_common_subsequence(
            a in proptest::collection::vec(0u8..4, 0..60),
            b in proptest::collection::vec(0u8..4, 0..60),
        ) {
            check(&a, &b);
        }
    }

    #[test]
    fn past_the_work_budget_ranges_stay_unmatched() {
        // Different first and last elements: nothing matches without a split.
        let a: Vec<u32> = [1].into_iter().chain(10..200).chain([2]).collect();
        let b: Vec<u32> = [3].into_iter().chain(10..200).chain([4]).collect();
        assert_eq!(matches_within(&a, &b, 0), []);
        let full = matches_within(&a, &b, u64::MAX);
        assert_eq!(full, (1..191).map(|i| (i, i)).collect::<Vec<_>>());
    }

    #[test]
    fn past_the_cost_cap_the_result_is_still_a_common_subsequence() {
        // 2000 vs 2000 unrelated symbols: far more than 512 differences.
        let a: Vec<u32> = (0..2000).map(|i| (i * 7919) % 13).collect();
        let b: Vec<u32> = (0..2000).map(|i| (i * 104_729) % 11).collect();
        let m = matches(&a, &b);
        for w in m.windows(2) {
            assert!(w[0].0 < w[1].0 && w[0].1 < w[1].1);
        }
        assert!(m.iter().all(|&(i, j)| a[i as usize] == b[j as usize]));
        assert!(!m.is_empty());
    }
}
