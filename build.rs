//! Build script: hands PyO3's view of the target Python to lib.rs as cfg flags, chiefly
//! `Py_GIL_DISABLED` on a free-threaded CPython (3.14t), where `list_item_at` must not read
//! list items through borrowed pointers. It also tells `build_info()` how this build was made
//! (profile, opt-level, abi3 floor, PyO3 version), so a debug build can say that it is one.

use std::path::Path;

fn main() {
    pyo3_build_config::use_pyo3_cfgs();
    let config = pyo3_build_config::get();
    // The oldest CPython an abi3 build serves (abi3-py39: 3.9); empty for a build made for one
    // version only (the free-threaded 3.14t one).
    let abi = config.target_abi();
    let abi3 = match abi.kind() {
        pyo3_build_config::PythonAbiKind::Stable(_) => abi.version().to_string(),
        pyo3_build_config::PythonAbiKind::VersionSpecific(_) => String::new(),
    };
    println!("cargo:rustc-env=RUST_DEMO_ABI3={abi3}");
    // Cargo tells a build script the opt-level but not the profile's name. Each profile builds
    // into its own directory, target/<dir>/build/<crate>-<hash>/out, named after it ("debug"
    // for the dev profile), so the name is read from OUT_DIR.
    let out_dir = std::env::var("OUT_DIR").unwrap_or_default();
    let profile = match Path::new(&out_dir)
        .ancestors()
        .nth(3)
        .and_then(Path::file_name)
    {
        Some(dir) if dir == "debug" => "dev".to_string(),
        Some(dir) => dir.to_string_lossy().into_owned(),
        None => "unknown".to_string(),
    };
    println!("cargo:rustc-env=RUST_DEMO_PROFILE={profile}");
    let opt_level = std::env::var("OPT_LEVEL").unwrap_or_else(|_| "unknown".to_string());
    println!("cargo:rustc-env=RUST_DEMO_OPT_LEVEL={opt_level}");
    // PyO3 does not export its version; Cargo.lock (committed, and in the sdist) records it.
    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    let pyo3 = lock
        .split("[[package]]")
        .find(|package| package.contains("\nname = \"pyo3\"\n"))
        .and_then(|package| package.split("\nversion = \"").nth(1))
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("unknown");
    println!("cargo:rustc-env=RUST_DEMO_PYO3_VERSION={pyo3}");
    println!("cargo:rerun-if-changed=Cargo.lock");
}
