//! The well-behaved client: Debian's libqb (`ccfs_ipc::TEST_CLIENT`), as
//! PVE::IPCC uses it, run as any user.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::ipc_script::{parse_output, write_requests};

/// The client copied where every uid may run it.
pub fn client_binary(dir: &Path) -> PathBuf {
    let src = PathBuf::from(ccfs_ipc::TEST_CLIENT);
    assert!(
        src.exists(),
        "libqb test client {} missing (libqb-dev?)",
        src.display()
    );
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let dst = dir.join("qbclient");
    std::fs::copy(&src, &dst).unwrap();
    std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o755)).unwrap();
    dst
}

/// Connect as `uid:gid`, send `requests`, disconnect: the connect result
/// and per request (errno, payload). Panics when the client is not done
/// within `secs` (the bounded wait for a correct answer).
pub fn session(
    client: &Path,
    name: &str,
    (uid, gid): (u32, u32),
    requests: &[Vec<u8>],
    secs: u64,
) -> (i32, Vec<(i32, Vec<u8>)>) {
    let mut child = Command::new(client)
        .arg(name)
        .arg("script")
        .uid(uid)
        .gid(gid)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the libqb client");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        out
    });
    write_requests(child.stdin.take().unwrap(), requests);
    let until = Instant::now() + Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("libqb client as uid {uid} not answered within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    parse_output(&reader.join().unwrap())
}

/// A client sending `request` `count` times as fast as it can (a flood);
/// the caller kills it.
pub fn flood(
    client: &Path,
    name: &str,
    (uid, gid): (u32, u32),
    request: &[u8],
    count: u64,
) -> Child {
    let hex: String = request.iter().map(|b| format!("{b:02x}")).collect();
    Command::new(client)
        .arg(name)
        .arg("bench")
        .arg(count.to_string())
        .arg(hex)
        .uid(uid)
        .gid(gid)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the flooding libqb client")
}
