//! Who acted: a person with a role, on a device.

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};

/// The role a person acts in. It decides which visit fields they may set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Reconcile, Hydrate)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A field agent (业务员) working on site with the phone app.
    #[autosurgeon(rename = "agent")]
    Agent,
    /// A back-office reviewer (后台审核).
    #[autosurgeon(rename = "reviewer")]
    Reviewer,
    /// A back-office administrator (管理员).
    #[autosurgeon(rename = "admin")]
    Admin,
}

impl Role {
    /// Whether this role works at the back office (reviews, assigns).
    pub fn is_back_office(self) -> bool {
        matches!(self, Role::Reviewer | Role::Admin)
    }
}

/// A person acting on a visit, and the device they acted from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Reconcile, Hydrate)]
pub struct Actor {
    /// Stable user id (an agent's or back-office user's login).
    pub user: String,
    /// The role they acted in.
    pub role: Role,
    /// The device id (phone or server) the action was recorded on.
    pub device: String,
}

impl Actor {
    /// A field agent on a phone.
    pub fn agent(user: impl Into<String>, device: impl Into<String>) -> Self {
        Actor { user: user.into(), role: Role::Agent, device: device.into() }
    }

    /// A back-office reviewer acting through the server.
    pub fn reviewer(user: impl Into<String>, device: impl Into<String>) -> Self {
        Actor { user: user.into(), role: Role::Reviewer, device: device.into() }
    }

    /// A back-office administrator acting through the server.
    pub fn admin(user: impl Into<String>, device: impl Into<String>) -> Self {
        Actor { user: user.into(), role: Role::Admin, device: device.into() }
    }
}
