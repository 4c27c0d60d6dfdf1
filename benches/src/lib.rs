//! Benchmark support for Paragon: a seeded generator of realistic synthetic
//! scanner reports (Trivy, Grype and Dependency-Check JSON) at any size.
//!
//! The generator models a fleet: a universe of vulnerabilities and
//! packages (OS packages with many low-severity CVEs; language packages
//! with fewer, more severe ones that also have GHSA ids), and images that
//! each carry a sample of the known issues, popular ones (base-image
//! packages) far more often than the long tail. Every image is scanned by
//! Trivy and Grype, which each miss some issues, and its language packages
//! by Dependency-Check; Grype names language vulnerabilities by GHSA with
//! the CVE among `relatedVulnerabilities`, Trivy by CVE with the GHSA among
//! `VendorIDs` — so the corpus has the overlap the merge must resolve.
//!
//! The same seed gives the same bytes.
//!
//! Benchmarks run with mimalloc as the global allocator, as the `aggregate`
//! binary does: parsing builds many small strings, and the allocator is a
//! deployment choice of the program, not of the library.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use paragon_core::ScanReport;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Images in the fleet (each yields a Trivy and a Grype report, and a
    /// Dependency-Check report when it has language packages).
    pub images: usize,
    /// Known issues (vulnerability × package) sampled per image.
    pub issues_per_image: usize,
    /// The seed.
    pub seed: u64,
}

impl Config {
    /// A fleet sized to give about `findings` findings in total.
    pub fn for_findings(findings: usize, seed: u64) -> Config {
        // Each issue yields about 2.1 findings (Trivy 0.92, Grype 0.88, and
        // Dependency-Check for the language share).
        let per_image = 400.min(findings.max(1));
        let images = (findings as f64 / (per_image as f64 * 2.1)).ceil().max(1.0) as usize;
        Config {
            images,
            issues_per_image: per_image,
            seed,
        }
    }
}

/// One generated report file.
#[derive(Debug, Clone)]
pub struct File {
    /// A file name (`trivy-img0007.json`).
    pub name: String,
    /// The JSON bytes.
    pub bytes: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq)]
enum Eco {
    Deb,
    PyPi,
    Npm,
    Go,
    Maven,
}

impl Eco {
    fn trivy_type(self) -> &'static str {
        match self {
            Eco::Deb => "debian",
            Eco::PyPi => "pip",
            Eco::Npm => "npm",
            Eco::Go => "gomod",
            Eco::Maven => "jar",
        }
    }

    fn grype_type(self) -> &'static str {
        match self {
            Eco::Deb => "deb",
            Eco::PyPi => "python",
            Eco::Npm => "npm",
            Eco::Go => "go-module",
            Eco::Maven => "java-archive",
        }
    }

    fn target(self) -> &'static str {
        match self {
            Eco::Deb => "debian 12",
            Eco::PyPi => "app/requirements.txt",
            Eco::Npm => "web/package-lock.json",
            Eco::Go => "svc/go.mod",
            Eco::Maven => "lib/app.jar",
        }
    }
}

struct Package {
    eco: Eco,
    name: String,
    version: String,
}

impl Package {
    fn purl(&self) -> String {
        match self.eco {
            Eco::Deb => format!(
                "pkg:deb/debian/{}@{}?arch=amd64&distro=debian-12",
                self.name, self.version
            ),
            Eco::PyPi => format!("pkg:pypi/{}@{}", self.name.to_lowercase(), self.version),
            Eco::Npm => format!("pkg:npm/{}@{}", self.name, self.version),
            Eco::Go => format!("pkg:golang/{}@{}", self.name, self.version),
            Eco::Maven => {
                let (g, a) = self
                    .name
                    .split_once(':')
                    .unwrap_or(("org.example", &self.name));
                format!("pkg:maven/{g}/{a}@{}", self.version)
            }
        }
    }
}

struct Vuln {
    cve: String,
    ghsa: Option<String>,
    severity: usize,
    score: f64,
    description: String,
    fixed: Option<String>,
}

const SEVERITIES: [&str; 5] = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"];
const GRYPE_SEVERITIES: [&str; 5] = ["Critical", "High", "Medium", "Low", "Negligible"];
const WORDS: [&str; 24] = [
    "buffer",
    "overflow",
    "in",
    "the",
    "parser",
    "allows",
    "remote",
    "attackers",
    "to",
    "cause",
    "a",
    "denial",
    "of",
    "service",
    "via",
    "crafted",
    "input",
    "when",
    "handling",
    "untrusted",
    "headers",
    "leading",
    "memory",
    "corruption",
];

struct Universe {
    packages: Vec<Package>,
    vulns: Vec<Vuln>,
    /// (vulnerability, package) pairs, most popular first.
    issues: Vec<(usize, usize)>,
}

fn universe(rng: &mut ChaCha8Rng, issues: usize) -> Universe {
    let n_packages = (issues / 3).max(10);
    let mut packages = Vec::with_capacity(n_packages);
    for i in 0..n_packages {
        let eco = match i % 10 {
            0..=4 => Eco::Deb,
            5 | 6 => Eco::PyPi,
            7 => Eco::Npm,
            8 => Eco::Go,
            _ => Eco::Maven,
        };
        let name = match eco {
            Eco::Deb => format!("lib{}{}", WORDS[i % WORDS.len()], i),
            Eco::PyPi => format!("Py_{}-{}", WORDS[(i / 3) % WORDS.len()], i),
            Eco::Npm if i % 3 == 0 => format!("@scope{}/{}-{}", i % 7, WORDS[i % WORDS.len()], i),
            Eco::Npm => format!("{}-js-{}", WORDS[i % WORDS.len()], i),
            Eco::Go => format!("github.com/org{}/{}{}", i % 13, WORDS[i % WORDS.len()], i),
            Eco::Maven => format!("org.example.g{}:{}-{}", i % 11, WORDS[i % WORDS.len()], i),
        };
        let version = match eco {
            Eco::Deb => format!(
                "{}.{}.{}-{}+deb12u{}",
                i % 4,
                i % 10,
                i % 7,
                i % 3 + 1,
                i % 5
            ),
            Eco::Go => format!("v{}.{}.{}", i % 3, i % 20, i % 9),
            _ => format!("{}.{}.{}", i % 5, i % 17, i % 11),
        };
        packages.push(Package { eco, name, version });
    }
    let n_vulns = (issues * 2 / 3).max(10);
    let mut vulns = Vec::with_capacity(n_vulns);
    for i in 0..n_vulns {
        let severity = match rng.random_range(0..100) {
            0..=4 => 0,
            5..=24 => 1,
            25..=59 => 2,
            60..=84 => 3,
            _ => 4,
        };
        let words = rng.random_range(25..60);
        let description = (0..words)
            .map(|w| WORDS[(i * 7 + w * 3) % WORDS.len()])
            .collect::<Vec<_>>()
            .join(" ");
        let ghsa = (i % 3 == 0).then(|| {
            let c = |k: usize| {
                let alphabet = b"23456789cfghjmpqrvwx";
                (0..4)
                    .map(|j| alphabet[(i * 31 + k * 7 + j * 13) % alphabet.len()] as char)
                    .collect::<String>()
            };
            format!("GHSA-{}-{}-{}", c(1), c(2), c(3))
        });
        vulns.push(Vuln {
            cve: format!("CVE-{}-{}", 2015 + i % 11, 10000 + i),
            ghsa,
            severity,
            score: [9.8, 7.5, 5.3, 3.1, 0.0][severity],
            description,
            fixed: (i % 4 != 0).then(|| format!("{}.{}.{}", i % 6, i % 19 + 1, i % 10)),
        });
    }
    let mut pairs = Vec::with_capacity(issues);
    for i in 0..issues {
        let v = i % n_vulns;
        let mut p = rng.random_range(0..n_packages);
        // Language advisories (those with a GHSA) affect language packages.
        if vulns[v].ghsa.is_some() && packages[p].eco == Eco::Deb {
            p = (p / 10) * 10 + 5 + (i % 5);
            p = p.min(n_packages - 1);
        }
        pairs.push((v, p));
    }
    Universe {
        packages,
        vulns,
        issues: pairs,
    }
}

/// Picks `k` distinct issues for an image, popular ones far more often.
fn sample(rng: &mut ChaCha8Rng, universe: &Universe, k: usize) -> Vec<usize> {
    let n = universe.issues.len();
    let mut picked = std::collections::BTreeSet::new();
    let mut attempts = 0;
    while picked.len() < k.min(n) && attempts < k * 20 {
        let u: f64 = rng.random();
        picked.insert(((u * u * u) * n as f64) as usize % n);
        attempts += 1;
    }
    picked.into_iter().collect()
}

fn references(v: &Vuln) -> Vec<String> {
    let mut r = vec![
        format!("https://nvd.nist.gov/vuln/detail/{}", v.cve),
        format!("https://security-tracker.debian.org/tracker/{}", v.cve),
    ];
    if let Some(g) = &v.ghsa {
        r.push(format!("https://github.com/advisories/{g}"));
    }
    r
}

fn trivy(image: &str, issues: &[(&Vuln, &Package)]) -> Value {
    let mut by_target: Vec<(Eco, Vec<Value>)> = Vec::new();
    for (v, p) in issues {
        let entry = json!({
            "VulnerabilityID": v.cve,
            "VendorIDs": v.ghsa.iter().collect::<Vec<_>>(),
            "PkgName": p.name,
            "PkgIdentifier": {"PURL": p.purl()},
            "InstalledVersion": p.version,
            "FixedVersion": v.fixed.clone().unwrap_or_default(),
            "Status": if v.fixed.is_some() { "fixed" } else { "affected" },
            "SeveritySource": "nvd",
            "PrimaryURL": format!("https://avd.aquasec.com/nvd/{}", v.cve.to_lowercase()),
            "Title": format!("{}: {}", p.name, &v.description[..v.description.len().min(60)]),
            "Description": v.description,
            "Severity": SEVERITIES[v.severity],
            "CweIDs": [format!("CWE-{}", 20 + v.severity * 100)],
            "CVSS": {"nvd": {
                "V3Vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                "V3Score": v.score}},
            "References": references(v),
            "PublishedDate": "2023-05-01T12:00:00Z",
            "LastModifiedDate": "2024-02-01T12:00:00Z"
        });
        match by_target.iter_mut().find(|(e, _)| *e == p.eco) {
            Some((_, list)) => list.push(entry),
            None => by_target.push((p.eco, vec![entry])),
        }
    }
    let results: Vec<Value> = by_target
        .into_iter()
        .map(|(eco, vulns)| {
            json!({
                "Target": if eco == Eco::Deb { format!("{image} (debian 12.4)") } else { eco.target().to_owned() },
                "Class": if eco == Eco::Deb { "os-pkgs" } else { "lang-pkgs" },
                "Type": eco.trivy_type(),
                "Vulnerabilities": vulns
            })
        })
        .collect();
    json!({
        "SchemaVersion": 2,
        "CreatedAt": "2026-11-20T10:00:00Z",
        "ArtifactName": image,
        "ArtifactType": "container_image",
        "Metadata": {"OS": {"Family": "debian", "Name": "12.4"}},
        "Results": results
    })
}

fn grype(image: &str, issues: &[(&Vuln, &Package)]) -> Value {
    let matches: Vec<Value> = issues
        .iter()
        .map(|(v, p)| {
            let (id, related) = match (&v.ghsa, p.eco) {
                (Some(g), eco) if eco != Eco::Deb => (
                    g.clone(),
                    vec![json!({"id": v.cve, "dataSource": format!("https://nvd.nist.gov/vuln/detail/{}", v.cve),
                        "namespace": "nvd:cpe", "severity": GRYPE_SEVERITIES[v.severity],
                        "urls": [format!("https://nvd.nist.gov/vuln/detail/{}", v.cve)],
                        "description": v.description,
                        "cvss": [{"version": "3.1", "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                                  "metrics": {"baseScore": v.score, "exploitabilityScore": 3.9, "impactScore": 5.9},
                                  "vendorMetadata": {}}]})],
                ),
                _ => (v.cve.clone(), vec![]),
            };
            json!({
                "vulnerability": {
                    "id": id,
                    "dataSource": format!("https://security-tracker.debian.org/tracker/{}", v.cve),
                    "namespace": if p.eco == Eco::Deb { "debian:distro:debian:12" } else { "github:language" },
                    "severity": GRYPE_SEVERITIES[v.severity],
                    "urls": references(v),
                    "description": v.description,
                    "cvss": [],
                    "fix": {"versions": v.fixed.iter().collect::<Vec<_>>(),
                            "state": if v.fixed.is_some() { "fixed" } else { "not-fixed" }},
                    "advisories": []
                },
                "relatedVulnerabilities": related,
                "matchDetails": [{
                    "type": "exact-direct-match",
                    "matcher": format!("{}-matcher", p.eco.grype_type()),
                    "searchedBy": {"distro": {"type": "debian", "version": "12"},
                                   "package": {"name": p.name, "version": p.version},
                                   "namespace": "debian:distro:debian:12"},
                    "found": {"versionConstraint": format!("< {} (deb)", v.fixed.clone().unwrap_or_default()),
                              "vulnerabilityID": v.cve}
                }],
                "artifact": {
                    "id": format!("{:016x}", (p.name.len() as u64) << 32 | p.version.len() as u64),
                    "name": p.name,
                    "version": p.version,
                    "type": p.eco.grype_type(),
                    "locations": [{"path": if p.eco == Eco::Deb { "/var/lib/dpkg/status".to_owned() } else { format!("/{}", p.eco.target()) },
                                   "layerID": "sha256:5d0aeceef7eeb8f0a4b2c1d9e3f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e"}],
                    "language": "",
                    "licenses": ["MIT"],
                    "cpes": [format!("cpe:2.3:a:{0}:{0}:{1}:*:*:*:*:*:*:*", p.name.replace([':', '/', '@'], "_"), p.version)],
                    "purl": p.purl(),
                    "upstreams": []
                }
            })
        })
        .collect();
    json!({
        "matches": matches,
        "source": {"type": "image", "target": {"userInput": image, "imageID": "sha256:0123",
                   "manifestDigest": "sha256:4567", "tags": [image]}},
        "distro": {"name": "debian", "version": "12", "idLike": []},
        "descriptor": {"name": "grype", "version": "0.74.7", "db": {"built": "2026-11-19T00:00:00Z", "schemaVersion": 5}}
    })
}

fn dependency_check(image: &str, issues: &[(&Vuln, &Package)]) -> Value {
    let deps: Vec<Value> = issues
        .iter()
        .filter(|(_, p)| p.eco != Eco::Deb)
        .map(|(v, p)| {
            json!({
                "isVirtual": false,
                "fileName": format!("{}-{}", p.name.replace(['/', ':', '@'], "_"), p.version),
                "filePath": format!("/src/{}", p.eco.target()),
                "md5": "d41d8cd98f00b204e9800998ecf8427e",
                "packages": [{"id": p.purl(), "confidence": "HIGHEST"}],
                "vulnerabilities": [{
                    "source": "NVD",
                    "name": v.cve,
                    "severity": SEVERITIES[v.severity.min(3)],
                    "cvssv3": {"baseScore": v.score, "attackVector": "NETWORK", "attackComplexity": "LOW",
                               "privilegesRequired": "NONE", "userInteraction": "NONE", "scope": "UNCHANGED",
                               "confidentialityImpact": "HIGH", "integrityImpact": "HIGH",
                               "availabilityImpact": "HIGH", "baseSeverity": SEVERITIES[v.severity.min(3)],
                               "version": "3.1"},
                    "cwes": [format!("CWE-{}", 20 + v.severity * 100)],
                    "description": v.description,
                    "references": references(v).into_iter().map(|u| json!({"source": "MISC", "url": u})).collect::<Vec<_>>()
                }]
            })
        })
        .collect();
    json!({
        "reportSchema": "1.1",
        "scanInfo": {"engineVersion": "9.0.9", "dataSource": []},
        "projectInfo": {"name": image, "reportDate": "2026-11-20T10:00:00Z"},
        "dependencies": deps
    })
}

/// Generates the fleet's reports: for each image a Trivy, a Grype and (when
/// it has language packages) a Dependency-Check JSON report.
pub fn generate(config: Config) -> Vec<File> {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    // The fleet's distinct issues grow with the fleet (teams bring their own
    // dependencies) while popular ones (base images) recur everywhere.
    let known = (config.issues_per_image * 4)
        .max(config.images * config.issues_per_image / 8)
        .max(100);
    let universe = universe(&mut rng, known);
    let mut files = Vec::with_capacity(config.images * 3);
    for img in 0..config.images {
        let image = format!(
            "registry.example.internal/team{}/svc{img:04}:1.{img}.0",
            img % 17
        );
        let picked = sample(&mut rng, &universe, config.issues_per_image);
        let mut trivy_sees = Vec::new();
        let mut grype_sees = Vec::new();
        let mut all = Vec::new();
        for i in picked {
            let (v, p) = universe.issues[i];
            let pair = (&universe.vulns[v], &universe.packages[p]);
            if rng.random_bool(0.92) {
                trivy_sees.push(pair);
            }
            if rng.random_bool(0.88) {
                grype_sees.push(pair);
            }
            all.push(pair);
        }
        for (tool, doc) in [
            ("trivy", trivy(&image, &trivy_sees)),
            ("grype", grype(&image, &grype_sees)),
            ("dependency-check", dependency_check(&image, &all)),
        ] {
            if tool == "dependency-check"
                && doc["dependencies"].as_array().is_none_or(Vec::is_empty)
            {
                continue;
            }
            files.push(File {
                name: format!("{tool}-img{img:04}.json"),
                bytes: serde_json::to_vec(&doc).expect("generated JSON serializes"),
            });
        }
    }
    files
}

/// Parses generated files into scan reports.
///
/// # Panics
///
/// If a generated file does not parse, which is a bug in the generator.
pub fn parse_all(files: &[File]) -> Vec<ScanReport> {
    files
        .iter()
        .map(|f| {
            paragon_scanners::parse_any(&f.bytes)
                .unwrap_or_else(|e| panic!("generated {} does not parse: {e}", f.name))
        })
        .collect()
}

/// The merge of `reports`, in order, on one thread.
pub fn merge_all(reports: Vec<ScanReport>) -> paragon_core::Report {
    let mut m = paragon_core::Merger::new();
    for r in reports {
        m.add(r);
    }
    m.finish()
}

/// Total findings in parsed reports.
pub fn finding_count(reports: &[ScanReport]) -> usize {
    reports.iter().map(|r| r.findings.len()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_and_sized() {
        let config = Config::for_findings(5_000, 7);
        let a = generate(config);
        let b = generate(config);
        assert_eq!(a.len(), b.len());
        assert!(
            a.iter().zip(&b).all(|(x, y)| x.bytes == y.bytes),
            "same seed, same bytes"
        );
        let reports = parse_all(&a);
        let n = finding_count(&reports);
        assert!((3_500..=7_000).contains(&n), "{n} findings");
        // Overlap: merging must fold Trivy's and Grype's views together.
        let merged = paragon_core::Report::merge(reports);
        assert!(
            merged.findings.len() < n * 2 / 3,
            "{} of {n}",
            merged.findings.len()
        );
        assert!(merged
            .findings
            .iter()
            .any(|f| f.id.starts_with("CVE-") && f.aliases.iter().any(|a| a.starts_with("GHSA-"))));
    }
}
