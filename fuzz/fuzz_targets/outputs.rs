#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| aca_runner_action::fuzzing::outputs(data));
