//! Attribute guards for jwtguard: `#[require_role(..)]` and `#[require_scope(..)]` on axum and
//! actix-web handlers. Use them through the adapters, which re-export them under those names
//! (`jwtguard::axum::require_role`, `jwtguard::actix::require_role`).
//!
//! ```text
//! #[require_role("admin")]                  the role admin
//! #[require_role(any("admin", "ops"))]      at least one of them
//! #[require_role(all("billing", "audit"))]  every one of them
//! #[require_scope("orders:write")]          the same for scopes
//! #[require_acr("mfa")]                     the user authenticated with acr mfa (RFC 9470)
//! #[require_acr(any("mfa", "hwk"))]         with one of them
//! #[require_auth_age(300)]                  at most 300 seconds ago (auth_time)
//! ```
//!
//! `#[require_acr]` and `#[require_auth_age]` on one handler make one requirement, so that a
//! refusal (401 `insufficient_user_authentication`) names both `acr_values` and `max_age`. The
//! upper one finds the other by its name: imported under another name, the two stay two
//! requirements, and a client may be asked twice.
//!
//! The guard adds an extractor in front of the handler's own arguments: it reads the outcome
//! of the adapter's middleware (`JwtLayer` / `JwtAuth`) and answers 403 `insufficient_scope`
//! (or 401 `insufficient_user_authentication` for the step-up guards) when the requirement
//! fails, through the same error type as everything else. Roles and scopes are read from the
//! validator's configured claim paths.

#![cfg_attr(docsrs, feature(doc_cfg))]
use proc_macro::TokenStream;

mod guard;

/// `#[require_role(..)]` for axum handlers (re-exported as `jwtguard_axum::require_role`).
#[proc_macro_attribute]
pub fn require_role_axum(args: TokenStream, item: TokenStream) -> TokenStream {
    guard::expand(
        guard::Framework::Axum,
        guard::AccessKind::Role,
        args.into(),
        item.into(),
    )
    .into()
}

/// `#[require_scope(..)]` for axum handlers (re-exported as `jwtguard_axum::require_scope`).
#[proc_macro_attribute]
pub fn require_scope_axum(args: TokenStream, item: TokenStream) -> TokenStream {
    guard::expand(
        guard::Framework::Axum,
        guard::AccessKind::Scope,
        args.into(),
        item.into(),
    )
    .into()
}

/// `#[require_role(..)]` for actix-web handlers (re-exported as
/// `jwtguard_actix::require_role`).
#[proc_macro_attribute]
pub fn require_role_actix(args: TokenStream, item: TokenStream) -> TokenStream {
    guard::expand(
        guard::Framework::Actix,
        guard::AccessKind::Role,
        args.into(),
        item.into(),
    )
    .into()
}

/// `#[require_scope(..)]` for actix-web handlers (re-exported as
/// `jwtguard_actix::require_scope`).
#[proc_macro_attribute]
pub fn require_scope_actix(args: TokenStream, item: TokenStream) -> TokenStream {
    guard::expand(
        guard::Framework::Actix,
        guard::AccessKind::Scope,
        args.into(),
        item.into(),
    )
    .into()
}

/// `#[require_acr(..)]` for axum handlers (re-exported as
/// `jwtguard_axum::require_acr`).
#[proc_macro_attribute]
pub fn require_acr_axum(args: TokenStream, item: TokenStream) -> TokenStream {
    guard::expand_step_up(
        guard::Framework::Axum,
        guard::StepUp::Acr,
        args.into(),
        item.into(),
    )
    .into()
}

/// `#[require_auth_age(..)]` for axum handlers (re-exported as
/// `jwtguard_axum::require_auth_age`).
#[proc_macro_attribute]
pub fn require_auth_age_axum(args: TokenStream, item: TokenStream) -> TokenStream {
    guard::expand_step_up(
        guard::Framework::Axum,
        guard::StepUp::AuthAge,
        args.into(),
        item.into(),
    )
    .into()
}

/// `#[require_acr(..)]` for actix-web handlers (re-exported as
/// `jwtguard_actix::require_acr`).
#[proc_macro_attribute]
pub fn require_acr_actix(args: TokenStream, item: TokenStream) -> TokenStream {
    guard::expand_step_up(
        guard::Framework::Actix,
        guard::StepUp::Acr,
        args.into(),
        item.into(),
    )
    .into()
}

/// `#[require_auth_age(..)]` for actix-web handlers (re-exported as
/// `jwtguard_actix::require_auth_age`).
#[proc_macro_attribute]
pub fn require_auth_age_actix(args: TokenStream, item: TokenStream) -> TokenStream {
    guard::expand_step_up(
        guard::Framework::Actix,
        guard::StepUp::AuthAge,
        args.into(),
        item.into(),
    )
    .into()
}
