use jwtguard_axum::require_scope;

#[require_scope(any())]
async fn handler() {}

fn main() {}
