use actix_web::{App, get, web};
use jwtguard_actix::{Claims, require_role, require_scope};

#[get("/admin")]
#[require_role("admin")]
async fn admin(Claims(claims): Claims) -> String {
    claims.to_string()
}

#[require_scope(any("read", "write"))]
async fn without_route_macro() -> &'static str {
    "ok"
}

fn main() {
    let _app = App::new()
        .service(admin)
        .route("/plain", web::get().to(without_route_macro));
}
