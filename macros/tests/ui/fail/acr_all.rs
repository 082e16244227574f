use jwtguard_actix::require_acr;

#[require_acr(all("mfa", "hwk"))]
async fn handler() {}

fn main() {}
