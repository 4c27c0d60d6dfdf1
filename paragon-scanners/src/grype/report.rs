//! Serde model of Grype's JSON report (only the fields Paragon reads).

use std::borrow::Cow;
use std::fmt;

use paragon_core::Finding;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::util::{nullable, Shared};

/// The top level, read with [`DocumentSeed`]: matches become findings as
/// they are read, so the document's matches are never all held at once.
pub(super) struct Document {
    /// `None` when the document has no `matches` list.
    pub findings: Option<Vec<Finding>>,
    pub source: Option<GrypeSource>,
    pub descriptor: Option<Descriptor>,
}

pub(super) struct DocumentSeed<'p> {
    pub shared: &'p mut Shared,
}

impl<'de> DeserializeSeed<'de> for DocumentSeed<'_> {
    type Value = Document;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Document, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DocumentSeed<'_> {
    type Value = Document;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Grype report object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Document, A::Error> {
        let mut doc = Document {
            findings: None,
            source: None,
            descriptor: None,
        };
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                "matches" => {
                    doc.findings = map.next_value_seed(MatchesSeed {
                        shared: &mut *self.shared,
                    })?;
                }
                "source" => doc.source = map.next_value()?,
                "descriptor" => doc.descriptor = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(doc)
    }
}

struct MatchesSeed<'p> {
    shared: &'p mut Shared,
}

impl<'de> DeserializeSeed<'de> for MatchesSeed<'_> {
    type Value = Option<Vec<Finding>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for MatchesSeed<'_> {
    type Value = Option<Vec<Finding>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of matches")
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(m) = seq.next_element::<Match<'de>>()? {
            out.push(super::parse::finding(m, self.shared));
        }
        Ok(Some(out))
    }
}

#[derive(Deserialize)]
pub(super) struct Descriptor {
    #[serde(default)]
    pub version: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct GrypeSource {
    #[serde(default)]
    pub target: Option<Target>,
}

/// An image target is an object; directory and file targets are strings.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum Target {
    Path(String),
    Image {
        #[serde(default, rename = "userInput")]
        user_input: Option<String>,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Match<'a> {
    #[serde(borrow)]
    pub vulnerability: Vulnerability<'a>,
    #[serde(default, deserialize_with = "nullable")]
    pub related_vulnerabilities: Vec<Related>,
    #[serde(borrow)]
    pub artifact: Artifact<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Vulnerability<'a> {
    pub id: String,
    #[serde(default, borrow)]
    pub severity: Option<Cow<'a, str>>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub data_source: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub urls: Vec<String>,
    /// Grype before 0.20 called `urls` `links`.
    #[serde(default, deserialize_with = "nullable")]
    pub links: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub cvss: Vec<Cvss>,
    /// Grype before 0.20.
    #[serde(default, rename = "cvssV2")]
    pub cvss_v2: Option<LegacyCvss>,
    /// Grype before 0.20.
    #[serde(default, rename = "cvssV3")]
    pub cvss_v3: Option<LegacyCvss>,
    #[serde(default)]
    pub fix: Option<Fix>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Related {
    pub id: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub urls: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub cvss: Vec<Cvss>,
}

#[derive(Deserialize)]
pub(super) struct Cvss {
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub vector: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub metrics: Option<Metrics>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Metrics {
    #[serde(default)]
    pub base_score: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct LegacyCvss {
    #[serde(default)]
    pub base_score: Option<f64>,
    #[serde(default)]
    pub vector: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Fix {
    #[serde(default, deserialize_with = "nullable")]
    pub versions: Vec<String>,
}

#[derive(Deserialize)]
pub(super) struct Artifact<'a> {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default, rename = "type", borrow)]
    pub ty: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "nullable", borrow)]
    pub locations: Vec<ArtifactLocation<'a>>,
    #[serde(default, borrow)]
    pub purl: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub(super) struct ArtifactLocation<'a> {
    #[serde(default, borrow)]
    pub path: Option<Cow<'a, str>>,
}
