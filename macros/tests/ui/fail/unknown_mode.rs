use jwtguard_axum::require_role;

#[require_role(some("admin"))]
async fn handler() {}

fn main() {}
