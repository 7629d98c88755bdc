//! The data the syncs used, per visit: agents pay for mobile data by the
//! megabyte, and the sync screen shows what each visit cost them.
//!
//! What is counted: the bodies of every request a sync sends and of every
//! answer it reads (the manifest, pushes, photo uploads and their status
//! checks, renewals), and the payload of every websocket message of the
//! samod exchange. What is not: HTTP headers, the websocket's framing and
//! upgrade, TCP/IP and TLS (handshakes, records), DNS, and retransmissions.
//! docs/mobile.md gives the measured difference on the wire.
//!
//! Who pays for what: a push request's body is shared among the visits it
//! carries in proportion to each one's document bytes, its answer evenly; a
//! photo's upload (and its status check when it resumes) goes to the visits
//! that refer to the photo, evenly; a samod exchange's messages go evenly to
//! the visits it pulled (samod multiplexes them on one socket, so a finer
//! split would be a guess). The manifest, the credential's renewal, the key
//! rotation and the wipe's confirmation serve every visit at once: they are
//! "other". A photo the server asked for again that no waiting visit names
//! (a server restored from a backup) is "other" too.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Bytes sent and received.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Traffic {
    /// Bytes the phone sent.
    pub sent: u64,
    /// Bytes the phone received.
    pub received: u64,
}

impl Traffic {
    /// Sent and received together.
    pub fn total(&self) -> u64 {
        self.sent.saturating_add(self.received)
    }

    fn add(&mut self, other: Traffic) {
        self.sent = self.sent.saturating_add(other.sent);
        self.received = self.received.saturating_add(other.received);
    }
}

/// What one visit's syncs used, for the sync screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitUsage {
    /// The visit.
    pub visit_id: String,
    /// Its merchant, while the visit is on the phone.
    pub merchant: Option<String>,
    /// Its kind's code, while the visit is on the phone.
    pub kind: Option<String>,
    /// Bytes counted for it, over every sync since the count began.
    pub traffic: Traffic,
}

/// What the syncs used on this phone since the count began (or since the
/// store was last wiped).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataUsage {
    /// Every visit that used data, the most first.
    pub visits: Vec<VisitUsage>,
    /// Requests that serve every visit at once (the manifest, renewals).
    pub other: Traffic,
    /// Everything: the visits and the rest.
    pub total: Traffic,
}

impl DataUsage {
    /// The usage of the stored rows: (visit id, or empty for the rest,
    /// merchant, kind, traffic).
    pub(crate) fn of(rows: Vec<(String, Option<String>, Option<String>, Traffic)>) -> DataUsage {
        let mut usage = DataUsage::default();
        for (visit_id, merchant, kind, traffic) in rows {
            usage.total.add(traffic);
            if visit_id.is_empty() {
                usage.other.add(traffic);
            } else {
                usage.visits.push(VisitUsage { visit_id, merchant, kind, traffic });
            }
        }
        usage
            .visits
            .sort_by(|a, b| b.traffic.total().cmp(&a.traffic.total()).then(a.visit_id.cmp(&b.visit_id)));
        usage
    }
}

/// The key under which the store keeps what no one visit used.
pub(crate) const OTHER: &str = "";

/// What one sync used, by visit (and [`OTHER`]), as it goes.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    by_visit: BTreeMap<String, Traffic>,
    /// The whole sync, for its report.
    pub(crate) total: Traffic,
}

impl Tally {
    /// Traffic that served every visit at once.
    pub(crate) fn other(&mut self, traffic: Traffic) {
        self.charge(OTHER, traffic);
    }

    /// Traffic shared among `visits` in proportion to their weights (evenly
    /// when every weight is 0); [`OTHER`]'s when there is no visit.
    pub(crate) fn share(&mut self, visits: &[(String, u64)], traffic: Traffic) {
        if visits.is_empty() {
            return self.other(traffic);
        }
        let weights: Vec<u64> = visits.iter().map(|(_, w)| *w).collect();
        let sent = split(traffic.sent, &weights);
        let received = split(traffic.received, &weights);
        for (((id, _), sent), received) in visits.iter().zip(sent).zip(received) {
            self.charge(id, Traffic { sent, received });
        }
    }

    fn charge(&mut self, key: &str, traffic: Traffic) {
        self.total.add(traffic);
        if traffic != Traffic::default() {
            self.by_visit.entry(key.to_owned()).or_default().add(traffic);
        }
    }

    /// What was counted since the last call, to be added to the store.
    pub(crate) fn take(&mut self) -> BTreeMap<String, Traffic> {
        std::mem::take(&mut self.by_visit)
    }
}

/// Splits `total` bytes in proportion to `weights`, every byte given to
/// someone: each gets the floor of its share, and the bytes left over go
/// one each to the largest remainders (the first of equal ones). All-zero
/// weights split evenly.
pub fn split(total: u64, weights: &[u64]) -> Vec<u64> {
    if weights.is_empty() {
        return Vec::new();
    }
    let even;
    let weights: &[u64] = if weights.iter().all(|&w| w == 0) {
        even = vec![1u64; weights.len()];
        &even
    } else {
        weights
    };
    let sum: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    let exact: Vec<(u64, u128)> = weights
        .iter()
        .map(|&w| {
            let product = u128::from(total) * u128::from(w);
            ((product / sum) as u64, product % sum)
        })
        .collect();
    let mut shares: Vec<u64> = exact.iter().map(|(share, _)| *share).collect();
    let left = total - shares.iter().sum::<u64>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| exact[b].1.cmp(&exact[a].1).then(a.cmp(&b)));
    for &index in order.iter().take(left as usize) {
        shares[index] += 1;
    }
    shares
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::in_proportion(1000, &[3, 1], &[750, 250])]
    #[case::leftover_bytes_go_to_the_largest_remainders(10, &[1, 1, 1], &[4, 3, 3])]
    #[case::a_bigger_remainder_wins_the_odd_byte(7, &[1, 2], &[2, 5])]
    #[case::no_weight_at_all_splits_evenly(9, &[0, 0], &[5, 4])]
    #[case::a_weightless_visit_gets_nothing_beside_a_weighted_one(100, &[0, 5], &[0, 100])]
    #[case::nothing_to_split(0, &[4, 2], &[0, 0])]
    #[case::one_visit_takes_it_all(12_345, &[7], &[12_345])]
    #[case::huge_numbers_do_not_overflow(u64::MAX, &[u64::MAX, u64::MAX], &[u64::MAX / 2 + 1, u64::MAX / 2])]
    #[case::no_one_to_pay(10, &[], &[])]
    fn bytes_are_split_in_proportion_and_none_is_lost(
        #[case] total: u64,
        #[case] weights: &[u64],
        #[case] expected: &[u64],
    ) {
        let shares = split(total, weights);
        assert_eq!(shares, expected);
        if !weights.is_empty() {
            assert_eq!(shares.iter().map(|&s| u128::from(s)).sum::<u128>(), u128::from(total));
        }
    }

    fn visits(ids: &[(&str, u64)]) -> Vec<(String, u64)> {
        ids.iter().map(|(id, w)| (id.to_string(), *w)).collect()
    }

    #[test]
    fn a_push_is_paid_by_its_visits_by_size_and_shared_requests_are_other() {
        let mut tally = Tally::default();
        tally.other(Traffic { sent: 120, received: 300 });
        // A push of two visits: the body by document size, the answer evenly.
        let pushed = visits(&[("v1", 3000), ("v2", 1000)]);
        tally.share(&pushed, Traffic { sent: 4100, received: 0 });
        tally.share(&visits(&[("v1", 0), ("v2", 0)]), Traffic { sent: 0, received: 201 });
        // A photo of v2's.
        tally.share(&visits(&[("v2", 1)]), Traffic { sent: 50_000, received: 90 });
        // A photo no waiting visit names.
        tally.share(&[], Traffic { sent: 10, received: 1 });
        assert_eq!(tally.total, Traffic { sent: 120 + 4100 + 50_000 + 10, received: 300 + 201 + 90 + 1 });
        let counted = tally.take();
        assert_eq!(counted[OTHER], Traffic { sent: 130, received: 301 });
        assert_eq!(counted["v1"], Traffic { sent: 3075, received: 101 });
        assert_eq!(counted["v2"], Traffic { sent: 1025 + 50_000, received: 100 + 90 });
        assert!(tally.take().is_empty(), "taken once");
        // The screen's view: the visits, the most first, and a total that is every row.
        let rows = counted
            .into_iter()
            .map(|(id, traffic)| (id, Some("店".to_owned()), Some("repair".to_owned()), traffic))
            .collect();
        let usage = DataUsage::of(rows);
        let order: Vec<&str> = usage.visits.iter().map(|v| v.visit_id.as_str()).collect();
        assert_eq!(order, ["v2", "v1"]);
        assert_eq!(usage.other, Traffic { sent: 130, received: 301 });
        assert_eq!(usage.total, tally.total);
    }
}
