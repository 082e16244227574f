use jwtguard_axum::require_role;

#[require_role(admin)]
async fn handler() {}

fn main() {}
