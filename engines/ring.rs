//! A fixed-capacity FIFO of any items: the engine of `RingBuffer`.

use std::cell::RefCell;
use std::collections::TryReserveError;
use std::thread::LocalKey;

/// A fixed-capacity FIFO: the plain-Rust core of RingBuffer.
///
/// A ring over `slots`, oldest item at `head`: once full, a push writes the new item into the
/// oldest one's slot and moves `head` on, which is all a full buffer's push costs (a
/// `VecDeque` would pop the front and push the back: several times the work). Slots are
/// allocated as items arrive, never up front, so RingBuffer(10**12) costs nothing until used.
#[derive(Debug)]
pub struct Ring<T> {
    capacity: usize,
    /// The items, oldest first from `head` round to `head + len` (wrapping); other slots hold
    /// `None` (left by `pop`). `slots.len() <= capacity`.
    slots: Vec<Option<T>>,
    head: usize,
    len: usize,
    /// Bumped by every change, so iterators can notice they went stale.
    version: u64,
}

impl<T> Ring<T> {
    /// An empty ring for at most `capacity` items (allocating nothing yet).
    pub fn new(capacity: usize) -> Self {
        Ring {
            capacity,
            slots: Vec::new(),
            head: 0,
            len: 0,
            version: 0,
        }
    }

    /// The number of items.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the ring holds `capacity` items.
    pub fn is_full(&self) -> bool {
        self.len == self.capacity
    }

    /// The slot `offset` places after the head (offset < slots.len()).
    fn slot(&self, offset: usize) -> usize {
        let slot = self.head + offset; // both below slots.len() <= isize::MAX: no overflow
        if slot >= self.slots.len() {
            slot - self.slots.len()
        } else {
            slot
        }
    }

    /// Append `item`; when full, the oldest item is removed and returned. If there is no
    /// memory for one more item, nothing changes and `item` comes back as the error.
    // Inlined: a call per item (which LTO chose) was half of this function's cost in extend.
    #[inline(always)]
    pub fn push(&mut self, item: T) -> Result<Option<T>, T> {
        self.version = self.version.wrapping_add(1);
        if self.len == self.capacity {
            // Full: the new item takes the oldest one's slot, and becomes the newest.
            let head = self.head;
            let evicted = self.slots[head].replace(item);
            self.head = if head + 1 == self.slots.len() {
                0
            } else {
                head + 1
            };
            return Ok(evicted);
        }
        if self.len < self.slots.len() {
            let slot = self.slot(self.len);
            self.slots[slot] = Some(item);
        } else {
            // Every slot is in use: add one at the end of the ring, which is the end of
            // `slots` once the ring starts at slot 0. Growing by up to the current size keeps
            // pushes O(1) on average, as Vec's doubling does, without passing `capacity`.
            let more = self.len.max(4).min(self.capacity - self.len);
            if self.slots.try_reserve_exact(more).is_err() {
                self.version = self.version.wrapping_sub(1); // nothing changed after all
                return Err(item);
            }
            self.slots.rotate_left(self.head);
            self.head = 0;
            self.slots.push(Some(item));
        }
        self.len += 1;
        Ok(None)
    }

    /// Remove and return the oldest item.
    pub fn pop(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let item = self.slots[self.head].take();
        self.head = self.slot(1);
        self.len -= 1;
        self.version = self.version.wrapping_add(1);
        item
    }

    /// The item `offset` places from the oldest (offset < len), else None.
    pub fn nth(&self, offset: usize) -> Option<&T> {
        if offset < self.len {
            self.slots[self.slot(offset)].as_ref()
        } else {
            None
        }
    }

    /// The item `offset` places from the newest (offset < len), else None.
    pub fn nth_back(&self, offset: usize) -> Option<&T> {
        self.nth(self.len.checked_sub(offset.checked_add(1)?)?)
    }

    /// The item at `index` (0 is the oldest), counting from the newest when negative.
    pub fn get(&self, index: isize) -> Option<&T> {
        let position = if index < 0 {
            index.checked_add_unsigned(self.len)?
        } else {
            index
        };
        self.nth(usize::try_from(position).ok()?)
    }

    /// `f` of each item, oldest first, in a new Vec: an Err if it cannot be allocated.
    pub fn try_map<U>(&self, f: impl FnMut(&T) -> U) -> Result<Vec<U>, TryReserveError> {
        let mut mapped = Vec::new();
        mapped.try_reserve_exact(self.len)?;
        mapped.extend(self.iter().map(f));
        Ok(mapped)
    }

    /// The items, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        // The free slots (None) all lie after the newest item and before the oldest.
        let (newer, older) = self.slots.split_at(self.head);
        older.iter().chain(newer).flatten()
    }

    /// The maximum number of items.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The number of changes so far (wrapping): an iterator that saw another is stale.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Replace every item with those of `other` (a ring of the same capacity), returning the
    /// old ones, oldest first. Replacing nothing with nothing is no change: iterators stay
    /// valid.
    pub fn replace_with(&mut self, mut other: Ring<T>) -> Vec<Option<T>> {
        debug_assert_eq!(other.capacity, self.capacity);
        other.version = if self.len == 0 && other.len == 0 {
            self.version
        } else {
            self.version.wrapping_add(1)
        };
        std::mem::replace(self, other).take_all()
    }

    /// Remove and return every item, oldest first. Emptying an empty ring changes nothing,
    /// and iterators stay valid (as with `deque.clear()`).
    pub fn take_all(&mut self) -> Vec<Option<T>> {
        if self.len != 0 {
            self.version = self.version.wrapping_add(1);
        }
        let mut slots = std::mem::take(&mut self.slots);
        slots.rotate_left(self.head);
        (self.head, self.len) = (0, 0);
        slots
    }
}

/// How deeply `drop_flat` calls may nest on one thread before the deeper ones wait in a
/// queue: CPython's own trashcan starts deferring about as deep (50 levels in 3.9-3.11).
const DROP_NESTING_LIMIT: u32 = 50;

/// A thread's `drop_flat` calls in progress.
pub struct Drops<T> {
    /// How many `drop_flat` calls are freeing items on this thread, one inside another.
    depth: u32,
    /// Batches freed past the nesting limit, waiting for the outermost call to free them.
    pending: Vec<Vec<Option<T>>>,
}

impl<T> Drops<T> {
    /// No frees in progress (const: a `thread_local!` starts from it).
    pub const fn new() -> Self {
        Drops {
            depth: 0,
            pending: Vec::new(),
        }
    }
}

/// A thread-local `Drops`, as `drop_flat` takes it.
pub type DropQueue<T> = RefCell<Drops<T>>;

/// Drop `items` (a ring's `take_all`), without letting deep nesting overflow the stack.
///
/// Dropping an item may free a container that drops its own items through here, and so on:
/// done recursively, a deep enough chain overflows the stack. Up to `DROP_NESTING_LIMIT`
/// calls deep, items are freed at once (as a deque's would be: a `__del__` that empties
/// another container sees its items gone when that call returns); deeper ones are queued and
/// freed, in a loop, by the outermost call on the thread. The stack stays bounded however
/// deep the nesting.
pub fn drop_flat<T>(queue: &'static LocalKey<DropQueue<T>>, items: Vec<Option<T>>) {
    if items.is_empty() {
        return;
    }
    let mut items = Some(items);
    // The RefCell is never borrowed while an item is dropped (that drop could free another
    // container and come back here), so the borrows below cannot collide.
    let entered = queue.try_with(|drops| {
        let mut drops = drops.borrow_mut();
        if drops.depth < DROP_NESTING_LIMIT {
            drops.depth += 1;
            return true;
        }
        // Too deep: queue them (with no memory to queue them, they are freed right here,
        // one level deeper).
        if drops.pending.try_reserve(1).is_ok() {
            drops.pending.extend(items.take());
        }
        false
    });
    // Not entered: already queued, or to be freed here. The thread-locals are gone only
    // while the thread exits, and then too the items are freed here.
    if !matches!(entered, Ok(true)) {
        drop(items);
        return;
    }
    drop(items); // may free more containers: nested calls, or queued ones past the limit
                 // The outermost call frees what was queued, one batch at a time; each batch nests up to
                 // the limit again and queues what lies deeper.
    if matches!(queue.try_with(|drops| drops.borrow().depth == 1), Ok(true)) {
        while let Some(queued) = queue
            .try_with(|drops| drops.borrow_mut().pending.pop())
            .ok()
            .flatten()
        {
            drop(queued);
        }
    }
    let _ = queue.try_with(|drops| drops.borrow_mut().depth -= 1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

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
        assert_eq!(ring.nth_back(0), Some(&4));
        assert_eq!(ring.nth_back(2), Some(&2));
        assert_eq!(ring.nth_back(3), None);
        assert_eq!(ring.nth_back(usize::MAX), None);
        assert_eq!(ring.try_map(|item| item * 10), Ok(vec![20, 30, 40]));
        assert_eq!(ring.pop(), Some(2));
        let all: Vec<_> = ring.take_all().into_iter().flatten().collect();
        assert_eq!(all, [3, 4]);
        assert_eq!(ring.pop(), None);
    }

    #[test]
    fn ring_matches_a_bounded_vecdeque_through_pushes_and_pops() {
        // A fixed pseudo-random walk of pushes and pops, for several capacities.
        for capacity in [1, 2, 3, 5, 8, 100] {
            let (mut ring, mut model) = (Ring::new(capacity), VecDeque::new());
            let mut state = 12345u32;
            for value in 0..2000 {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                if state >> 16 & 3 == 0 {
                    assert_eq!(ring.pop(), model.pop_front());
                } else {
                    let evicted = if model.len() == capacity {
                        model.pop_front()
                    } else {
                        None
                    };
                    model.push_back(value);
                    assert_eq!(ring.push(value), Ok(evicted));
                }
                assert_eq!(ring.len(), model.len());
                assert!(ring.iter().eq(model.iter()));
                assert_eq!(ring.get(-1), model.back());
            }
            let all: Vec<_> = ring.take_all().into_iter().flatten().collect();
            assert!(all.iter().eq(model.iter()));
            assert_eq!(ring.len(), 0);
        }
    }
    /// A container that frees its items through `drop_flat`, counting the drops.
    struct Nested(Vec<Option<Nested>>);

    static DROPPED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    thread_local! {
        static NESTED_DROPS: DropQueue<Nested> = const { RefCell::new(Drops::new()) };
    }

    impl Drop for Nested {
        fn drop(&mut self) {
            DROPPED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            drop_flat(&NESTED_DROPS, std::mem::take(&mut self.0));
        }
    }

    #[test]
    fn a_chain_a_million_deep_drops_without_recursing() {
        let mut chain = Nested(Vec::new());
        for _ in 0..1_000_000 {
            chain = Nested(vec![Some(chain)]);
        }
        // Dropped recursively, this would overflow the test thread's stack.
        drop(chain);
        assert_eq!(
            DROPPED.load(std::sync::atomic::Ordering::Relaxed),
            1_000_001
        );
        assert!(NESTED_DROPS.with(|drops| {
            let drops = drops.borrow();
            drops.depth == 0 && drops.pending.is_empty()
        }));
    }
}
