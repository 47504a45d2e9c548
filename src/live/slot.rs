//! The newest captured frame, and only that: a frame not taken before the next one
//! arrives is dropped, so a slow network shows fresh frames late-free instead of an
//! ever-growing backlog.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::picture::Planar;

pub struct Captured {
    pub image: Planar,
    /// When the frame was ready to be shown raw: the start of its latency.
    pub at: Instant,
}

#[derive(Default)]
struct State {
    frame: Option<Captured>,
    ended: bool,
    captured: u64,
    dropped: u64,
}

#[derive(Default)]
pub struct Latest {
    state: Mutex<State>,
    ready: Condvar,
}

pub enum Take {
    Frame(Captured),
    /// Nothing new within the wait.
    Empty,
    /// The source ended and every frame was taken or dropped.
    Ended,
}

impl Latest {
    /// Replaces whatever frame is waiting (counting it dropped).
    pub fn put(&self, frame: Captured) {
        let mut state = self.state.lock().expect("slot lock");
        state.captured += 1;
        if state.frame.replace(frame).is_some() {
            state.dropped += 1;
        }
        self.ready.notify_one();
    }

    pub fn end(&self) {
        self.state.lock().expect("slot lock").ended = true;
        self.ready.notify_one();
    }

    pub fn take(&self, wait: Duration) -> Take {
        let state = self.state.lock().expect("slot lock");
        let (mut state, _) = self
            .ready
            .wait_timeout_while(state, wait, |s| s.frame.is_none() && !s.ended)
            .expect("slot lock");
        match state.frame.take() {
            Some(frame) => Take::Frame(frame),
            None if state.ended => Take::Ended,
            None => Take::Empty,
        }
    }

    /// Frames captured, and of those dropped unseen.
    pub fn counts(&self) -> (u64, u64) {
        let state = self.state.lock().expect("slot lock");
        (state.captured, state.dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(v: f32) -> Captured {
        Captured {
            image: Planar {
                width: 1,
                height: 1,
                data: vec![v; 3],
            },
            at: Instant::now(),
        }
    }

    #[test]
    fn keeps_only_the_newest_frame() {
        let slot = Latest::default();
        slot.put(frame(1.0));
        slot.put(frame(2.0));
        slot.put(frame(3.0));
        match slot.take(Duration::ZERO) {
            Take::Frame(f) => assert_eq!(f.image.data[0], 3.0),
            _ => panic!("a frame was waiting"),
        }
        assert!(matches!(slot.take(Duration::from_millis(1)), Take::Empty));
        slot.end();
        assert!(matches!(slot.take(Duration::from_secs(1)), Take::Ended));
        assert_eq!(slot.counts(), (3, 2));
    }
}
