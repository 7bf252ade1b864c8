//! The retry driver: a timer that asks every notifier actor to re-drive its
//! retry queue (every 30 s by default, as SFTPGo does).
//!
//! It only sends a message; the re-drive itself runs inside each actor,
//! sharing the actor's in-flight bound with fresh events, and an actor that
//! is still busy with the previous pass ignores the new request.

use crate::notifier::{NotifierActor, Redrive};
use actix::prelude::*;
use std::time::Duration;

/// SFTPGo's re-drive interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

pub struct RetryDriver {
    targets: Vec<Addr<NotifierActor>>,
    interval: Duration,
}

/// Re-drive every queue now.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RedriveAll;

impl RetryDriver {
    pub fn new(targets: Vec<Addr<NotifierActor>>, interval: Duration) -> Self {
        RetryDriver { targets, interval }
    }

    fn tick(&self) {
        for target in &self.targets {
            // A full mailbox means the actor is busy; the next tick comes soon.
            let _ = target.try_send(Redrive);
        }
    }
}

impl Actor for RetryDriver {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // First pass at once: a restarted host delivers what it left behind.
        self.tick();
        ctx.run_interval(self.interval, |driver, _| driver.tick());
    }
}

impl Handler<RedriveAll> for RetryDriver {
    type Result = ();

    fn handle(&mut self, _: RedriveAll, _: &mut Context<Self>) {
        self.tick();
    }
}
