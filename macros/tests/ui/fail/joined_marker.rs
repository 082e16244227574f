use jwtguard_axum::require_acr;

#[require_acr(__jwtguard_joined)]
async fn handler() {}

fn main() {}
