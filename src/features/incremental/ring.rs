//! A fixed-capacity ring of floats whose last `k` values are always one
//! contiguous slice (each value is stored twice, `capacity` apart).
//!
//! Engine thread, hot path: one allocation at construction; push and reads
//! are O(1), no allocation, no blocking, no logging.

/// The last `capacity` values pushed, oldest first.
///
/// The buffer holds `2 × capacity` slots and every value is written to slot
/// `i` and `i + capacity`, so the newest `k` values are the slice ending at
/// `head + capacity`: windows read as plain slices, in the same order as the
/// batch computation reads its columns.
#[derive(Clone, Debug)]
pub(crate) struct Ring {
    buf: Box<[f64]>,
    /// Slot of the next write, in `0..capacity`.
    head: usize,
    len: usize,
}

impl Ring {
    /// An empty ring of `capacity` values (0 keeps nothing).
    pub(crate) fn new(capacity: usize) -> Ring {
        Ring {
            buf: vec![f64::NAN; capacity.saturating_mul(2)].into_boxed_slice(),
            head: 0,
            len: 0,
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.buf.len() / 2
    }

    /// Address and length of the storage (tests check it never moves).
    #[cfg(test)]
    pub(crate) fn storage(&self) -> (usize, usize) {
        (self.buf.as_ptr() as usize, self.buf.len())
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    /// Append `x`, dropping the oldest value when full.
    pub(crate) fn push(&mut self, x: f64) {
        let cap = self.capacity();
        if cap == 0 {
            return;
        }
        if let Some(slot) = self.buf.get_mut(self.head) {
            *slot = x;
        }
        if let Some(slot) = self.buf.get_mut(self.head + cap) {
            *slot = x;
        }
        self.head += 1;
        if self.head == cap {
            self.head = 0;
        }
        if self.len < cap {
            self.len += 1;
        }
    }

    /// The `k`-th newest value (0 = newest); NaN when fewer are held.
    pub(crate) fn back(&self, k: usize) -> f64 {
        if k >= self.len {
            return f64::NAN;
        }
        self.buf
            .get(self.head + self.capacity() - 1 - k)
            .copied()
            .unwrap_or(f64::NAN)
    }

    /// The newest `k` values, oldest first (all of them when fewer are held).
    pub(crate) fn last(&self, k: usize) -> &[f64] {
        let k = k.min(self.len);
        let end = self.head + self.capacity();
        self.buf.get(end - k..end).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_values_contiguous_across_wrap_around() {
        let mut r = Ring::new(4);
        assert_eq!(r.last(3), &[] as &[f64]);
        assert!(r.back(0).is_nan());
        for i in 0..11 {
            r.push(f64::from(i));
            let held = (i + 1).min(4) as usize;
            assert_eq!(r.len(), held);
            let want: Vec<f64> = (i + 1 - held as i32..=i).map(f64::from).collect();
            assert_eq!(r.last(10), want.as_slice());
            assert_eq!(r.last(2), &want[want.len().saturating_sub(2)..]);
            assert_eq!(r.back(0), f64::from(i));
            assert!(r.back(held).is_nan());
        }
        assert_eq!(r.back(3), 7.0);
        r.clear();
        assert_eq!(r.len(), 0);
        assert_eq!(r.last(4), &[] as &[f64]);
    }

    #[test]
    fn zero_capacity_holds_nothing() {
        let mut r = Ring::new(0);
        r.push(1.0);
        assert_eq!(r.len(), 0);
        assert_eq!(r.last(1), &[] as &[f64]);
        assert!(r.back(0).is_nan());
    }
}
