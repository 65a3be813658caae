//! A fixed-capacity FIFO of any items: the engine of `RingBuffer`.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::thread::LocalKey;

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

/// A thread's batches of items waiting for the outermost `drop_flat` on that thread to free
/// them: `Some` while it runs.
pub type DropQueue<T> = RefCell<Option<Vec<VecDeque<T>>>>;

/// Drop `items` without recursing into the items of their items, given a thread-local queue.
///
/// Dropping an item may free a container that drops its own items through here, and so on:
/// done recursively, a deep enough chain overflows the stack. Instead the outermost call on a
/// thread frees the items, and any call made meanwhile on that thread (from an item's drop)
/// only hands its items to the queue, to be freed in a loop: the stack stays flat.
pub fn drop_flat<T>(queue: &'static LocalKey<DropQueue<T>>, items: VecDeque<T>) {
    enum Role<T> {
        Handed,
        Outermost(VecDeque<T>),
        Direct(VecDeque<T>),
    }
    if items.is_empty() {
        return;
    }
    // The RefCell is never borrowed while an item is dropped (that drop could free another
    // container and come back here), so the borrows below cannot collide.
    let role = queue.try_with(|pending| {
        let mut pending = pending.borrow_mut();
        match pending.as_mut() {
            Some(queue) => match queue.try_reserve(1) {
                Ok(()) => {
                    queue.push(items);
                    Role::Handed
                }
                // No memory to queue them: free them here, recursing one level deeper.
                Err(_) => Role::Direct(items),
            },
            None => {
                *pending = Some(Vec::new());
                Role::Outermost(items)
            }
        }
    });
    match role {
        Ok(Role::Handed) => {}
        Ok(Role::Direct(items)) => drop(items),
        // The thread is exiting and its thread-locals are gone: the items went with the
        // closure that was never called, freed directly.
        Err(_) => {}
        Ok(Role::Outermost(items)) => {
            let mut next = Some(items);
            while let Some(items) = next {
                drop(items); // may hand more items to the queue
                next = queue
                    .try_with(|pending| pending.borrow_mut().as_mut().and_then(Vec::pop))
                    .ok()
                    .flatten();
            }
            let _ = queue.try_with(|pending| pending.borrow_mut().take());
        }
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

    /// A container that frees its items through `drop_flat`, counting the drops.
    struct Nested(VecDeque<Nested>);

    static DROPPED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    thread_local! {
        static NESTED_DROPS: DropQueue<Nested> = const { RefCell::new(None) };
    }

    impl Drop for Nested {
        fn drop(&mut self) {
            DROPPED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            drop_flat(&NESTED_DROPS, std::mem::take(&mut self.0));
        }
    }

    #[test]
    fn a_chain_a_million_deep_drops_without_recursing() {
        let mut chain = Nested(VecDeque::new());
        for _ in 0..1_000_000 {
            chain = Nested(VecDeque::from([chain]));
        }
        // Dropped recursively, this would overflow the test thread's stack.
        drop(chain);
        assert_eq!(
            DROPPED.load(std::sync::atomic::Ordering::Relaxed),
            1_000_001
        );
        assert!(NESTED_DROPS.with(|pending| pending.borrow().is_none()));
    }
}
