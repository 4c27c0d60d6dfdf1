//! Fuzz target: `Format::SpdxJson.parse(data)` must never panic, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paragon_scanners::Format;

fuzz_target!(|data: &[u8]| {
    let _ = Format::SpdxJson.parse(data);
});
