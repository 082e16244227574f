use axum::Router;
use axum::routing::get;
use jwtguard_axum::{Claims, require_role, require_scope};

#[derive(serde::Deserialize)]
struct User {
    sub: String,
}

#[require_role("admin")]
async fn admin(Claims(user): Claims<User>) -> String {
    user.sub
}

#[require_role(any("admin", "ops"))]
#[require_role("auditor")]
#[require_scope(all("orders:read", "orders:write"))]
pub async fn stacked() -> &'static str {
    "ok"
}

fn main() {
    let _app: Router = Router::new()
        .route("/admin", get(admin))
        .route("/stacked", get(stacked));
}
