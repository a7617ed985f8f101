//! Delivery bookkeeping for one receiving client: exactly once, in order.

use super::bitset::BitSet;

/// What one receiver saw of the messages posted into its room.
///
/// Senders are numbered by their position among the room's members and
/// their posts by `0..messages`; every delivery is checked against what
/// was already seen (duplicates), against the sender's own order (post
/// numbers must rise) and, when the transport gives one, against the
/// room's seq (which must rise too).
#[derive(Debug, Clone)]
pub struct DeliveryTracker {
    seen: Vec<BitSet>,
    last_post: Vec<Option<u64>>,
    last_seq: Option<u64>,
    /// Distinct posts of this run delivered.
    pub delivered: u64,
    /// Deliveries of a post already delivered before.
    pub duplicated: u64,
    /// Deliveries whose seq was not above the previous one's, or whose post
    /// number was not above the previous one of the same sender.
    pub out_of_order: u64,
    /// Times the seq jumped by more than one (a message between was not delivered).
    pub seq_gaps: u64,
    /// Messages in the room that were not posted by this run.
    pub foreign: u64,
}

/// How a delivery was classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    /// A post of this run, delivered for the first time.
    First,
    /// A post of this run, delivered again.
    Duplicate,
    /// Not a post of this run.
    Foreign,
}

impl DeliveryTracker {
    /// A tracker for a room with `senders` posting clients of `messages`
    /// posts each, joined when the room's last seq was `last_seq` (`None`
    /// if unknown: the first delivery's seq is then taken as it comes).
    pub fn new(senders: usize, messages: u64, last_seq: Option<u64>) -> Self {
        Self {
            seen: (0..senders).map(|_| BitSet::new(messages)).collect(),
            last_post: vec![None; senders],
            last_seq,
            delivered: 0,
            duplicated: 0,
            out_of_order: 0,
            seq_gaps: 0,
            foreign: 0,
        }
    }

    /// Records a delivery with room seq `seq` (if the transport has one);
    /// `ours` is (sender position, post number) when the message is a post
    /// of this run.
    pub fn observe(&mut self, seq: Option<u64>, ours: Option<(usize, u64)>) -> Observed {
        let mut disorder = false;
        let kind = match ours.and_then(|(s, n)| self.seen.get_mut(s).map(|b| (s, b, n))) {
            Some((s, bits, n)) if n < bits.capacity() => {
                if !bits.insert(n) {
                    self.duplicated += 1;
                    return Observed::Duplicate;
                }
                self.delivered += 1;
                let last = &mut self.last_post[s];
                if last.is_some_and(|l| n < l) {
                    disorder = true;
                } else {
                    *last = Some(n);
                }
                Observed::First
            }
            _ => {
                self.foreign += 1;
                Observed::Foreign
            }
        };
        if let Some(seq) = seq {
            match self.last_seq {
                Some(last) if seq <= last => disorder = true,
                Some(last) => {
                    if seq != last + 1 {
                        self.seq_gaps += 1;
                    }
                    self.last_seq = Some(seq);
                }
                None => self.last_seq = Some(seq),
            }
        }
        if disorder {
            self.out_of_order += 1;
        }
        kind
    }

    /// How many posts in `acked` (sender `sender`'s acknowledged posts) were
    /// never delivered here.
    pub fn missing(&self, sender: usize, acked: &BitSet) -> u64 {
        match self.seen.get(sender) {
            Some(seen) => acked.count_missing_from(seen),
            None => acked.count(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_duplicates_disorder_gaps_and_foreign() {
        let mut t = DeliveryTracker::new(2, 3, Some(10));
        assert_eq!(t.observe(Some(11), Some((0, 0))), Observed::First);
        assert_eq!(t.observe(Some(12), Some((1, 0))), Observed::First);
        assert_eq!(t.observe(Some(12), Some((1, 0))), Observed::Duplicate);
        assert_eq!(t.observe(Some(14), Some((0, 1))), Observed::First); // 13 skipped
        assert_eq!(t.observe(Some(13), Some((0, 2))), Observed::First); // late
        assert_eq!(t.observe(Some(15), None), Observed::Foreign);
        assert_eq!(t.observe(Some(16), Some((5, 0))), Observed::Foreign);
        assert_eq!(t.observe(Some(17), Some((0, 3))), Observed::Foreign);
        assert_eq!(
            (
                t.delivered,
                t.duplicated,
                t.out_of_order,
                t.seq_gaps,
                t.foreign
            ),
            (4, 1, 1, 1, 3)
        );
        let mut acked = BitSet::new(3);
        acked.insert(0);
        acked.insert(1);
        acked.insert(2);
        assert_eq!(t.missing(1, &acked), 2);
        assert_eq!(t.missing(0, &acked), 0);
    }

    #[test]
    fn without_seqs_order_is_per_sender() {
        let mut t = DeliveryTracker::new(2, 4, None);
        t.observe(None, Some((0, 0)));
        t.observe(None, Some((1, 0)));
        t.observe(None, Some((0, 2)));
        t.observe(None, Some((1, 1)));
        t.observe(None, Some((0, 1))); // behind post 2 of the same sender
        t.observe(None, Some((0, 3)));
        assert_eq!((t.delivered, t.out_of_order, t.seq_gaps), (6, 1, 0));
    }

    #[test]
    fn an_unknown_start_takes_the_first_seq() {
        let mut t = DeliveryTracker::new(1, 3, None);
        t.observe(Some(40), Some((0, 0)));
        t.observe(Some(41), Some((0, 1)));
        t.observe(Some(43), Some((0, 2)));
        assert_eq!((t.out_of_order, t.seq_gaps), (0, 1));
    }
}
