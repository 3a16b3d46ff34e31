//! Every fuzz seed (`fuzz/seeds/TARGET/`, written from the test tables by `scripts/fuzz-seeds`) and every
//! crash the fuzzer ever found (`fuzz/regressions/TARGET/`) through its target: the invariants hold on
//! the stable toolchain on every `cargo test`, and a fixed crash stays fixed.

use std::path::Path;

use vpce_proxy::fuzzing::TARGETS;

fn inputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
    files.sort();
    files.into_iter().map(|p| (p.display().to_string(), std::fs::read(&p).unwrap())).collect()
}

#[test]
fn every_seed_and_regression_holds_every_invariant() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for (name, target) in TARGETS {
        let seeds = inputs(&root.join("seeds").join(name));
        assert!(!seeds.is_empty(), "{name}: no seeds; run scripts/fuzz-seeds");
        for (file, data) in seeds.iter().chain(&inputs(&root.join("regressions").join(name))) {
            let outcome = std::panic::catch_unwind(|| target(data));
            assert!(outcome.is_ok(), "{name}: {file} breaks an invariant");
        }
    }
}
