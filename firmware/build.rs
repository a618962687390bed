//! Copies the memory map of the selected board (or of the `fit-128k` part) to `OUT_DIR` as
//! `memory.x`, where the `link.x` script of cortex-m-rt includes it.

use std::{env, fs, path::PathBuf};

fn main() {
    let qemu = env::var_os("CARGO_FEATURE_QEMU").is_some();
    let nrf52840 = env::var_os("CARGO_FEATURE_NRF52840").is_some();
    let fit_128k = env::var_os("CARGO_FEATURE_FIT_128K").is_some();

    let map = match (qemu, nrf52840, fit_128k) {
        (true, false, false) => "mps2-an386.x",
        (true, false, true) => "fit-128k.x",
        (false, true, false) => "nrf52840.x",
        (false, true, true) => panic!(
            "feature `fit-128k` is only supported with `qemu`: the nrf52840 profile links \
             with flip-link, which places the stack itself"
        ),
        _ => panic!(
            "select exactly one board feature: `qemu` (the default) or `nrf52840` \
             (with `--no-default-features`)"
        ),
    };

    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let source = PathBuf::from("memory");
    fs::copy(source.join(map), out.join("memory.x")).expect("copy the memory map to OUT_DIR");
    fs::copy(source.join("stack.x"), out.join("stack.x")).expect("copy stack.x to OUT_DIR");

    println!("cargo:rustc-link-search={}", out.display());
    println!(
        "cargo:rustc-env=GRADWELL_MEMORY_MAP={}",
        map.trim_end_matches(".x")
    );
    println!("cargo:rerun-if-changed=memory");
    println!("cargo:rerun-if-changed=build.rs");
}
