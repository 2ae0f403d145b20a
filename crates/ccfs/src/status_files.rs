//! The function files rendered by the status layer (plugins.md §2) from
//! memdb data (VM list, change counters) and its own state.
//!
//! Lock order: the caller holds the tree lock, this takes the status lock.
//! Anyone holding both must take them in this order.

use std::sync::{Arc, Mutex};

use ccfs_memdb::Memdb;
use ccfs_status::{Status, DEFAULT_LOG_ENTRIES};

use crate::node::unix_now;
use crate::plugins::Plugin;
use crate::render::Renderer;

pub struct StatusFiles {
    status: Arc<Mutex<Status>>,
}

impl StatusFiles {
    pub fn new(status: Arc<Mutex<Status>>) -> StatusFiles {
        StatusFiles { status }
    }
}

impl Renderer for StatusFiles {
    fn render(&self, file: Plugin, db: &Memdb) -> Vec<u8> {
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        let vms = db.vmlist();
        match file {
            Plugin::Version => status
                .version_text(vms.version(), db.counters().iter())
                .into_bytes(),
            Plugin::Members => status.members_text().into_bytes(),
            Plugin::Vmlist => Status::vmlist_text(
                vms.version(),
                vms.iter()
                    .map(|(id, e)| (id, e.node.as_str(), e.kind.as_str(), e.version)),
            )
            .into_bytes(),
            Plugin::Rrd => {
                // The file view never shows the NUL of a fresh dump.
                let mut text = status.rrd_dump(unix_now());
                if text.last() == Some(&0) {
                    text.pop();
                }
                text
            }
            Plugin::Clusterlog => status.clusterlog_text(DEFAULT_LOG_ENTRIES, None),
            Plugin::Debug | Plugin::Local | Plugin::QemuServer | Plugin::Lxc | Plugin::Openvz => {
                Vec::new()
            }
        }
    }
}
