//! Any bytes as a rules file: compiling must end in a config or diagnostics, never a panic or a
//! stack overflow (deep YAML, pathological JSONPath, huge templates).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = hookroute::config::compile_text_with_env(&text, "fuzz.yaml", &|_| Some("http://127.0.0.1:9/x".to_owned()));
});
