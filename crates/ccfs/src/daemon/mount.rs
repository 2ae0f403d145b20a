//! Steps 10–12: the FUSE mount, its request loop and the wait for the end
//! (a shutdown signal, or the loop ending because the mount went away).

use super::*;

/// Clear a dead mount left by a crashed daemon, mount, and start the
/// kernel cache invalidation (a subscriber of the change stream).
pub(super) fn mount(
    opts: &Options,
    node: &Arc<Node>,
    fs: CcfsFs,
) -> Result<fuser::Session<CcfsFs>, DaemonError> {
    process::clear_dead_mount(&opts.mount);
    let _ = std::fs::create_dir(&opts.mount);
    let session =
        fuser::Session::new(fs, &opts.mount, &mount_config(FUSE_THREADS)).map_err(|source| {
            DaemonError::Mount {
                path: display(&opts.mount),
                source,
            }
        })?;
    let rx = node.stream().subscribe_lossless(Interest::Caches);
    spawn_invalidator(session.notifier(), Arc::downgrade(node), rx).map_err(DaemonError::Thread)?;
    Ok(session)
}

/// Run the request loop until a shutdown signal or its own end; report
/// readiness (and detach) once it runs. Returns the loop's result.
pub(super) fn serve_until_stop(
    mut session: fuser::Session<CcfsFs>,
    signals: ShutdownSignals,
    opts: &Options,
    readiness: Option<Readiness>,
    healing: Option<&crate::heal::Healing>,
) -> Result<std::io::Result<()>, DaemonError> {
    let (stop_tx, stop_rx) = mpsc::channel();
    signals::spawn_waiter(signals, stop_tx.clone()).map_err(DaemonError::Thread)?;
    let mut unmounter = session.unmount_callable();
    // The request loop runs in its own thread so that a busy mount (a
    // shell sitting in it, an editor holding a file) cannot keep the daemon
    // from stopping.
    let looper = std::thread::Builder::new()
        .name("ccfs-fuse".into())
        .spawn(move || {
            let _ = stop_tx.send(Stop::LoopEnded(session.run()));
        })
        .map_err(DaemonError::Thread)?;
    if opts.foreground {
        process::write_pid_file(&opts.pid_file, std::process::id())?;
    }
    tracing::info!("ccfs mounted at {}", opts.mount.display());
    // A healing node is up only once it holds the cluster's tree.
    let mut early = None;
    if let Some(h) = healing {
        let waited = super::heal::wait_healed(opts, h, || {
            if early.is_none() {
                early = stop_rx.try_recv().ok();
            }
            early.is_some()
        });
        if waited.is_err() || early.is_some() {
            if !matches!(early, Some(Stop::LoopEnded(_)))
                && signals::unmount(&mut unmounter, &opts.mount)
            {
                let _ = looper.join();
            }
            waited?;
            return Ok(match early {
                Some(Stop::LoopEnded(r)) => r,
                _ => Ok(()),
            });
        }
    }
    if let Some(r) = readiness {
        // Leave stderr before the parent exits: the line saying where the
        // logs go from now on (or that nothing is reachable) must reach
        // whoever started the daemon.
        logging::leave_stderr();
        r.signal();
        process::detach_stdio();
    }
    Ok(match stop_rx.recv() {
        Ok(Stop::Signal(sig)) => {
            tracing::info!("received signal {sig}, shutting down");
            if signals::unmount(&mut unmounter, &opts.mount) {
                let _ = looper.join();
            }
            Ok(())
        }
        Ok(Stop::LoopEnded(r)) => r,
        Err(_) => Ok(()),
    })
}
