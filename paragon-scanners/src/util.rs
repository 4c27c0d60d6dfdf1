//! Helpers shared by the parsers.

#![allow(dead_code)] // each helper is used by some parsers, which are feature-gated

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use paragon_core::{Cvss, CvssVersion};
use serde::{Deserialize, Deserializer};

use crate::error::{Error, Result};
use crate::format::trim_start;
use crate::Format;

/// Deserializes `null` or a missing value as `T::default()` (tools write
/// `"Vulnerabilities": null` as often as they leave the key out).
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

/// Parses a JSON document into `T`, mapping errors to [`Error::Malformed`]
/// for `format`, and rejecting empty input.
pub(crate) fn from_json<'a, T: Deserialize<'a>>(format: Format, bytes: &'a [u8]) -> Result<T> {
    let bytes = crate::format::strip_bom(bytes);
    if trim_start(bytes).is_empty() {
        return Err(Error::Empty {
            format: Some(format),
            file: None,
        });
    }
    // Validating UTF-8 once over the whole document is faster than
    // serde_json checking every string it hands out; invalid input goes
    // through `from_slice` for an error with its position.
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(bytes),
    }
    .map_err(|e| Error::json(format, e))
}

/// Like [`from_json`], with a seed: for parsers that convert elements while
/// they are read instead of materializing the whole document first.
pub(crate) fn from_json_seed<'a, S: serde::de::DeserializeSeed<'a>>(
    format: Format,
    bytes: &'a [u8],
    seed: S,
) -> Result<S::Value> {
    let bytes = crate::format::strip_bom(bytes);
    if trim_start(bytes).is_empty() {
        return Err(Error::Empty {
            format: Some(format),
            file: None,
        });
    }
    fn run<'a, R: serde_json::de::Read<'a>, S: serde::de::DeserializeSeed<'a>>(
        mut de: serde_json::Deserializer<R>,
        seed: S,
    ) -> serde_json::Result<S::Value> {
        let value = seed.deserialize(&mut de)?;
        de.end()?;
        Ok(value)
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => run(serde_json::Deserializer::from_str(text), seed),
        Err(_) => run(serde_json::Deserializer::from_slice(bytes), seed),
    }
    .map_err(|e| Error::json(format, e))
}

type Fx = std::hash::BuildHasherDefault<rustc_hash::FxHasher>;

/// Values that recur across one document's findings, made once and
/// shared: purls (packages recur across findings, and a parsed
/// [`Purl`](paragon_core::Purl) is cheap to clone) and the strings of
/// locations and sources (paths, targets, scanner names).
#[derive(Default)]
pub(crate) struct Shared {
    purls: HashMap<Box<str>, Option<paragon_core::Purl>, Fx>,
    texts: HashSet<Arc<str>, Fx>,
}

impl Shared {
    /// The parsed purl, or `None` when it is empty or invalid.
    pub(crate) fn purl(&mut self, purl: Option<&str>) -> Option<paragon_core::Purl> {
        let purl = purl.filter(|p| !p.is_empty())?;
        if let Some(p) = self.purls.get(purl) {
            return p.clone();
        }
        let parsed = paragon_core::Purl::parse(purl).ok();
        self.purls.insert(purl.into(), parsed.clone());
        parsed
    }

    /// The shared copy of `text`.
    pub(crate) fn text(&mut self, text: &str) -> Arc<str> {
        if let Some(t) = self.texts.get(text) {
            return t.clone();
        }
        let t: Arc<str> = text.into();
        self.texts.insert(t.clone());
        t
    }
}

/// `Some(s)` unless `s` is empty or only white space.
pub(crate) fn some(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty())
}

/// A CVSS entry from a version hint and optional score and vector; the
/// version comes from the vector's prefix when it has one.
pub(crate) fn cvss(
    version_hint: Option<CvssVersion>,
    score: Option<f64>,
    vector: Option<String>,
    source: Option<String>,
) -> Option<Cvss> {
    let vector = some(vector);
    let version = vector
        .as_deref()
        .and_then(CvssVersion::from_vector)
        .or(version_hint)?;
    if score.is_none() && vector.is_none() {
        return None;
    }
    Some(Cvss {
        version,
        score: score.filter(|s| s.is_finite()),
        vector,
        source: some(source),
    })
}

/// Splits a list of versions written as one string (`"1.2.3, 1.3.0"`).
pub(crate) fn split_versions(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|v| !v.is_empty())
}

/// The first `max` characters of `bytes`, for error messages.
pub(crate) fn snippet(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(&trim_start(bytes)[..trim_start(bytes).len().min(max * 4)]);
    text.chars().take(max).collect()
}

/// The package name a purl stands for, as ecosystems write it: Maven
/// `group:artifact`, `namespace/name` for npm, Go, Composer, GitHub and
/// other source ecosystems; the bare name for OS packages (whose namespace
/// is the distribution).
pub(crate) fn purl_package_name(purl: &paragon_core::Purl) -> String {
    match (purl.ty(), purl.namespace()) {
        (_, None) => purl.name().to_owned(),
        ("maven", Some(ns)) => format!("{ns}:{}", purl.name()),
        ("deb" | "rpm" | "apk" | "alpm" | "alpine" | "oci" | "docker", Some(_)) => {
            purl.name().to_owned()
        }
        (_, Some(ns)) => format!("{ns}/{}", purl.name()),
    }
}

/// A CVSS vector from the named metrics tools such as Dependency-Check
/// report (`accessVector: NETWORK` …): every value is abbreviated to its
/// first letter, which is the CVSS abbreviation for all v2 and v3 values.
/// Returns `None` unless every metric is present.
pub(crate) fn vector_from_metrics(
    prefix: Option<&str>,
    metrics: &[(&str, Option<&str>)],
) -> Option<String> {
    let mut parts: Vec<String> = prefix.map(str::to_owned).into_iter().collect();
    for (abbr, value) in metrics {
        let letter = (*value)?.trim().chars().next()?.to_ascii_uppercase();
        parts.push(format!("{abbr}:{letter}"));
    }
    Some(parts.join("/"))
}

/// The product and version of a CPE (2.2 URI `cpe:/a:vendor:product:version`
/// or 2.3 `cpe:2.3:a:vendor:product:version:…`).
pub(crate) fn cpe_product_version(cpe: &str) -> Option<(String, Option<String>)> {
    let rest = cpe
        .strip_prefix("cpe:2.3:")
        .or_else(|| cpe.strip_prefix("cpe:/"))?;
    let mut parts = rest.split(':');
    let _part = parts.next()?;
    let _vendor = parts.next()?;
    let product = parts.next().filter(|p| !p.is_empty() && *p != "*")?;
    let version = parts
        .next()
        .filter(|v| !v.is_empty() && *v != "*" && *v != "-")
        .map(str::to_owned);
    Some((product.to_owned(), version))
}
