//! Fuzz target: `paragon_scanners::parse_any(data)` must never panic, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = paragon_scanners::parse_any(data);
});
