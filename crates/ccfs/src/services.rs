//! The daemon's running parts as one list: each part is added when it has
//! started, with what stopping it means, and teardown stops them in the
//! reverse order of their start. That order is the whole shutdown
//! sequence (fuse.md §1.3), written in one place: the start order in
//! `daemon::serve` is chosen so that its reverse is C's teardown.

/// One started part and how to stop it.
struct Service {
    name: &'static str,
    stop: Box<dyn FnOnce() + Send>,
}

#[derive(Default)]
pub struct Services {
    started: Vec<Service>,
}

impl Services {
    /// `name` has started; `stop` ends it (called at most once).
    pub fn started(&mut self, name: &'static str, stop: impl FnOnce() + Send + 'static) {
        tracing::debug!("started {name}");
        self.started.push(Service {
            name,
            stop: Box::new(stop),
        });
    }

    /// The names in start order.
    pub fn names(&self) -> Vec<&'static str> {
        self.started.iter().map(|s| s.name).collect()
    }

    /// Stop everything, last started first.
    pub fn stop_all(&mut self) {
        while let Some(s) = self.started.pop() {
            tracing::debug!("stopping {}", s.name);
            (s.stop)();
        }
    }
}

impl Drop for Services {
    /// A start-up that fails half-way stops what it had started.
    fn drop(&mut self) {
        self.stop_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn services_stop_in_reverse_start_order_once() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut s = Services::default();
        for name in ["database", "flusher", "cluster", "ipc"] {
            let log = log.clone();
            s.started(name, move || log.lock().unwrap().push(name));
        }
        assert_eq!(s.names(), vec!["database", "flusher", "cluster", "ipc"]);
        s.stop_all();
        s.stop_all();
        drop(s);
        assert_eq!(
            *log.lock().unwrap(),
            vec!["ipc", "cluster", "flusher", "database"]
        );
    }

    #[test]
    fn a_failed_start_up_stops_what_had_started() {
        let log = Arc::new(Mutex::new(Vec::new()));
        {
            let mut s = Services::default();
            let l = log.clone();
            s.started("database", move || l.lock().unwrap().push("database"));
            // the next start fails: `s` is dropped on the error path
        }
        assert_eq!(*log.lock().unwrap(), vec!["database"]);
    }
}
