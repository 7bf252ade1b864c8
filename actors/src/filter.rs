//! Notifier filters, compiled into a routing table.
//!
//! SFTPGo sends an fs event to a notifier when its action is in `fs_events`,
//! a provider event when its action is in `provider_events` *and* its object
//! type in `provider_objects`, and a log event when its id is in
//! `log_events`. The table answers "which plugins?" with one or two hash
//! lookups and no allocation per event. Changing filters means building a new
//! table and swapping it in whole.

use crate::event::Event;
use std::collections::HashMap;

/// One notifier's filter, as configured in `notifier_options`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifierFilter {
    pub fs_events: Vec<String>,
    pub provider_events: Vec<String>,
    pub provider_objects: Vec<String>,
    pub log_events: Vec<i32>,
}

/// Plugins are numbered by their position in the router's target list.
pub type TargetIndex = usize;

/// Event -> the targets whose filter matches it.
#[derive(Debug, Clone, Default)]
pub struct RoutingTable {
    fs: HashMap<String, Vec<TargetIndex>>,
    /// action -> object type -> targets
    provider: HashMap<String, HashMap<String, Vec<TargetIndex>>>,
    log: HashMap<i32, Vec<TargetIndex>>,
}

fn add(list: &mut Vec<TargetIndex>, target: TargetIndex) {
    if !list.contains(&target) {
        list.push(target);
    }
}

impl RoutingTable {
    /// Compiles the filters; the n-th filter belongs to target n.
    pub fn compile<'a>(filters: impl IntoIterator<Item = &'a NotifierFilter>) -> RoutingTable {
        let mut table = RoutingTable::default();
        for (target, filter) in filters.into_iter().enumerate() {
            for action in &filter.fs_events {
                add(table.fs.entry(action.clone()).or_default(), target);
            }
            for action in &filter.provider_events {
                let objects = table.provider.entry(action.clone()).or_default();
                for object in &filter.provider_objects {
                    add(objects.entry(object.clone()).or_default(), target);
                }
            }
            for id in &filter.log_events {
                add(table.log.entry(*id).or_default(), target);
            }
        }
        table
    }

    /// The targets for an event, in target order.
    pub fn targets(&self, event: &Event) -> &[TargetIndex] {
        let found = match event {
            Event::Fs(e) => self.fs.get(&e.action),
            Event::Provider(e) => self
                .provider
                .get(&e.action)
                .and_then(|objects| objects.get(&e.object_type)),
            Event::Log(e) => self.log.get(&e.event),
        };
        found.map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plexus_proto::sftpgo::{FsEvent, LogEvent, ProviderEvent};

    fn fs(action: &str) -> Event {
        Event::Fs(FsEvent {
            action: action.into(),
            ..Default::default()
        })
    }

    fn provider(action: &str, object: &str) -> Event {
        Event::Provider(ProviderEvent {
            action: action.into(),
            object_type: object.into(),
            ..Default::default()
        })
    }

    fn log(id: i32) -> Event {
        Event::Log(LogEvent {
            event: id,
            ..Default::default()
        })
    }

    #[test]
    fn provider_needs_both_action_and_object() {
        let table = RoutingTable::compile(&[NotifierFilter {
            provider_events: vec!["add".into()],
            provider_objects: vec!["user".into()],
            ..Default::default()
        }]);
        assert_eq!(table.targets(&provider("add", "user")), &[0]);
        assert!(table.targets(&provider("add", "folder")).is_empty());
        assert!(table.targets(&provider("delete", "user")).is_empty());
    }

    #[test]
    fn provider_events_without_objects_match_nothing() {
        let table = RoutingTable::compile(&[NotifierFilter {
            provider_events: vec!["add".into()],
            ..Default::default()
        }]);
        assert!(table.targets(&provider("add", "user")).is_empty());
    }

    #[test]
    fn duplicates_in_a_filter_deliver_once_and_order_is_by_target() {
        let table = RoutingTable::compile(&[
            NotifierFilter {
                log_events: vec![1, 1],
                ..Default::default()
            },
            NotifierFilter {
                log_events: vec![1],
                fs_events: vec!["upload".into()],
                ..Default::default()
            },
        ]);
        assert_eq!(table.targets(&log(1)), &[0, 1]);
        assert_eq!(table.targets(&fs("upload")), &[1]);
        assert!(table.targets(&fs("download")).is_empty());
        assert!(table.targets(&log(2)).is_empty());
    }
}
