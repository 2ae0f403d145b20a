//! A backend with small real state; the backend is not what these tests test.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};

use ccfs_ipc::{Backend, ClusterLogMsg, Errno, GuestConfig};

use super::TIMEOUT;

/// (priority, ident, tag, message, pid) of a logged message.
pub type LogEntry = (u8, Vec<u8>, Vec<u8>, Vec<u8>, u32);

/// A backend with small real state (files, key table, log) and canned
/// texts for the generated documents. `block_path` makes GET_CONFIG of that
/// path wait until `release` (to catch a client mid-request).
#[derive(Default)]
pub struct Mock {
    pub files: Mutex<HashMap<String, Vec<u8>>>,
    pub dirs: Mutex<Vec<String>>,
    pub kv: Mutex<HashMap<String, Vec<u8>>>,
    pub rrd: Mutex<HashMap<String, Vec<u8>>>,
    pub log: Mutex<Vec<LogEntry>>,
    pub calls: Mutex<Vec<String>>,
    pub canned: Mutex<Vec<u8>>,
    /// vmid → (node, config dir), in VM-list order.
    pub guests: Mutex<Vec<(u32, String, &'static str)>>,
    pub block_path: Mutex<Option<String>>,
    /// (op, errno or 0) of every `request_done` report, in order.
    pub done: Mutex<Vec<(i32, i32)>>,
    gate: (Mutex<(bool, bool)>, Condvar),
}

impl Mock {
    pub fn new() -> Arc<Mock> {
        Arc::new(Mock::default())
    }

    fn call(&self, s: String) {
        self.calls.lock().unwrap().push(s);
    }

    pub fn last_call(&self) -> Option<String> {
        self.calls.lock().unwrap().last().cloned()
    }

    pub fn call_count(&self) -> usize {
        self.calls.lock().unwrap().len()
    }

    /// Waits until a GET_CONFIG of `block_path` is inside the backend.
    pub fn wait_blocked(&self) {
        let (m, cv) = &self.gate;
        let g = m.lock().unwrap();
        let (g, t) = cv.wait_timeout_while(g, TIMEOUT, |s| !s.0).unwrap();
        assert!(!t.timed_out() && g.0, "backend was never entered");
    }

    pub fn release(&self) {
        let (m, cv) = &self.gate;
        m.lock().unwrap().1 = true;
        cv.notify_all();
    }

    fn canned(&self) -> Result<Vec<u8>, Errno> {
        Ok(self.canned.lock().unwrap().clone())
    }
}

impl Backend for Mock {
    fn fs_version(&self) -> Result<Vec<u8>, Errno> {
        self.call("fs_version".into());
        self.canned()
    }
    fn cluster_info(&self) -> Result<Vec<u8>, Errno> {
        self.call("cluster_info".into());
        self.canned()
    }
    fn guest_list(&self) -> Result<Vec<u8>, Errno> {
        self.call("guest_list".into());
        self.canned()
    }
    fn set_status(&self, name: &str, data: &[u8]) -> Result<(), Errno> {
        self.call(format!("set_status {name} {}", data.len()));
        // the rules of C's cfs_status_set, enough for the vectors
        if let Some(key) = name.strip_prefix("rrd/") {
            if data.is_empty() || data.len() >= 4096 || data.last() != Some(&0) {
                return Err(Errno::ENOMEM);
            }
            self.rrd.lock().unwrap().insert(key.into(), data.into());
        } else if data.is_empty() {
            self.kv.lock().unwrap().remove(name);
        } else {
            self.kv.lock().unwrap().insert(name.into(), data.into());
        }
        Ok(())
    }
    fn get_status(&self, name: &str, node: &str) -> Result<Vec<u8>, Errno> {
        self.call(format!("get_status {name} {node}"));
        if !node.is_empty() && node != "node1" {
            return Err(Errno::ENOENT);
        }
        self.kv
            .lock()
            .unwrap()
            .get(name)
            .cloned()
            .ok_or(Errno::ENOENT)
    }
    fn get_config(&self, path: &str) -> Result<Vec<u8>, Errno> {
        self.call(format!("get_config {path}"));
        if self.block_path.lock().unwrap().as_deref() == Some(path) {
            let (m, cv) = &self.gate;
            let mut g = m.lock().unwrap();
            g.0 = true;
            cv.notify_all();
            let _ = cv.wait_timeout_while(g, TIMEOUT, |s| !s.1).unwrap();
        }
        if self.dirs.lock().unwrap().iter().any(|d| d == path) {
            return Err(Errno::ENOENT);
        }
        self.files
            .lock()
            .unwrap()
            .get(path)
            .cloned()
            .ok_or(Errno::ENOENT)
    }
    fn log_cluster_msg(&self, m: &ClusterLogMsg<'_>) -> Result<(), Errno> {
        self.call("log_cluster_msg".into());
        self.log.lock().unwrap().push((
            m.priority,
            m.ident.into(),
            m.tag.into(),
            m.message.into(),
            m.pid,
        ));
        Ok(())
    }
    fn cluster_log(&self, max_entries: u32, user: &str) -> Result<Vec<u8>, Errno> {
        self.call(format!("cluster_log {max_entries} {user}"));
        self.canned()
    }
    fn rrd_dump(&self) -> Result<Vec<u8>, Errno> {
        self.call("rrd_dump".into());
        self.canned()
    }
    fn request_done(&self, op: i32, errno: Option<Errno>, _took: std::time::Duration) {
        self.done
            .lock()
            .unwrap()
            .push((op, errno.map_or(0, |e| e.0)));
    }
    fn guest_ids(&self) -> Vec<u32> {
        self.guests.lock().unwrap().iter().map(|g| g.0).collect()
    }
    fn guest_config(&self, vmid: u32) -> GuestConfig {
        let guests = self.guests.lock().unwrap();
        let Some((_, node, dir)) = guests.iter().find(|g| g.0 == vmid) else {
            return GuestConfig::NotListed;
        };
        match self
            .files
            .lock()
            .unwrap()
            .get(&format!("nodes/{node}/{dir}/{vmid}.conf"))
        {
            Some(t) if !t.is_empty() => GuestConfig::Text(t.clone()),
            _ => GuestConfig::Unreadable,
        }
    }
}
