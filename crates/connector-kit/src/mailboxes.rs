//! The command consumer's queues per user (a mailbox, a Zoho user): deliveries of one user are
//! served in arrival order by one server at a time, the users by up to `limit` servers at once,
//! so a user whose writes wait (throttled, sleeping through `Retry-After`) holds back only
//! their own commands.
//!
//! Only the consumer's dispatch loop touches [`Mailboxes`]; a server reads its user's
//! [`Queue`] and ends when it finds it empty. Because the loop both fills the queues and hears of
//! each server's end, a server is started again for a user whose commands arrived while its
//! last server was ending: a user never has two servers, and nothing is left unserved.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use sync_model::UserId;
use tokio::sync::Notify;

/// One user's waiting deliveries, oldest first.
pub(crate) struct Queue<T> {
    items: Mutex<VecDeque<T>>,
    arrived: Notify,
}

impl<T> Queue<T> {
    fn new() -> Self {
        Queue {
            items: Mutex::new(VecDeque::new()),
            arrived: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<T>> {
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn push(&self, item: T) {
        self.lock().push_back(item);
        self.arrived.notify_one();
    }

    /// The oldest `max` items.
    pub(crate) fn take(&self, max: usize) -> Vec<T> {
        let mut items = self.lock();
        let n = items.len().min(max);
        items.drain(..n).collect()
    }

    /// Up to `max` of the waiting items that `pick` takes, oldest first; the others keep their
    /// place and order. `pick` sees the items in order up to the first it answers
    /// [`Pick::Stop`] for (that one and everything after it stay).
    pub(crate) fn take_where(&self, max: usize, mut pick: impl FnMut(&T) -> Pick) -> Vec<T> {
        let mut items = self.lock();
        let mut taken = Vec::new();
        let mut kept = VecDeque::with_capacity(items.len());
        while taken.len() < max {
            let Some(item) = items.pop_front() else { break };
            match pick(&item) {
                Pick::Take => taken.push(item),
                Pick::Skip => kept.push_back(item),
                Pick::Stop => {
                    kept.push_back(item);
                    break;
                }
            }
        }
        kept.extend(items.drain(..));
        *items = kept;
        taken
    }

    /// Puts `items` (in their order) back before everything waiting: they are older.
    pub(crate) fn put_back(&self, items: Vec<T>) {
        let mut queue = self.lock();
        for item in items.into_iter().rev() {
            queue.push_front(item);
        }
    }

    /// Resolves once something arrives after this call began waiting (or a wake-up was stored).
    pub(crate) async fn arrival(&self) {
        self.arrived.notified().await
    }
}

/// What [`Queue::take_where`] does with a waiting item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pick {
    Take,
    /// Leave it in its place and look further.
    Skip,
    /// Leave it and everything after it.
    Stop,
}

/// Every user's queue, who is served and who waits for a free server.
pub(crate) struct Mailboxes<T> {
    queues: HashMap<UserId, Arc<Queue<T>>>,
    serving: usize,
    /// Users with waiting items and no server, in the order they asked for one.
    waiting: VecDeque<UserId>,
    limit: usize,
}

impl<T> Mailboxes<T> {
    pub(crate) fn new(limit: usize) -> Self {
        Mailboxes {
            queues: HashMap::new(),
            serving: 0,
            waiting: VecDeque::new(),
            limit: limit.max(1),
        }
    }

    /// Users served right now.
    #[cfg(test)]
    fn serving(&self) -> usize {
        self.serving
    }

    /// Queues `item` for `user`. Returns the user's queue when a server is to start for it now
    /// (the user had none and one is free).
    pub(crate) fn push(&mut self, user: UserId, item: T) -> Option<Arc<Queue<T>>> {
        if let Some(queue) = self.queues.get(&user) {
            // Served or waiting already: the server takes it in its turn.
            queue.push(item);
            return None;
        }
        let queue = Arc::new(Queue::new());
        queue.push(item);
        self.queues.insert(user, queue.clone());
        if self.serving < self.limit {
            self.serving += 1;
            Some(queue)
        } else {
            self.waiting.push_back(user);
            None
        }
    }

    /// The server of `user` ended (it found the queue empty). Returns whom to serve next: the
    /// same user when items arrived meanwhile (they go to the back of the line if others wait),
    /// otherwise the user waiting longest.
    pub(crate) fn ended(&mut self, user: UserId) -> Option<(UserId, Arc<Queue<T>>)> {
        self.serving = self.serving.saturating_sub(1);
        match self.queues.get(&user) {
            Some(queue) if queue.len() > 0 => self.waiting.push_back(user),
            _ => {
                self.queues.remove(&user);
            }
        }
        let next = self.waiting.pop_front()?;
        let queue = self.queues.get(&next)?.clone();
        self.serving += 1;
        Some((next, queue))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(n: u128) -> UserId {
        UserId(uuid::Uuid::from_u128(n))
    }

    #[test]
    fn one_server_per_user_and_at_most_the_limit() {
        let mut boxes = Mailboxes::new(2);
        let a = boxes.push(user(1), "a1").expect("a is served");
        assert!(boxes.push(user(1), "a2").is_none(), "a has its server");
        assert!(boxes.push(user(2), "b1").is_some(), "b is served");
        assert!(boxes.push(user(3), "c1").is_none(), "no free server for c");
        assert_eq!(boxes.serving(), 2);
        assert_eq!(a.take(10), vec!["a1", "a2"]);
        // a's server ends with its queue empty: c, waiting, is next.
        let (next, c) = boxes.ended(user(1)).expect("c is next");
        assert_eq!(next, user(3));
        assert_eq!(c.take(10), vec!["c1"]);
        assert_eq!(boxes.serving(), 2);
        // a again: a fresh queue, waiting for a server.
        assert!(boxes.push(user(1), "a3").is_none());
        let (next, a) = boxes.ended(user(3)).expect("a is next");
        assert_eq!(next, user(1));
        assert_eq!(a.take(10), vec!["a3"]);
    }

    #[test]
    fn a_user_whose_items_arrived_while_its_server_ended_is_served_again() {
        let mut boxes = Mailboxes::new(1);
        let a = boxes.push(user(1), 1).unwrap();
        assert_eq!(a.take(10), vec![1]);
        // The server found the queue empty and is ending; item 2 arrives before the loop hears.
        assert!(boxes.push(user(1), 2).is_none());
        let (next, again) = boxes.ended(user(1)).expect("served again");
        assert_eq!(next, user(1));
        assert_eq!(again.take(10), vec![2]);
        assert_eq!(boxes.serving(), 1);
        assert!(boxes.ended(user(1)).is_none());
        assert_eq!(boxes.serving(), 0);
    }

    #[test]
    fn take_where_skips_in_place_and_stops_where_told() {
        let mut boxes = Mailboxes::new(1);
        let q = boxes.push(user(1), 1).unwrap();
        for n in 2..=7 {
            boxes.push(user(1), n);
        }
        // Odd ones are taken, even ones skipped, and nothing from 6 on is looked at.
        let picked = q.take_where(10, |n| match n {
            6 => Pick::Stop,
            n if n % 2 == 1 => Pick::Take,
            _ => Pick::Skip,
        });
        assert_eq!(picked, vec![1, 3, 5]);
        assert_eq!(q.take_where(1, |_| Pick::Take), vec![2], "at most max");
        assert_eq!(q.take(10), vec![4, 6, 7], "the rest kept their order");
    }

    #[test]
    fn items_put_back_go_before_the_newer_ones_in_their_order() {
        let mut boxes = Mailboxes::new(1);
        let q = boxes.push(user(1), 1).unwrap();
        boxes.push(user(1), 2);
        boxes.push(user(1), 3);
        let first = q.take(2);
        boxes.push(user(1), 4);
        q.put_back(first);
        assert_eq!(q.take(10), vec![1, 2, 3, 4]);
    }
}
