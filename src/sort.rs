//! A small sort for the small and middling lists (archive names, configuration entries, the
//! names of one directory): a heapsort with the comparison behind `&dyn Fn`, so each element
//! type costs one short function instead of the standard library's per-comparator instances.
//!
//! Measured reason (cargo bloat of the static release build, 2026-12-06): the standard sorts'
//! instances (`driftsort`, `ipnsort` and their helpers, one set per element type and comparator)
//! took 87 KiB of `.text`, in a binary kept under its 2.0 MB budget; a heapsort instance is a few
//! hundred bytes. Not stable, O(n log n) in the worst case: the large sorts where speed counts
//! (the diff's entries, a subvolume tree's inodes) keep the standard library's.

use std::cmp::Ordering;

/// Sorts `v` by `cmp` (equal elements in no particular order).
pub fn by<T>(v: &mut [T], cmp: &dyn Fn(&T, &T) -> Ordering) {
    let n = v.len();
    for start in (0..n / 2).rev() {
        sift(v, cmp, start, n);
    }
    for end in (1..n).rev() {
        v.swap(0, end);
        sift(v, cmp, 0, end);
    }
}

/// Sorts `v` in ascending order.
pub fn asc<T: Ord>(v: &mut [T]) {
    by(v, &T::cmp)
}

fn sift<T>(v: &mut [T], cmp: &dyn Fn(&T, &T) -> Ordering, mut root: usize, end: usize) {
    loop {
        let mut child = 2 * root + 1;
        if child >= end {
            return;
        }
        if child + 1 < end && cmp(&v[child], &v[child + 1]) == Ordering::Less {
            child += 1;
        }
        if cmp(&v[root], &v[child]) != Ordering::Less {
            return;
        }
        v.swap(root, child);
        root = child;
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn sorts_as_the_standard_library_does(mut v in proptest::collection::vec(any::<(u8, u16)>(), 0..200)) {
            let mut want = v.clone();
            want.sort();
            super::asc(&mut v);
            prop_assert_eq!(v, want);
        }
    }

    #[test]
    fn by_a_key_descending() {
        let mut v = vec!["b", "a", "c", "a"];
        super::by(&mut v, &|a, b| b.cmp(a));
        assert_eq!(v, ["c", "b", "a", "a"]);
    }
}
