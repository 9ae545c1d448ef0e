//! A fixed-capacity sliding window whose contents are always one contiguous
//! slice, oldest first: the engine's ring buffer for bar closes (the
//! volatility stage reads the last `vol_window + 1` closes as a slice).
//!
//! The buffer holds twice the capacity; pushes append, and when the buffer
//! is full the newest `capacity − 1` values move to the front, so a push
//! costs O(1) amortised and never allocates after construction.
//!
//! Runs on the engine thread. Hot path: no allocation, no blocking.

/// The last `capacity` values pushed, oldest first.
#[derive(Clone, Debug)]
pub struct Window<T: Copy> {
    buf: Box<[T]>,
    /// One past the newest value.
    end: usize,
    /// Values held (≤ capacity).
    len: usize,
    capacity: usize,
}

impl<T: Copy> Window<T> {
    /// An empty window of `capacity` values (at least 1), filled with
    /// `fill` behind the scenes. Cold path.
    pub fn new(capacity: usize, fill: T) -> Window<T> {
        let capacity = capacity.max(1);
        Window {
            buf: vec![fill; 2 * capacity].into_boxed_slice(),
            end: 0,
            len: 0,
            capacity,
        }
    }

    /// Append `value`, dropping the oldest when full.
    #[inline]
    pub fn push(&mut self, value: T) {
        if self.end == self.buf.len() {
            let keep = self.capacity - 1;
            self.buf.copy_within(self.end - keep..self.end, 0);
            self.end = keep;
        }
        if let Some(slot) = self.buf.get_mut(self.end) {
            *slot = value;
        }
        self.end += 1;
        self.len = (self.len + 1).min(self.capacity);
    }

    /// The held values, oldest first.
    #[inline]
    pub fn as_slice(&self) -> &[T] {
        self.buf.get(self.end - self.len..self.end).unwrap_or(&[])
    }

    /// The newest value.
    #[inline]
    pub fn last(&self) -> Option<T> {
        self.as_slice().last().copied()
    }

    /// Values held.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was pushed yet.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The most values it holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Forget every value.
    pub fn clear(&mut self) {
        self.end = 0;
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_capacity_values_in_order() {
        let mut w = Window::new(3, 0);
        assert!(w.is_empty());
        assert_eq!(w.as_slice(), &[] as &[i32]);
        for v in 1..=10 {
            w.push(v);
            let lo = (v - 2).max(1);
            let want: Vec<i32> = (lo..=v).collect();
            assert_eq!(w.as_slice(), want.as_slice(), "after pushing {v}");
            assert_eq!(w.last(), Some(v));
        }
        assert_eq!(w.len(), 3);
        w.clear();
        assert!(w.as_slice().is_empty());
    }

    #[test]
    fn capacity_one_holds_the_newest() {
        let mut w = Window::new(1, 0.0);
        for v in [1.0, 2.0, 3.0] {
            w.push(v);
            assert_eq!(w.as_slice(), &[v]);
        }
        let mut z = Window::new(0, 0u8);
        z.push(7);
        assert_eq!(z.as_slice(), &[7]);
    }
}
