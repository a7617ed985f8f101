//! A sender's view of its own posts: which were acknowledged, which came
//! back to it, and which have left its window.
//!
//! A post leaves the window (frees a permit) once it is *settled*: acked if
//! the transport acks, and back at the sender if the transport is paced by
//! echo (MQTT). A refused post leaves at once; posts that never settle are
//! given up after a silence, so one lost message cannot stall a sender.

use crate::stats::bitset::BitSet;

/// The sender-side state of one client's posts.
#[derive(Debug, Clone)]
pub struct OwnPosts {
    acks: bool,
    echo: bool,
    /// Posts acknowledged.
    pub acked: BitSet,
    echoed: BitSet,
    released: BitSet,
    refused: u64,
}

impl OwnPosts {
    /// `messages` posts; `acks`: the transport acknowledges posts;
    /// `echo`: a post stays in the window until it came back.
    pub fn new(messages: u64, acks: bool, echo: bool) -> Self {
        Self {
            acks,
            echo,
            acked: BitSet::new(messages),
            echoed: BitSet::new(messages),
            released: BitSet::new(messages),
            refused: 0,
        }
    }

    /// Records the ack of post `n`. Returns (first ack, leaves the window now).
    pub fn ack(&mut self, n: u64) -> (bool, bool) {
        if !self.acked.insert(n) {
            return (false, false);
        }
        let settled = !self.echo || self.echoed.contains(n);
        (true, settled && self.released.insert(n))
    }

    /// Records that post `n` came back; returns whether it leaves the window now.
    pub fn echo(&mut self, n: u64) -> bool {
        if !self.echoed.insert(n) {
            return false;
        }
        let settled = !self.acks || self.acked.contains(n);
        self.echo && settled && self.released.insert(n)
    }

    /// Records that post `n` was refused; returns whether it leaves the window now.
    pub fn refuse(&mut self, n: u64) -> bool {
        if self.acked.contains(n) {
            return false;
        }
        self.refused += 1;
        self.released.insert(n)
    }

    /// Gives up waiting on every post below `sent` still in the window;
    /// returns how many left it.
    pub fn give_up(&mut self, sent: u64) -> u64 {
        (0..sent).filter(|&n| self.released.insert(n)).count() as u64
    }

    /// Posts still in the window out of the first `sent`.
    pub fn outstanding(&self, sent: u64) -> u64 {
        sent.saturating_sub(self.released.count())
    }

    /// Posts the sender need not wait for any more: acked or refused if the
    /// transport acks, else out of the window.
    pub fn resolved(&self) -> u64 {
        if self.acks {
            self.acked.count() + self.refused
        } else {
            self.released.count()
        }
    }

    /// Whether the transport acknowledges posts.
    pub fn acknowledged(&self) -> bool {
        self.acks
    }

    /// Whether post `n` was acknowledged.
    pub fn is_acked(&self, n: u64) -> bool {
        self.acked.contains(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_only_transport_settles_on_ack() {
        let mut o = OwnPosts::new(4, true, false);
        assert_eq!(o.ack(0), (true, true));
        assert_eq!(o.ack(0), (false, false));
        assert!(!o.echo(0));
        assert!(o.refuse(1));
        assert!(!o.refuse(0));
        assert_eq!((o.resolved(), o.outstanding(3)), (2, 1));
        assert_eq!(o.give_up(3), 1);
        assert_eq!(o.resolved(), 2); // giving up is not an ack
    }

    #[test]
    fn mqtt_qos1_needs_ack_and_echo() {
        let mut o = OwnPosts::new(3, true, true);
        assert_eq!(o.ack(0), (true, false));
        assert!(o.echo(0));
        assert!(!o.echo(1));
        assert_eq!(o.ack(1), (true, true));
        assert_eq!(o.resolved(), 2);
    }

    #[test]
    fn qos0_settles_on_echo_or_give_up() {
        let mut o = OwnPosts::new(5, false, true);
        assert!(o.echo(2));
        assert!(!o.echo(2));
        assert_eq!(o.outstanding(4), 3);
        assert_eq!(o.give_up(4), 3);
        assert_eq!((o.resolved(), o.outstanding(4)), (4, 0));
        assert!(!o.echo(1)); // came back late: already out of the window
    }
}
