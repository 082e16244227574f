use jwtguard_axum::require_auth_age;

#[require_auth_age(300)]
#[require_auth_age(60)]
async fn handler() {}

fn main() {}
