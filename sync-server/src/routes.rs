//! Who may call each route: the declarations the router is built from.
//!
//! Every route of the server is one [`Entry`] of the table in
//! [`crate::api::routes`]: its method, its path and its [`Access`]. The
//! router ([`build`]) adds nothing else, and puts a guard in front of
//! each handler that authenticates the request as the entry's access says
//! and refuses it before the handler runs: a device credential for the
//! sync routes, a page's session or the JSON API's Basic credentials with
//! at least a role for the back office's. The principal the guard found
//! is kept in the request, where the handler's own extractor (`Device`,
//! `OfficeUser`, `Officer`, `Admin`) takes it without asking the store
//! again; those extractors still refuse on their own, so a handler whose
//! extractor is stricter than its row stays as strict.
//!
//! `sync-server/tests/routes.rs` sweeps every route of the table against
//! every kind of caller, and `tests/tidy.rs` fails when a route is added
//! to a router anywhere but here.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRequestParts, Request, State};
use axum::handler::Handler;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter};

use crate::api::OfficeUser;
use crate::auth::{Device, UserRole};
use crate::desk::{self, DeskAction};
use crate::error::ApiError;
use crate::office::PageError;
use crate::office::session::Officer;

type AppState = Arc<crate::State>;

/// How a back-office user signs in on a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// A page's session cookie (and, for a POST, a request from this site).
    Session,
    /// The JSON API's `Authorization: Basic`.
    Basic,
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: no credential is read (what the route checks itself, an
    /// enrolment code or a password, is its own).
    Public,
    /// An agent's device with a live credential (`Authorization: Bearer`).
    Device,
    /// The operator's scraper, with the configuration's `metrics_token`
    /// (`Authorization: Bearer`); 404 when none is configured.
    Metrics,
    /// A back-office user with at least `role`, signed in through `door`.
    Office {
        /// How the user signs in.
        door: Door,
        /// The least role.
        role: UserRole,
    },
}

impl Access {
    /// The route of a desk action, through `door`: the role is the action's.
    pub fn desk(door: Door, action: DeskAction) -> Access {
        Access::Office { door, role: action.role() }
    }

    /// Any back-office user, through `door`.
    pub fn officer(door: Door) -> Access {
        Access::Office { door, role: UserRole::Reviewer }
    }

    /// An administrator, through `door`.
    pub fn admin(door: Door) -> Access {
        Access::Office { door, role: UserRole::Admin }
    }
}

/// A route as declared: what the sweep test reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Its method.
    pub method: Method,
    /// Its path, as the router matches it (`{id}` for a segment).
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
}

/// How large a request's body may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLimit {
    /// At most this many bytes.
    Max(usize),
    /// Read as a stream, as long as the handler's own limit lets it (a
    /// blob upload, which counts its bytes against the declared size).
    Streamed,
}

/// A route and its handler, with the layers of its own.
pub struct Entry {
    /// The declaration.
    pub route: Route,
    handler: MethodRouter<AppState>,
    /// A route phones call: the version gate answers before the guard.
    phone: bool,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry").field("route", &self.route).finish_non_exhaustive()
    }
}

impl Entry {
    /// `handler` on `method` and `path`, for `access`, with a body of at most `body`.
    pub fn new<H, T>(method: Method, path: &'static str, access: Access, body: BodyLimit, handler: H) -> Entry
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone())
            .unwrap_or_else(|_| panic!("{method} is not a method the router routes"));
        let limit = match body {
            BodyLimit::Max(bytes) => DefaultBodyLimit::max(bytes),
            BodyLimit::Streamed => DefaultBodyLimit::disable(),
        };
        let handler = axum::routing::on(filter, handler).layer(limit);
        Entry { route: Route { method, path, access }, handler, phone: false }
    }

    /// The same as a route phones call: [`crate::versions::gate`] answers a
    /// phone below the minimum app version before its credential is read.
    pub fn phone(self) -> Entry {
        Entry { phone: true, ..self }
    }

    /// The same as a back-office page, with the pages' security headers.
    pub fn page(self) -> Entry {
        let handler = self.handler.layer(axum::middleware::map_response(crate::office::security_headers));
        Entry { handler, ..self }
    }
}

/// The router of a table: each entry behind the guard of its access.
pub fn build(entries: Vec<Entry>, state: &AppState) -> axum::Router<AppState> {
    let mut router = axum::Router::new();
    for Entry { route, handler, phone } in entries {
        let guard = axum::middleware::from_fn_with_state((state.clone(), route.access), guard);
        let mut handler = handler.route_layer(guard);
        if phone {
            // Outside the guard: it runs first.
            let gate = axum::middleware::from_fn_with_state(state.clone(), crate::versions::gate);
            handler = handler.route_layer(gate);
        }
        router = router.route(route.path, handler);
    }
    router
}

/// Authenticates a request as `access` says, keeps the principal in the
/// request for the handler, or answers the refusal the route's door gives.
async fn guard(State((state, access)): State<(AppState, Access)>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    match access {
        Access::Public => {}
        Access::Device => match Device::from_request_parts(&mut parts, &state).await {
            Ok(device) => {
                parts.extensions.insert(device);
            }
            Err(refused) => return refused.into_response(),
        },
        Access::Metrics => {
            if let Err(refused) = crate::metrics::authorise(&state.config, &parts.headers) {
                return refused.into_response();
            }
        }
        Access::Office { door: Door::Basic, role } => {
            match OfficeUser::from_request_parts(&mut parts, &state).await {
                Ok(user) if desk::role_reaches(user.0.role, role) => {
                    parts.extensions.insert(user);
                }
                Ok(user) => {
                    let message = format!("a {} may not do this", user.0.role.code());
                    return ApiError::new(StatusCode::FORBIDDEN, "forbidden", message).into_response();
                }
                Err(refused) => return refused.into_response(),
            }
        }
        Access::Office { door: Door::Session, role } => {
            match Officer::from_request_parts(&mut parts, &state).await {
                Ok(officer) if desk::role_reaches(officer.role, role) => {
                    parts.extensions.insert(officer);
                }
                Ok(_) => return PageError::Forbidden.into_response(),
                Err(refused) => return refused.into_response(),
            }
        }
    }
    next.run(Request::from_parts(parts, body)).await
}
