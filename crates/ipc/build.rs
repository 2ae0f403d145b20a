//! Builds `client/qbclient.c`, a real libqb client (linked with -lqb), for
//! the tests and the bench. Its path reaches them as CCFS_IPC_QBCLIENT. The
//! library itself does not link libqb; if the client cannot be built (no
//! libqb-dev) the library still builds and the tests that need it fail.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=client/qbclient.c");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let exe = out.join("qbclient");
    let compiler = cc::Build::new().opt_level(2).get_compiler();
    let status = compiler
        .to_command()
        .arg("client/qbclient.c")
        .arg("-o")
        .arg(&exe)
        .arg("-lqb")
        .status();
    match status {
        Ok(s) if s.success() => {}
        other => println!(
            "cargo:warning=libqb test client not built ({other:?}); is libqb-dev installed?"
        ),
    }
    println!("cargo:rustc-env=CCFS_IPC_QBCLIENT={}", exe.display());
}
