//! A WebSocket chat frame from a client: parse it and build every answer
//! (`hubbub_bridge::fuzzing::ws_frame`). Must never panic, nor allocate
//! far beyond the frame's size.
#![no_main]

use hubbub_bridge_fuzz::{peak_during, Counting};
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: Counting = Counting;

fuzz_target!(|data: &[u8]| {
    let peak = peak_during(|| hubbub_bridge::fuzzing::ws_frame(data));
    // serde_json's Value for `[0,0,...]` takes 32 bytes per 2 input bytes,
    // and a growing Vec briefly holds two copies.
    let budget = 64 * data.len() + 64 * 1024;
    assert!(
        peak <= budget,
        "{peak} bytes allocated for a {} byte frame",
        data.len()
    );
});
