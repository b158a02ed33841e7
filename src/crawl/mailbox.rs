//! Where fetch tasks leave their results for the dispatcher: a queue and one waker, on one
//! thread (the whole crawl runs on one executor thread, so no lock and no `Send`).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::task::{Poll, Waker};

pub(crate) struct Mailbox<T> {
    items: RefCell<VecDeque<T>>,
    waker: RefCell<Option<Waker>>,
}

impl<T> Default for Mailbox<T> {
    fn default() -> Self {
        Mailbox {
            items: RefCell::new(VecDeque::new()),
            waker: RefCell::new(None),
        }
    }
}

impl<T> Mailbox<T> {
    pub fn push(&self, item: T) {
        self.items.borrow_mut().push_back(item);
        let waker = self.waker.borrow_mut().take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    pub fn pop(&self) -> Option<T> {
        self.items.borrow_mut().pop_front()
    }

    /// Waits until something is in the box.
    pub async fn ready(&self) {
        poll_fn(|cx| {
            if self.items.borrow().is_empty() {
                *self.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await
    }
}
