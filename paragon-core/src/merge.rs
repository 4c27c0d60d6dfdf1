//! The merge: many scanners' findings become one deduplicated report.
//!
//! ```
//! use paragon_core::{Finding, FindingKind, Merger, Package, ScanReport, ScannerInfo, Severity, Source};
//!
//! fn report(scanner: &str, id: &str, alias: Option<&str>, name: &str) -> ScanReport {
//!     let mut f = Finding::new(FindingKind::Vulnerability, id, Severity::High);
//!     if let Some(a) = alias {
//!         f.add_alias(a);
//!     }
//!     f.package = Some(Package::new(name).with_version(Some("3.2.9")).with_ecosystem(Some("pip")));
//!     f.sources.push(Source::new(scanner, Severity::High, None));
//!     let mut r = ScanReport::new(ScannerInfo::new(scanner, None::<String>));
//!     r.findings.push(f);
//!     r
//! }
//!
//! let mut merger = Merger::new();
//! merger.add(report("trivy", "CVE-2021-44420", None, "Django"));
//! merger.add(report("grype", "GHSA-v6rh-hp5x-86rv", Some("CVE-2021-44420"), "django"));
//! let merged = merger.finish();
//! assert_eq!(merged.findings.len(), 1);
//! let f = &merged.findings[0];
//! assert_eq!(f.id, "CVE-2021-44420");
//! assert_eq!(f.aliases, ["GHSA-v6rh-hp5x-86rv"]);
//! assert_eq!(f.sources.len(), 2);
//! ```
//!
//! # Keys
//!
//! | kind | merged on |
//! |---|---|
//! | vulnerability | canonical id, [package identity](crate::identity), installed version |
//! | misconfiguration | rule id, file (or target), resource (or first line) |
//! | secret | rule id, file, line |
//! | weakness | rule id, file, line range |
//! | license | licence, package identity |
//!
//! The canonical id of a vulnerability is its CVE. Ids are joined through
//! aliases transitively across every report added (a Grype GHSA whose
//! `relatedVulnerabilities` names a CVE is the same vulnerability as a Trivy
//! finding with that CVE). A group of joined ids that holds two different
//! CVEs (advisories such as RHSA or DSA cover several) is not collapsed:
//! a finding naming a CVE keeps its own CVE, one naming none keeps its own
//! id. Without any CVE the canonical id is the group's GHSA, then its
//! lexically smallest id.
//!
//! # What a merged finding holds
//!
//! Every source (scanner, its own severity, its target), every location, the
//! highest severity, and the union of aliases, CVSS entries, fixed versions,
//! CWEs and references, each sorted. The package is the one with a purl when
//! sources disagree; the title is the lexically smallest given and the
//! description the longest, so that the result does not depend on order.
//!
//! # Properties
//!
//! The merge is linear in the number of findings (hash maps keyed by
//! interned strings, one union-find over ids), independent of the order of
//! reports and of findings, and idempotent: adding the same reports again
//! changes no finding. The output is sorted by severity (descending), then
//! id, then package, then kind and location.
//!
//! # Cost
//!
//! A fleet repeats itself: one scanner's record of a vulnerability is the
//! same in every image that has it, and a few thousand distinct locations
//! and sources recur across millions of findings. An input is first
//! recognised by a 128-bit fingerprint of its metadata and key parts: a
//! record folded in before names its merged finding in one hash lookup,
//! and then gives only its severity, locations and sources. The lookups of
//! a report's findings are made together, before any is folded in, so
//! that their cache misses overlap. Only new metadata computes the key
//! (package identity, place) and finds its merged finding by a 128-bit
//! hash of the key's parts, interned when the merged finding is new.
//!
//! Each distinct location and source is kept once, found by a 128-bit
//! hash of its content. A report's locations and sources are resolved
//! before its findings are folded in: one whose strings are the very
//! ones met before in the report (parsers share a report's strings) is
//! told apart by their addresses, without reading them, and the hashes
//! of the distinct ones are looked up together, so that their cache
//! misses overlap. An input appends `(merged finding, symbol)` pairs,
//! which [`finish`](Merger::finish) groups in one counting pass.
//! Locations and sources hold shared strings
//! ([`Arc<str>`](std::sync::Arc)), so the merged report's millions of them
//! cost a reference count each. The merger keeps one copy of each text
//! they hold, made when a distinct location or source is first met: the
//! merged report holds none of its inputs' strings, and its reference
//! counts fall on a few thousand strings that lie close together rather
//! than across the heap that held the inputs.
//!
//! The hashes are XXH3 over length-prefixed fields; two different inputs
//! share one with negligible probability (below 2⁻⁶⁹ among a billion
//! distinct values).
//!
//! # On several threads
//!
//! A merger given [`with_threads`](Merger::with_threads) two or more
//! threads reads reports ahead on a second thread in
//! [`add_all`](Merger::add_all) and [`add_parsed`](Merger::add_parsed)
//! (their fingerprints, and taking out the metadata of repeated records),
//! and builds a large report on two threads in
//! [`finish`](Merger::finish). `add_all` takes an iterator, which runs on
//! the second thread, and frees that metadata there: for reports parsed
//! as they are read. `add_parsed` takes reports already in memory, and
//! frees it on the merger's thread, which parsed them.
//!
//! When parsing is the larger cost, give each parsing thread its own
//! [`Merger`] and [`absorb`](Merger::absorb) them into one before
//! [`finish`](Merger::finish). Either way, the result is the same as one
//! merger's on one thread.

use std::cmp::{Ordering, Reverse};
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::Arc;

use rustc_hash::FxHasher;

use crate::document::{InputSummary, Report, SbomTotals, Summary};
use crate::finding::{is_cve, Cvss, Finding, FindingKind, Location, Package, Severity, Source};
use crate::identity::write_identity;
use crate::report::ScanReport;
use crate::SCHEMA_VERSION;

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;
type FxSet<T> = std::collections::HashSet<T, BuildHasherDefault<FxHasher>>;

/// No string (an absent package, version or location part).
const NONE: u32 = u32::MAX;

/// Strings interned to dense `u32` symbols.
type Interner = Table<Box<str>>;

impl Interner {
    fn intern(&mut self, s: &str) -> u32 {
        self.symbol(xxhash_rust::xxh3::xxh3_128(s.as_bytes()), || s.into())
    }

    fn get(&self, sym: u32) -> &str {
        &self.values[sym as usize]
    }
}

/// Union-find over id symbols.
#[derive(Default)]
struct Aliases {
    parent: Vec<u32>,
}

impl Aliases {
    fn ensure(&mut self, sym: u32) {
        let needed = sym as usize + 1;
        if self.parent.len() < needed {
            let start = self.parent.len() as u32;
            self.parent.extend(start..needed as u32);
        }
    }

    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let grand = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = grand;
            x = grand;
        }
        x
    }

    fn union(&mut self, a: u32, b: u32) {
        self.ensure(a.max(b));
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            // Deterministic: the smaller symbol becomes the root.
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.parent[hi as usize] = lo;
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    kind: FindingKind,
    id: u32,
    package: u32,
    version: u32,
    place: u32,
}

/// A finding folded from one or more inputs with equal pre-merge keys.
///
/// Its locations and sources are not held here: each input appends
/// `(entry, symbol)` pairs to [`Merger::placed`] and [`Merger::sourced`]
/// (symbols of [`Merger::locations`] and [`Merger::sources`]; a fleet
/// repeats a few thousand of each over millions of findings), which
/// [`Merger::finish`] groups by merged finding in one counting pass.
struct Entry {
    key: Key,
    /// The hash of the key's parts as strings ([`raw_key`]), the same in
    /// every merger.
    raw: u128,
    /// The merged finding, without locations and sources; its severity is
    /// kept in [`Merger::severity`] while inputs arrive.
    ///
    /// Boxed, so that an entry is small: the table of entries is copied
    /// each time it grows, and each entry again into the list of merged
    /// ones in [`Merger::finish`]; the finding itself, in memory the
    /// allocator has at hand, is not.
    finding: Box<Finding>,
    /// Every id symbol the folded findings named (vulnerabilities only).
    ids: Vec<u32>,
}

/// Folds scan reports into one merged [`Report`], one report at a time.
///
/// See the [module docs](self) for the keys and guarantees.
#[derive(Default)]
pub struct Merger {
    ids: Interner,
    strings: Interner,
    aliases: Aliases,
    entries: Vec<Entry>,
    /// The highest severity given to each entry so far.
    severity: Vec<Severity>,
    /// Entries by [`raw_key`].
    index: FxMap<u128, u32>,
    /// Entries by the [fingerprint] of each metadata folded into them: a
    /// fingerprint covers the key's parts too, so it names one entry.
    known: FxMap<u128, u32>,
    /// Every distinct location seen.
    locations: Table<Location>,
    /// Every distinct source seen.
    sources: Table<Source>,
    /// The strings of [`locations`](Merger::locations) and
    /// [`sources`](Merger::sources), one copy of each.
    shared: SharedStrings,
    /// `[entry, location symbol]` for each location of each input.
    placed: Pairs,
    /// `[entry, source symbol]` for each source of each input.
    sourced: Pairs,
    inputs: Vec<InputSummary>,
    sbom: SbomTotals,
    /// How many threads [`add_all`](Merger::add_all) and
    /// [`finish`](Merger::finish) may use (0 and 1 mean one).
    threads: usize,
    /// How many locations and sources make [`finish`](Merger::finish)
    /// use two threads ([`PARALLEL_FINISH`] unless a test sets it).
    parallel_finish: Option<usize>,
    scratch: String,
    scratch_ids: Vec<u32>,
    scratch_place: String,
    scratch_key: Vec<u8>,
    /// The entry each fingerprint of the current batch names, or [`NONE`].
    scratch_known: Vec<u32>,
    /// The symbols of the current batch's locations and sources.
    batch_locations: Batch<Location>,
    batch_sources: Batch<Source>,
}

impl std::fmt::Debug for Merger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Merger")
            .field("inputs", &self.inputs.len())
            .field("entries", &self.entries.len())
            .finish_non_exhaustive()
    }
}

impl Merger {
    /// An empty merger, which works on the calling thread only.
    pub fn new() -> Merger {
        Merger::default()
    }

    /// Lets this merger use up to `threads` threads (one by default;
    /// [`std::thread::available_parallelism`] gives the machine's): with
    /// two or more, [`add_all`](Merger::add_all) and
    /// [`add_parsed`](Merger::add_parsed) read reports on a second
    /// thread while this one folds them in, and [`finish`](Merger::finish)
    /// builds a large merged report (100,000 locations and sources or
    /// more) in two halves on two threads. Either way the result is the
    /// same.
    pub fn with_threads(mut self, threads: usize) -> Merger {
        self.threads = threads;
        self
    }

    /// Adds one scan report: its findings are folded in and the report itself
    /// is dropped (only its summary is kept).
    pub fn add(&mut self, report: ScanReport) {
        let fingerprints = fingerprints(&report.findings);
        let findings = self.add_summary(report);
        self.add_batch(findings, &fingerprints, &[]);
    }

    /// Adds reports in turn, with the same result as [`add`](Merger::add)
    /// on each, using a second thread when the merger may (see
    /// [`with_threads`](Merger::with_threads)).
    ///
    /// The second thread runs the iterator (a lazy one that parses files
    /// as it goes parses there) and reads each report before this thread
    /// folds it in: it computes each finding's fingerprint, the part of
    /// the merge that reads every byte of a finding's metadata, and frees
    /// the metadata of every finding whose fingerprint it has met before
    /// (that metadata is already folded in by then). This thread is left
    /// with the merge's tables, and with the metadata of new findings only:
    /// across a fleet, most findings repeat a record of another image.
    ///
    /// For reports parsed beforehand on this thread, use
    /// [`add_parsed`](Merger::add_parsed), which frees that metadata here.
    ///
    /// ```
    /// use paragon_core::{Finding, FindingKind, Merger, ScanReport, ScannerInfo, Severity, Source};
    ///
    /// let report = |target: &str| {
    ///     let mut f = Finding::new(FindingKind::Vulnerability, "CVE-2023-0464", Severity::High);
    ///     f.sources.push(Source::new("trivy", Severity::High, Some(target.into())));
    ///     let mut r = ScanReport::new(ScannerInfo::new("trivy", None::<String>));
    ///     r.findings.push(f);
    ///     r
    /// };
    /// let mut merger = Merger::new().with_threads(2);
    /// merger.add_all(["app-1", "app-2", "app-3"].map(report));
    /// let merged = merger.finish();
    /// assert_eq!(merged.inputs.len(), 3);
    /// assert_eq!(merged.findings.len(), 1);
    /// assert_eq!(merged.findings[0].sources.len(), 3);
    /// ```
    ///
    /// # Panics
    ///
    /// When the iterator panics, with its panic, once this thread has
    /// folded in the reports it gave before.
    pub fn add_all<I>(&mut self, reports: I)
    where
        I: IntoIterator<Item = ScanReport>,
        I::IntoIter: Send,
    {
        self.read_ahead(reports.into_iter(), Spent::FreeThere);
    }

    /// Adds reports that are already in memory, with the same result as
    /// [`add`](Merger::add) on each, using a second thread when the merger
    /// may (see [`with_threads`](Merger::with_threads)).
    ///
    /// As in [`add_all`](Merger::add_all), the second thread computes
    /// each finding's fingerprint and takes out the metadata of every
    /// finding whose fingerprint it has met before; here it hands that
    /// metadata back, and this thread frees it. Allocators that keep
    /// memory per thread (mimalloc, jemalloc, glibc's arenas) free a block
    /// fastest on the thread that allocated it: use this method for
    /// reports parsed beforehand on this thread, and
    /// [`add_all`](Merger::add_all) with an iterator that parses as it
    /// goes. Given reports parsed beforehand, `add_all`'s second thread
    /// frees memory this thread allocated, and this thread pays later for
    /// gathering those blocks back (`benches/README.md` has the figures of
    /// the `merge_scaling` benchmark for both ways).
    ///
    /// ```
    /// use paragon_core::{Finding, FindingKind, Merger, ScanReport, ScannerInfo, Severity, Source};
    ///
    /// let report = |target: &str| {
    ///     let mut f = Finding::new(FindingKind::Vulnerability, "CVE-2023-0464", Severity::High);
    ///     f.sources.push(Source::new("trivy", Severity::High, Some(target.into())));
    ///     let mut r = ScanReport::new(ScannerInfo::new("trivy", None::<String>));
    ///     r.findings.push(f);
    ///     r
    /// };
    /// let parsed: Vec<ScanReport> = ["app-1", "app-2", "app-3"].map(report).into();
    /// let mut merger = Merger::new().with_threads(2);
    /// merger.add_parsed(parsed);
    /// let merged = merger.finish();
    /// assert_eq!(merged.inputs.len(), 3);
    /// assert_eq!(merged.findings.len(), 1);
    /// assert_eq!(merged.findings[0].sources.len(), 3);
    /// ```
    pub fn add_parsed(&mut self, reports: Vec<ScanReport>) {
        self.read_ahead(reports.into_iter(), Spent::HandBack);
    }

    /// Adds `reports` in turn, reading them ahead on a second thread when
    /// the merger may; `spent` says which thread frees the metadata taken
    /// out of repeated findings.
    fn read_ahead<I>(&mut self, reports: I, spent: Spent)
    where
        I: Iterator<Item = ScanReport> + Send,
    {
        if self.threads < 2 {
            for r in reports {
                self.add(r);
            }
            return;
        }
        // A few reports ahead: enough to keep both threads busy, few
        // enough to stay in the processor's caches.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Prepared>(4);
        std::thread::scope(|scope| {
            let reader = scope.spawn(move || {
                let mut seen = FxSet::default();
                for report in reports {
                    if tx.send(Prepared::new(report, &mut seen, spent)).is_err() {
                        break;
                    }
                }
            });
            for prepared in rx {
                let findings = self.add_summary(prepared.report);
                self.add_batch(findings, &prepared.fingerprints, &prepared.stripped);
                drop(prepared.handed_back);
            }
            joined(reader);
        });
    }

    /// Adds findings that did not come with a report.
    pub fn add_findings(&mut self, findings: impl IntoIterator<Item = Finding>) {
        let findings: Vec<Finding> = findings.into_iter().collect();
        let fingerprints = fingerprints(&findings);
        self.add_batch(findings, &fingerprints, &[]);
    }

    /// Lists a report among the inputs and returns its findings.
    fn add_summary(&mut self, report: ScanReport) -> Vec<Finding> {
        let sbom = report.sbom.as_ref().map(|s| s.summary());
        if let Some(s) = &sbom {
            self.sbom.documents += 1;
            self.sbom.components += s.components;
            self.sbom.components_with_purl += s.components_with_purl;
        }
        self.inputs.push(InputSummary {
            scanner: report.scanner,
            target: report.target,
            findings: report.findings.len(),
            sbom,
        });
        report.findings
    }

    /// Folds in `findings`, given their [fingerprints](fingerprint);
    /// `stripped` (empty, or one flag per finding) marks the findings whose
    /// metadata was taken out because a finding before them had the same
    /// fingerprint (see [`Prepared`]).
    ///
    /// The entries of the fingerprints met before are looked up first, all
    /// together, and so are the symbols of the batch's distinct locations
    /// and sources: the lookups miss the cache independently of each
    /// other, so the processor overlaps them, where one lookup between the
    /// folding of two findings would wait for memory each time.
    fn add_batch(&mut self, findings: Vec<Finding>, fingerprints: &[u128], stripped: &[bool]) {
        debug_assert_eq!(findings.len(), fingerprints.len());
        debug_assert!(stripped.is_empty() || stripped.len() == findings.len());
        let mut known = std::mem::take(&mut self.scratch_known);
        known.clear();
        look_up_all(&self.known, fingerprints, &mut known);
        self.batch_locations.resolve(
            &mut self.locations,
            &mut self.shared,
            findings.iter().flat_map(|f| &f.locations),
        );
        self.batch_sources.resolve(
            &mut self.sources,
            &mut self.shared,
            findings.iter().flat_map(|f| &f.sources),
        );
        for (k, ((finding, &fp), &entry)) in findings
            .into_iter()
            .zip(fingerprints)
            .zip(&known)
            .enumerate()
        {
            self.add_finding(finding, fp, entry, stripped.get(k) == Some(&true));
        }
        debug_assert!(self.batch_locations.all_paired() && self.batch_sources.all_paired());
        self.scratch_known = known;
    }

    /// Folds in everything `other` has been given, as if its reports had
    /// been added to this merger after this merger's own: its inputs are
    /// listed after these.
    ///
    /// This is how reports are merged on several threads: one merger per
    /// thread, each absorbed into one at the end. The result is the same
    /// as adding every report to one merger (the merge does not depend on
    /// order), and absorbing costs in proportion to the findings `other`
    /// holds after its own merge, not to the findings it was given.
    ///
    /// ```
    /// use paragon_core::{Finding, FindingKind, Merger, Package, ScanReport, ScannerInfo, Severity, Source};
    ///
    /// let report = |scanner: &str, target: &str| {
    ///     let mut f = Finding::new(FindingKind::Vulnerability, "CVE-2023-0464", Severity::High);
    ///     f.package = Some(Package::new("openssl").with_version(Some("3.0.8")));
    ///     f.sources.push(Source::new(scanner, Severity::High, Some(target.into())));
    ///     let mut r = ScanReport::new(ScannerInfo::new(scanner, None::<String>));
    ///     r.findings.push(f);
    ///     r
    /// };
    /// let reports = vec![report("trivy", "app-1"), report("grype", "app-1"), report("trivy", "app-2")];
    /// let mergers = std::thread::scope(|scope| {
    ///     let handles: Vec<_> = reports
    ///         .chunks(2)
    ///         .map(|chunk| {
    ///             scope.spawn(move || {
    ///                 let mut m = Merger::new();
    ///                 for r in chunk {
    ///                     m.add(r.clone());
    ///                 }
    ///                 m
    ///             })
    ///         })
    ///         .collect();
    ///     handles.into_iter().map(|h| h.join().unwrap()).collect::<Vec<_>>()
    /// });
    /// let mut merged = Merger::new();
    /// for m in mergers {
    ///     merged.absorb(m);
    /// }
    /// let report = merged.finish();
    /// assert_eq!(report.inputs.len(), 3);
    /// assert_eq!(report.findings.len(), 1);
    /// assert_eq!(report.findings[0].sources.len(), 3);
    /// ```
    pub fn absorb(&mut self, other: Merger) {
        let Merger {
            ids,
            strings,
            mut aliases,
            entries,
            severity,
            known,
            locations,
            sources,
            placed,
            sourced,
            inputs,
            sbom,
            ..
        } = other;
        let ids = self.ids.absorb(ids, |id| id);
        let strings = self.strings.absorb(strings, |s| s);
        for sym in 0..aliases.parent.len() as u32 {
            let root = aliases.find(sym);
            self.aliases.ensure(ids[sym as usize]);
            self.aliases.union(ids[sym as usize], ids[root as usize]);
        }
        let locations = self
            .locations
            .absorb(locations, |l| l.shared(&mut self.shared));
        let sources = self.sources.absorb(sources, |s| s.shared(&mut self.shared));
        let string = |sym: u32| {
            if sym == NONE {
                NONE
            } else {
                strings[sym as usize]
            }
        };
        // Which of `other`'s entries hold metadata this merger has not
        // folded in (a fingerprint names one entry in either merger).
        let mut new_metadata = vec![false; entries.len()];
        for (fp, &e) in &known {
            if !self.known.contains_key(fp) {
                new_metadata[e as usize] = true;
            }
        }
        // Where each of `other`'s entries went.
        let mut moved: Vec<u32> = Vec::with_capacity(entries.len());
        self.entries.reserve(entries.len());
        for ((mut entry, sev), new_metadata) in entries.into_iter().zip(severity).zip(new_metadata)
        {
            for sym in entry.ids.iter_mut() {
                *sym = ids[*sym as usize];
            }
            match self.index.get(&entry.raw) {
                Some(&i) => {
                    moved.push(i);
                    let i = i as usize;
                    self.severity[i] = self.severity[i].max(sev);
                    let into = &mut self.entries[i];
                    if new_metadata {
                        for sym in entry.ids {
                            push_new(&mut into.ids, sym);
                        }
                        fold(&mut into.finding, *entry.finding);
                    }
                }
                None => {
                    let i = symbol(self.entries.len());
                    moved.push(i);
                    self.index.insert(entry.raw, i);
                    entry.key = Key {
                        kind: entry.key.kind,
                        id: ids[entry.key.id as usize],
                        package: string(entry.key.package),
                        version: string(entry.key.version),
                        place: string(entry.key.place),
                    };
                    self.entries.push(entry);
                    self.severity.push(sev);
                }
            }
        }
        for (fp, e) in known {
            self.known.entry(fp).or_insert(moved[e as usize]);
        }
        let remap = |pairs: Pairs, syms: &[u32], into: &mut Pairs| {
            for [e, s] in pairs {
                into.push([moved[e as usize], syms[s as usize]]);
            }
        };
        remap(placed, &locations, &mut self.placed);
        remap(sourced, &sources, &mut self.sourced);
        self.inputs.extend(inputs);
        self.sbom.documents += sbom.documents;
        self.sbom.components += sbom.components;
        self.sbom.components_with_purl += sbom.components_with_purl;
    }

    /// Interns a finding's id and, for a vulnerability, its aliases (joined
    /// with the id): returns the id's symbol and leaves every symbol, for a
    /// vulnerability, in `scratch_ids`.
    fn intern_ids(&mut self, finding: &Finding) -> u32 {
        let id = self.ids.intern(&finding.id);
        self.scratch_ids.clear();
        if finding.kind == FindingKind::Vulnerability {
            self.aliases.ensure(id);
            self.scratch_ids.push(id);
            for alias in &finding.aliases {
                let a = self.ids.intern(alias);
                self.aliases.union(id, a);
                self.scratch_ids.push(a);
            }
        }
        id
    }

    /// Folds in one finding with fingerprint `fp`: `entry` is the entry
    /// that fingerprint named before the batch, or [`NONE`]; `stripped`,
    /// whether its metadata was taken out (see [`Prepared`]).
    fn add_finding(&mut self, mut finding: Finding, fp: u128, entry: u32, stripped: bool) {
        let severity = finding
            .sources
            .iter()
            .map(|s| s.severity)
            .fold(finding.severity, Ord::max);
        // The place part of the key, for a finding that may be new (it is
        // read from the finding's locations, which are taken out below).
        let has_place = entry == NONE && write_place(&finding, &mut self.scratch_place);
        let locations = std::mem::take(&mut finding.locations);
        let sources = std::mem::take(&mut finding.sources);
        // Metadata seen before (the key's parts are part of it) names its
        // entry and gives nothing more than a severity, locations and
        // sources; this is the common case across a fleet. A finding
        // earlier in the batch may have brought it.
        let known = if entry == NONE {
            self.known.get(&fp).copied()
        } else {
            Some(entry)
        };
        let i = match known {
            Some(i) => i,
            None => {
                assert!(
                    !stripped,
                    "a stripped finding follows one with its fingerprint"
                );
                self.fold_new(finding, fp, has_place)
            }
        };
        let sev = &mut self.severity[i as usize];
        *sev = (*sev).max(severity);
        self.batch_locations
            .pair(locations.len(), i, &mut self.placed);
        self.batch_sources.pair(sources.len(), i, &mut self.sourced);
    }

    /// Folds in a finding whose metadata no entry has seen (its place
    /// written by [`write_place`] when `has_place`):
    /// into the entry of its key, or a new one. Returns the entry.
    fn fold_new(&mut self, finding: Finding, fp: u128, has_place: bool) -> u32 {
        let kind = finding.kind;
        // The package identity, written into `scratch` (interned only for
        // a new entry).
        let has_package = match (&finding.package, kind) {
            (Some(pkg), FindingKind::Vulnerability | FindingKind::License) => {
                write_identity(pkg, &mut self.scratch);
                true
            }
            _ => false,
        };
        let version = match (&finding.package, kind) {
            (Some(pkg), FindingKind::Vulnerability) => pkg.version.as_deref().map(str::trim),
            _ => None,
        };
        // The key's parts as strings, hashed: a finding like one seen
        // before finds its entry without interning any of them.
        let raw = raw_key(
            &mut self.scratch_key,
            kind,
            &finding.id,
            has_package.then_some(self.scratch.as_str()),
            version,
            has_place.then_some(self.scratch_place.as_str()),
        );
        let id = self.intern_ids(&finding);
        if let Some(&i) = self.index.get(&raw) {
            self.known.insert(fp, i);
            let entry = &mut self.entries[i as usize];
            for &sym in &self.scratch_ids {
                push_new(&mut entry.ids, sym);
            }
            fold(&mut entry.finding, finding);
            return i;
        }
        let package = if has_package {
            self.strings.intern(&self.scratch)
        } else {
            NONE
        };
        let version = version.map_or(NONE, |v| self.strings.intern(v));
        let place = if has_place {
            self.strings.intern(&self.scratch_place)
        } else {
            NONE
        };
        let i = symbol(self.entries.len());
        self.index.insert(raw, i);
        self.known.insert(fp, i);
        self.severity.push(finding.severity);
        self.entries.push(Entry {
            key: Key {
                kind,
                id,
                package,
                version,
                place,
            },
            raw,
            finding: Box::new(finding),
            ids: self.scratch_ids.clone(),
        });
        i
    }

    /// Completes the merge: joins ids through aliases, folds what they
    /// join, and returns the sorted report.
    pub fn finish(mut self) -> Report {
        let canon = self.canonical_ids();
        // The merged finding of each entry, numbered in order of first
        // appearance: entries with equal keys once ids are canonical.
        let mut groups: FxMap<Key, u32> = FxMap::default();
        let group_of: Vec<u32> = self
            .entries
            .iter()
            .zip(&canon)
            .map(|(entry, &canonical)| {
                let key = Key {
                    id: canonical,
                    ..entry.key
                };
                let next = symbol(groups.len());
                *groups.entry(key).or_insert(next)
            })
            .collect();
        let group_count = groups.len();
        drop(groups);
        let entries = std::mem::take(&mut self.entries);
        let severity = std::mem::take(&mut self.severity);
        let fold_entries = || {
            let mut merged: Vec<(Entry, u32)> = Vec::with_capacity(group_count);
            for (((mut entry, canonical), sev), &g) in
                entries.into_iter().zip(canon).zip(severity).zip(&group_of)
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
        };
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
        let (mut merged, mut locations, mut sources) = if parallel {
            // The lists are grouped while the entries are folded.
            std::thread::scope(|scope| {
                let grouped = scope.spawn(|| {
                    (
                        Lists::new(locations, &group_of, group_count),
                        Lists::new(sources, &group_of, group_count),
                    )
                });
                let merged = fold_entries();
                let (locations, sources) = joined(grouped);
                (merged, locations, sources)
            })
        } else {
            (
                fold_entries(),
                Lists::new(locations, &group_of, group_count),
                Lists::new(sources, &group_of, group_count),
            )
        };
        // The scanner of each source (by rank).
        let mut scanners: Vec<String> = Vec::new();
        let scanner_of: Vec<usize> = sources
            .table
            .values
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
        let ids = &self.ids;
        let (mut findings, counts) = if parallel {
            // Two halves with about as many locations and sources each.
            let half = (locations.ranks.len() / 2) as u32;
            let mid = locations
                .start
                .partition_point(|&s| s < half)
                .min(merged.len());
            let high = merged.split_off(mid);
            let (loc_low, loc_high) = locations.split(mid);
            let (src_low, src_high) = sources.split(mid);
            let scanner_of = &scanner_of;
            let n = scanners.len();
            let (low, (mut findings_high, counts_high)) = std::thread::scope(|scope| {
                let high =
                    scope.spawn(move || build(high, mid, ids, loc_high, src_high, scanner_of, n));
                let low = build(merged, 0, ids, loc_low, src_low, scanner_of, n);
                (low, joined(high))
            });
            let (mut findings, mut counts) = low;
            findings.append(&mut findings_high);
            for (c, h) in counts.iter_mut().zip(counts_high) {
                *c += h;
            }
            (findings, counts)
        } else {
            let (loc, _) = locations.split(merged.len());
            let (src, _) = sources.split(merged.len());
            build(merged, 0, ids, loc, src, &scanner_of, scanners.len())
        };
        sort_findings(&mut findings);
        let by_scanner = scanners.into_iter().zip(counts).collect();
        let mut summary = Summary::with_scanners(&findings, by_scanner);
        summary.sbom = self.sbom;
        Report {
            schema_version: SCHEMA_VERSION,
            summary,
            inputs: self.inputs,
            findings,
            verdict: None,
        }
    }

    /// The canonical id symbol of every entry (see the module docs).
    fn canonical_ids(&mut self) -> Vec<u32> {
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
            if better(s, self.ids.get(g.best)) {
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
                        if better(self.ids.get(b), self.ids.get(a)) {
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

/// The distinct values of a table in their sort order, with each symbol's
/// rank in it: a list of symbols is sorted and deduplicated as integers.
struct Sorted<T> {
    values: Vec<T>,
    rank: Vec<u32>,
}

impl<T: Ord> Sorted<T> {
    fn new(table: Vec<T>) -> Sorted<T> {
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
struct Lists<T> {
    table: Sorted<T>,
    /// Where each merged finding's ranks start in `ranks` (one more entry
    /// than there are findings).
    start: Vec<u32>,
    ranks: Vec<u32>,
}

impl<T: Ord + Clone> Lists<T> {
    /// The lists of the `(values, pairs)` of a table: its distinct values
    /// and `[entry, symbol]` pairs (freed once they are counted and
    /// placed).
    fn new((values, pairs): (Vec<T>, Pairs), group_of: &[u32], groups: usize) -> Lists<T> {
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
    fn split(&mut self, mid: usize) -> (Part<'_, T>, Part<'_, T>) {
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
struct Part<'a, T> {
    table: &'a Sorted<T>,
    start: &'a [u32],
    /// The ranks of the range's findings, from `base` in [`Lists::ranks`].
    ranks: &'a mut [u32],
    base: usize,
}

impl<T: Ord + Clone> Part<'_, T> {
    /// The values of merged finding `g`, sorted and without duplicates,
    /// and their ranks in the table.
    fn take(&mut self, g: usize) -> (Vec<T>, &[u32]) {
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
fn dedup_sorted(v: &mut [u32]) -> usize {
    let mut n = 0;
    for i in 0..v.len() {
        if n == 0 || v[i] != v[n - 1] {
            v[n] = v[i];
            n += 1;
        }
    }
    n
}

/// Writes the place part of a finding's key (see the module docs) into
/// `text`; false when its kind has none or it has no location.
fn write_place(finding: &Finding, text: &mut String) -> bool {
    use std::fmt::Write as _;
    text.clear();
    if matches!(
        finding.kind,
        FindingKind::Vulnerability | FindingKind::License
    ) {
        return false;
    }
    let Some(loc) = finding.locations.iter().min() else {
        return false;
    };
    let file = loc.path.as_deref().or(loc.target.as_deref()).unwrap_or("");
    text.push_str(file);
    text.push('\u{1f}');
    let line = |t: &mut String, l: Option<u32>| {
        if let Some(l) = l {
            let _ = write!(t, "{l}");
        }
    };
    match finding.kind {
        FindingKind::Misconfiguration => match &loc.resource {
            Some(r) => {
                text.push_str("r:");
                text.push_str(r);
            }
            None => {
                text.push_str("l:");
                line(text, loc.start_line);
            }
        },
        FindingKind::Secret => line(text, loc.start_line),
        FindingKind::Weakness => {
            line(text, loc.start_line);
            text.push('-');
            line(text, loc.end_line);
        }
        FindingKind::Vulnerability | FindingKind::License => {}
    }
    true
}

/// Which thread frees the metadata that [`Prepared::new`] takes out of
/// repeated findings.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Spent {
    /// The reading thread, which built the reports ([`Merger::add_all`]).
    FreeThere,
    /// The merging thread, which built them before ([`Merger::add_parsed`]).
    HandBack,
}

/// A scan report read ahead of the merger (see [`Merger::add_all`]).
struct Prepared {
    report: ScanReport,
    /// The [fingerprint] of each finding.
    fingerprints: Vec<u128>,
    /// Whether each finding's metadata was taken out, its fingerprint
    /// having been met before in the same stream of reports: the merger
    /// has folded in that metadata before it reaches this finding.
    stripped: Vec<bool>,
    /// The metadata taken out, for the merging thread to free
    /// ([`Spent::HandBack`]); empty otherwise.
    handed_back: Vec<Finding>,
}

impl Prepared {
    /// Computes the fingerprints of `report`'s findings and strips the
    /// metadata of those in `seen`, then adds the others to `seen`.
    fn new(mut report: ScanReport, seen: &mut FxSet<u128>, spent: Spent) -> Prepared {
        let fingerprints = fingerprints(&report.findings);
        // All lookups first, so that their cache misses overlap.
        let stripped: Vec<bool> = fingerprints.iter().map(|fp| seen.contains(fp)).collect();
        let mut handed_back = Vec::new();
        for ((f, fp), &strip) in report.findings.iter_mut().zip(&fingerprints).zip(&stripped) {
            if strip {
                let light = Finding {
                    locations: std::mem::take(&mut f.locations),
                    sources: std::mem::take(&mut f.sources),
                    ..Finding::new(f.kind, String::new(), f.severity)
                };
                let metadata = std::mem::replace(f, light);
                if spent == Spent::HandBack {
                    handed_back.push(metadata);
                }
            } else {
                seen.insert(*fp);
            }
        }
        Prepared {
            report,
            fingerprints,
            stripped,
            handed_back,
        }
    }
}

/// The [fingerprint] of each finding.
fn fingerprints(findings: &[Finding]) -> Vec<u128> {
    let mut place = String::new();
    let mut buf = Vec::new();
    findings
        .iter()
        .map(|f| {
            let has_place = write_place(f, &mut place);
            fingerprint(f, has_place.then_some(place.as_str()), &mut buf)
        })
        .collect()
}

/// What a scoped thread returned; its panic, with its own payload, when
/// it panicked (the scope would replace the payload with its own).
fn joined<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// At least this many locations and sources make [`Merger::finish`] build
/// the merged findings on two threads (when it may use them).
const PARALLEL_FINISH: usize = 100_000;

/// Builds merged findings `first..first + merged.len()`, and counts for
/// each scanner (see `scanner_of`) how many of them it is a source of.
fn build(
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

/// Ranks ids for the canonical choice: CVE, then GHSA, then any other;
/// within a rank the lexically smaller.
fn better(a: &str, b: &str) -> bool {
    fn rank(s: &str) -> u8 {
        if is_cve(s) {
            0
        } else if s.starts_with("GHSA-") {
            1
        } else {
            2
        }
    }
    (rank(a), a) < (rank(b), b)
}

fn put(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

fn opt(buf: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            buf.push(1);
            put(buf, s);
        }
        None => buf.push(0),
    }
}

fn list(buf: &mut Vec<u8>, items: &[String]) {
    buf.extend_from_slice(&(items.len() as u64).to_le_bytes());
    for s in items {
        put(buf, s);
    }
}

/// The 128-bit hash (XXH3) of a finding's key parts as strings: its kind,
/// id, package identity, installed version and place. Equal keys hash
/// equally in every merger; each part is length-prefixed, so different
/// keys encode differently, and two encodings share a 128-bit hash with
/// negligible probability.
fn raw_key(
    buf: &mut Vec<u8>,
    kind: FindingKind,
    id: &str,
    identity: Option<&str>,
    version: Option<&str>,
    place: Option<&str>,
) -> u128 {
    buf.clear();
    buf.push(kind as u8);
    put(buf, id);
    opt(buf, identity);
    opt(buf, version);
    opt(buf, place);
    xxhash_rust::xxh3::xxh3_128(buf)
}

/// A 128-bit fingerprint (XXH3) of everything [`fold`] reads from a finding
/// other than its severity, locations and sources (its id, aliases, CVSS,
/// package, fixed versions, CWEs, title, description and references),
/// together with its kind and `place` (the place part of its key): every
/// part of the finding's key is derived from what it covers, so one
/// fingerprint belongs to one entry.
///
/// Folding a finding whose metadata was folded into the same entry before
/// changes that metadata in no way (every part of the fold is a union, a
/// minimum or a maximum), so such a finding only adds its severity,
/// locations and sources. Across a fleet, one scanner's
/// record of a vulnerability repeats in every image that has it; this
/// spares comparing it field by field against the merged finding, and
/// even computing its key. Each string is length-prefixed, so different
/// findings encode differently; two different encodings share a 128-bit
/// hash with negligible probability.
fn fingerprint(f: &Finding, place: Option<&str>, buf: &mut Vec<u8>) -> u128 {
    buf.clear();
    buf.push(f.kind as u8);
    opt(buf, place);
    put(buf, &f.id);
    list(buf, &f.aliases);
    buf.extend_from_slice(&(f.cvss.len() as u64).to_le_bytes());
    for c in &f.cvss {
        buf.push(c.version as u8);
        buf.extend_from_slice(&c.score.map_or(u64::MAX, f64::to_bits).to_le_bytes());
        buf.push(u8::from(c.score.is_some()));
        opt(buf, c.vector.as_deref());
        opt(buf, c.source.as_deref());
    }
    match &f.package {
        Some(p) => {
            buf.push(1);
            put(buf, &p.name);
            opt(buf, p.version.as_deref());
            opt(buf, p.purl.as_ref().map(|u| u.as_str()));
            opt(buf, p.ecosystem.as_deref());
        }
        None => buf.push(0),
    }
    list(buf, &f.fixed_versions);
    list(buf, &f.cwes);
    opt(buf, f.title.as_deref());
    opt(buf, f.description.as_deref());
    list(buf, &f.references);
    xxhash_rust::xxh3::xxh3_128(buf)
}

/// Appends the value of each of `keys` in `map`, or [`NONE`], to `out`:
/// every lookup is made before any result is used, so that their cache
/// misses overlap.
fn look_up_all(map: &FxMap<u128, u32>, keys: &[u128], out: &mut Vec<u32>) {
    out.extend(keys.iter().map(|k| map.get(k).copied().unwrap_or(NONE)));
}

fn symbol(i: usize) -> u32 {
    u32::try_from(i).expect("fewer than 2^32 distinct values")
}

/// `[entry, symbol]` pairs (see [`Merger::placed`]), kept in chunks of
/// a fixed size: the list grows without copying what it holds, and each
/// chunk comes from memory the allocator has at hand (such as that of the
/// findings just folded in), where one growing list would ask the system
/// for ever larger blocks of fresh memory.
#[derive(Default)]
struct Pairs {
    /// Full chunks, then the one being filled.
    chunks: Vec<Vec<[u32; 2]>>,
}

impl Pairs {
    /// Pairs per chunk: 64 KiB.
    const CHUNK: usize = 1 << 13;

    fn push(&mut self, pair: [u32; 2]) {
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < Pairs::CHUNK => chunk.push(pair),
            _ => {
                let mut chunk = Vec::with_capacity(Pairs::CHUNK);
                chunk.push(pair);
                self.chunks.push(chunk);
            }
        }
    }

    fn len(&self) -> usize {
        self.chunks.last().map_or(0, |last| {
            (self.chunks.len() - 1) * Pairs::CHUNK + last.len()
        })
    }

    fn iter(&self) -> impl Iterator<Item = &[u32; 2]> {
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
struct Batch<T: Keyed> {
    /// The index in `symbols` of each distinct address of the batch.
    by_address: FxMap<T::Address, u32>,
    /// The content hash of each distinct address (while resolving).
    hashes: Vec<u128>,
    /// The table symbol of each distinct address.
    symbols: Vec<u32>,
    /// For each item of the batch, in order, its index in `symbols`.
    slots: Vec<u32>,
    /// How many of `slots` [`pair`](Batch::pair) has handed out.
    taken: usize,
    /// The encoding of an item, to hash.
    buf: Vec<u8>,
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
    fn resolve<'a>(
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
    fn all_paired(&self) -> bool {
        self.taken == self.slots.len()
    }

    /// Appends `[entry, symbol]` to `pairs` for the next `n` items.
    fn pair(&mut self, n: usize, entry: u32, pairs: &mut Pairs) {
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
struct Table<T> {
    values: Vec<T>,
    by_hash: FxMap<u128, u32>,
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
    fn symbol(&mut self, hash: u128, value: impl FnOnce() -> T) -> u32 {
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
    fn absorb(&mut self, other: Table<T>, mut adopt: impl FnMut(T) -> T) -> Vec<u32> {
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
trait Keyed {
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
type SharedStrings = Table<Arc<str>>;

impl SharedStrings {
    fn get(&mut self, s: &str) -> Arc<str> {
        let hash = xxhash_rust::xxh3::xxh3_128(s.as_bytes());
        let sym = self.symbol(hash, || Arc::from(s));
        Arc::clone(&self.values[sym as usize])
    }

    fn opt(&mut self, s: Option<&str>) -> Option<Arc<str>> {
        s.map(|s| self.get(s))
    }
}

fn line(buf: &mut Vec<u8>, l: Option<u32>) {
    match l {
        Some(l) => {
            buf.push(1);
            buf.extend_from_slice(&l.to_le_bytes());
        }
        None => buf.push(0),
    }
}

fn address(s: &Option<Arc<str>>) -> usize {
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
        opt(buf, self.target.as_deref());
        opt(buf, self.path.as_deref());
        opt(buf, self.resource.as_deref());
        line(buf, self.start_line);
        line(buf, self.end_line);
    }
    fn shared(&self, shared: &mut SharedStrings) -> Location {
        Location {
            target: shared.opt(self.target.as_deref()),
            path: shared.opt(self.path.as_deref()),
            resource: shared.opt(self.resource.as_deref()),
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
        put(buf, &self.scanner);
        buf.push(self.severity as u8);
        opt(buf, self.target.as_deref());
    }
    fn shared(&self, shared: &mut SharedStrings) -> Source {
        Source {
            scanner: shared.get(&self.scanner),
            severity: self.severity,
            target: shared.opt(self.target.as_deref()),
        }
    }
}

/// Folds the metadata of `from` into `into` (neither holds locations or
/// sources: the merger keeps those apart). Lists are only appended to
/// here; [`finalize`] sorts them once.
fn fold(into: &mut Finding, from: Finding) {
    into.severity = into.severity.max(from.severity);
    if from.id != into.id {
        push_new(&mut into.aliases, from.id);
    }
    // Small lists, bounded by the vulnerability's metadata, are
    // deduplicated as they grow.
    union_into(&mut into.aliases, from.aliases);
    union_into(&mut into.cvss, from.cvss);
    union_into(&mut into.fixed_versions, from.fixed_versions);
    union_into(&mut into.cwes, from.cwes);
    union_into(&mut into.references, from.references);
    if from.package.is_some() && pkg_rank(from.package.as_ref()) > pkg_rank(into.package.as_ref()) {
        into.package = from.package;
    }
    if let Some(t) = from.title {
        if into.title.as_ref().is_none_or(|cur| t < *cur) {
            into.title = Some(t);
        }
    }
    if let Some(d) = from.description {
        let longer = into
            .description
            .as_ref()
            .is_none_or(|cur| (d.len(), Reverse(&d)) > (cur.len(), Reverse(cur)));
        if longer {
            into.description = Some(d);
        }
    }
}

/// Adds the items not yet in `list`. The same scanner's record of one
/// vulnerability usually repeats exactly across a fleet: equal lists are
/// recognised in one comparison per item.
fn union_into<T: PartialEq>(list: &mut Vec<T>, items: Vec<T>) {
    if *list == items {
        return;
    }
    for item in items {
        push_new(list, item);
    }
}

fn push_new<T: PartialEq>(list: &mut Vec<T>, item: T) {
    if !list.contains(&item) {
        list.push(item);
    }
}

fn cmp_cvss(a: &Cvss, b: &Cvss) -> Ordering {
    (a.version, &a.source, &a.vector, a.score.map(f64::to_bits)).cmp(&(
        b.version,
        &b.source,
        &b.vector,
        b.score.map(f64::to_bits),
    ))
}

/// Sorts and deduplicates every list of a merged finding.
fn finalize(f: &mut Finding) {
    fn sort_dedup<T: Ord>(v: &mut Vec<T>) {
        if v.len() > 1 {
            v.sort_unstable();
            v.dedup();
        }
    }
    sort_dedup(&mut f.aliases);
    f.aliases.retain(|a| *a != f.id);
    sort_dedup(&mut f.fixed_versions);
    sort_dedup(&mut f.cwes);
    sort_dedup(&mut f.references);
    if f.cvss.len() > 1 {
        f.cvss.sort_unstable_by(cmp_cvss);
        f.cvss.dedup_by(|a, b| cmp_cvss(a, b) == Ordering::Equal);
    }
}

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
fn report_order(a: &Finding, b: &Finding) -> Ordering {
    b.severity
        .cmp(&a.severity)
        .then_with(|| a.id.cmp(&b.id))
        .then_with(|| package_key(a).cmp(&package_key(b)))
        .then_with(|| a.kind.cmp(&b.kind))
        .then_with(|| a.locations.cmp(&b.locations))
        .then_with(|| pkg_rank(a.package.as_ref()).cmp(&pkg_rank(b.package.as_ref())))
        .then_with(|| a.sources.cmp(&b.sources))
}

fn package_key(f: &Finding) -> (&str, &str) {
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
struct Prefix(u128, u64, u8);

impl Prefix {
    const BYTES: usize = 24;

    fn of(s: &str) -> Prefix {
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
    fn is_whole(self) -> bool {
        usize::from(self.2) <= Self::BYTES
    }
}

/// A total order on packages: with a purl first, then by name, purl,
/// ecosystem and version (smaller first).
type PkgRank<'a> = (
    bool,
    Reverse<&'a str>,
    Reverse<Option<&'a str>>,
    Reverse<Option<&'a str>>,
    Reverse<Option<&'a str>>,
);

fn pkg_rank(p: Option<&Package>) -> Option<PkgRank<'_>> {
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

impl Report {
    /// Merges scan reports into one report (see [`Merger`]) on the
    /// calling thread; a merger given [`with_threads`](Merger::with_threads)
    /// uses a second one in [`add_all`](Merger::add_all) and
    /// [`finish`](Merger::finish).
    pub fn merge(reports: impl IntoIterator<Item = ScanReport>) -> Report {
        let mut m = Merger::new();
        for r in reports {
            m.add(r);
        }
        m.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScannerInfo;

    /// A fleet: each image has a share of a few vulnerabilities, seen by
    /// two scanners with their own ids, targets and metadata.
    fn fleet() -> Vec<ScanReport> {
        let mut reports = Vec::new();
        for image in 0..40u32 {
            for scanner in ["trivy", "grype"] {
                let target: Arc<str> = Arc::from(format!("registry.test/app-{image}:1"));
                let mut r = ScanReport::new(ScannerInfo::new(scanner, None::<String>));
                for v in (0..30u32).filter(|v| (v * 7 + image) % 3 != 0) {
                    let id = if scanner == "grype" && v % 4 == 0 {
                        format!("GHSA-{v:04}")
                    } else {
                        format!("CVE-2024-{v:04}")
                    };
                    let sev = Severity::DESCENDING[(v % 5) as usize];
                    let mut f = Finding::new(FindingKind::Vulnerability, id, sev);
                    if scanner == "grype" && v % 4 == 0 {
                        f.add_alias(format!("CVE-2024-{v:04}"));
                    }
                    f.package = Some(
                        Package::new(format!("pkg{}", v % 11))
                            .with_version(Some(format!("1.{}", v % 3))),
                    );
                    f.description = Some(format!("{scanner} says {v}"));
                    f.add_location(
                        Location::new()
                            .with_target(Some(target.clone()))
                            .with_path(Some(format!("lib/{}", v % 4))),
                    );
                    f.sources
                        .push(Source::new(scanner, sev, Some(target.clone())));
                    r.findings.push(f);
                }
                reports.push(r);
            }
        }
        reports
    }

    #[test]
    fn repeated_metadata_is_freed_by_the_reader_or_handed_back() {
        let reports = fleet();
        let total: usize = reports.iter().map(|r| r.findings.len()).sum();
        for spent in [Spent::FreeThere, Spent::HandBack] {
            let mut seen = FxSet::default();
            let (mut stripped, mut handed_back) = (0, Vec::new());
            for r in reports.iter().chain(&reports) {
                let p = Prepared::new(r.clone(), &mut seen, spent);
                stripped += p.stripped.iter().filter(|&&s| s).count();
                for (f, &s) in p.report.findings.iter().zip(&p.stripped) {
                    // A stripped finding keeps its kind, severity,
                    // locations and sources, and nothing else.
                    assert_eq!(s, f.id.is_empty());
                    assert!(!f.locations.is_empty() && !f.sources.is_empty());
                }
                handed_back.extend(p.handed_back);
            }
            // The second pass repeats every finding of the first.
            assert!(stripped >= total, "{stripped} of {}", 2 * total);
            match spent {
                Spent::FreeThere => assert!(handed_back.is_empty()),
                Spent::HandBack => {
                    assert_eq!(handed_back.len(), stripped);
                    assert!(handed_back.iter().all(|f| !f.id.is_empty()
                        && f.package.is_some()
                        && f.locations.is_empty()
                        && f.sources.is_empty()));
                }
            }
        }
    }

    #[test]
    fn finish_on_two_threads_builds_the_same_report() {
        let merge = |threads: usize| {
            let mut m = Merger::new().with_threads(threads);
            m.parallel_finish = Some(0);
            for r in fleet() {
                m.add(r);
            }
            m.finish()
        };
        let one = merge(1);
        let two = merge(2);
        assert_eq!(one.findings.len(), 30);
        assert!(one.findings.iter().any(|f| f.sources.len() > 10));
        assert_eq!(one.findings, two.findings);
        assert_eq!(one.summary, two.summary);
        assert_eq!(one.summary.by_scanner.len(), 2);
    }

    #[test]
    fn merged_locations_and_sources_share_one_copy_of_each_string() {
        let check = |report: &Report, input: &Arc<str>| {
            // The merged report holds none of the inputs' strings...
            assert_eq!(Arc::strong_count(input), 1);
            // ...and one copy of each text, whichever report brought it.
            let mut copies: HashMap<String, Arc<str>> = HashMap::new();
            let mut same = |s: &Arc<str>| {
                let copy = copies.entry(s.to_string()).or_insert_with(|| s.clone());
                assert!(Arc::ptr_eq(copy, s), "two copies of {s:?}");
            };
            for f in &report.findings {
                for l in &f.locations {
                    l.target.iter().chain(&l.path).for_each(&mut same);
                }
                for s in &f.sources {
                    same(&s.scanner);
                    s.target.iter().for_each(&mut same);
                }
            }
            // Two scanners; 40 targets, each met in locations and sources;
            // four paths.
            assert_eq!(copies.len(), 2 + 40 + 4);
        };
        let reports = fleet();
        let input = reports[0].findings[0].locations[0]
            .target
            .clone()
            .expect("a target");
        let mut one = Merger::new();
        let mut halves = [Merger::new(), Merger::new()];
        for (k, r) in reports.into_iter().enumerate() {
            one.add(r.clone());
            halves[k % 2].add(r);
        }
        let [mut first, second] = halves;
        first.absorb(second);
        let one = one.finish();
        check(&one, &input);
        let absorbed = first.finish();
        check(&absorbed, &input);
        assert_eq!(one.findings, absorbed.findings);
    }

    #[test]
    fn add_all_passes_on_the_iterators_panic_after_the_reports_before_it() {
        let mut m = Merger::new().with_threads(2);
        let reports =
            fleet()
                .into_iter()
                .take(3)
                .chain(std::iter::from_fn(|| -> Option<ScanReport> {
                    std::panic::panic_any("parse failed: bad.json")
                }));
        let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| m.add_all(reports)))
            .expect_err("the iterator's panic");
        assert_eq!(
            panic.downcast_ref::<&str>(),
            Some(&"parse failed: bad.json")
        );
        assert_eq!(m.inputs.len(), 3);
    }

    /// Strings that share long prefixes, end in zero bytes, or run past
    /// a [`Prefix`].
    fn tricky_string() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        (
            prop::sample::select(vec![0, 22, 23, 24, 25]),
            prop::collection::vec(prop::sample::select(vec!['a', 'b', '\0']), 0..4),
        )
            .prop_map(|(common, tail)| "a".repeat(common) + &tail.into_iter().collect::<String>())
    }

    proptest::proptest! {
        #[test]
        fn sorting_by_keys_equals_sorting_by_the_report_order(
            findings in proptest::collection::vec(
                (
                    proptest::bool::ANY,
                    proptest::bool::ANY,
                    tricky_string(),
                    proptest::option::of((tricky_string(), proptest::bool::ANY)),
                    proptest::option::of(tricky_string()),
                ),
                0..60,
            )
        ) {
            let mut findings: Vec<Finding> = findings
                .into_iter()
                .map(|(secret, high, id, package, target)| {
                    let kind = if secret { FindingKind::Secret } else { FindingKind::Vulnerability };
                    let severity = if high { Severity::High } else { Severity::Low };
                    let mut f = Finding::new(kind, id, severity);
                    f.package = package.map(|(name, v2)| {
                        Package::new(name).with_version(Some(if v2 { "2" } else { "1" }))
                    });
                    if let Some(target) = target {
                        f.locations.push(Location::new().with_target(Some(target)));
                    }
                    f
                })
                .collect();
            let mut expected = findings.clone();
            expected.sort_by(report_order);
            sort_findings(&mut findings);
            proptest::prop_assert_eq!(findings, expected);
        }
    }

    #[test]
    fn prefixes_compare_as_their_strings() {
        let strings = [
            "",
            "\0",
            "a",
            "a\0",
            "a\0\0",
            "ab",
            "b",
            &"a".repeat(24),
            &"a".repeat(25),
            &format!("{}\0", "a".repeat(23)),
            &format!("{}b", "a".repeat(24)),
        ];
        for a in strings {
            for b in strings {
                let (pa, pb) = (Prefix::of(a), Prefix::of(b));
                if pa != pb {
                    assert_eq!(pa.cmp(&pb), a.cmp(b), "{a:?} against {b:?}");
                } else if pa.is_whole() {
                    assert_eq!(a, b);
                }
            }
        }
    }

    #[test]
    fn sorting_by_index_equals_sorting_the_findings() {
        let expected = Report::merge(fleet()).findings;
        for seed in 1..20u64 {
            // Shuffled by xorshift: permutations with cycles of many lengths.
            let mut findings = expected.clone();
            let mut state = seed;
            for i in (1..findings.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                findings.swap(i, (state % (i as u64 + 1)) as usize);
            }
            sort_findings(&mut findings);
            assert_eq!(findings, expected, "seed {seed}");
        }
        let mut one = vec![expected[0].clone()];
        sort_findings(&mut one);
        assert_eq!(one[0], expected[0]);
        sort_findings(&mut []);
    }
}
