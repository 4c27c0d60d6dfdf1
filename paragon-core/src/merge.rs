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
//! and then gives only its severity, locations and sources. Only new
//! metadata computes the key (package identity, place) and finds its
//! merged finding by a 128-bit hash of the key's parts, interned when the
//! merged finding is new. Each distinct location and source is kept once;
//! an input appends `(merged finding, symbol)` pairs, which
//! [`finish`](Merger::finish) groups in one counting pass. Locations and
//! sources hold shared strings ([`Arc<str>`](std::sync::Arc)), so the
//! merged report's millions of them cost a reference count each. Both
//! hashes are XXH3 over length-prefixed fields; two different inputs share
//! one with negligible probability (below 2⁻⁶⁹ among a billion distinct
//! values).
//!
//! # On several threads
//!
//! Give each thread its own [`Merger`] and [`absorb`](Merger::absorb) them
//! into one before [`finish`](Merger::finish): the result is the same as
//! one merger's.

use std::cmp::{Ordering, Reverse};
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use rustc_hash::FxHasher;

use crate::document::{InputSummary, Report, SbomTotals, Summary};
use crate::finding::{is_cve, Cvss, Finding, FindingKind, Location, Package, Severity, Source};
use crate::identity::write_identity;
use crate::report::ScanReport;
use crate::SCHEMA_VERSION;

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;
type FxIndexSet<T> = indexmap::IndexSet<T, BuildHasherDefault<FxHasher>>;

/// No string (an absent package, version or location part).
const NONE: u32 = u32::MAX;

/// Interns strings to dense `u32` symbols (their index in the set).
#[derive(Default)]
struct Interner {
    strings: FxIndexSet<Box<str>>,
}

impl Interner {
    fn intern(&mut self, s: &str) -> u32 {
        match self.strings.get_index_of(s) {
            Some(i) => symbol(i),
            None => symbol(self.strings.insert_full(s.into()).0),
        }
    }

    fn get(&self, sym: u32) -> &str {
        &self.strings[sym as usize]
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
    finding: Finding,
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
    locations: FxIndexSet<Location>,
    /// Every distinct source seen.
    sources: FxIndexSet<Source>,
    /// `[entry, location symbol]` for each location of each input.
    placed: Vec<[u32; 2]>,
    /// `[entry, source symbol]` for each source of each input.
    sourced: Vec<[u32; 2]>,
    inputs: Vec<InputSummary>,
    sbom: SbomTotals,
    scratch: String,
    scratch_ids: Vec<u32>,
    scratch_place: String,
    scratch_fingerprint: Vec<u8>,
    scratch_key: Vec<u8>,
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
    /// An empty merger.
    pub fn new() -> Merger {
        Merger::default()
    }

    /// Adds one scan report: its findings are folded in and the report itself
    /// is dropped (only its summary is kept).
    pub fn add(&mut self, report: ScanReport) {
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
        self.placed.reserve(report.findings.len());
        self.sourced.reserve(report.findings.len());
        for finding in report.findings {
            self.add_finding(finding);
        }
    }

    /// Adds findings that did not come with a report.
    pub fn add_findings(&mut self, findings: impl IntoIterator<Item = Finding>) {
        for finding in findings {
            self.add_finding(finding);
        }
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
        let ids: Vec<u32> = ids.strings.iter().map(|s| self.ids.intern(s)).collect();
        let strings: Vec<u32> = strings
            .strings
            .iter()
            .map(|s| self.strings.intern(s))
            .collect();
        for sym in 0..aliases.parent.len() as u32 {
            let root = aliases.find(sym);
            self.aliases.ensure(ids[sym as usize]);
            self.aliases.union(ids[sym as usize], ids[root as usize]);
        }
        let locations: Vec<u32> = locations
            .into_iter()
            .map(|l| symbol(self.locations.insert_full(l).0))
            .collect();
        let sources: Vec<u32> = sources
            .into_iter()
            .map(|s| symbol(self.sources.insert_full(s).0))
            .collect();
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
                        fold(&mut into.finding, entry.finding);
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
        let remap = |pairs: Vec<[u32; 2]>, syms: &[u32], into: &mut Vec<[u32; 2]>| {
            into.extend(
                pairs
                    .into_iter()
                    .map(|[e, s]| [moved[e as usize], syms[s as usize]]),
            );
        };
        remap(placed, &locations, &mut self.placed);
        remap(sourced, &sources, &mut self.sourced);
        self.inputs.extend(inputs);
        self.sbom.documents += sbom.documents;
        self.sbom.components += sbom.components;
        self.sbom.components_with_purl += sbom.components_with_purl;
    }

    /// Writes the place part of a finding's key (see the module docs) into
    /// `scratch_place`; false when its kind has none or it has no location.
    fn write_place(&mut self, finding: &Finding) -> bool {
        use std::fmt::Write as _;
        let text = &mut self.scratch_place;
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

    fn add_finding(&mut self, mut finding: Finding) {
        let has_place = self.write_place(&finding);
        let fp = fingerprint(
            &finding,
            has_place.then_some(self.scratch_place.as_str()),
            &mut self.scratch_fingerprint,
        );
        let severity = finding
            .sources
            .iter()
            .map(|s| s.severity)
            .fold(finding.severity, Ord::max);
        let mut locations = std::mem::take(&mut finding.locations);
        let mut sources = std::mem::take(&mut finding.sources);
        // Metadata seen before (the key's parts are part of it) names its
        // entry and gives nothing more than a severity, locations and
        // sources; this is the common case across a fleet.
        let i = match self.known.get(&fp) {
            Some(&i) => i,
            None => self.fold_new(finding, fp, has_place),
        };
        let sev = &mut self.severity[i as usize];
        *sev = (*sev).max(severity);
        intern_all(&mut self.locations, &mut self.placed, i, &mut locations);
        intern_all(&mut self.sources, &mut self.sourced, i, &mut sources);
    }

    /// Folds in a finding whose metadata no entry has seen (its place
    /// written by [`write_place`](Merger::write_place) when `has_place`):
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
            finding,
            ids: self.scratch_ids.clone(),
        });
        i
    }

    /// Completes the merge: joins ids through aliases, folds what they
    /// join, and returns the sorted report.
    pub fn finish(mut self) -> Report {
        let canon = self.canonical_ids();
        let mut groups: FxMap<Key, u32> = FxMap::default();
        // The merged finding of each entry.
        let mut group_of: Vec<u32> = Vec::with_capacity(self.entries.len());
        let mut merged: Vec<(Entry, u32)> = Vec::with_capacity(self.entries.len());
        let entries = std::mem::take(&mut self.entries);
        for ((mut entry, canonical), sev) in entries.into_iter().zip(canon).zip(&self.severity) {
            entry.finding.severity = entry.finding.severity.max(*sev);
            let key = Key {
                id: canonical,
                ..entry.key
            };
            match groups.get(&key) {
                Some(&g) => {
                    group_of.push(g);
                    let (into, _) = &mut merged[g as usize];
                    into.ids.extend(entry.ids);
                    fold(&mut into.finding, entry.finding);
                }
                None => {
                    let g = symbol(merged.len());
                    groups.insert(key, g);
                    group_of.push(g);
                    merged.push((entry, canonical));
                }
            }
        }
        drop(groups);
        let mut locations = Lists::new(
            Sorted::new(std::mem::take(&mut self.locations)),
            std::mem::take(&mut self.placed),
            &group_of,
            merged.len(),
        );
        let mut sources = Lists::new(
            Sorted::new(std::mem::take(&mut self.sources)),
            std::mem::take(&mut self.sourced),
            &group_of,
            merged.len(),
        );
        let ids = &self.ids;
        let mut findings: Vec<Finding> = merged
            .into_iter()
            .enumerate()
            .map(|(g, (entry, canonical))| {
                let mut f = entry.finding;
                if f.kind == FindingKind::Vulnerability {
                    let canonical_str = ids.get(canonical);
                    if f.id != canonical_str {
                        f.id = canonical_str.to_owned();
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
                f.locations = locations.take(g);
                f.sources = sources.take(g);
                finalize(&mut f);
                f
            })
            .collect();
        sort_findings(&mut findings);
        let mut summary = Summary::of_findings(&findings);
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
    fn new(table: FxIndexSet<T>) -> Sorted<T> {
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
    /// Consumes `pairs` (freed once they are counted and placed).
    fn new(table: Sorted<T>, pairs: Vec<[u32; 2]>, group_of: &[u32], groups: usize) -> Lists<T> {
        let mut start = vec![0u32; groups + 1];
        for &[e, _] in &pairs {
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

    /// The values of merged finding `g`, sorted and without duplicates.
    fn take(&mut self, g: usize) -> Vec<T> {
        let ranks = &mut self.ranks[self.start[g] as usize..self.start[g + 1] as usize];
        ranks.sort_unstable();
        ranks
            .chunk_by(|a, b| a == b)
            .map(|run| self.table.values[run[0] as usize].clone())
            .collect()
    }
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

fn symbol(i: usize) -> u32 {
    u32::try_from(i).expect("fewer than 2^32 distinct values")
}

/// Moves `items` into `table` (an item already there is dropped) and
/// appends `[entry, symbol]` for each to `pairs`.
fn intern_all<T: std::hash::Hash + Eq>(
    table: &mut FxIndexSet<T>,
    pairs: &mut Vec<[u32; 2]>,
    entry: u32,
    items: &mut Vec<T>,
) {
    for item in items.drain(..) {
        pairs.push([entry, symbol(table.insert_full(item).0)]);
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
    fn package_key(f: &Finding) -> (&str, &str) {
        f.package.as_ref().map_or(("", ""), |p| {
            (p.name.as_str(), p.version.as_deref().unwrap_or(""))
        })
    }
    findings.sort_unstable_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.id.cmp(&b.id))
            .then_with(|| package_key(a).cmp(&package_key(b)))
            .then_with(|| a.kind.cmp(&b.kind))
            .then_with(|| a.locations.cmp(&b.locations))
            .then_with(|| pkg_rank(a.package.as_ref()).cmp(&pkg_rank(b.package.as_ref())))
            .then_with(|| a.sources.cmp(&b.sources))
    });
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
    /// Merges scan reports into one report (see [`Merger`]).
    pub fn merge(reports: impl IntoIterator<Item = ScanReport>) -> Report {
        let mut m = Merger::new();
        for r in reports {
            m.add(r);
        }
        m.finish()
    }
}
