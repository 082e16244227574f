use jwtguard_axum::require_role;

#[require_role("admin")]
fn handler() {}

fn main() {}
