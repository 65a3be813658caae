//! A fixed-capacity FIFO of any items: the engine of `RingBuffer`.

use std::collections::VecDeque;

/// A fixed-capacity FIFO: the plain-Rust core of RingBuffer.
#[derive(Debug)]
pub struct Ring<T> {
    capacity: usize,
    items: VecDeque<T>,
    /// Bumped by every change, so iterators can notice they went stale.
    version: u64,
}

impl<T> Ring<T> {
    pub fn new(capacity: usize) -> Self {
        // No `with_capacity`: RingBuffer(10**12) must not allocate up front.
        Ring {
            capacity,
            items: VecDeque::new(),
            version: 0,
        }
    }

    /// Append `item`; when full, the oldest item is removed and returned. If there is no
    /// memory for one more item, nothing changes and `item` comes back as the error.
    pub fn push(&mut self, item: T) -> Result<Option<T>, T> {
        let evicted = if self.items.len() == self.capacity {
            self.items.pop_front()
        } else {
            if self.items.try_reserve(1).is_err() {
                return Err(item);
            }
            None
        };
        self.items.push_back(item);
        self.version = self.version.wrapping_add(1);
        Ok(evicted)
    }

    /// Remove and return the oldest item.
    pub fn pop(&mut self) -> Option<T> {
        let item = self.items.pop_front()?;
        self.version = self.version.wrapping_add(1);
        Some(item)
    }

    /// The item at `index` (0 is the oldest), counting from the newest when negative.
    pub fn get(&self, index: isize) -> Option<&T> {
        let position = if index < 0 {
            index.checked_add_unsigned(self.items.len())?
        } else {
            index
        };
        self.items.get(usize::try_from(position).ok()?)
    }

    /// The maximum number of items.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The items, oldest first.
    pub fn items(&self) -> &VecDeque<T> {
        &self.items
    }

    /// The number of changes so far (wrapping): an iterator that saw another is stale.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Replace every item with `items` (at most `capacity` of them), returning the old ones.
    pub fn replace_items(&mut self, items: VecDeque<T>) -> VecDeque<T> {
        debug_assert!(items.len() <= self.capacity);
        self.version = self.version.wrapping_add(1);
        std::mem::replace(&mut self.items, items)
    }

    /// Remove and return every item.
    pub fn take_all(&mut self) -> VecDeque<T> {
        self.version = self.version.wrapping_add(1);
        std::mem::take(&mut self.items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_evicts_oldest_and_indexes_from_both_ends() {
        let mut ring = Ring::new(3);
        assert_eq!(ring.push(1), Ok(None));
        assert_eq!(ring.push(2), Ok(None));
        assert_eq!(ring.push(3), Ok(None));
        assert_eq!(ring.push(4), Ok(Some(1)));
        assert_eq!(ring.get(0), Some(&2));
        assert_eq!(ring.get(-1), Some(&4));
        assert_eq!(ring.get(-3), Some(&2));
        assert_eq!(ring.get(-4), None);
        assert_eq!(ring.get(3), None);
        assert_eq!(ring.get(isize::MIN), None);
        assert_eq!(ring.pop(), Some(2));
        assert_eq!(ring.take_all(), [3, 4]);
        assert_eq!(ring.pop(), None);
    }
}
