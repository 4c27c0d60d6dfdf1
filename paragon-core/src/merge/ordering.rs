//! The order of a report's findings.

use std::cmp::{Ordering, Reverse};

use crate::model::finding::{Finding, Package, Severity};

use super::table::symbol;
use super::NONE;

/// The report order: severity descending, then id, then package, then
/// kind and first location.
pub(crate) fn sort_findings(findings: &mut [Finding]) {
    // Sorting small keys moves a few dozen bytes where sorting the
    // findings would move a few hundred, and most comparisons end within
    // the keys, where comparing findings would read their strings from
    // all over the heap; each finding is then moved once, along the
    // cycles of the permutation.
    #[derive(Clone, Copy)]
    struct SortKey {
        severity: Reverse<Severity>,
        id: Prefix,
        name: Prefix,
        index: u32,
    }
    let mut keys: Vec<SortKey> = findings
        .iter()
        .zip(0..symbol(findings.len()))
        .map(|(f, index)| SortKey {
            severity: Reverse(f.severity),
            id: Prefix::of(&f.id),
            name: Prefix::of(package_key(f).0),
            index,
        })
        .collect();
    keys.sort_unstable_by(|a, b| {
        (a.severity, a.id)
            .cmp(&(b.severity, b.id))
            .then_with(|| {
                // Equal prefixes of whole ids are equal ids: the package
                // name comes next.
                if a.id.is_whole() {
                    a.name.cmp(&b.name)
                } else {
                    Ordering::Equal
                }
            })
            .then_with(|| report_order(&findings[a.index as usize], &findings[b.index as usize]))
    });
    let mut order: Vec<u32> = keys.into_iter().map(|k| k.index).collect();
    for start in 0..order.len() {
        // `order[k]` is where the finding that belongs at `k` is now,
        // NONE once `k` holds it.
        let mut k = start;
        while order[k] != NONE {
            let from = order[k] as usize;
            order[k] = NONE;
            if from == start {
                break;
            }
            findings.swap(k, from);
            k = from;
        }
    }
}

/// The report order (see [`sort_findings`]).
pub(super) fn report_order(a: &Finding, b: &Finding) -> Ordering {
    b.severity
        .cmp(&a.severity)
        .then_with(|| a.id.cmp(&b.id))
        .then_with(|| package_key(a).cmp(&package_key(b)))
        .then_with(|| a.kind.cmp(&b.kind))
        .then_with(|| a.locations.cmp(&b.locations))
        .then_with(|| pkg_rank(a.package.as_ref()).cmp(&pkg_rank(b.package.as_ref())))
        .then_with(|| a.sources.cmp(&b.sources))
}

pub(super) fn package_key(f: &Finding) -> (&str, &str) {
    f.package.as_ref().map_or(("", ""), |p| {
        (p.name.as_str(), p.version.as_deref().unwrap_or(""))
    })
}

/// The first [`Prefix::BYTES`] bytes of a string as integers, which
/// compare as the bytes do, and its length (capped just above that):
/// prefixes compare as their strings do whenever they differ, and equal
/// prefixes of [whole](Prefix::is_whole) strings are equal strings.
///
/// Bytes past the end count as zero, so a string ordered before another
/// by a shorter length is a prefix of it (it may end in zero bytes the
/// other has), which the string order puts first too.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Prefix(u128, u64, u8);

impl Prefix {
    pub(super) const BYTES: usize = 24;

    pub(super) fn of(s: &str) -> Prefix {
        let bytes = s.as_bytes();
        let n = bytes.len().min(Self::BYTES);
        let mut buf = [0u8; Self::BYTES];
        buf[..n].copy_from_slice(&bytes[..n]);
        let (high, low) = buf.split_at(16);
        let high = u128::from_be_bytes(high.try_into().expect("16 bytes"));
        let low = u64::from_be_bytes(low.try_into().expect("8 bytes"));
        let len = bytes.len().min(Self::BYTES + 1) as u8;
        Prefix(high, low, len)
    }

    /// Whether the prefix holds the whole string.
    pub(super) fn is_whole(self) -> bool {
        usize::from(self.2) <= Self::BYTES
    }
}

/// A total order on packages: with a purl first, then by name, purl,
/// ecosystem and version (smaller first).
pub(super) type PkgRank<'a> = (
    bool,
    Reverse<&'a str>,
    Reverse<Option<&'a str>>,
    Reverse<Option<&'a str>>,
    Reverse<Option<&'a str>>,
);

pub(super) fn pkg_rank(p: Option<&Package>) -> Option<PkgRank<'_>> {
    p.map(|p| {
        (
            p.purl.is_some(),
            Reverse(p.name.as_str()),
            Reverse(p.purl.as_ref().map(|u| u.as_str())),
            Reverse(p.ecosystem.as_deref()),
            Reverse(p.version.as_deref()),
        )
    })
}
