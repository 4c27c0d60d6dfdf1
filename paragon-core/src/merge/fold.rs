//! Folding one finding's metadata into another's.

use std::cmp::{Ordering, Reverse};

use crate::model::finding::{Cvss, Finding};

use super::ordering::pkg_rank;

/// Folds the metadata of `from` into `into` (neither holds locations or
/// sources: the merger keeps those apart). Lists are only appended to
/// here; [`finalize`] sorts them once.
pub(super) fn fold(into: &mut Finding, from: Finding) {
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
pub(super) fn union_into<T: PartialEq>(list: &mut Vec<T>, items: Vec<T>) {
    if *list == items {
        return;
    }
    for item in items {
        push_new(list, item);
    }
}

pub(super) fn push_new<T: PartialEq>(list: &mut Vec<T>, item: T) {
    if !list.contains(&item) {
        list.push(item);
    }
}

pub(super) fn cmp_cvss(a: &Cvss, b: &Cvss) -> Ordering {
    (a.version, &a.source, &a.vector, a.score.map(f64::to_bits)).cmp(&(
        b.version,
        &b.source,
        &b.vector,
        b.score.map(f64::to_bits),
    ))
}

/// Sorts and deduplicates every list of a merged finding.
pub(super) fn finalize(f: &mut Finding) {
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
