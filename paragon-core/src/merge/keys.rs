//! The keys of the merge: what makes two findings one (their kind, id,
//! package identity, version and place), the fingerprint that recognises a
//! record met before, and the union-find that joins ids through aliases.

use crate::model::finding::{is_cve, Finding, FindingKind};

/// Union-find over id symbols.
#[derive(Default)]
pub(super) struct Aliases {
    pub(super) parent: Vec<u32>,
}

impl Aliases {
    pub(super) fn ensure(&mut self, sym: u32) {
        let needed = sym as usize + 1;
        if self.parent.len() < needed {
            let start = self.parent.len() as u32;
            self.parent.extend(start..needed as u32);
        }
    }

    pub(super) fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let grand = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = grand;
            x = grand;
        }
        x
    }

    pub(super) fn union(&mut self, a: u32, b: u32) {
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
pub(super) struct Key {
    pub(super) kind: FindingKind,
    pub(super) id: u32,
    pub(super) package: u32,
    pub(super) version: u32,
    pub(super) place: u32,
}

/// Writes the place part of a finding's key (see the module docs) into
/// `text`; false when its kind has none or it has no location.
pub(super) fn write_place(finding: &Finding, text: &mut String) -> bool {
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
    let write_number = |t: &mut String, l: Option<u32>| {
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
                write_number(text, loc.start_line);
            }
        },
        FindingKind::Secret => write_number(text, loc.start_line),
        FindingKind::Weakness => {
            write_number(text, loc.start_line);
            text.push('-');
            write_number(text, loc.end_line);
        }
        FindingKind::Vulnerability | FindingKind::License => {}
    }
    true
}

/// The [fingerprint] of each finding.
pub(super) fn fingerprints(findings: &[Finding]) -> Vec<u128> {
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

/// Ranks ids for the canonical choice: CVE, then GHSA, then any other;
/// within a rank the lexically smaller.
pub(super) fn preferred_id(a: &str, b: &str) -> bool {
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

/// Appends `s`, prefixed by its length.
pub(super) fn write_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

/// Appends `s` tagged as present (then [`write_str`]) or absent.
pub(super) fn write_opt(buf: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            buf.push(1);
            write_str(buf, s);
        }
        None => buf.push(0),
    }
}

/// Appends the number of `items`, then each by [`write_str`].
pub(super) fn write_strs(buf: &mut Vec<u8>, items: &[String]) {
    buf.extend_from_slice(&(items.len() as u64).to_le_bytes());
    for s in items {
        write_str(buf, s);
    }
}

/// The 128-bit hash (XXH3) of a finding's key parts as strings: its kind,
/// id, package identity, installed version and place. Equal keys hash
/// equally in every merger; each part is length-prefixed, so different
/// keys encode differently, and two encodings share a 128-bit hash with
/// negligible probability.
pub(super) fn raw_key(
    buf: &mut Vec<u8>,
    kind: FindingKind,
    id: &str,
    identity: Option<&str>,
    version: Option<&str>,
    place: Option<&str>,
) -> u128 {
    buf.clear();
    buf.push(kind as u8);
    write_str(buf, id);
    write_opt(buf, identity);
    write_opt(buf, version);
    write_opt(buf, place);
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
pub(super) fn fingerprint(f: &Finding, place: Option<&str>, buf: &mut Vec<u8>) -> u128 {
    buf.clear();
    buf.push(f.kind as u8);
    write_opt(buf, place);
    write_str(buf, &f.id);
    write_strs(buf, &f.aliases);
    buf.extend_from_slice(&(f.cvss.len() as u64).to_le_bytes());
    for c in &f.cvss {
        buf.push(c.version as u8);
        buf.extend_from_slice(&c.score.map_or(u64::MAX, f64::to_bits).to_le_bytes());
        buf.push(u8::from(c.score.is_some()));
        write_opt(buf, c.vector.as_deref());
        write_opt(buf, c.source.as_deref());
    }
    match &f.package {
        Some(p) => {
            buf.push(1);
            write_str(buf, &p.name);
            write_opt(buf, p.version.as_deref());
            write_opt(buf, p.purl.as_ref().map(|u| u.as_str()));
            write_opt(buf, p.ecosystem.as_deref());
        }
        None => buf.push(0),
    }
    write_strs(buf, &f.fixed_versions);
    write_strs(buf, &f.cwes);
    write_opt(buf, f.title.as_deref());
    write_opt(buf, f.description.as_deref());
    write_strs(buf, &f.references);
    xxhash_rust::xxh3::xxh3_128(buf)
}

/// Appends a line number tagged as present or absent.
pub(super) fn write_line(buf: &mut Vec<u8>, l: Option<u32>) {
    match l {
        Some(l) => {
            buf.push(1);
            buf.extend_from_slice(&l.to_le_bytes());
        }
        None => buf.push(0),
    }
}
