//! Reviewed changes: what a grid worker finds on the doorstep is a proposal until a reviewer of
//! the street accepts it; every record keeps each of its versions (who, when, before, after),
//! so it can be shown as it stood on any day.

use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::role::Role;

use super::Fields;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    House,
    Person,
    Organisation,
    Component,
}

impl RecordKind {
    pub const ALL: [RecordKind; 4] = [
        RecordKind::House,
        RecordKind::Person,
        RecordKind::Organisation,
        RecordKind::Component,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::House => "house",
            RecordKind::Person => "person",
            RecordKind::Organisation => "organisation",
            RecordKind::Component => "component",
        }
    }

    pub fn parse(text: &str) -> Option<RecordKind> {
        RecordKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// The name of a list of them, as paths, files and commands say it.
    pub fn plural(self) -> &'static str {
        match self {
            RecordKind::House => "houses",
            RecordKind::Person => "people",
            RecordKind::Organisation => "organisations",
            RecordKind::Component => "components",
        }
    }

    pub fn from_plural(text: &str) -> Option<RecordKind> {
        RecordKind::ALL.into_iter().find(|k| k.plural() == text)
    }

    /// Records that hold personal data: their versions and proposals are sealed at rest.
    pub fn personal(self) -> bool {
        matches!(self, RecordKind::Person | RecordKind::Organisation)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeOp {
    Create,
    Update,
    /// A person leaves their current home (注销).
    MoveOut,
}

impl ChangeOp {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeOp::Create => "create",
            ChangeOp::Update => "update",
            ChangeOp::MoveOut => "move_out",
        }
    }

    pub fn parse(text: &str) -> Option<ChangeOp> {
        [ChangeOp::Create, ChangeOp::Update, ChangeOp::MoveOut]
            .into_iter()
            .find(|o| o.as_str() == text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeState {
    Pending,
    Accepted,
    Rejected,
}

impl ChangeState {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeState::Pending => "pending",
            ChangeState::Accepted => "accepted",
            ChangeState::Rejected => "rejected",
        }
    }

    pub fn parse(text: &str) -> Option<ChangeState> {
        [
            ChangeState::Pending,
            ChangeState::Accepted,
            ChangeState::Rejected,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChangeError {
    #[error("the change was {0} already")]
    Reviewed(&'static str),
    #[error("a change is reviewed by someone other than who proposed it")]
    OwnChange,
    #[error("reason: a rejection says why, so the grid worker can put it right")]
    NoReason,
    #[error(
        "a {0} reviews changes of the base data only if their role is street, district or admin"
    )]
    NotReviewer(&'static str),
    #[error("op: {op} does not apply to a {kind}")]
    Op {
        op: &'static str,
        kind: &'static str,
    },
    #[error("record_key: an {0} names the record it changes")]
    NoRecord(&'static str),
}

/// A proposed change to one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: RecordKind,
    pub op: ChangeOp,
    /// The record changed; `None` for a creation (its key is in the fields).
    pub record_key: Option<String>,
    /// The fields proposed: all of them for a creation, only those changed for an update, the
    /// move-out day (`moved_out`) for a move out.
    pub fields: Fields,
    pub state: ChangeState,
    pub proposed_by: String,
    pub reviewed_by: Option<String>,
    pub reason: Option<String>,
}

impl Change {
    pub fn propose(
        kind: RecordKind,
        op: ChangeOp,
        record_key: Option<String>,
        fields: Fields,
        proposed_by: &str,
    ) -> Result<Change, ChangeError> {
        if op == ChangeOp::MoveOut && kind != RecordKind::Person {
            return Err(ChangeError::Op {
                op: op.as_str(),
                kind: kind.as_str(),
            });
        }
        if op != ChangeOp::Create && record_key.is_none() {
            return Err(ChangeError::NoRecord(op.as_str()));
        }
        Ok(Change {
            kind,
            op,
            record_key,
            fields,
            state: ChangeState::Pending,
            proposed_by: proposed_by.to_owned(),
            reviewed_by: None,
            reason: None,
        })
    }

    /// Whether `role` writes the base data directly or proposes: grid workers and community
    /// staff propose, reviewers write.
    pub fn needs_review(role: Role) -> bool {
        !Change::may_review(role)
    }

    pub fn may_review(role: Role) -> bool {
        matches!(role, Role::Street | Role::District | Role::Admin)
    }

    /// Accepts or rejects the proposal. The caller applies an accepted change to the record in
    /// the same transaction as it stores the decision.
    pub fn review(
        &mut self,
        accept: bool,
        reviewer: &str,
        role: Role,
        reason: Option<&str>,
    ) -> Result<(), ChangeError> {
        match self.state {
            ChangeState::Pending => {}
            s => return Err(ChangeError::Reviewed(s.as_str())),
        }
        if !Change::may_review(role) {
            return Err(ChangeError::NotReviewer(role.as_str()));
        }
        if reviewer == self.proposed_by {
            return Err(ChangeError::OwnChange);
        }
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        if !accept && reason.is_none() {
            return Err(ChangeError::NoReason);
        }
        self.state = if accept {
            ChangeState::Accepted
        } else {
            ChangeState::Rejected
        };
        self.reviewed_by = Some(reviewer.to_owned());
        self.reason = reason.map(str::to_owned);
        Ok(())
    }
}

/// One version of a record: the fields after a change, who made it and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub version: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub op: String,
    /// `None` once the record was anonymised.
    pub fields: Option<Fields>,
}

/// The record as it stood at `at`: the last version made at or before it.
pub fn as_of(versions: &[Version], at: DateTime<Utc>) -> Option<&Version> {
    versions
        .iter()
        .filter(|v| v.at <= at)
        .max_by_key(|v| (v.at, v.version))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn proposal() -> Change {
        Change::propose(
            RecordKind::House,
            ChangeOp::Update,
            Some("H000001".into()),
            Fields::new().with("use", "rental"),
            "worker",
        )
        .unwrap()
    }

    #[test]
    fn a_proposal_is_reviewed_once_by_someone_else() {
        let mut c = proposal();
        assert_eq!(
            c.review(true, "worker", Role::Street, None),
            Err(ChangeError::OwnChange)
        );
        assert_eq!(
            c.review(true, "boss", Role::GridWorker, None),
            Err(ChangeError::NotReviewer("grid_worker"))
        );
        assert_eq!(
            c.review(false, "boss", Role::Street, Some(" ")),
            Err(ChangeError::NoReason)
        );
        c.review(true, "boss", Role::Street, None).unwrap();
        assert_eq!(c.state, ChangeState::Accepted);
        assert_eq!(
            c.review(false, "boss", Role::Street, Some("no")),
            Err(ChangeError::Reviewed("accepted"))
        );
    }

    #[test]
    fn a_move_out_is_for_people_and_updates_name_their_record() {
        assert!(
            Change::propose(
                RecordKind::House,
                ChangeOp::MoveOut,
                Some("H1".into()),
                Fields::new(),
                "w"
            )
            .is_err()
        );
        assert_eq!(
            Change::propose(
                RecordKind::Person,
                ChangeOp::Update,
                None,
                Fields::new(),
                "w"
            ),
            Err(ChangeError::NoRecord("update"))
        );
    }

    #[test]
    fn as_of_takes_the_last_version_before() {
        let t = |h: u32| {
            chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
                .and_then(|d| d.and_hms_opt(h, 0, 0))
                .map(|d| d.and_utc())
                .unwrap()
        };
        let v = |n: i64, h: u32| Version {
            version: n,
            at: t(h),
            actor: "a".into(),
            op: "update".into(),
            fields: Some(Fields::new().with("n", n.to_string())),
        };
        let versions = [v(1, 8), v(2, 10), v(3, 12)];
        assert!(as_of(&versions, t(7)).is_none());
        assert_eq!(as_of(&versions, t(10)).map(|v| v.version), Some(2));
        assert_eq!(as_of(&versions, t(11)).map(|v| v.version), Some(2));
        assert_eq!(as_of(&versions, t(23)).map(|v| v.version), Some(3));
    }
}
