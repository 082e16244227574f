use jwtguard_axum::{require_acr, require_role};

#[require_role("admin")]
#[require_acr(__jwtguard_joined)]
async fn authentication() {}

fn main() {}
