use jwtguard_axum::require_auth_age;

#[require_auth_age("300")]
async fn handler() {}

fn main() {}
