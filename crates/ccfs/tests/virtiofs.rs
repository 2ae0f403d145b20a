//! A real guest on an export: virtiofsd serves an export mount over a
//! vhost-user socket (checked with a handshake of our own), then QEMU
//! boots a minimal Linux guest (the host's kernel, an initramfs built
//! here) that mounts two exports by their virtiofs tags, reads a
//! replicated file, writes within its quota, gets EDQUOT past it and EROFS
//! on the read-only export. Under KVM where it works; where it does not,
//! the test says why and boots the same guest under QEMU's TCG.

mod common;
mod export_util;
mod guest;

use std::fs;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use common::Node;
use export_util::{ccfs, export_path, wait_live};
use guest::{initramfs, kernel, qemu, vhost_user_features, virtiofsd, wait_output, MODULES};

/// How long a guest under KVM may take to reach /init before KVM is
/// taken not to work here (nested virtualisation that hangs).
const KVM_BOOT: Duration = Duration::from_secs(20);
/// How long the whole guest may run (TCG on a busy machine is slow).
const GUEST_RUN: Duration = Duration::from_secs(180);

const INIT: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
exec > /dev/ttyS0 2>&1
echo CCFS-INIT
for m in MODULES; do insmod /lib/modules/$m.ko || echo "CCFS-INSMOD-FAILED:$m"; done
mount -t virtiofs rwfs /mnt/rw || echo CCFS-MOUNT-FAILED:rw
mount -t virtiofs rofs /mnt/ro || echo CCFS-MOUNT-FAILED:ro
echo "CCFS-READ:$(cat /mnt/rw/hello.conf)"
echo "CCFS-READ-RO:$(cat /mnt/ro/hello.conf)"
if echo "from the guest" > /mnt/rw/guest.txt; then echo CCFS-WRITE:ok; else echo CCFS-WRITE:failed; fi
dd if=/dev/zero of=/mnt/rw/big bs=1000 count=30 2> /tmp/dd.err
echo "CCFS-EDQUOT:$(grep -i quota /tmp/dd.err)"
echo "CCFS-EROFS:$( (echo x > /mnt/ro/new) 2>&1 )"
echo "CCFS-DF:$(df /mnt/rw | tail -1)"
sync
echo CCFS-DONE
poweroff -f
"#;

fn kvm_usable() -> Result<(), String> {
    match fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        Ok(_) => Ok(()),
        Err(e) => Err(format!("/dev/kvm cannot be opened ({e})")),
    }
}

/// Boot the guest once; its console output, or why it did not finish.
fn boot(n: &Node, kvm: bool, kernel: &Path, initrd: &Path) -> Result<String, String> {
    let dir = &n.work.root;
    let (rw, ro) = (export_path(n, "vm1"), export_path(n, "vm1ro"));
    let rw_sock = dir.join("vfs-rw.sock");
    let ro_sock = dir.join("vfs-ro.sock");
    // virtiofsd serves one connection: fresh ones for every boot.
    let _rwd = virtiofsd(&rw, &rw_sock, &dir.join("virtiofsd-rw.log"));
    let _rod = virtiofsd(&ro, &ro_sock, &dir.join("virtiofsd-ro.log"));
    let log = dir.join(if kvm {
        "guest-kvm.log"
    } else {
        "guest-tcg.log"
    });
    let mut vm = qemu(
        kvm,
        kernel,
        initrd,
        &[("rwfs", &rw_sock), ("rofs", &ro_sock)],
        &log,
    );
    if kvm && !wait_output(&mut vm, "CCFS-INIT", KVM_BOOT) {
        return Err(format!(
            "the guest did not reach /init under KVM within {KVM_BOOT:?} \
             (KVM is there but does not run this guest, e.g. nested virtualisation): {}",
            vm.output().lines().last().unwrap_or("")
        ));
    }
    if !wait_output(&mut vm, "CCFS-DONE", GUEST_RUN) {
        return Err(format!("the guest did not finish:\n{}", vm.output()));
    }
    Ok(vm.output())
}

fn line<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in the guest output:\n{out}"))
        .trim()
}

#[test]
fn virtiofsd_serves_an_export_and_a_guest_uses_it() {
    let n = Node::start();
    n.mkdir_p("exports/vm1");
    n.write("exports/vm1/hello.conf", b"replicated hello\n");
    ccfs(
        &n,
        &[
            "export",
            "add",
            "vm1",
            "exports/vm1",
            "--rw",
            "--quota-bytes",
            "20000",
        ],
    );
    ccfs(&n, &["export", "add", "vm1ro", "exports/vm1", "--ro"]);
    let rw = export_path(&n, "vm1");
    wait_live(&rw);
    wait_live(&export_path(&n, "vm1ro"));

    // virtiofsd on the export: starts, accepts the vhost-user socket,
    // answers the protocol and stays up while connected.
    let sock = n.work.root.join("vfs-probe.sock");
    let mut d = virtiofsd(&rw, &sock, &n.work.root.join("virtiofsd-probe.log"));
    let mut stream = UnixStream::connect(&sock).expect("connect to virtiofsd");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let features = vhost_user_features(&mut stream).expect("vhost-user GET_FEATURES");
    assert_ne!(
        features & (1 << 32),
        0,
        "VIRTIO_F_VERSION_1 offered: {features:#x}"
    );
    assert_ne!(
        features & (1 << 30),
        0,
        "protocol features offered: {features:#x}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(d.alive(), "virtiofsd stays up: {}", d.output());
    drop(stream);
    drop(d);

    // The guest.
    let (image, modules) = kernel();
    let init = INIT.replace("MODULES", &MODULES.join(" "));
    let initrd = n.work.root.join("initrd.cpio");
    fs::write(&initrd, initramfs(&init, &modules)).unwrap();
    let out = match kvm_usable().and_then(|()| boot(&n, true, &image, &initrd)) {
        Ok(out) => {
            println!("guest ran under KVM");
            out
        }
        Err(why) => {
            println!("KVM part skipped: {why}; booting the same guest under TCG");
            boot(&n, false, &image, &initrd).unwrap_or_else(|e| panic!("{e}"))
        }
    };
    for l in out.lines().filter(|l| l.starts_with("CCFS-")) {
        println!("guest: {l}");
    }
    assert!(!out.contains("CCFS-INSMOD-FAILED"), "{out}");
    assert!(!out.contains("CCFS-MOUNT-FAILED"), "{out}");
    assert_eq!(line(&out, "CCFS-READ:"), "replicated hello");
    assert_eq!(line(&out, "CCFS-READ-RO:"), "replicated hello");
    assert_eq!(line(&out, "CCFS-WRITE:"), "ok");
    assert!(
        line(&out, "CCFS-EDQUOT:").contains("Disk quota exceeded"),
        "{out}"
    );
    assert!(
        line(&out, "CCFS-EROFS:").contains("Read-only file system"),
        "{out}"
    );
    // What the guest wrote is in the tree, within the quota.
    assert_eq!(n.read("exports/vm1/guest.txt"), b"from the guest\n");
    let big = n.read("exports/vm1/big").len() as u64;
    let used = 17 + 15 + big;
    assert!(used <= 20000 && big >= 18000, "big is {big} bytes");
    assert!(!n.p("exports/vm1/new").exists());
    let log = ccfs(&n, &["log", "exports/vm1/guest.txt", "--json"]);
    assert!(log.contains("\"op\":\"write\""), "{log}");
}
