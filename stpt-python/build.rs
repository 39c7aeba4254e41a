//! Outside maturin (the `extension-module` feature off), the crate links libpython like any
//! embedding program; an rpath to its directory lets `cargo test` run the unit tests with a
//! Python whose library is not on the loader's path (pyenv, a venv's base).

fn main() {
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    if std::env::var_os("CARGO_FEATURE_EXTENSION_MODULE").is_some() {
        return;
    }
    if let Some(dir) = &pyo3_build_config::get().lib_dir {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
