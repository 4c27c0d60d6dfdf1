//! Package identity: the key under which two scanners' names for one
//! package compare equal.
//!
//! Scanners name the same package differently: Trivy says `Django` with
//! type `pip`, Grype `django` with type `python` and purl
//! `pkg:pypi/django@3.2.9`, an OS package comes with `?arch=amd64&distro=…`
//! qualifiers or none. The identity is the ecosystem plus the name in that
//! ecosystem's canonical form:
//!
//! | ecosystem | canonical name |
//! |---|---|
//! | `pypi` | PEP 503: lower-case, runs of `-`, `_`, `.` → `-` |
//! | `npm` | lower-case, scope kept (`@babel/core`) |
//! | `maven` | `group:artifact` |
//! | `golang` | the module path (`github.com/gin-gonic/gin`) |
//! | `cargo` | lower-case, `_` → `-` |
//! | `composer`, `nuget` | lower-case |
//! | `deb`, `apk`, `rpm`, `alpm` | lower-case name; the distro namespace and qualifiers are ignored |
//!
//! The ecosystem comes from the purl type when there is a purl, otherwise
//! from the scanner's package type (`pip`, `python`, `gomod`, `jar`,
//! `debian`…, see [`canonical_ecosystem`]). Without either, the identity
//! falls back to the lower-cased name alone.

use std::borrow::Cow;

use crate::model::finding::Package;

/// Separates the ecosystem from the name inside an identity string.
const SEP: char = '\u{1f}';

/// Maps a purl type or a scanner's package type to the purl type of its
/// ecosystem (`pip`/`python` → `pypi`, `gomod`/`gobinary` → `golang`,
/// `jar`/`java-archive` → `maven`, `debian`/`ubuntu` → `deb`,
/// `alpine` → `apk`, `redhat`/`centos`/… → `rpm`); unknown types are
/// returned lower-cased.
pub fn canonical_ecosystem(ty: &str) -> Cow<'_, str> {
    let ty = ty.trim();
    let lower: Cow<'_, str> = if ty.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(ty.to_ascii_lowercase())
    } else {
        Cow::Borrowed(ty)
    };
    let mapped =
        match lower.as_ref() {
            "pypi" | "pip" | "python" | "pipenv" | "poetry" | "python-pkg" | "wheel" | "egg"
            | "uv" => "pypi",
            "npm" | "node-pkg" | "javascript" | "yarn" | "pnpm" | "node" | "bun" => "npm",
            "golang" | "go" | "gomod" | "gobinary" | "go-module" => "golang",
            "maven" | "jar" | "pom" | "gradle" | "java" | "java-archive" | "sbt" | "war"
            | "ear" => "maven",
            "cargo" | "rust" | "rust-crate" | "rustbinary" | "crates.io" => "cargo",
            "gem" | "gems" | "bundler" | "gemspec" | "ruby" | "rubygems" => "gem",
            "composer" | "php" | "php-composer" | "packagist" => "composer",
            "nuget" | "dotnet" | "dotnet-core" | "dotnet-deps" | "packages-props" => "nuget",
            "deb" | "debian" | "ubuntu" | "dpkg" | "distroless" => "deb",
            "apk" | "alpine" | "wolfi" | "chainguard" | "minimos" => "apk",
            "rpm" | "redhat" | "centos" | "rocky" | "alma" | "almalinux" | "amazon" | "oracle"
            | "fedora" | "suse" | "opensuse" | "sles" | "photon" | "cbl-mariner" | "azurelinux" => {
                "rpm"
            }
            "alpm" | "arch" | "archlinux" => "alpm",
            _ => return lower,
        };
    Cow::Borrowed(mapped)
}

fn is_os_ecosystem(eco: &str) -> bool {
    matches!(eco, "deb" | "apk" | "rpm" | "alpm")
}

/// Appends the canonical form of `name` in `eco` to `out`.
fn push_canonical_name(eco: &str, name: &str, out: &mut String) {
    match eco {
        "pypi" => {
            let mut last_sep = false;
            for c in name.trim().chars() {
                if matches!(c, '-' | '_' | '.') {
                    if !last_sep {
                        out.push('-');
                    }
                    last_sep = true;
                } else {
                    out.push(c.to_ascii_lowercase());
                    last_sep = false;
                }
            }
        }
        "cargo" => out.extend(name.trim().chars().map(|c| {
            if c == '_' {
                '-'
            } else {
                c.to_ascii_lowercase()
            }
        })),
        "npm" | "composer" | "nuget" | "deb" | "apk" | "rpm" | "alpm" => {
            out.extend(name.trim().chars().map(|c| c.to_ascii_lowercase()));
        }
        _ => out.push_str(name.trim()),
    }
}

/// Writes the identity of `pkg` into `out` (cleared first). Used on the
/// merge's hot path to avoid an allocation per finding.
pub(crate) fn write_identity(pkg: &Package, out: &mut String) {
    out.clear();
    if let Some(purl) = &pkg.purl {
        let eco = canonical_ecosystem(purl.ty());
        out.push_str(&eco);
        out.push(SEP);
        match purl.namespace() {
            Some(ns) if !is_os_ecosystem(&eco) && !ns.is_empty() => {
                push_canonical_name(&eco, ns, out);
                out.push(if eco == "maven" { ':' } else { '/' });
                push_canonical_name(&eco, purl.name(), out);
            }
            _ => push_canonical_name(&eco, purl.name(), out),
        }
    } else if let Some(eco) = pkg.ecosystem.as_deref().filter(|e| !e.is_empty()) {
        let eco = canonical_ecosystem(eco);
        out.push_str(&eco);
        out.push(SEP);
        push_canonical_name(&eco, &pkg.name, out);
    } else {
        out.push(SEP);
        out.extend(pkg.name.trim().chars().map(|c| c.to_ascii_lowercase()));
    }
}

impl Package {
    /// The package's identity (see the [module docs](crate::model::package_identity)):
    /// two packages are the same package when their identities are equal.
    pub fn identity(&self) -> String {
        let mut s = String::new();
        write_identity(self, &mut s);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(name: &str, eco: Option<&str>, purl: Option<&str>) -> String {
        Package::new(name)
            .with_ecosystem(eco)
            .with_purl_str(purl)
            .identity()
    }

    #[test]
    fn scanners_names_for_one_package_agree() {
        let django = id("django", None, Some("pkg:pypi/django@3.2.9"));
        assert_eq!(django, id("Django", Some("pip"), None));
        assert_eq!(django, id("Django", Some("python"), None));
        assert_eq!(
            id("zope.interface", Some("pip"), None),
            id("Zope_Interface", Some("pypi"), None)
        );
        let apt = id(
            "apt",
            None,
            Some("pkg:deb/debian/apt@1.8.2.1?arch=amd64&distro=debian-10.4"),
        );
        assert_eq!(apt, id("apt", Some("debian"), None));
        assert_eq!(
            apt,
            id(
                "apt",
                None,
                Some("pkg:deb/debian/apt@1.8.2.1?arch=amd64&distro=debian-10")
            )
        );
        assert_eq!(
            id(
                "x",
                None,
                Some("pkg:maven/org.apache.tomcat/tomcat-catalina@9.0.109")
            ),
            id("org.apache.tomcat:tomcat-catalina", Some("jar"), None)
        );
        assert_eq!(
            id("x", None, Some("pkg:npm/%40babel/core@7.0.0")),
            id("@babel/core", Some("npm"), None)
        );
        assert_eq!(
            id(
                "x",
                None,
                Some("pkg:golang/github.com/gin-gonic/gin@v1.9.1")
            ),
            id("github.com/gin-gonic/gin", Some("gomod"), None)
        );
        assert_eq!(
            id("Serde_JSON", Some("cargo"), None),
            id("serde-json", Some("rust-crate"), None)
        );
    }

    #[test]
    fn different_packages_differ() {
        assert_ne!(
            id("requests", Some("pip"), None),
            id("requests", Some("npm"), None)
        );
        assert_ne!(
            id("x", None, Some("pkg:npm/%40a/core@1")),
            id("x", None, Some("pkg:npm/%40b/core@1"))
        );
        assert_eq!(id("OpenSSL", None, None), id("openssl", None, None));
    }
}
