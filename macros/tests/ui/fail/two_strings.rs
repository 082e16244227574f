use jwtguard_actix::require_scope;

#[require_scope("read", "write")]
async fn handler() {}

fn main() {}
