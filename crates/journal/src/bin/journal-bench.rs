//! journal-bench: measures the journal on real files and prints one JSON
//! object. Runs for a few seconds (build with --release).
//!
//! usage: journal-bench [DIR]   (default: a fresh directory under $TMPDIR,
//! removed afterwards)

use ccfs_journal::{Change, EntryKind, Journal, JournalError, OpKind, Options, Origin};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

fn main() {
    if let Err(e) = run() {
        eprintln!("journal-bench: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), JournalError> {
    let args: Vec<_> = std::env::args_os().collect();
    if args.len() == 3 && args[1] == "--open-rss" {
        // The child of the memory measurement: open, print the growth.
        let before = rss_bytes();
        let (j, _) = Journal::open(Path::new(&args[2]), Options::default())?;
        println!("{}", rss_bytes().saturating_sub(before));
        drop(j);
        return Ok(());
    }
    let base = match std::env::args_os().nth(1) {
        Some(d) => PathBuf::from(d),
        None => std::env::temp_dir().join(format!("ccfs-journal-bench-{}", std::process::id())),
    };
    let result = measure(&base);
    let _ = std::fs::remove_dir_all(&base);
    let fields = result?;
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("  \"{k}\": {v}"))
        .collect();
    println!("{{\n{}\n}}", body.join(",\n"));
    Ok(())
}

/// A config of about `size` bytes; `rev` changes one line of it.
fn config(id: u32, rev: u64, size: usize) -> Vec<u8> {
    let mut s = format!("name: vm{id}\nmemory: {}\ncores: 4\n", 1024 + rev * 8);
    let mut i = 0;
    while s.len() < size {
        s.push_str(&format!(
            "net{i}: virtio=BC:24:11:{:02X}:{:02X}:{:02X},bridge=vmbr{},firewall=1\n",
            id % 256,
            i % 256,
            (id / 256) % 256,
            i % 4
        ));
        i += 1;
    }
    s.truncate(size);
    s.into_bytes()
}

fn change(
    version: u64,
    op: OpKind,
    path: &str,
    to: Option<&str>,
    content: Option<&[u8]>,
) -> Change {
    Change {
        version,
        time: 1_700_000_000 + (version / 100) as u32,
        writer: 1,
        node: "n1".into(),
        op,
        kind: EntryKind::File,
        path: path.into(),
        to: to.map(str::to_string),
        content: content.map(Arc::from),
        origin: Origin::Local,
    }
}

fn fresh(dir: &Path) -> Result<Journal, JournalError> {
    let _ = std::fs::remove_dir_all(dir);
    Ok(Journal::open(dir, Options::default())?.0)
}

/// Resident set size of this process (0 if /proc is not there).
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Median of `runs` timings of `f`, in microseconds.
fn median_us(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[runs / 2]
}

fn measure(base: &Path) -> Result<Vec<(&'static str, String)>, JournalError> {
    let mut out = Vec::new();

    // 1. Append rate: 4 KiB configs, 200 files, one change per append.
    let mut j = fresh(&base.join("rate"))?;
    let n = 20_000u64;
    let contents: Vec<Vec<u8>> = (0..n).map(|v| config((v % 200) as u32, v, 4096)).collect();
    let start = Instant::now();
    for v in 0..n {
        let path = format!("nodes/n1/qemu-server/{}.conf", v % 200);
        let op = if v < 200 {
            OpKind::Create
        } else {
            OpKind::Write
        };
        j.append(&[change(v + 1, op, &path, None, Some(&contents[v as usize]))])?;
    }
    let secs = start.elapsed().as_secs_f64();
    out.push(("append_4k_changes_per_s", format!("{:.0}", n as f64 / secs)));
    out.push((
        "append_4k_mib_per_s",
        format!("{:.1}", n as f64 * 4096.0 / secs / 1048576.0),
    ));
    out.push((
        "append_4k_disk_bytes_per_change",
        format!("{:.1}", j.bytes_on_disk() as f64 / n as f64),
    ));
    drop(j);

    // 2. Bytes on disk per overwrite of a ~2 KiB VM config.
    let p = "nodes/n1/qemu-server/100.conf";
    let mut j = fresh(&base.join("overwrite"))?;
    j.append(&[change(
        1,
        OpKind::Create,
        p,
        None,
        Some(&config(100, 0, 2048)),
    )])?;
    let before = j.bytes_on_disk();
    for v in 2..=1001 {
        j.append(&[change(
            v,
            OpKind::Write,
            p,
            None,
            Some(&config(100, v, 2048)),
        )])?;
    }
    let per = (j.bytes_on_disk() - before) as f64 / 1000.0;
    out.push(("overwrite_2k_write_bytes_per_record", format!("{per:.1}")));
    drop(j);
    // The same the way Proxmox writes it: create tmp, write, rename over.
    let mut j = fresh(&base.join("overwrite-tmp"))?;
    j.append(&[change(
        1,
        OpKind::Create,
        p,
        None,
        Some(&config(100, 0, 2048)),
    )])?;
    let before = j.bytes_on_disk();
    let mut v = 2;
    for rev in 1..=1000u64 {
        let tmp = format!("{p}.tmp.{}", 10_000 + rev);
        let c = config(100, rev, 2048);
        j.append(&[
            change(v, OpKind::Create, &tmp, None, Some(b"")),
            change(v + 1, OpKind::Write, &tmp, None, Some(&c)),
            change(v + 2, OpKind::Rename, &tmp, Some(p), Some(&c)),
        ])?;
        v += 3;
    }
    let per = (j.bytes_on_disk() - before) as f64 / 1000.0;
    out.push((
        "overwrite_2k_tmp_rename_bytes_per_overwrite",
        format!("{per:.1}"),
    ));
    out.push((
        "overwrite_2k_tmp_rename_bytes_per_record",
        format!("{:.1}", per / 3.0),
    ));
    drop(j);

    // 3. Queries on 100,000 records over 1,000 files in 10 directories.
    let dir = base.join("big");
    let mut j = fresh(&dir)?;
    let files = 1000u64;
    let mut batch = Vec::with_capacity(100);
    // Only the appends are timed, not making the contents.
    let mut appending = std::time::Duration::ZERO;
    for v in 0..100_000u64 {
        let f = v % files;
        let path = format!("nodes/n{}/qemu-server/{f}.conf", f % 10);
        let op = if v < files {
            OpKind::Create
        } else {
            OpKind::Write
        };
        batch.push(change(
            v + 1,
            op,
            &path,
            None,
            Some(&config(f as u32, v, 2048)),
        ));
        if batch.len() == 100 {
            let start = Instant::now();
            j.append(&batch)?;
            appending += start.elapsed();
            batch.clear();
        }
    }
    let build = appending.as_secs_f64();
    out.push(("records", j.len().to_string()));
    out.push((
        "append_2k_batched_100_changes_per_s",
        format!("{:.0}", 100_000.0 / build),
    ));
    out.push(("bytes_on_disk_100k", j.bytes_on_disk().to_string()));
    let file = "nodes/n7/qemu-server/517.conf";
    let mut sink = 0usize;
    out.push((
        "log_file_50_us",
        format!(
            "{:.1}",
            median_us(21, || sink += j.log(Some(file), 50, None).len())
        ),
    ));
    out.push((
        "log_file_50_paged_us",
        format!(
            "{:.1}",
            median_us(21, || sink += j.log(Some(file), 50, Some(50_000)).len())
        ),
    ));
    out.push((
        "log_dir_50_us",
        format!(
            "{:.1}",
            median_us(21, || sink += j.log(Some("nodes/n3"), 50, None).len())
        ),
    ));
    out.push((
        "log_all_50_us",
        format!(
            "{:.1}",
            median_us(21, || sink += j.log(None, 50, None).len())
        ),
    ));
    out.push((
        "content_at_us",
        format!(
            "{:.1}",
            median_us(21, || sink += j
                .content_at(file, 60_000)
                .map_or(0, |c| c.map_or(0, |c| c.len())))
        ),
    ));
    let mut entries = 0;
    let tree_us = median_us(5, || entries = j.tree_at(100_000).map_or(0, |t| t.len()));
    out.push(("tree_at_files", entries.to_string()));
    out.push(("tree_at_1000_files_ms", format!("{:.2}", tree_us / 1000.0)));
    drop(j);
    // Memory of an opened journal, measured in a fresh process (here the
    // allocator would hand back what the journal before it freed).
    let child = std::env::current_exe().and_then(|exe| {
        std::process::Command::new(exe)
            .arg("--open-rss")
            .arg(&dir)
            .output()
    });
    if let Some(o) = child.ok().filter(|o| o.status.success()) {
        let grown: f64 = String::from_utf8_lossy(&o.stdout)
            .trim()
            .parse()
            .unwrap_or(0.0);
        out.push((
            "open_100k_rss_bytes_per_record",
            format!("{:.1}", grown / 1e5),
        ));
    }
    let start = Instant::now();
    let (j, _) = Journal::open(&dir, Options::default())?;
    out.push((
        "open_100k_ms",
        format!("{:.1}", start.elapsed().as_secs_f64() * 1000.0),
    ));
    let mut j = j;
    let now = 1_700_000_000 + 2000;
    let start = Instant::now();
    j.retain(now)?;
    out.push((
        "retain_nothing_to_drop_100k_ms",
        format!("{:.1}", start.elapsed().as_secs_f64() * 1000.0),
    ));
    let half = j.bytes_on_disk() / 2;
    j.set_options(Options {
        max_bytes: half,
        ..Options::default()
    });
    let start = Instant::now();
    let report = j.retain(now)?;
    out.push((
        "retain_half_100k_ms",
        format!("{:.1}", start.elapsed().as_secs_f64() * 1000.0),
    ));
    out.push((
        "retain_half_dropped_records",
        report.dropped_records.to_string(),
    ));
    out.push(("retain_half_bytes_after", report.bytes_after.to_string()));
    std::hint::black_box(sink);
    Ok(out)
}
