//! Reading reports ahead of the merger on a second thread.

use crate::model::finding::Finding;
use crate::model::scan_report::ScanReport;

use super::keys::fingerprints;
use super::{FxSet, Merger};

impl Merger {
    /// Adds `reports` in turn, reading them ahead on a second thread when
    /// the merger may; `freed_by` says which thread frees the metadata taken
    /// out of repeated findings.
    pub(super) fn read_ahead<I>(&mut self, reports: I, freed_by: FreedBy)
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
                    if tx.send(Prepared::new(report, &mut seen, freed_by)).is_err() {
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
}

/// Which thread frees the metadata that [`Prepared::new`] takes out of
/// repeated findings.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum FreedBy {
    /// The reading thread, which built the reports ([`Merger::add_all`]).
    ReadingThread,
    /// The merging thread, which built them before ([`Merger::add_parsed`]).
    MergingThread,
}

/// A scan report read ahead of the merger (see [`Merger::add_all`]).
pub(super) struct Prepared {
    pub(super) report: ScanReport,
    /// The [fingerprint] of each finding.
    pub(super) fingerprints: Vec<u128>,
    /// Whether each finding's metadata was taken out, its fingerprint
    /// having been met before in the same stream of reports: the merger
    /// has folded in that metadata before it reaches this finding.
    pub(super) stripped: Vec<bool>,
    /// The metadata taken out, for the merging thread to free
    /// ([`FreedBy::MergingThread`]); empty otherwise.
    pub(super) handed_back: Vec<Finding>,
}

impl Prepared {
    /// Computes the fingerprints of `report`'s findings and strips the
    /// metadata of those in `seen`, then adds the others to `seen`.
    pub(super) fn new(
        mut report: ScanReport,
        seen: &mut FxSet<u128>,
        freed_by: FreedBy,
    ) -> Prepared {
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
                if freed_by == FreedBy::MergingThread {
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

/// What a scoped thread returned; its panic, with its own payload, when
/// it panicked (the scope would replace the payload with its own).
pub(super) fn joined<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}
