//! Interning: strings, locations and sources kept once each under a dense
//! `u32` symbol, and the `[entry, symbol]` pairs that record which merged
//! finding holds which.

use std::sync::Arc;

use crate::model::finding::{Location, Severity, Source};

use super::keys::{write_line, write_opt, write_str};
use super::{FxMap, NONE};

/// Strings interned to dense `u32` symbols.
pub(super) type Interner = Table<Box<str>>;

impl Interner {
    pub(super) fn intern(&mut self, s: &str) -> u32 {
        self.symbol(xxhash_rust::xxh3::xxh3_128(s.as_bytes()), || s.into())
    }

    pub(super) fn get(&self, sym: u32) -> &str {
        &self.values[sym as usize]
    }
}

/// Appends the value of each of `keys` in `map`, or [`NONE`], to `out`:
/// every lookup is made before any result is used, so that their cache
/// misses overlap.
pub(super) fn look_up_all(map: &FxMap<u128, u32>, keys: &[u128], out: &mut Vec<u32>) {
    out.extend(keys.iter().map(|k| map.get(k).copied().unwrap_or(NONE)));
}

pub(super) fn symbol(i: usize) -> u32 {
    u32::try_from(i).expect("fewer than 2^32 distinct values")
}

/// `[entry, symbol]` pairs (see [`Merger::placed`]), kept in chunks of
/// a fixed size: the list grows without copying what it holds, and each
/// chunk comes from memory the allocator has at hand (such as that of the
/// findings just folded in), where one growing list would ask the system
/// for ever larger blocks of fresh memory.
#[derive(Default)]
pub(super) struct Pairs {
    /// Full chunks, then the one being filled.
    pub(super) chunks: Vec<Vec<[u32; 2]>>,
}

impl Pairs {
    /// Pairs per chunk: 64 KiB.
    pub(super) const CHUNK: usize = 1 << 13;

    pub(super) fn push(&mut self, pair: [u32; 2]) {
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < Pairs::CHUNK => chunk.push(pair),
            _ => {
                let mut chunk = Vec::with_capacity(Pairs::CHUNK);
                chunk.push(pair);
                self.chunks.push(chunk);
            }
        }
    }

    pub(super) fn len(&self) -> usize {
        self.chunks.last().map_or(0, |last| {
            (self.chunks.len() - 1) * Pairs::CHUNK + last.len()
        })
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &[u32; 2]> {
        self.chunks.iter().flatten()
    }
}

/// The pairs in order, each chunk freed once read.
impl IntoIterator for Pairs {
    type Item = [u32; 2];
    type IntoIter = std::iter::Flatten<std::vec::IntoIter<Vec<[u32; 2]>>>;

    fn into_iter(self) -> Self::IntoIter {
        self.chunks.into_iter().flatten()
    }
}

/// The [`Table`] symbols of one batch's locations (or sources), found
/// before any of its findings is folded in, and handed out in the order
/// of the findings as they are.
pub(super) struct Batch<T: Keyed> {
    /// The index in `symbols` of each distinct address of the batch.
    pub(super) by_address: FxMap<T::Address, u32>,
    /// The content hash of each distinct address (while resolving).
    pub(super) hashes: Vec<u128>,
    /// The table symbol of each distinct address.
    pub(super) symbols: Vec<u32>,
    /// For each item of the batch, in order, its index in `symbols`.
    pub(super) slots: Vec<u32>,
    /// How many of `slots` [`pair`](Batch::pair) has handed out.
    pub(super) taken: usize,
    /// The encoding of an item, to hash.
    pub(super) buf: Vec<u8>,
}

impl<T: Keyed> Default for Batch<T> {
    fn default() -> Self {
        Batch {
            by_address: FxMap::default(),
            hashes: Vec::new(),
            symbols: Vec::new(),
            slots: Vec::new(),
            taken: 0,
            buf: Vec::new(),
        }
    }
}

impl<T: Keyed> Batch<T> {
    /// Finds (or adds to `table`) the symbol of each of `items`, the
    /// batch's locations or sources in the order of its findings.
    ///
    /// Items are told apart by [address](Keyed::address) first, so that
    /// each distinct one is encoded and hashed once; the hashes are then
    /// all looked up in the table together, so that their cache misses
    /// overlap, and only the values not found are added.
    pub(super) fn resolve<'a>(
        &mut self,
        table: &mut Table<T>,
        shared: &mut SharedStrings,
        items: impl Iterator<Item = &'a T>,
    ) where
        T: 'a,
    {
        self.by_address.clear();
        self.hashes.clear();
        self.symbols.clear();
        self.slots.clear();
        self.taken = 0;
        let mut firsts: Vec<&T> = Vec::new();
        for item in items {
            let slot = *self.by_address.entry(item.address()).or_insert_with(|| {
                self.buf.clear();
                item.encode(&mut self.buf);
                self.hashes.push(xxhash_rust::xxh3::xxh3_128(&self.buf));
                firsts.push(item);
                symbol(firsts.len() - 1)
            });
            self.slots.push(slot);
        }
        look_up_all(&table.by_hash, &self.hashes, &mut self.symbols);
        for ((sym, &hash), item) in self.symbols.iter_mut().zip(&self.hashes).zip(firsts) {
            if *sym == NONE {
                // Two addresses may hold one content: the second finds the
                // value the first added.
                *sym = table.symbol(hash, || item.shared(shared));
            }
        }
    }

    /// Whether [`pair`](Batch::pair) has handed out every item of the
    /// batch (both walk the batch's findings in the same order).
    pub(super) fn all_paired(&self) -> bool {
        self.taken == self.slots.len()
    }

    /// Appends `[entry, symbol]` to `pairs` for the next `n` items.
    pub(super) fn pair(&mut self, n: usize, entry: u32, pairs: &mut Pairs) {
        let slots = &self.slots[self.taken..self.taken + n];
        self.taken += n;
        for &slot in slots {
            pairs.push([entry, self.symbols[slot as usize]]);
        }
    }
}

/// Distinct values, each with a dense symbol (its index), found by a
/// 128-bit hash (XXH3) of their content: a lookup reads the value looked
/// up, not the value stored.
pub(super) struct Table<T> {
    pub(super) values: Vec<T>,
    pub(super) by_hash: FxMap<u128, u32>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table {
            values: Vec::new(),
            by_hash: FxMap::default(),
        }
    }
}

impl<T> Table<T> {
    /// The symbol of the value with content hash `hash`, made and added
    /// by `value` if new.
    pub(super) fn symbol(&mut self, hash: u128, value: impl FnOnce() -> T) -> u32 {
        match self.by_hash.entry(hash) {
            std::collections::hash_map::Entry::Occupied(e) => *e.get(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let sym = symbol(self.values.len());
                self.values.push(value());
                *e.insert(sym)
            }
        }
    }

    /// Adds `other`'s values (by the hashes it holds, without hashing
    /// them again), in the order of its symbols, each new one through
    /// `adopt`; returns the symbol here of each of `other`'s.
    pub(super) fn absorb(&mut self, other: Table<T>, mut adopt: impl FnMut(T) -> T) -> Vec<u32> {
        let mut hashes: Vec<(u32, u128)> = other
            .by_hash
            .into_iter()
            .map(|(hash, sym)| (sym, hash))
            .collect();
        hashes.sort_unstable();
        hashes
            .into_iter()
            .zip(other.values)
            .map(|((_, hash), value)| self.symbol(hash, || adopt(value)))
            .collect()
    }
}

/// A value kept once in a [`Table`], found there by its content
/// ([`encode`](Keyed::encode)) and, among the findings of one batch, by
/// its [`address`](Keyed::address): the addresses of its shared strings
/// and its other fields.
///
/// Every string a batch's findings hold is alive from the start of the
/// batch until its finding is folded in, so two of them at one address
/// are one allocation, with one content: equal addresses mean equal
/// values (unequal addresses may still hold equal values, which the
/// table of values then finds). Parsers share a report's strings, so a
/// batch repeats a few addresses many times.
pub(super) trait Keyed {
    type Address: std::hash::Hash + Eq + Copy;
    fn address(&self) -> Self::Address;
    /// Writes the content, each field length-prefixed or tagged, so that
    /// different values encode differently.
    fn encode(&self, buf: &mut Vec<u8>);
    /// A copy of the value that holds the copies of its strings in
    /// `shared`.
    fn shared(&self, shared: &mut SharedStrings) -> Self;
}

/// One copy of each distinct string the values of [`Table`]s hold, found
/// by a 128-bit hash of its content, as the [`Interner`] finds its strings.
///
/// A table keeps the first value it meets of each content, and that
/// value's strings belong to a report long gone by the end of the merge:
/// each alone on a line of a heap that held a fleet's reports. Every
/// location and source of the merged report is a copy of a table's
/// value, whose making counts a reference on each of its strings, so
/// those strings are taken from here instead: a few thousand, close
/// together, and shared by every value that holds the same text.
pub(super) type SharedStrings = Table<Arc<str>>;

impl SharedStrings {
    pub(super) fn get(&mut self, s: &str) -> Arc<str> {
        let hash = xxhash_rust::xxh3::xxh3_128(s.as_bytes());
        let sym = self.symbol(hash, || Arc::from(s));
        Arc::clone(&self.values[sym as usize])
    }

    pub(super) fn get_opt(&mut self, s: Option<&str>) -> Option<Arc<str>> {
        s.map(|s| self.get(s))
    }
}

pub(super) fn address(s: &Option<Arc<str>>) -> usize {
    s.as_ref().map_or(0, |s| Arc::as_ptr(s).cast::<u8>().addr())
}

impl Keyed for Location {
    type Address = (usize, usize, usize, Option<u32>, Option<u32>);
    fn address(&self) -> Self::Address {
        (
            address(&self.target),
            address(&self.path),
            address(&self.resource),
            self.start_line,
            self.end_line,
        )
    }
    fn encode(&self, buf: &mut Vec<u8>) {
        write_opt(buf, self.target.as_deref());
        write_opt(buf, self.path.as_deref());
        write_opt(buf, self.resource.as_deref());
        write_line(buf, self.start_line);
        write_line(buf, self.end_line);
    }
    fn shared(&self, shared: &mut SharedStrings) -> Location {
        Location {
            target: shared.get_opt(self.target.as_deref()),
            path: shared.get_opt(self.path.as_deref()),
            resource: shared.get_opt(self.resource.as_deref()),
            start_line: self.start_line,
            end_line: self.end_line,
        }
    }
}

impl Keyed for Source {
    type Address = (usize, usize, Severity);
    fn address(&self) -> Self::Address {
        (
            Arc::as_ptr(&self.scanner).cast::<u8>().addr(),
            address(&self.target),
            self.severity,
        )
    }
    fn encode(&self, buf: &mut Vec<u8>) {
        write_str(buf, &self.scanner);
        buf.push(self.severity as u8);
        write_opt(buf, self.target.as_deref());
    }
    fn shared(&self, shared: &mut SharedStrings) -> Source {
        Source {
            scanner: shared.get(&self.scanner),
            severity: self.severity,
            target: shared.get_opt(self.target.as_deref()),
        }
    }
}
