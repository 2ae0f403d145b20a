//! The files a package ships beside the binary, made from the command
//! line definition: the man page ccfs(8) and the shell completions
//! (`ccfs --generate-man`, `ccfs --generate-completion SHELL`, run by
//! scripts/build-deb.sh).

use clap::{CommandFactory, Parser};

use super::Cli;

/// `ccfs --generate-man` / `ccfs --generate-completion SHELL`: the files
/// of the package, built from [`Cli`]. A parser of its own, so that these
/// never show up in the help, the man page or the completions.
#[derive(Debug, Parser)]
#[command(name = "ccfs")]
pub enum Generate {
    /// Print the man page ccfs(8) (roff)
    #[command(long_flag = "generate-man")]
    Man,
    /// Print the completion script for SHELL
    #[command(long_flag = "generate-completion")]
    Completion { shell: clap_complete::Shell },
}

impl Generate {
    /// Whether the first argument asks for a packaging file.
    pub fn wanted(args: &[std::ffi::OsString]) -> bool {
        args.get(1)
            .and_then(|a| a.to_str())
            .is_some_and(|a| a.starts_with("--generate-"))
    }
}

/// What the man page says beyond the options: (title, paragraphs).
const MAN_SECTIONS: &[(&str, &[&str])] = &[
    (
        "LOGGING",
        &[
            "In the foreground (-f) log lines go to stderr, or straight to the journal \
             when stderr is journald's stream (a unit running ccfs -f).",
            "A detached daemon sends them to journald's native socket \
             /run/systemd/journal/socket when systemd started it (INVOCATION_ID, \
             JOURNAL_STREAM or NOTIFY_SOCKET set), otherwise to syslog at /dev/log \
             (facility daemon, identifier ccfs). Each falls back to the other and then \
             to the --log-file, line by line. When neither socket answers at start-up, \
             ccfs says so on stderr before it detaches.",
            "Read them with journalctl -t ccfs (or -u ccfs), or in /var/log/syslog.",
        ],
    ),
    (
        "FILES",
        &[
            "/etc/pve: the mount point. /var/lib/pve-cluster/config.db: the database. \
             /var/lib/pve-cluster/.pmxcfs.lockfile: the instance lock. \
             /run/pve-cluster: the run directory. /var/run/pve-cluster.pid: the pid file. \
             /etc/corosync/corosync.conf: imported into a new database outside local mode.",
            "/etc/default/ccfs: DAEMON_OPTS, extra options for the systemd unit ccfs.service.",
        ],
    ),
    (
        "SIGNALS",
        &[
            "SIGTERM, SIGINT and SIGHUP unmount the file system, commit what was \
           written and end the daemon.",
        ],
    ),
    ("SEE ALSO", &["pmxcfs(8), journalctl(1), corosync(8)"]),
];

/// The man page ccfs(8), rendered from the definition above.
pub fn man_page(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    use clap_mangen::roff::{roman, Roff};
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .section("8")
        .manual("System Administration")
        .render(&mut page)?;
    let page = String::from_utf8_lossy(&page);
    let mut extra = Roff::new();
    for (title, paragraphs) in MAN_SECTIONS {
        extra.control("SH", [*title]);
        for (i, p) in paragraphs.iter().enumerate() {
            if i > 0 {
                extra.control("PP", []);
            }
            extra.text([roman(*p)]);
        }
    }
    // Both renderings start with the same two-line preamble (the
    // apostrophe string); the sections go in before VERSION.
    let extra = extra.render();
    let extra = extra.splitn(3, '\n').nth(2).unwrap_or("");
    let at = page.find(".SH VERSION").unwrap_or(page.len());
    out.write_all(page[..at].as_bytes())?;
    out.write_all(extra.as_bytes())?;
    out.write_all(page[at..].as_bytes())
}

/// The completion script of `shell`.
pub fn completion(shell: clap_complete::Shell, out: &mut dyn std::io::Write) {
    clap_complete::generate(shell, &mut Cli::command(), "ccfs", out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packaging_requests_parse_apart() {
        let args = |v: &[&str]| {
            v.iter()
                .map(|s| s.into())
                .collect::<Vec<std::ffi::OsString>>()
        };
        assert!(Generate::wanted(&args(&["ccfs", "--generate-man"])));
        assert!(!Generate::wanted(&args(&["ccfs", "-f", "--generate-man"])));
        assert!(!Generate::wanted(&args(&["ccfs"])));
        assert!(matches!(
            Generate::try_parse_from(["ccfs", "--generate-man"]),
            Ok(Generate::Man)
        ));
        assert!(matches!(
            Generate::try_parse_from(["ccfs", "--generate-completion", "zsh"]),
            Ok(Generate::Completion {
                shell: clap_complete::Shell::Zsh
            })
        ));
        assert!(Generate::try_parse_from(["ccfs", "--generate-completion", "tcsh"]).is_err());
        // and the daemon's parser does not know them
        assert!(matches!(
            Cli::try_parse_from(["ccfs", "--generate-man"]),
            Err(e) if e.kind() == clap::error::ErrorKind::UnknownArgument
        ));
    }

    #[test]
    fn man_page_and_completions_name_every_option() {
        let mut man = Vec::new();
        man_page(&mut man).unwrap();
        let man = String::from_utf8(man).unwrap();
        assert!(man.contains(".TH ccfs 8 "), "section 8:\n{man}");
        for section in ["NAME", "SYNOPSIS", "OPTIONS", "LOGGING", "FILES"] {
            assert!(
                man.contains(&format!(".SH {section}\n")),
                "{section}:\n{man}"
            );
        }
        assert!(!man.contains("generate"), "packaging options stay out");
        for shell in [clap_complete::Shell::Bash, clap_complete::Shell::Zsh] {
            let mut out = Vec::new();
            completion(shell, &mut out);
            let out = String::from_utf8(out).unwrap();
            for long in ["--foreground", "--mount", "--sqlite", "--max-fs-bytes"] {
                // roff escapes '-' as '\-'
                assert!(man.contains(&long.replace('-', "\\-")), "man: {long}");
                assert!(out.contains(long), "{shell}: {long}");
            }
            assert!(
                !out.contains("generate"),
                "{shell} offers a packaging option"
            );
        }
    }
}
