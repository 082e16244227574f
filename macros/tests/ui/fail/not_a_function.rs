use jwtguard_axum::require_role;

#[require_role("admin")]
struct NotAHandler;

fn main() {}
