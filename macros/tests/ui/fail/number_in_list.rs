use jwtguard_axum::require_role;

#[require_role(all("a", 5))]
async fn handler() {}

fn main() {}
