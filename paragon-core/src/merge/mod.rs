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
//! | vulnerability | canonical id, [package identity](crate::model::package_identity), installed version |
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

mod finish;
mod fold;
mod keys;
mod ordering;
mod read_ahead;
mod table;

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use rustc_hash::FxHasher;

use crate::model::finding::{Finding, FindingKind, Location, Severity, Source};
use crate::model::package_identity::write_identity;
use crate::model::report::{InputSummary, Report, SbomTotals};
use crate::model::scan_report::ScanReport;

use fold::{fold, push_new};
use keys::{fingerprints, raw_key, write_place, Aliases, Key};
use read_ahead::FreedBy;
use table::{look_up_all, symbol, Batch, Interner, Keyed, Pairs, SharedStrings, Table};

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;
type FxSet<T> = std::collections::HashSet<T, BuildHasherDefault<FxHasher>>;

/// No string (an absent package, version or location part).
const NONE: u32 = u32::MAX;

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
        self.read_ahead(reports.into_iter(), FreedBy::ReadingThread);
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
        self.read_ahead(reports.into_iter(), FreedBy::MergingThread);
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
        // Which of `other`'s entries hold metadata this merger has not
        // folded in (a fingerprint names one entry in either merger).
        let mut new_metadata = vec![false; entries.len()];
        for (fp, &e) in &known {
            if !self.known.contains_key(fp) {
                new_metadata[e as usize] = true;
            }
        }
        let moved = self.absorb_entries(entries, severity, &new_metadata, &ids, &strings);
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

    /// Folds another merger's entries in (their id and string symbols
    /// mapped to this merger's through `ids` and `strings`), the metadata
    /// only of those marked in `new_metadata`: where each went.
    fn absorb_entries(
        &mut self,
        entries: Vec<Entry>,
        severity: Vec<Severity>,
        new_metadata: &[bool],
        ids: &[u32],
        strings: &[u32],
    ) -> Vec<u32> {
        let string = |sym: u32| {
            if sym == NONE {
                NONE
            } else {
                strings[sym as usize]
            }
        };
        let mut moved: Vec<u32> = Vec::with_capacity(entries.len());
        self.entries.reserve(entries.len());
        for ((mut entry, sev), &new_metadata) in entries.into_iter().zip(severity).zip(new_metadata)
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
        moved
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
    use std::sync::Arc;

    use super::ordering::{report_order, sort_findings, Prefix};
    use super::read_ahead::Prepared;
    use super::*;
    use crate::model::finding::Package;
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
        for freed_by in [FreedBy::ReadingThread, FreedBy::MergingThread] {
            let mut seen = FxSet::default();
            let (mut stripped, mut handed_back) = (0, Vec::new());
            for r in reports.iter().chain(&reports) {
                let p = Prepared::new(r.clone(), &mut seen, freed_by);
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
            match freed_by {
                FreedBy::ReadingThread => assert!(handed_back.is_empty()),
                FreedBy::MergingThread => {
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
