//! Empty, truncated, garbage, wrong-tool and wrong-version input: typed
//! errors naming the format, file and position, never a panic and never an
//! empty report presented as success.

use std::path::Path;

use paragon_scanners::{detect, parse_any, parse_file, parse_file_as, Error, Format};
use proptest::prelude::*;

use crate::support::fixture;

/// A small real report of every format (fixtures), for truncation tests.
const SAMPLES: [(&str, Format); 11] = [
    (
        "trivy/misconfigurations_and_secrets.json",
        Format::TrivyJson,
    ),
    ("anchore_grype/check_all_fields.json", Format::GrypeJson),
    (
        "dependency_check/version-6.5.3.xml",
        Format::DependencyCheckXml,
    ),
    (
        "dependency_check_json/paragon-cvssv4.json",
        Format::DependencyCheckJson,
    ),
    ("cyclonedx/log4j.json", Format::CycloneDxJson),
    ("cyclonedx/log4j.xml", Format::CycloneDxXml),
    ("spdx/spdx_many_vuln.json", Format::SpdxJson),
    ("spdx/spdx_one_vuln.spdx", Format::SpdxTagValue),
    ("syft/syftjson/TestImageEncoder.golden", Format::SyftJson),
    ("sonarqube/findings_over_api.json", Format::SonarQubeJson),
    (
        "sonarqube/findings_over_api_hotspots.json",
        Format::SonarQubeJson,
    ),
];

const SARIF: &str = r#"{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "semgrep",
  "rules": [{"id": "r1", "defaultConfiguration": {"level": "error"}}]}},
  "results": [{"ruleId": "r1", "message": {"text": "m"},
    "locations": [{"physicalLocation": {"artifactLocation": {"uri": "a.py"}, "region": {"startLine": 3}}}]}]}]}"#;

fn samples() -> Vec<(Vec<u8>, Format)> {
    let mut out: Vec<(Vec<u8>, Format)> = SAMPLES
        .iter()
        .map(|(rel, f)| (std::fs::read(fixture(rel)).unwrap(), *f))
        .collect();
    out.push((SARIF.as_bytes().to_vec(), Format::Sarif));
    out
}

#[test]
fn empty_input_is_an_error_for_every_format() {
    for input in [&b""[..], b"   \n\t ", b"\xEF\xBB\xBF"] {
        assert!(matches!(parse_any(input), Err(Error::Empty { .. })));
        for format in Format::ALL {
            let err = format.parse(input).unwrap_err();
            assert!(
                matches!(err, Error::Empty { format: Some(f), .. } if f == format),
                "{format}: {err:?}"
            );
        }
    }
}

#[test]
fn an_empty_object_is_not_an_empty_report() {
    for format in Format::ALL {
        let input = if matches!(format, Format::SpdxTagValue) {
            &b"DataLicense: CC0-1.0\n"[..]
        } else if matches!(format, Format::CycloneDxXml | Format::DependencyCheckXml) {
            &b"<other/>"[..]
        } else {
            &b"{}"[..]
        };
        let result = format.parse(input);
        assert!(
            result.is_err(),
            "{format} accepted {:?}",
            String::from_utf8_lossy(input)
        );
    }
    assert!(matches!(parse_any(b"{}"), Err(Error::UnknownFormat { .. })));
    assert!(matches!(parse_any(b"[]"), Err(Error::UnknownFormat { .. })));
}

#[test]
fn truncated_reports_fail_with_a_position() {
    for (bytes, format) in samples() {
        assert!(format.parse(&bytes).is_ok(), "{format} sample parses whole");
        let end = bytes.trim_ascii_end().len();
        for cut in [1, end / 3, end / 2, end - 1] {
            let head = &bytes[..cut];
            let err = format
                .parse(head)
                .expect_err(&format!("{format} cut at {cut} must fail"));
            match &err {
                Error::Malformed { position, .. } => {
                    assert!(position.is_some(), "{format}: {err}");
                }
                // A tag-value document cut before its version line, or a
                // document cut so early that it reads as another format.
                Error::Empty { .. }
                | Error::WrongFormat { .. }
                | Error::UnsupportedVersion { .. } => {}
                other => panic!("{format} cut at {cut}: unexpected {other:?}"),
            }
            assert!(
                err.to_string().contains(format.name()) || !matches!(err, Error::Malformed { .. })
            );
        }
    }
}

/// SPDX tag-value has no end marker: a cut document is recognised by a
/// last line without its newline, a required field it lacks, or an
/// incomplete `ExternalRef`. Every cut inside a line fails, and so does
/// every cut at a line end that leaves the header or a package without a
/// required field. A cut at a line end between whole packages (or after
/// a package's last field) leaves a valid, smaller document that no
/// reader can tell from a whole one: it holds no finding the whole lacks.
#[test]
fn truncated_spdx_tag_value_is_never_a_smaller_document() {
    let bytes = std::fs::read(fixture("spdx/spdx_one_vuln.spdx")).unwrap();
    let whole = Format::SpdxTagValue.parse(&bytes).unwrap();
    assert_eq!(whole.findings.len(), 1);
    for cut in 1..bytes.len() {
        let head = &bytes[..cut];
        match Format::SpdxTagValue.parse(head) {
            Err(Error::Malformed { position, .. }) => assert!(position.is_some()),
            Err(Error::Empty { .. } | Error::UnknownFormat { .. }) => {}
            Err(e) => panic!("cut at {cut}: unexpected {e:?}"),
            Ok(r) => {
                assert_eq!(bytes[cut - 1], b'\n', "cut at {cut} inside a line passed");
                assert!(r.findings.iter().all(|f| whole.findings.contains(f)));
            }
        }
    }
    // The cuts from the report of the fault: in an `ExternalRef`, and in
    // the header.
    for cut in [561, 280] {
        let err = Format::SpdxTagValue.parse(&bytes[..cut]).unwrap_err();
        assert!(
            err.to_string().contains("truncated?") || err.to_string().contains("lacks"),
            "{err}"
        );
    }
}

/// A UTF-8 byte-order mark before any format changes nothing.
#[test]
fn a_byte_order_mark_is_skipped() {
    for (bytes, format) in samples() {
        let mut marked = b"\xEF\xBB\xBF".to_vec();
        marked.extend_from_slice(&bytes);
        let plain = format.parse(&bytes).unwrap();
        let with_bom = format
            .parse(&marked)
            .unwrap_or_else(|e| panic!("{format} with a byte-order mark: {e}"));
        assert_eq!(with_bom.findings, plain.findings, "{format}");
        assert_eq!(detect(&marked), Some(format));
        assert_eq!(parse_any(&marked).unwrap().findings, plain.findings);
    }
}

#[test]
fn truncated_json_says_truncated() {
    let path = fixture("anchore_grype/check_all_fields.json");
    let bytes = std::fs::read(path).unwrap();
    let err = parse_any(&bytes[..bytes.len() / 2]).unwrap_err();
    assert!(err.is_truncated(), "{err}");
    assert!(err.position().unwrap().line > 1);
}

#[test]
fn garbage_is_unknown_format() {
    for input in [
        &b"hello world"[..],
        b"\x00\x01\x02\xff",
        b"{\"a\": 1}",
        b"<html><body/></html>",
        b"PK\x03\x04zipped",
        b"42",
    ] {
        let err = parse_any(input).unwrap_err();
        assert!(matches!(err, Error::UnknownFormat { .. }), "{err:?}");
        assert!(err.to_string().contains("not a report format"), "{err}");
    }
}

#[test]
fn wrong_tool_is_named() {
    let path = fixture("anchore_grype/check_all_fields.json");
    let err = parse_file_as(Format::TrivyJson, &path).unwrap_err();
    assert!(
        matches!(
            err,
            Error::WrongFormat {
                expected: Format::TrivyJson,
                found: Format::GrypeJson,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("check_all_fields.json") && msg.contains("Grype JSON"),
        "{msg}"
    );

    let path = fixture("trivy/kubernetes.json");
    let err = parse_file_as(Format::CycloneDxJson, &path).unwrap_err();
    assert!(
        matches!(
            err,
            Error::WrongFormat {
                found: Format::TrivyJson,
                ..
            }
        ),
        "{err:?}"
    );
    let path = fixture("cyclonedx/log4j.xml");
    let err = parse_file_as(Format::DependencyCheckXml, &path).unwrap_err();
    assert!(
        matches!(
            err,
            Error::WrongFormat {
                found: Format::CycloneDxXml,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn wrong_versions_are_unsupported() {
    let cases: [(&[u8], Format); 6] = [
        (br#"{"SchemaVersion": 3, "Results": []}"#, Format::TrivyJson),
        (
            br#"{"bomFormat": "CycloneDX", "specVersion": "2.0"}"#,
            Format::CycloneDxJson,
        ),
        (
            b"<bom xmlns=\"http://cyclonedx.org/schema/bom/2.0\"/>",
            Format::CycloneDxXml,
        ),
        (
            br#"{"spdxVersion": "SPDX-3.0", "packages": []}"#,
            Format::SpdxJson,
        ),
        (br#"{"version": "2.0.0", "runs": []}"#, Format::Sarif),
        (
            br#"{"reportSchema": "2.0", "dependencies": []}"#,
            Format::DependencyCheckJson,
        ),
    ];
    for (input, format) in cases {
        assert_eq!(
            detect(input),
            Some(format),
            "{}",
            String::from_utf8_lossy(input)
        );
        let err = parse_any(input).unwrap_err();
        assert!(
            matches!(err, Error::UnsupportedVersion { .. }),
            "{format}: {err:?}"
        );
    }
}

#[test]
fn errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken-trivy.json");
    std::fs::write(
        &file,
        br#"{"SchemaVersion": 2, "Results": [{"Target": 1}]}"#,
    )
    .unwrap();
    let err = parse_file(&file).unwrap_err();
    assert_eq!(err.file(), Some(file.as_path()));
    let msg = err.to_string();
    assert!(
        msg.contains("broken-trivy.json") && msg.contains("Trivy JSON") && msg.contains("line 1"),
        "{msg}"
    );

    let err = parse_file(Path::new("/nonexistent/report.json")).unwrap_err();
    assert!(matches!(err, Error::Io { .. }));
    assert!(err.to_string().contains("/nonexistent/report.json"));
}

#[test]
fn malformed_xml_has_line_and_column() {
    let err = Format::CycloneDxXml
        .parse(b"<bom xmlns=\"http://cyclonedx.org/schema/bom/1.4\">\n  <components>\n  </bom>")
        .unwrap_err();
    let pos = err.position().expect("position");
    assert_eq!(pos.line, 3, "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Arbitrary bytes never panic detection or any parser.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = detect(&bytes);
        let _ = parse_any(&bytes);
        for format in Format::ALL {
            let _ = format.parse(&bytes);
        }
    }

    /// JSON-ish and XML-ish text built from report tokens never panics either.
    #[test]
    fn token_soup_never_panics(tokens in proptest::collection::vec(prop::sample::select(vec![
        "{", "}", "[", "]", ",", ":", "\"SchemaVersion\"", "\"Results\"", "\"matches\"", "null",
        "\"bomFormat\"", "\"CycloneDX\"", "\"specVersion\"", "\"1.5\"", "\"vulnerabilities\"",
        "\"affects\"", "\"ref\"", "\"runs\"", "\"version\"", "\"2.1.0\"", "\"issues\"", "2", "-1",
        "1e999", "\"\\u0000\"", "<bom>", "</bom>", "<analysis>", "<dependency>", "SPDXVersion: SPDX-2.3\n",
        "PackageName: x\n", "<text>",
    ]), 0..64)) {
        let text = tokens.concat();
        let _ = parse_any(text.as_bytes());
        for format in Format::ALL {
            let _ = format.parse(text.as_bytes());
        }
    }

    /// Real reports with one byte changed, or cut anywhere, never panic.
    #[test]
    fn mutated_real_reports_never_panic(pick in 0usize..12, at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<bool>()) {
        let samples = samples();
        let (bytes, format) = &samples[pick % samples.len()];
        let mut bytes = bytes.clone();
        let i = at.index(bytes.len());
        if cut { bytes.truncate(i) } else { bytes[i] = byte }
        let _ = format.parse(&bytes);
        let _ = parse_any(&bytes);
    }
}

/// Reading is bounded: a file over the limit is refused before it is
/// read, devices and directories are refused, and a pipe is read as it
/// comes, up to the limit, and abandoned when it gives no data.
#[test]
fn reading_is_bounded_in_size_and_time() {
    use paragon_scanners::{parse_file_within, ReadLimits};
    use std::time::{Duration, Instant};
    let limits = ReadLimits::default()
        .with_max_bytes(64 * 1024)
        .with_idle_timeout(Duration::from_millis(300));
    let mut buf = Vec::new();
    let big = fixture("anchore_grype/many_vulns3.json");
    match parse_file_within(&big, &mut buf, &limits) {
        Err(Error::TooLarge { path, limit }) => assert_eq!((path, limit), (big, 64 * 1024)),
        other => panic!("{other:?}"),
    }
    let small = fixture("anchore_grype/check_all_fields.json");
    assert_eq!(
        parse_file_within(&small, &mut buf, &limits)
            .unwrap()
            .findings
            .len(),
        6
    );
    for (path, what) in [
        ("/dev/zero", "a character device"),
        ("/dev/null", "a character device"),
        ("/", "a directory"),
    ] {
        let err = parse_file_within(path, &mut buf, &limits).unwrap_err();
        assert!(
            matches!(&err, Error::NotAFile { what: w, .. } if *w == what),
            "{path}: {err:?}"
        );
        assert!(err.to_string().contains(path), "{err}");
    }

    let dir = tempfile::tempdir().unwrap();
    let fifo = |name: &str| {
        let p = dir.path().join(name);
        let ok = std::process::Command::new("mkfifo")
            .arg(&p)
            .status()
            .expect("mkfifo (coreutils)")
            .success();
        assert!(ok);
        p
    };
    // No writer: abandoned after the idle timeout.
    let lonely = fifo("lonely");
    let started = Instant::now();
    let err = parse_file_within(&lonely, &mut buf, &limits).unwrap_err();
    assert!(matches!(err, Error::NoData { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // A writer with a report: parsed as a file would be.
    let piped = fifo("piped");
    let writer = {
        let (piped, small) = (piped.clone(), small.clone());
        std::thread::spawn(move || std::fs::write(&piped, std::fs::read(small).unwrap()))
    };
    let r = parse_file_within(&piped, &mut buf, &limits).unwrap();
    writer.join().unwrap().unwrap();
    assert_eq!(r.findings.len(), 6);
    // A writer that goes on past the limit: refused at the limit.
    let endless = fifo("endless");
    let writer = {
        let endless = endless.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .open(&endless)
                .unwrap();
            let line = b"{\"junk\":1},\n".repeat(1000);
            while f.write_all(&line).is_ok() {}
        })
    };
    let err = parse_file_within(&endless, &mut buf, &limits).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
    drop(buf);
    // The writer stops once the reader is gone (a broken pipe).
    writer.join().unwrap();
}

/// XML with a document type definition is refused as such (every entity
/// bomb has one), with or without an internal subset, at the doctype; a
/// truncated XML document is placed at its end.
#[test]
fn xml_with_a_dtd_is_refused_and_truncated_xml_is_placed_at_its_end() {
    let bomb = "<?xml version=\"1.0\"?>\n<!DOCTYPE bom [\n <!ENTITY a \"aaaaaaaaaa\">\n <!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">\n <!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">\n]>\n<bom xmlns=\"http://cyclonedx.org/schema/bom/1.4\"><components>&c;</components></bom>\n";
    let plain = "<?xml version=\"1.0\"?>\n<!DOCTYPE analysis SYSTEM \"x.dtd\">\n<analysis xmlns=\"https://jeremylong.github.io/DependencyCheck/dependency-check.2.5.xsd\"/>\n";
    for (doc, format) in [
        (bomb, Format::CycloneDxXml),
        (plain, Format::DependencyCheckXml),
    ] {
        assert_eq!(detect(doc.as_bytes()), Some(format));
        let err = parse_any(doc.as_bytes()).unwrap_err();
        assert_eq!(err.position().map(|p| p.line), Some(2), "{err}");
        assert!(
            err.to_string().contains("document type definition"),
            "{err}"
        );
    }
    let whole = std::fs::read(fixture("cyclonedx/log4j.xml")).unwrap();
    let cut = &whole[..whole.len() / 2];
    let err = parse_any(cut).unwrap_err();
    assert!(err.is_truncated(), "{err}");
    let end = cut.iter().filter(|&&b| b == b'\n').count() + 1;
    assert_eq!(err.position().map(|p| p.line), Some(end), "{err}");
}
