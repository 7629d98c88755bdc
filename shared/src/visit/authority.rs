//! Who may set what: the fields only the back office decides, and how the
//! server puts them back when an agent's change touched them.
//!
//! An agent's phone holds the whole visit document and could write any field.
//! The server keeps the last values it trusts for the back-office fields
//! (assignment, review decisions, the approved/returned/cancelled status, the
//! reactivation decision). When a synced change leaves them different, the
//! server writes the trusted values back as its own change: only those fields
//! revert, every other edit in the same change survives, and each revert is
//! named so it can be audited.
//!
//! The version markers (`schema`, the edit floor, and `written_by`) are not
//! the back office's, but they follow the same path: only the writing app
//! sets them, as a side effect of writing (see [`crate::visit::VisitDoc`]),
//! and they only go up. A change that lowers one is put back like a forged
//! back-office field, so no writer can reopen a document to apps a newer one
//! locked out, nor hide that a newer app wrote it.
//!
//! | field | who may write it | how |
//! |---|---|---|
//! | `assignment` | back office | `assign` |
//! | `status` approved, returned, cancelled | back office | `review`, `cancel` |
//! | `reviews` | back office | `review` |
//! | `reactivation.application` decided | back office | `decide_application` |
//! | `schema`, `written_by` | the writing app's code, never a person | every write; never lowered |
//! | once approved: `acceptance` and the records its summary is made of | nobody | sealed by `review` |
//!
//! Approval seals the acceptance ([`SealedAcceptance`]): the signature, its
//! summary, and the records the summary is made of (kind, merchant,
//! terminals, steps, faults, repair decisions, SIM card) as they stood when
//! the back office approved. A later change to any of them, a new
//! signature over a summary made anew included, is put back like a forged
//! back-office field, so the merchant's strokes stay bound to the one
//! summary they signed.

use serde::{Deserialize, Serialize};

use crate::status::VisitStatus;
use crate::visit::acceptance::SealedAcceptance;
use crate::visit::ops::Ctx;
use crate::visit::schema::{Application, Assignment, Review, Visit};
use crate::visit::{VisitDoc, VisitError};
use crate::vocab::ApplicationState;

/// The back-office fields of a visit, as last trusted by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfficeFields {
    /// Who the visit is assigned to.
    pub assignment: Assignment,
    /// The status the back office last left or accepted.
    pub status: VisitStatus,
    /// Review decisions.
    pub reviews: Vec<Review>,
    /// The reactivation application as last decided.
    pub application: Option<Application>,
    /// The document's edit floor as last seen: it only goes up. Absent from
    /// rows stored before version markers were checked.
    #[serde(default)]
    pub schema: u64,
    /// The newest writer's schema version as last seen: it only goes up.
    #[serde(default)]
    pub written_by: Option<u64>,
    /// The acceptance and its records as approved: set when the back
    /// office approves, never changed after. Absent before approval, and
    /// from rows stored before approvals were sealed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved: Option<SealedAcceptance>,
}

/// A back-office field an agent's change altered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfficeField {
    /// The assignment.
    Assignment,
    /// An approved, returned or cancelled status.
    Status,
    /// The review list.
    Reviews,
    /// The reactivation decision.
    Application,
    /// A version marker lowered.
    Versions,
    /// The acceptance, or a record its summary is made of, changed after approval.
    Acceptance,
}

impl OfficeField {
    /// Stable code.
    pub fn code(self) -> &'static str {
        match self {
            OfficeField::Assignment => "assignment",
            OfficeField::Status => "status",
            OfficeField::Reviews => "reviews",
            OfficeField::Application => "application",
            OfficeField::Versions => "versions",
            OfficeField::Acceptance => "acceptance",
        }
    }
}

fn office_status(status: VisitStatus) -> bool {
    matches!(status, VisitStatus::Approved | VisitStatus::Returned | VisitStatus::Cancelled)
}

fn office_decision(application: &Option<Application>) -> bool {
    application.as_ref().is_some_and(|a| a.state != ApplicationState::Submitted)
}

impl OfficeFields {
    /// The fields as they stand in `visit` (after a back-office action).
    pub fn of(visit: &Visit) -> OfficeFields {
        OfficeFields {
            assignment: visit.assignment.clone(),
            status: visit.status,
            reviews: visit.reviews.clone(),
            application: visit.reactivation.application.clone(),
            schema: visit.schema,
            written_by: visit.written_by,
            approved: (visit.status == VisitStatus::Approved).then(|| SealedAcceptance::of(visit)),
        }
    }

    /// What the server trusts of a visit an agent `owner` sent first: it is
    /// assigned to its creator, not reviewed, not decided.
    pub fn first_seen(visit: &Visit, owner: &str) -> OfficeFields {
        let mut fields = OfficeFields::of(visit);
        if fields.assignment.agent != owner {
            fields.assignment = Assignment { agent: owner.to_owned(), stamp: visit.created.clone() };
        }
        if office_status(fields.status) {
            fields.status = VisitStatus::Draft;
        }
        fields.reviews.clear();
        if office_decision(&fields.application) {
            fields.application = None;
        }
        fields.approved = None;
        fields
    }

    /// The back-office fields `visit` changed without the back office.
    pub fn forged(&self, visit: &Visit) -> Vec<OfficeField> {
        let mut forged = Vec::new();
        if visit.assignment.agent != self.assignment.agent {
            forged.push(OfficeField::Assignment);
        }
        let reopened = matches!(self.status, VisitStatus::Approved | VisitStatus::Cancelled);
        if (office_status(visit.status) || reopened) && visit.status != self.status {
            forged.push(OfficeField::Status);
        }
        if visit.reviews != self.reviews {
            forged.push(OfficeField::Reviews);
        }
        if office_decision(&visit.reactivation.application)
            && visit.reactivation.application != self.application
        {
            forged.push(OfficeField::Application);
        }
        if visit.schema < self.schema || visit.written_by < self.written_by {
            forged.push(OfficeField::Versions);
        }
        if self.approved.as_ref().is_some_and(|sealed| !sealed.holds_in(visit)) {
            forged.push(OfficeField::Acceptance);
        }
        forged
    }

    /// What the server trusts after accepting `visit` (whose forged fields
    /// were restored): the agent's own status moves are accepted.
    pub fn accept(&self, visit: &Visit) -> OfficeFields {
        let mut next = self.clone();
        next.status = visit.status;
        if !office_decision(&visit.reactivation.application) {
            next.application = visit.reactivation.application.clone();
        }
        next.schema = next.schema.max(visit.schema);
        next.written_by = next.written_by.max(visit.written_by);
        next
    }

    /// Puts the trusted values of `fields` back into `visit`; version
    /// markers are raised back, never lowered.
    pub fn put_back(&self, visit: &mut Visit, fields: &[OfficeField]) {
        for field in fields {
            match field {
                OfficeField::Assignment => visit.assignment = self.assignment.clone(),
                OfficeField::Status => visit.status = self.status,
                OfficeField::Reviews => visit.reviews = self.reviews.clone(),
                OfficeField::Application => {
                    visit.reactivation.application = self.application.clone();
                }
                OfficeField::Versions => {
                    visit.schema = visit.schema.max(self.schema);
                    visit.written_by = visit.written_by.max(self.written_by);
                }
                OfficeField::Acceptance => {
                    if let Some(sealed) = &self.approved {
                        sealed.put_back(visit);
                    }
                }
            }
        }
    }
}

impl VisitDoc {
    /// The server writes the trusted values of `fields` back, as its own
    /// change with a history entry naming them.
    pub fn restore_office_fields(
        &mut self,
        ctx: &Ctx,
        trusted: &OfficeFields,
        fields: &[OfficeField],
    ) -> Result<Visit, VisitError> {
        let named = fields.iter().map(|f| f.code()).collect::<Vec<_>>().join(",");
        self.apply(ctx, "restore_office_fields", |visit| {
            trusted.put_back(visit, fields);
            Ok(named)
        })
    }
}
