//! What to edit for a release: Helm values (and `Chart.yaml`), or a
//! Kustomize `images:` entry.

use std::path::Path;

use paragon_core::plugin::deploy::{Deployed, Release};
use paragon_core::{Digest, Error, Result};

use crate::yaml::{unified_diff, YamlFile};

/// How `Chart.yaml`'s `version` moves when `appVersion` changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChartBump {
    /// `1.2.3` → `1.2.4`.
    Patch,
    /// `1.2.3` → `1.3.0`.
    Minor,
}

/// A Helm chart whose values file per environment names the image (the
/// `helm create` layout: `image.repository`, `image.tag`).
#[derive(Debug, Clone)]
pub struct HelmValues {
    values: String,
    repository_key: String,
    tag_key: String,
    digest_key: Option<String>,
    chart: Option<String>,
    app_version: bool,
    bump: Option<ChartBump>,
}

impl HelmValues {
    /// A chart at `chart_dir` in the repository (`.` for the root) with
    /// values files `values-{env}.yaml`; keys `image.repository` and
    /// `image.tag`; no digest; `Chart.yaml` untouched.
    pub fn new(chart_dir: impl AsRef<str>) -> HelmValues {
        let dir = chart_dir.as_ref().trim_end_matches('/');
        let prefix = if dir.is_empty() || dir == "." {
            String::new()
        } else {
            format!("{dir}/")
        };
        HelmValues {
            values: format!("{prefix}values-{{env}}.yaml"),
            repository_key: "image.repository".into(),
            tag_key: "image.tag".into(),
            digest_key: None,
            chart: Some(format!("{prefix}Chart.yaml")),
            app_version: false,
            bump: None,
        }
    }

    /// The values file, relative to the repository, with `{env}` for the
    /// environment (default `CHART/values-{env}.yaml`; `envs/{env}/values.yaml`…).
    #[must_use]
    pub fn with_values_file(mut self, template: impl Into<String>) -> HelmValues {
        self.values = template.into();
        self
    }

    /// The keys of the repository and the tag (defaults `image.repository`,
    /// `image.tag`); any path the YAML editor takes (`backend.image.tag`).
    #[must_use]
    pub fn with_keys(
        mut self,
        repository: impl Into<String>,
        tag: impl Into<String>,
    ) -> HelmValues {
        self.repository_key = repository.into();
        self.tag_key = tag.into();
        self
    }

    /// Also writes the digest at this key (`image.digest`); default none.
    #[must_use]
    pub fn with_digest_key(mut self, key: impl Into<String>) -> HelmValues {
        self.digest_key = Some(key.into());
        self
    }

    /// Sets `appVersion` in `Chart.yaml` to the release's application
    /// version ([`Release::app_version`]: the tag unless given), and with
    /// `bump` also moves `version` when `appVersion` changes; default off.
    /// `appVersion` follows every release, also one whose values file
    /// already holds the tag. Needed when the GitOps controller only
    /// notices chart version changes.
    #[must_use]
    pub fn with_app_version(mut self, bump: Option<ChartBump>) -> HelmValues {
        self.app_version = true;
        self.bump = bump;
        self
    }

    /// The chart's `Chart.yaml`, relative to the repository (default
    /// `CHART/Chart.yaml`).
    #[must_use]
    pub fn with_chart_file(mut self, path: impl Into<String>) -> HelmValues {
        self.chart = Some(path.into());
        self
    }

    fn values_file(&self, env: &str) -> String {
        self.values.replace("{env}", env)
    }
}

/// A Kustomize overlay per environment whose `images:` entry names the
/// image (`newName`, `newTag`, `digest`).
#[derive(Debug, Clone)]
pub struct Kustomize {
    path: String,
    image: String,
}

impl Kustomize {
    /// Overlays at `overlays/{env}/kustomization.yaml`; the entry whose
    /// `name` is `image` (the name the base manifests use).
    pub fn new(image: impl Into<String>) -> Kustomize {
        Kustomize {
            path: "overlays/{env}/kustomization.yaml".into(),
            image: image.into(),
        }
    }

    /// The kustomization file with `{env}` for the environment.
    #[must_use]
    pub fn with_path(mut self, template: impl Into<String>) -> Kustomize {
        self.path = template.into();
        self
    }

    fn file(&self, env: &str) -> String {
        self.path.replace("{env}", env)
    }
}

/// The files a target edits.
#[derive(Debug, Clone)]
pub enum Manifests {
    /// Helm values (and optionally `Chart.yaml`).
    Helm(HelmValues),
    /// A Kustomize `images:` entry.
    Kustomize(Kustomize),
}

impl From<HelmValues> for Manifests {
    fn from(h: HelmValues) -> Manifests {
        Manifests::Helm(h)
    }
}

impl From<Kustomize> for Manifests {
    fn from(k: Kustomize) -> Manifests {
        Manifests::Kustomize(k)
    }
}

/// One file's edit.
#[derive(Debug)]
pub(crate) struct Edit {
    /// The file, relative to the repository.
    pub(crate) file: String,
    /// Its new text.
    pub(crate) text: String,
    /// The unified diff from its old text (`git apply` takes it).
    pub(crate) diff: String,
}

/// Reads and parses `file` (relative to the repository) from the work tree
/// at `root`; errors name `file` as the repository has it, not the work
/// tree's temporary path.
fn open(root: &Path, file: &str) -> Result<YamlFile> {
    let text = std::fs::read_to_string(root.join(file)).map_err(|source| Error::Io {
        path: file.into(),
        source,
    })?;
    YamlFile::parse(file, text)
}

fn digest_of(file: &YamlFile, key: &str) -> Result<Option<Digest>> {
    match file.get(key)? {
        None => Ok(None),
        Some(d) if d.is_empty() => Ok(None),
        Some(d) => d.parse().map(Some).map_err(|_| {
            crate::Error::YamlPath {
                file: file.file().to_owned(),
                path: key.into(),
                operation: "read",
                message: format!("`{d}` is not a digest"),
            }
            .into()
        }),
    }
}

impl Manifests {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Manifests::Helm(_) => "helm",
            Manifests::Kustomize(_) => "kustomize",
        }
    }

    /// What `env` runs, read from the work tree at `root`.
    pub(crate) fn read(&self, root: &Path, env: &str) -> Result<Option<Deployed>> {
        match self {
            Manifests::Helm(h) => {
                let values = open(root, &h.values_file(env))?;
                let Some(tag) = values.get(&h.tag_key)? else {
                    return Ok(None);
                };
                let digest = match &h.digest_key {
                    Some(k) => digest_of(&values, k)?,
                    None => None,
                };
                Ok(Some(Deployed {
                    repository: values.get(&h.repository_key)?,
                    tag,
                    digest,
                }))
            }
            Manifests::Kustomize(k) => {
                let file = open(root, &k.file(env))?;
                let Some(i) = kustomize_entry(&file, &k.image)? else {
                    return Ok(None);
                };
                let Some(tag) = file.get(&format!("images[{i}].newTag"))? else {
                    return Ok(None);
                };
                Ok(Some(Deployed {
                    repository: file
                        .get(&format!("images[{i}].newName"))?
                        .or_else(|| Some(k.image.clone())),
                    tag,
                    digest: digest_of(&file, &format!("images[{i}].digest"))?,
                }))
            }
        }
    }

    /// The edits that make `release` run; empty when it already does.
    pub(crate) fn edit(&self, root: &Path, release: &Release) -> Result<Vec<Edit>> {
        let env = &release.environment;
        let mut edits = Vec::new();
        match self {
            Manifests::Helm(h) => {
                let file = h.values_file(env);
                let mut values = open(root, &file)?;
                let before = values.text().to_owned();
                if let Some(repository) = &release.repository {
                    values.set(&h.repository_key, repository)?;
                }
                values.set(&h.tag_key, &release.tag)?;
                if let Some(key) = &h.digest_key {
                    match &release.digest {
                        Some(d) => {
                            values.set(key, d.as_str())?;
                        }
                        None if values.get(key)?.is_some() => {
                            // A stale digest would pin the old image.
                            values.set(key, "")?;
                        }
                        None => {}
                    }
                }
                push_edit(&mut edits, file, &before, values);
                if let (true, Some(chart_file)) = (h.app_version, &h.chart) {
                    let mut chart = open(root, chart_file)?;
                    let before = chart.text().to_owned();
                    let changed = chart.set("appVersion", release.app_version())?;
                    if let (true, Some(bump)) = (changed, h.bump) {
                        bump_version(&mut chart, bump)?;
                    }
                    push_edit(&mut edits, chart_file.clone(), &before, chart);
                }
            }
            Manifests::Kustomize(k) => {
                let file = k.file(env);
                let mut kz = open(root, &file)?;
                let before = kz.text().to_owned();
                let i = match kustomize_entry(&kz, &k.image)? {
                    Some(i) => i,
                    None => kz.append_item("images", &[("name", &k.image)])?,
                };
                let new_name = format!("images[{i}].newName");
                if let Some(repository) = &release.repository {
                    // `newName` equal to `name` says nothing: add it only
                    // to change the image, but keep an existing one right.
                    if *repository != k.image || kz.has(&new_name)? {
                        kz.set(&new_name, repository)?;
                    }
                }
                kz.set(&format!("images[{i}].newTag"), &release.tag)?;
                match &release.digest {
                    Some(d) => {
                        kz.set(&format!("images[{i}].digest"), d.as_str())?;
                    }
                    None if kz.get(&format!("images[{i}].digest"))?.is_some() => {
                        return Err(crate::Error::YamlPath {
                            file: file.into(),
                            path: format!("images[{i}].digest"),
                            operation: "set",
                            message: "the overlay pins a digest and the release has none; kustomize would keep the old image".into(),
                        }.into());
                    }
                    None => {}
                }
                push_edit(&mut edits, file, &before, kz);
            }
        }
        Ok(edits)
    }
}

fn push_edit(edits: &mut Vec<Edit>, file: String, before: &str, after: YamlFile) {
    if after.text() != before {
        edits.push(Edit {
            diff: unified_diff(&file, before, after.text()),
            text: after.text().to_owned(),
            file,
        });
    }
}

fn kustomize_entry(file: &YamlFile, image: &str) -> Result<Option<usize>> {
    file.position("images", "name", image)
}

fn bump_version(chart: &mut YamlFile, bump: ChartBump) -> Result<()> {
    let current = chart
        .get("version")?
        .ok_or_else(|| crate::Error::YamlPath {
            file: chart.file().to_owned(),
            path: "version".into(),
            operation: "read",
            message: "Chart.yaml has no version to bump".into(),
        })?;
    let mut v = semver::Version::parse(current.trim_start_matches('v')).map_err(|e| {
        crate::Error::YamlPath {
            file: chart.file().to_owned(),
            path: "version".into(),
            operation: "read",
            message: format!("`{current}` is not a semantic version: {e}"),
        }
    })?;
    match bump {
        ChartBump::Patch => v.patch += 1,
        ChartBump::Minor => {
            v.minor += 1;
            v.patch = 0;
        }
    }
    v.pre = semver::Prerelease::EMPTY;
    chart.set("version", &v.to_string())?;
    Ok(())
}
