//! Personal numbers at the back office: the one rule for who sees the
//! merchant's registered phone (注册手机号) whole, and where. Everyone else
//! sees it masked, `138****5678`: enough to tell two merchants apart and
//! to confirm a number read out on the phone, not enough to call it.
//!
//! The visit document holds no ID card or bank card number (only their
//! photos, whose views are audited); the registered phone is the personal
//! number the back office shows. An administrator, who creates visits and
//! settles disputes with merchants and acquirers, sees it whole
//! everywhere. A reviewer sees it whole only on a single visit's page,
//! where calling the merchant about that visit is part of a review, and
//! masked in the lists, in the CSV exports (files that leave the server
//! and are forwarded) and on the acceptance certificate (a document handed
//! to others). The outbox, which shows whether messages to merchants were
//! delivered, shows every number masked.
//! The numbers a visit held before or beside its current one
//! (a history entry's before and after, a value that lost a concurrent
//! write) are masked for a reviewer too: the current number is the one to
//! call, and a masked old one still shows that it changed and from what.

use crate::store::UserRole;

/// Where the back office shows a registered phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// One visit's page (and the JSON API's one visit).
    VisitPage,
    /// The values a visit held before or beside its current ones, on its
    /// page and in the JSON API: the history's before and after, the values
    /// that lost a concurrent write.
    VisitChanges,
    /// A list of visits: the visit list, a terminal's visits, the alerts.
    List,
    /// A CSV export.
    Export,
    /// The acceptance certificate (PDF).
    Certificate,
    /// The outbox: the messages the merchants are sent, watched for their
    /// delivery, where nobody needs the number whole.
    Outbox,
}

/// Where each role sees the registered phone whole; everywhere else masked.
const WHOLE: &[(UserRole, &[Place])] = &[
    (
        UserRole::Admin,
        &[Place::VisitPage, Place::VisitChanges, Place::List, Place::Export, Place::Certificate],
    ),
    (UserRole::Reviewer, &[Place::VisitPage]),
];

/// Whether `role` sees the registered phone whole at `place`.
pub fn phone_whole(role: UserRole, place: Place) -> bool {
    WHOLE.iter().any(|(r, places)| *r == role && places.contains(&place))
}

/// The registered phone `phone` as `role` sees it at `place`.
pub fn phone_for(role: UserRole, place: Place, phone: &str) -> String {
    if phone_whole(role, place) { phone.to_owned() } else { mask_phone(phone) }
}

/// `phone` with all but its first three and last four characters hidden
/// (`138****5678`); a text too short to keep seven is hidden whole but
/// for its last two (a short number would otherwise be nearly whole).
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.trim().chars().collect();
    let n = chars.len();
    let (head, tail) = if n >= 11 { (3, 4) } else { (0, n.min(2) * usize::from(n >= 4)) };
    let hidden = n - head - tail;
    chars[..head].iter().chain(std::iter::repeat_n(&'*', hidden)).chain(&chars[n - tail..]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    /// The whole table: each role at each place.
    #[rstest]
    #[case::admin_visit_page(UserRole::Admin, Place::VisitPage, "13812345678")]
    #[case::admin_visit_changes(UserRole::Admin, Place::VisitChanges, "13812345678")]
    #[case::admin_list(UserRole::Admin, Place::List, "13812345678")]
    #[case::admin_export(UserRole::Admin, Place::Export, "13812345678")]
    #[case::admin_certificate(UserRole::Admin, Place::Certificate, "13812345678")]
    #[case::reviewer_visit_page(UserRole::Reviewer, Place::VisitPage, "13812345678")]
    #[case::reviewer_visit_changes(UserRole::Reviewer, Place::VisitChanges, "138****5678")]
    #[case::reviewer_list(UserRole::Reviewer, Place::List, "138****5678")]
    #[case::reviewer_export(UserRole::Reviewer, Place::Export, "138****5678")]
    #[case::reviewer_certificate(UserRole::Reviewer, Place::Certificate, "138****5678")]
    #[case::admin_outbox(UserRole::Admin, Place::Outbox, "138****5678")]
    #[case::reviewer_outbox(UserRole::Reviewer, Place::Outbox, "138****5678")]
    fn each_role_sees_the_registered_phone_whole_only_where_it_needs_it(
        #[case] role: UserRole,
        #[case] place: Place,
        #[case] shown: &str,
    ) {
        assert_eq!(phone_for(role, place, "13812345678"), shown);
    }

    #[rstest]
    #[case::mainland_mobile("13812345678", "138****5678")]
    #[case::with_country_code("+8613812345678", "+86*******5678")]
    #[case::spaces_around(" 13812345678 ", "138****5678")]
    #[case::a_landline_of_eight("62345678", "******78")]
    #[case::three_digits("123", "***")]
    #[case::empty("", "")]
    #[case::chinese_digits_stay_characters("１３８１２３４５６７８", "１３８****５６７８")]
    fn a_masked_phone_shows_at_most_its_first_three_and_last_four(#[case] phone: &str, #[case] masked: &str) {
        assert_eq!(mask_phone(phone), masked);
    }
}
