use jwtguard_axum::require_auth_age;

#[require_auth_age(0)]
async fn handler() {}

fn main() {}
