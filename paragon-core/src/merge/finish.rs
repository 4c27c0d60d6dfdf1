//! [`Merger::finish`]: ids made canonical, entries folded into merged
//! findings, their locations and sources grouped, and the report sorted.

use crate::model::finding::{is_cve, Finding, FindingKind, Location, Severity, Source};
use crate::model::report::{Report, Summary};
use crate::SCHEMA_VERSION;

use super::fold::{finalize, fold};
use super::keys::{preferred_id, Key};
use super::ordering::sort_findings;
use super::read_ahead::joined;
use super::table::{symbol, Interner, Pairs};
use super::{Entry, FxMap, Merger, NONE};

impl Merger {
    /// Completes the merge: joins ids through aliases, folds what they
    /// join, and returns the sorted report.
    pub fn finish(mut self) -> Report {
        let canon = self.canonical_ids();
        let (group_of, groups) = self.group_entries(&canon);
        let entries = std::mem::take(&mut self.entries);
        let severity = std::mem::take(&mut self.severity);
        let locations = (
            std::mem::take(&mut self.locations).values,
            std::mem::take(&mut self.placed),
        );
        let sources = (
            std::mem::take(&mut self.sources).values,
            std::mem::take(&mut self.sourced),
        );
        let pairs = locations.1.len() + sources.1.len();
        let parallel = self.threads > 1 && pairs >= self.parallel_finish.unwrap_or(PARALLEL_FINISH);
        // The lists are grouped while the entries are folded.
        let (mut merged, (mut locations, mut sources)) = both(
            parallel,
            || fold_entries(entries, canon, severity, &group_of, groups),
            || {
                let locations = Lists::new(locations, &group_of, groups);
                (locations, Lists::new(sources, &group_of, groups))
            },
        );
        let (scanners, scanner_of) = scanner_ranks(&sources.table.values);
        // Two halves with about as many locations and sources each, or
        // all of them in the first.
        let mid = if parallel {
            let half = (locations.ranks.len() / 2) as u32;
            locations
                .start
                .partition_point(|&s| s < half)
                .min(merged.len())
        } else {
            merged.len()
        };
        let high = merged.split_off(mid);
        let (loc_low, loc_high) = locations.split(mid);
        let (src_low, src_high) = sources.split(mid);
        let (ids, n, scanner_of) = (&self.ids, scanners.len(), &scanner_of);
        let ((mut findings, mut counts), (mut findings_high, counts_high)) = both(
            parallel,
            || build(merged, 0, ids, loc_low, src_low, scanner_of, n),
            move || build(high, mid, ids, loc_high, src_high, scanner_of, n),
        );
        findings.append(&mut findings_high);
        for (c, h) in counts.iter_mut().zip(counts_high) {
            *c += h;
        }
        sort_findings(&mut findings);
        let mut summary =
            Summary::with_scanners(&findings, scanners.into_iter().zip(counts).collect());
        summary.sbom = self.sbom;
        Report {
            schema_version: SCHEMA_VERSION,
            summary,
            inputs: self.inputs,
            findings,
            verdict: None,
            baseline: None,
        }
    }

    /// The merged finding of each entry, numbered in order of first
    /// appearance (entries with equal keys once ids are canonical), and
    /// how many there are.
    fn group_entries(&self, canon: &[u32]) -> (Vec<u32>, usize) {
        let mut groups: FxMap<Key, u32> = FxMap::default();
        let group_of = self
            .entries
            .iter()
            .zip(canon)
            .map(|(entry, &canonical)| {
                let key = Key {
                    id: canonical,
                    ..entry.key
                };
                let next = symbol(groups.len());
                *groups.entry(key).or_insert(next)
            })
            .collect();
        (group_of, groups.len())
    }

    /// The canonical id symbol of every entry (see the module docs).
    pub(super) fn canonical_ids(&mut self) -> Vec<u32> {
        // Per alias group: how many distinct CVEs, and its best id.
        #[derive(Clone, Copy)]
        struct Group {
            cves: u8,
            cve: u32,
            best: u32,
        }
        let n = self.aliases.parent.len();
        let mut groups: Vec<Option<Group>> = vec![None; n];
        for sym in 0..n as u32 {
            let root = self.aliases.find(sym) as usize;
            let s = self.ids.get(sym);
            let g = groups[root].get_or_insert(Group {
                cves: 0,
                cve: NONE,
                best: sym,
            });
            if is_cve(s) {
                g.cves = g.cves.saturating_add(1);
                if g.cve == NONE || self.ids.get(g.cve) > s {
                    g.cve = sym;
                }
            }
            if preferred_id(s, self.ids.get(g.best)) {
                g.best = sym;
            }
        }
        let mut out = Vec::with_capacity(self.entries.len());
        for entry in &self.entries {
            if entry.key.kind != FindingKind::Vulnerability {
                out.push(entry.key.id);
                continue;
            }
            let own_cve = entry
                .ids
                .iter()
                .copied()
                .filter(|&s| is_cve(self.ids.get(s)))
                .min_by(|&a, &b| self.ids.get(a).cmp(self.ids.get(b)));
            let root = self.aliases.find(entry.key.id) as usize;
            let g = groups[root].expect("every id has a group");
            let canonical = match own_cve {
                Some(cve) => cve,
                None if g.cves == 1 => g.cve,
                None if g.cves == 0 => g.best,
                None => entry
                    .ids
                    .iter()
                    .copied()
                    .reduce(|a, b| {
                        if preferred_id(self.ids.get(b), self.ids.get(a)) {
                            b
                        } else {
                            a
                        }
                    })
                    .unwrap_or(entry.key.id),
            };
            out.push(canonical);
        }
        out
    }
}

/// Folds the entries of each merged finding (see
/// [`Merger::group_entries`]) into its first, with the highest severity
/// given to each and its canonical id symbol.
fn fold_entries(
    entries: Vec<Entry>,
    canon: Vec<u32>,
    severity: Vec<Severity>,
    group_of: &[u32],
    groups: usize,
) -> Vec<(Entry, u32)> {
    let mut merged: Vec<(Entry, u32)> = Vec::with_capacity(groups);
    for (((mut entry, canonical), sev), &g) in
        entries.into_iter().zip(canon).zip(severity).zip(group_of)
    {
        entry.finding.severity = entry.finding.severity.max(sev);
        if g as usize == merged.len() {
            merged.push((entry, canonical));
        } else {
            let (into, _) = &mut merged[g as usize];
            into.ids.extend(entry.ids);
            fold(&mut into.finding, *entry.finding);
        }
    }
    merged
}

/// The names of the scanners of `sources`, in order of first appearance,
/// and the index in those names of each source's scanner.
fn scanner_ranks(sources: &[Source]) -> (Vec<String>, Vec<usize>) {
    let mut scanners: Vec<String> = Vec::new();
    let scanner_of = sources
        .iter()
        .map(|s| {
            scanners
                .iter()
                .position(|name| **name == *s.scanner)
                .unwrap_or_else(|| {
                    scanners.push(s.scanner.to_string());
                    scanners.len() - 1
                })
        })
        .collect();
    (scanners, scanner_of)
}

/// Runs `a` and `b`, on two threads when `parallel` (`b` on the second),
/// one after the other otherwise.
fn both<A, B: Send>(parallel: bool, a: impl FnOnce() -> A, b: impl FnOnce() -> B + Send) -> (A, B) {
    if !parallel {
        let a = a();
        return (a, b());
    }
    std::thread::scope(|scope| {
        let b = scope.spawn(b);
        let a = a();
        (a, joined(b))
    })
}

/// The distinct values of a table in their sort order, with each symbol's
/// rank in it: a list of symbols is sorted and deduplicated as integers.
pub(super) struct Sorted<T> {
    pub(super) values: Vec<T>,
    pub(super) rank: Vec<u32>,
}

impl<T: Ord> Sorted<T> {
    pub(super) fn new(table: Vec<T>) -> Sorted<T> {
        let mut values: Vec<(T, u32)> = table.into_iter().zip(0u32..).collect();
        values.sort_unstable();
        let mut rank = vec![0; values.len()];
        for (r, (_, sym)) in (0u32..).zip(&values) {
            rank[*sym as usize] = r;
        }
        Sorted {
            values: values.into_iter().map(|(v, _)| v).collect(),
            rank,
        }
    }
}

/// The list of values of each merged finding, gathered from
/// `[entry, symbol]` pairs: a counting sort by merged finding, then each
/// finding's ranks sorted and deduplicated as integers.
pub(super) struct Lists<T> {
    pub(super) table: Sorted<T>,
    /// Where each merged finding's ranks start in `ranks` (one more entry
    /// than there are findings).
    pub(super) start: Vec<u32>,
    pub(super) ranks: Vec<u32>,
}

impl<T: Ord + Clone> Lists<T> {
    /// The lists of the `(values, pairs)` of a table: its distinct values
    /// and `[entry, symbol]` pairs (freed once they are counted and
    /// placed).
    pub(super) fn new(
        (values, pairs): (Vec<T>, Pairs),
        group_of: &[u32],
        groups: usize,
    ) -> Lists<T> {
        let table = Sorted::new(values);
        let mut start = vec![0u32; groups + 1];
        for &[e, _] in pairs.iter() {
            start[group_of[e as usize] as usize + 1] += 1;
        }
        for g in 0..groups {
            start[g + 1] += start[g];
        }
        let mut next = start.clone();
        let mut ranks = vec![0u32; pairs.len()];
        for [e, s] in pairs {
            let g = group_of[e as usize] as usize;
            ranks[next[g] as usize] = table.rank[s as usize];
            next[g] += 1;
        }
        Lists {
            table,
            start,
            ranks,
        }
    }

    /// The lists of merged findings `..mid` and `mid..`, apart.
    pub(super) fn split(&mut self, mid: usize) -> (Part<'_, T>, Part<'_, T>) {
        let at = self.start[mid] as usize;
        let (low, high) = self.ranks.split_at_mut(at);
        (
            Part {
                table: &self.table,
                start: &self.start,
                ranks: low,
                base: 0,
            },
            Part {
                table: &self.table,
                start: &self.start,
                ranks: high,
                base: at,
            },
        )
    }
}

/// The lists of a range of merged findings (see [`Lists::split`]).
pub(super) struct Part<'a, T> {
    pub(super) table: &'a Sorted<T>,
    pub(super) start: &'a [u32],
    /// The ranks of the range's findings, from `base` in [`Lists::ranks`].
    pub(super) ranks: &'a mut [u32],
    pub(super) base: usize,
}

impl<T: Ord + Clone> Part<'_, T> {
    /// The values of merged finding `g`, sorted and without duplicates,
    /// and their ranks in the table.
    pub(super) fn take(&mut self, g: usize) -> (Vec<T>, &[u32]) {
        let range = self.start[g] as usize - self.base..self.start[g + 1] as usize - self.base;
        let ranks = &mut self.ranks[range];
        ranks.sort_unstable();
        let distinct = dedup_sorted(ranks);
        let ranks = &ranks[..distinct];
        let values = ranks
            .iter()
            .map(|&r| self.table.values[r as usize].clone())
            .collect();
        (values, ranks)
    }
}

/// Moves the distinct values of sorted `v` to its front, in order, and
/// returns how many there are.
pub(super) fn dedup_sorted(v: &mut [u32]) -> usize {
    let mut n = 0;
    for i in 0..v.len() {
        if n == 0 || v[i] != v[n - 1] {
            v[n] = v[i];
            n += 1;
        }
    }
    n
}

/// At least this many locations and sources make [`Merger::finish`] build
/// the merged findings on two threads (when it may use them).
pub(super) const PARALLEL_FINISH: usize = 100_000;

/// Builds merged findings `first..first + merged.len()`, and counts for
/// each scanner (see `scanner_of`) how many of them it is a source of.
pub(super) fn build(
    merged: Vec<(Entry, u32)>,
    first: usize,
    ids: &Interner,
    mut locations: Part<'_, Location>,
    mut sources: Part<'_, Source>,
    scanner_of: &[usize],
    scanners: usize,
) -> (Vec<Finding>, Vec<usize>) {
    let mut counts = vec![0usize; scanners];
    let mut last = vec![usize::MAX; scanners];
    let findings = merged
        .into_iter()
        .zip(first..)
        .map(|((entry, canonical), g)| {
            let mut f = *entry.finding;
            if f.kind == FindingKind::Vulnerability {
                // The finding's id is the string of its key's id symbol
                // (folding keeps the first id): symbols compare without
                // reading the strings.
                debug_assert_eq!(f.id, ids.get(entry.key.id));
                if entry.key.id != canonical {
                    f.id = ids.get(canonical).to_owned();
                }
                f.aliases.clear();
                let mut syms = entry.ids;
                syms.sort_unstable();
                syms.dedup();
                f.aliases.extend(
                    syms.into_iter()
                        .filter(|&s| s != canonical)
                        .map(|s| ids.get(s).to_owned()),
                );
            }
            f.locations = locations.take(g).0;
            let (list, ranks) = sources.take(g);
            for &r in ranks {
                let k = scanner_of[r as usize];
                if last[k] != g {
                    last[k] = g;
                    counts[k] += 1;
                }
            }
            f.sources = list;
            finalize(&mut f);
            f
        })
        .collect();
    (findings, counts)
}
