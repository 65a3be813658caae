//! Build script: hands PyO3's view of the target Python to lib.rs as cfg flags, chiefly
//! `Py_GIL_DISABLED` on a free-threaded CPython (3.14t), where `list_item_at` must not read
//! list items through borrowed pointers. For the abi3 wheel it sets nothing that lib.rs uses.

fn main() {
    pyo3_build_config::use_pyo3_cfgs();
}
