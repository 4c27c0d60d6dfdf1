//! The `custom_scanner` example: a user-written scanner fails the gate on
//! its demo tree and lets a clean tree through.

use std::process::Command;

mod support;

use support::example;

#[test]
fn the_marker_scanner_gates_the_pipeline() {
    let out = Command::new(example("custom_scanner")).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("failed: high security-todo"), "{stdout}");
    assert!(stdout.contains("nothing pushed"), "{stdout}");

    let clean = tempfile::tempdir().unwrap();
    std::fs::write(clean.path().join("main.go"), "package main\n").unwrap();
    let out = Command::new(example("custom_scanner"))
        .arg(clean.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("pushed custom/app@sha256:"), "{stdout}");
}
