//! Each operation's requirement, from the guards on its handler.
//!
//! A guard written above `#[utoipa::path]` adds to the attribute's `security` one entry per
//! guard, all in one requirement object (all of them apply):
//!
//! ```text
//! "jwtguard:<n>" = ["<role|scope>", "<any|all>", "<value>", ...]
//! "jwtguard:<n>" = ["authentication", "<max age in seconds, or empty>", "<acr>", ...]
//! ```
//!
//! Roles and scopes become the schemes' lists; an authentication requirement (RFC 9470) has
//! no place there, and is only among the words of `x-jwtguard-requirements`.
//!
//! `<n>` tells stacked guards apart. [`apply_guards`] takes these entries out and writes the
//! alternatives of the document's schemes in their place.

use std::collections::BTreeSet;
use std::time::Duration;

use utoipa::openapi::OpenApi;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::SecurityRequirement;

use crate::request::requirement::{AccessKind, Match, Requirement};

/// The prefix of a guard's entry in an operation's `security`.
const GUARD_ENTRY: &str = "jwtguard:";

/// The extension that keeps the guards' requirements, in words, on their operation.
const REQUIREMENTS_EXTENSION: &str = "x-jwtguard-requirements";

/// More alternatives than this (`any(..)` guards stacked) are written as one alternative per
/// scheme without lists; the extension still says what is required.
const MAX_ALTERNATIVES: usize = 64;

/// What a scheme's requirement lists name, in OpenAPI 3.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lists {
    /// `oauth2` and `openIdConnect`: scopes.
    Scopes,
    /// Every other type: role names (here the scopes and roles the credential must carry).
    Names,
}

/// One way to meet every guard of an operation: these scopes and these roles.
#[derive(Debug, Default, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Alternative {
    scopes: BTreeSet<String>,
    roles: BTreeSet<String>,
}

/// Reads a guard's entry back into its requirement.
fn decode(values: &[String]) -> Option<Requirement> {
    let [kind, mode, values @ ..] = values else {
        return None;
    };
    let kind = match kind.as_str() {
        "role" => AccessKind::Role,
        "scope" => AccessKind::Scope,
        // `["authentication", "<max age in seconds, or empty>", acr values..]`.
        "authentication" => {
            let max_age = match mode.as_str() {
                "" => None,
                seconds => Some(Duration::from_secs(seconds.parse().ok()?)),
            };
            return (max_age.is_some() || !values.is_empty())
                .then(|| Requirement::step_up(values.iter().cloned(), max_age));
        }
        _ => return None,
    };
    let mode = match mode.as_str() {
        "any" => Match::Any,
        "all" => Match::All,
        _ => return None,
    };
    (!values.is_empty()).then(|| Requirement::new(kind, mode, values.iter().cloned()))
}

/// The alternatives that meet every one of `requirements`; `None` past
/// [`MAX_ALTERNATIVES`].
fn alternatives(requirements: &[Requirement]) -> Option<Vec<Alternative>> {
    let mut ways = vec![Alternative::default()];
    for requirement in requirements {
        // Only roles and scopes are listed per scheme; the rest is in the words.
        if !matches!(requirement.kind(), AccessKind::Role | AccessKind::Scope) {
            continue;
        }
        let picks: Vec<Vec<&String>> = match requirement.mode() {
            Match::All => vec![requirement.values().iter().collect()],
            Match::Any => requirement.values().iter().map(|v| vec![v]).collect(),
        };
        if ways.len().saturating_mul(picks.len()) > MAX_ALTERNATIVES {
            return None;
        }
        let mut next = BTreeSet::new();
        for way in &ways {
            for pick in &picks {
                let mut way = way.clone();
                let set = match requirement.kind() {
                    AccessKind::Role => &mut way.roles,
                    _ => &mut way.scopes,
                };
                set.extend(pick.iter().map(|v| (*v).clone()));
                next.insert(way);
            }
        }
        ways = next.into_iter().collect();
    }
    Some(ways)
}

/// Takes the guards' entries out of `operation`'s `security`; returns their requirements.
/// Requirement objects of the user's own stay; with guards, an empty one (`security(())`,
/// "no credential needed") goes, since the guards need one.
fn take_guards(operation: &mut Operation) -> Vec<Requirement> {
    let Some(security) = operation.security.take() else {
        return Vec::new();
    };
    let mut guards = Vec::new();
    let mut kept = Vec::new();
    let mut found = false;
    for requirement in security {
        // The entries are private to utoipa's type: read them through its serialized form.
        let Ok(serde_json::Value::Object(entries)) = serde_json::to_value(&requirement) else {
            kept.push(requirement);
            continue;
        };
        if !entries.keys().any(|name| name.starts_with(GUARD_ENTRY)) {
            kept.push(requirement);
            continue;
        }
        found = true;
        let mut others: Option<SecurityRequirement> = None;
        for (name, values) in entries {
            let values: Vec<String> = serde_json::from_value(values).unwrap_or_default();
            if name.starts_with(GUARD_ENTRY) {
                guards.extend(decode(&values));
            } else {
                others = Some(match others {
                    None => SecurityRequirement::new(name, values),
                    Some(object) => object.add(name, values),
                });
            }
        }
        kept.extend(others);
    }
    if found {
        kept.retain(|requirement| *requirement != SecurityRequirement::default());
        // Only guards: the document's schemes take their place, or the top-level security.
        operation.security = (!kept.is_empty()).then_some(kept);
    } else {
        operation.security = Some(kept);
    }
    guards
}

fn lists_for(alternative: &Alternative, lists: Lists) -> Vec<String> {
    let mut names: Vec<String> = alternative.scopes.iter().cloned().collect();
    if lists == Lists::Names {
        names.extend(alternative.roles.iter().cloned());
    }
    names
}

/// Turns the guards' entries of every operation of `openapi` into one alternative per scheme
/// of `schemes` (name, what its lists name); returns every scope the guards name.
pub(crate) fn apply_guards(openapi: &mut OpenApi, schemes: &[(&str, Lists)]) -> BTreeSet<String> {
    let mut scopes = BTreeSet::new();
    for item in openapi.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
            &mut item.query,
        ];
        let operations = operations
            .into_iter()
            .flatten()
            .chain(item.additional_operations.values_mut());
        for operation in operations {
            let guards = take_guards(operation);
            if guards.is_empty() {
                continue;
            }
            for guard in &guards {
                if guard.kind() == AccessKind::Scope {
                    scopes.extend(guard.values().iter().cloned());
                }
            }
            let words: Vec<String> = guards.iter().map(ToString::to_string).collect();
            operation
                .extensions
                .get_or_insert_with(Extensions::default)
                .insert(REQUIREMENTS_EXTENSION.to_owned(), words.into());
            if schemes.is_empty() {
                // Nothing OpenAPI can name: no `security` at all rather than one that reads
                // as "public".
                continue;
            }
            let ways = alternatives(&guards).unwrap_or_else(|| vec![Alternative::default()]);
            let security = operation.security.get_or_insert_with(Vec::new);
            let mut written = BTreeSet::new();
            for way in &ways {
                for (name, lists) in schemes {
                    let names = lists_for(way, *lists);
                    // Alternatives that differ only in roles are the same for OAuth schemes.
                    if written.insert((*name, names.clone())) {
                        security.push(SecurityRequirement::new(*name, names));
                    }
                }
            }
        }
    }
    scopes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(kind: &str, mode: &str, values: &[&str]) -> Requirement {
        let mut entry = vec![kind.to_owned(), mode.to_owned()];
        entry.extend(values.iter().map(|v| (*v).to_owned()));
        decode(&entry).expect("a guard entry")
    }

    fn way(scopes: &[&str], roles: &[&str]) -> Alternative {
        Alternative {
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            roles: roles.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn stacked_guards_multiply_their_alternatives() {
        let guards = [
            guard("scope", "any", &["orders:write", "orders:admin"]),
            guard("role", "all", &["billing", "audit"]),
        ];
        assert_eq!(
            alternatives(&guards).expect("few"),
            vec![
                way(&["orders:admin"], &["audit", "billing"]),
                way(&["orders:write"], &["audit", "billing"]),
            ]
        );
    }

    #[test]
    fn unknown_entries_and_too_many_alternatives_are_not_guessed() {
        assert!(decode(&["acr".into(), "any".into(), "mfa".into()]).is_none());
        assert!(decode(&["scope".into(), "all".into()]).is_none());
        let wide: Vec<String> = (0..9).map(|i| format!("s{i}")).collect();
        let wide = Requirement::any_scope(wide);
        assert!(alternatives(&[wide.clone(), wide]).is_none());
    }
}
