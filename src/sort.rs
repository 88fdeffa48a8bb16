//! One sort for the whole program.
//!
//! Each `slice::sort*` call on a new element type or with a new closure puts another copy of the
//! standard library's sorting code into the binary (several KiB each). Here the sorting code
//! exists once: it sorts positions and reaches the elements through a `dyn` object that compares
//! and swaps them; only that small object is generic. The sort is stable (a merge sort): equal
//! elements keep their order.

use std::cmp::Ordering;

/// What the sort needs of a sequence: its length, comparing two elements, swapping two.
trait Seq {
    fn len(&self) -> usize;
    fn cmp(&mut self, i: usize, j: usize) -> Ordering;
    fn swap(&mut self, i: usize, j: usize);
}

struct Slice<'a, T, F> {
    items: &'a mut [T],
    cmp: F,
}

impl<T, F: FnMut(&T, &T) -> Ordering> Seq for Slice<'_, T, F> {
    fn len(&self) -> usize {
        self.items.len()
    }

    fn cmp(&mut self, i: usize, j: usize) -> Ordering {
        (self.cmp)(&self.items[i], &self.items[j])
    }

    fn swap(&mut self, i: usize, j: usize) {
        self.items.swap(i, j)
    }
}

/// Sorts `v` by `cmp`, stably.
pub fn sort_by<T>(v: &mut [T], cmp: impl FnMut(&T, &T) -> Ordering) {
    sort(&mut Slice { items: v, cmp });
}

/// A bottom-up merge sort of the positions, then the elements moved along the permutation's
/// cycles (each element moves once).
fn sort(seq: &mut dyn Seq) {
    let n = seq.len();
    if (1..n).all(|i| seq.cmp(i - 1, i) != Ordering::Greater) {
        return;
    }
    let mut src: Vec<usize> = (0..n).collect();
    let mut dst = vec![0; n];
    let mut width = 1;
    while width < n {
        let mut start = 0;
        while start < n {
            let mid = (start + width).min(n);
            let end = (start + 2 * width).min(n);
            let (mut i, mut j) = (start, mid);
            for slot in &mut dst[start..end] {
                let left = j >= end || (i < mid && seq.cmp(src[i], src[j]) != Ordering::Greater);
                if left {
                    *slot = src[i];
                    i += 1;
                } else {
                    *slot = src[j];
                    j += 1;
                }
            }
            start = end;
        }
        std::mem::swap(&mut src, &mut dst);
        width *= 2;
    }
    // Position k takes the element now at src[k]; a cycle k -> src[k] -> ... is closed by swaps.
    const DONE: usize = usize::MAX;
    for start in 0..n {
        let mut k = start;
        while src[k] != DONE {
            let from = std::mem::replace(&mut src[k], DONE);
            if from == start {
                break;
            }
            seq.swap(k, from);
            k = from;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_stably() {
        let mut n: u32 = 12345;
        for len in [0usize, 1, 2, 3, 7, 8, 9, 100, 1000, 4097] {
            let mut v: Vec<(u32, usize)> = (0..len)
                .map(|i| {
                    n = n.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    ((n >> 16) % 17, i)
                })
                .collect();
            let mut want = v.clone();
            want.sort_by_key(|e| e.0);
            sort_by(&mut v, |a, b| a.0.cmp(&b.0));
            assert_eq!(v, want, "{len}");
            sort_by(&mut v, |a, b| b.cmp(a));
            want.reverse();
            assert_eq!(v, want);
        }
        let mut strings = vec!["b".to_string(), "a".into(), "c".into(), "a".into()];
        sort_by(&mut strings, |a, b| a.cmp(b));
        assert_eq!(strings, ["a", "a", "b", "c"]);
    }
}
