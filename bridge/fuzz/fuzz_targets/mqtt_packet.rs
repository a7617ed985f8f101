//! Bytes from an MQTT client: the handshake and the packet decoding of
//! both versions, whole and cut (`hubbub_bridge::fuzzing::mqtt_packet`).
//! Must never panic, never stall, nor allocate far beyond the input.
#![no_main]

use hubbub_bridge_fuzz::{peak_during, Counting};
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: Counting = Counting;

fuzz_target!(|data: &[u8]| {
    let peak = peak_during(|| hubbub_bridge::fuzzing::mqtt_packet(data));
    // Each run keeps its packets' Debug text (up to 4 bytes per input
    // byte) for comparison; three runs are compared at a time.
    let budget = 64 * data.len() + 64 * 1024;
    assert!(
        peak <= budget,
        "{peak} bytes allocated for {} input bytes",
        data.len()
    );
});
