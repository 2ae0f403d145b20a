//! One-line descriptions of events and actions for `CCFS_SIM_TRACE=1`.

use ccfs_dfsm::{Action, DcdbAction, Event};

pub fn describe(e: &Event) -> String {
    match e {
        Event::Deliver { sender, bytes } => match ccfs_proto::Message::decode(bytes) {
            Ok(ccfs_proto::Message::Normal { base, count, .. }) => {
                format!(
                    "deliver n{}/{} normal {} #{count}",
                    sender.nodeid, sender.pid, base.subtype
                )
            }
            Ok(ccfs_proto::Message::State { base, epoch, .. }) => format!(
                "deliver n{}/{} state {} e{}/{}",
                sender.nodeid, sender.pid, base.msg_type, epoch.epoch, epoch.nodeid
            ),
            Err(_) => "deliver ?".into(),
        },
        Event::Membership {
            members, joined, ..
        } => format!(
            "membership {:?} joined {:?}",
            members
                .iter()
                .map(|m| (m.nodeid, m.pid))
                .collect::<Vec<_>>(),
            joined.iter().map(|m| (m.nodeid, m.pid)).collect::<Vec<_>>()
        ),
        other => format!("{other:?}"),
    }
}

pub fn describe_action(a: &Action<DcdbAction>) -> String {
    match a {
        Action::Multicast { bytes, purpose } => match ccfs_proto::Message::decode(bytes) {
            Ok(m) => format!(
                "mcast t{}/{} {purpose:?}",
                m.base().msg_type,
                m.base().subtype
            ),
            Err(_) => "mcast ?".into(),
        },
        Action::App(DcdbAction::Persist(_)) => "persist".into(),
        Action::App(DcdbAction::Resynced { .. }) => "resynced".into(),
        other => format!("{other:?}"),
    }
}
