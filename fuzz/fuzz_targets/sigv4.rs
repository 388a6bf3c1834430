//! SigV4 verification and the canonical reading of request targets, over arbitrary requests
//! (the properties are asserted in `nimbus_server::fuzzing::sigv4`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    nimbus_server::fuzzing::sigv4(data);
});
