//! Format-preserving YAML edits: a value is set by splicing bytes into the
//! original text at the position the parser reports, so comments, blank
//! lines, key order, quoting, anchors, block scalars, other documents and
//! line endings stay exactly as they were.
//!
//! ```
//! use paragon_gitops::yaml::YamlFile;
//!
//! let text = "image:\n  repository: nginx # upstream\n  tag: 1.25.0\n\nreplicas: 2\n";
//! let mut values = YamlFile::parse("values.yaml", text)?;
//! assert!(values.set("image.tag", "1.26")?);
//! assert_eq!(
//!     values.text(),
//!     "image:\n  repository: nginx # upstream\n  tag: \"1.26\"\n\nreplicas: 2\n"
//! );
//! assert_eq!(values.get("image.tag")?.as_deref(), Some("1.26"));
//! # Ok::<(), paragon_core::Error>(())
//! ```
//!
//! Paths are keys separated by dots, with `[N]` for sequence items:
//! `image.tag`, `backend.image.tag`, `a.b[0].c`; a dot inside a key is
//! escaped with a backslash (`annotations.example\.com/team`).
//!
//! Values are always written so that they load as strings: a value any
//! YAML 1.1 or 1.2 loader could read as a number, boolean or null (`1.20`,
//! `1e3`, `yes`, `0x10`, `null`, `~`), or that is not a valid plain scalar,
//! is double-quoted; a value that was quoted keeps its quote style.
//!
//! | module | holds |
//! |---|---|
//! | `path` | parsing and rendering paths |
//! | `tree` | the document's nodes with their byte spans, and lookups |
//! | `render` | which values need quotes, and quoting |
//! | `edit` | [`YamlFile`] and [`unified_diff`] |

mod edit;
mod path;
mod render;
mod tree;

pub use edit::{unified_diff, YamlFile};
pub use render::loads_as_non_string;

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::path::{parse_path, render_path, Segment};
    use super::render::*;
    use super::*;

    fn set(text: &str, path: &str, value: &str) -> String {
        let mut f = YamlFile::parse("t.yaml", text).unwrap();
        f.set(path, value).unwrap();
        f.text().to_owned()
    }

    #[test]
    fn paths_parse() {
        let p = |s| parse_path(Path::new("f"), s, "set");
        assert_eq!(
            p("a.b[0].c").unwrap(),
            vec![
                Segment::Key("a".into()),
                Segment::Key("b".into()),
                Segment::Index(0),
                Segment::Key("c".into())
            ]
        );
        assert_eq!(
            p("ann.example\\.com/team").unwrap(),
            vec![
                Segment::Key("ann".into()),
                Segment::Key("example.com/team".into())
            ]
        );
        assert_eq!(p("[1]").unwrap(), vec![Segment::Index(1)]);
        for bad in ["", "a..b", "a.", "a[x]", "a[1", "a\\"] {
            assert!(p(bad).is_err(), "{bad}");
        }
        assert_eq!(render_path(&p("a.b\\.c[2]").unwrap()), "a.b\\.c[2]");
    }

    #[test]
    fn non_strings_are_recognised() {
        for v in [
            "1.20",
            "1e3",
            "1E-3",
            "1.0e+3",
            "yes",
            "No",
            "0x10",
            "null",
            "~",
            "",
            "010",
            "1_000",
            "1:20",
            "1:20.5",
            "-3:25:45",
            "-1",
            "+.5",
            "1.",
            ".inf",
            "-.Inf",
            ".NaN",
            "0o17",
            "0b101",
            "on",
            "Y",
            "42",
            "2024-01-15",
            "2001-12-14t21:59:43.10-05:00",
            "2001-12-14 21:59:43.10 -5",
        ] {
            assert!(loads_as_non_string(v), "{v}");
        }
        for v in [
            "1.2.3",
            "1.29.3",
            "10.0.0",
            "v1.2.3",
            "1.2.3-alpha",
            "1.27.4-debian-12-r6",
            "latest",
            "sha256:abc",
            "abc123",
            "0xZZ",
            "e3",
            "1e",
            "1:60",
            "12:345",
            "yEs",
            "20240101T000000",
            "1.2e3.4",
            ".",
            "2024-01",
            "2024-1-15",
            "release-2024-01-15",
        ] {
            assert!(!loads_as_non_string(v), "{v}");
        }
    }

    #[test]
    fn styles_are_kept() {
        assert_eq!(set("tag: \"1.0\"\n", "tag", "2.0"), "tag: \"2.0\"\n");
        assert_eq!(set("tag: 'v1'\n", "tag", "it's"), "tag: 'it''s'\n");
        assert_eq!(set("tag: v1\n", "tag", "v2"), "tag: v2\n");
        assert_eq!(set("tag: v1\n", "tag", "1.20"), "tag: \"1.20\"\n");
        assert_eq!(set("tag: v1\n", "tag", "a: b"), "tag: \"a: b\"\n");
        assert_eq!(set("tag: v1 # c\n", "tag", "v2"), "tag: v2 # c\n");
        assert_eq!(set("a: &x v1\nb: *x\n", "a", "v2"), "a: &x v2\nb: *x\n");
        assert_eq!(set("a: !!str v1\n", "a", "v2"), "a: !!str v2\n");
        assert_eq!(
            set("a: |\n  x\n  y\n\nb: 1\n", "a", "v2"),
            "a: v2\n\nb: 1\n"
        );
        assert_eq!(
            set("a: {t: v1, u: 2}\n", "a.t", "x,y"),
            "a: {t: \"x,y\", u: 2}\n"
        );
        assert_eq!(set("l:\n  - x\n  - y\n", "l[1]", "z"), "l:\n  - x\n  - z\n");
        assert_eq!(set("a: v1\r\nb: c\r\n", "b", "d"), "a: v1\r\nb: d\r\n");
        assert_eq!(set("é: ü\nb: c\n", "b", "d"), "é: ü\nb: d\n");
        assert_eq!(set("a:\nb: 1\n", "a", "x"), "a: x\nb: 1\n");
        assert_eq!(set("a: ~\n", "a", "x"), "a: x\n");
    }

    #[test]
    fn a_number_like_tag_is_quoted_even_when_equal() {
        let mut f = YamlFile::parse("t", "tag: 1.20\n").unwrap();
        assert!(f.set("tag", "1.20").unwrap());
        assert_eq!(f.text(), "tag: \"1.20\"\n");
        assert!(!f.set("tag", "1.20").unwrap());
    }

    #[test]
    fn missing_keys_are_inserted_with_their_siblings_indentation() {
        assert_eq!(
            set(
                "image:\n  repository: r # c\n\nother: 1\n",
                "image.tag",
                "1.0"
            ),
            "image:\n  repository: r # c\n  tag: \"1.0\"\n\nother: 1\n"
        );
        assert_eq!(
            set("a:\n    b:\n        c: 1\nz: 2\n", "a.d", "x"),
            "a:\n    b:\n        c: 1\n    d: x\nz: 2\n"
        );
        assert_eq!(set("a: {b: 1}\n", "a.c", "x"), "a: {b: 1, c: x}\n");
        assert_eq!(set("a: 1\r\n", "b", "x"), "a: 1\r\nb: x\r\n");
        assert_eq!(set("a: 1", "b", "x"), "a: 1\nb: x");
    }

    #[test]
    fn errors_name_the_problem() {
        let f = YamlFile::parse(
            "v.yaml",
            "image:\n  tag: 1\nlist: [1]\nal: &x {a: 1}\nb: *x\n",
        )
        .unwrap();
        let msg = |path: &str| {
            let mut g = f.clone();
            g.set(path, "v").unwrap_err().to_string()
        };
        assert!(msg("image.registry.host").contains("nearest existing path is `image`"));
        assert!(msg("nope.x").contains("the document root"));
        assert!(msg("image.tag.x").contains("`image.tag` is a scalar, not a mapping"));
        assert!(msg("list[3]").contains("has 1 item(s)"));
        assert!(msg("image").contains("a mapping, not a scalar"));
        assert!(msg("b").contains("alias"));
        let e = YamlFile::parse("bad.yaml", "a: [1,\nb: c\n").unwrap_err();
        assert!(
            matches!(e.downcast_ref(), Some(crate::Error::Yaml { line: 2, .. })),
            "{e}"
        );
        assert!(e.to_string().contains("bad.yaml"));
    }

    #[test]
    fn reads_through_aliases_and_merge_keys() {
        let f = YamlFile::parse(
            "t",
            "base: &b\n  tag: \"1.0\"\nprod:\n  <<: *b\n  name: x\nnull: ~\n",
        )
        .unwrap();
        assert_eq!(f.get("prod.tag").unwrap().as_deref(), Some("1.0"));
        assert_eq!(f.get("prod.missing").unwrap(), None);
        assert_eq!(f.get("null").unwrap(), None);
        assert!(f.get("base").is_err());
    }

    #[test]
    fn other_documents_stay() {
        let text = "a: 1\n---\n# second\na: 2\n";
        let mut f = YamlFile::parse("t", text).unwrap();
        f.set_in(1, "a", "x").unwrap();
        assert_eq!(f.text(), "a: 1\n---\n# second\na: x\n");
        assert!(f.set_in(2, "a", "x").is_err());
    }

    #[test]
    fn truncated_and_garbage_input_is_an_error_not_a_panic() {
        let text = "image:\n  repository: r\n  tag: \"1.0\"\n  list:\n    - a\n    - {b: [1, 2]}\n";
        for cut in 0..text.len() {
            if let Ok(mut f) = YamlFile::parse("t", &text[..cut]) {
                let _ = f.set("image.tag", "2.0");
                let _ = f.get("image.list[1].b");
            }
        }
        for garbage in ["{{{{", "- - - :", "\u{0}\u{1}", "a: 'unterminated", "? ? ?"] {
            if let Ok(mut f) = YamlFile::parse("t", garbage) {
                let _ = f.set("a", "b");
            }
        }
    }

    #[test]
    fn items_are_appended_to_sequences() {
        let mut f = YamlFile::parse(
            "k",
            "resources:\n  - a.yaml\nimages:\n  - name: x\n    newTag: \"1\"\n# end\n",
        )
        .unwrap();
        assert_eq!(
            f.append_item("images", &[("name", "web"), ("newTag", "2")])
                .unwrap(),
            1
        );
        assert_eq!(
            f.text(),
            "resources:\n  - a.yaml\nimages:\n  - name: x\n    newTag: \"1\"\n  - name: web\n    newTag: \"2\"\n# end\n"
        );
        let mut g = YamlFile::parse("k", "resources:\n- a.yaml").unwrap();
        assert_eq!(g.append_item("images", &[("name", "web")]).unwrap(), 0);
        assert_eq!(g.text(), "resources:\n- a.yaml\nimages:\n- name: web\n");
        assert_eq!(g.get("images[0].name").unwrap().as_deref(), Some("web"));
        assert!(g.has("images[0]").unwrap() && !g.has("images[1]").unwrap());
        assert_eq!(f.position("images", "name", "web").unwrap(), Some(1));
        assert_eq!(f.position("images", "name", "none").unwrap(), None);
        assert_eq!(f.position("resources", "name", "x").unwrap(), None);
    }

    #[test]
    fn quoted_sets_quote() {
        let mut f = YamlFile::parse("c", "appVersion: 1.0.0\nname: x\n").unwrap();
        assert!(f.set_quoted("appVersion", "v1").unwrap());
        assert_eq!(f.text(), "appVersion: \"v1\"\nname: x\n");
        assert!(!f.set_quoted("appVersion", "v1").unwrap());
    }

    #[test]
    fn diffs_are_unified() {
        assert_eq!(
            unified_diff("v.yaml", "a\nb\nc\n", "a\nB\nc\n"),
            "--- a/v.yaml\n+++ b/v.yaml\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"
        );
        assert_eq!(unified_diff("v.yaml", "a\n", "a\n"), "");
    }

    #[test]
    fn reading_through_a_scalar_is_an_error() {
        let f = YamlFile::parse("v.yaml", "image: nginx:1.25\nempty:\nlist: [a]\n").unwrap();
        let err = f.get("image.tag").unwrap_err().to_string();
        assert!(err.contains("`image` is a scalar, not a mapping"), "{err}");
        assert!(f.get("list.x").is_err());
        assert!(f.get("image[0]").is_err());
        assert_eq!(f.get("empty.tag").unwrap(), None);
        assert_eq!(f.get("missing.tag").unwrap(), None);
        assert_eq!(f.get("list[3]").unwrap(), None);
    }
}
