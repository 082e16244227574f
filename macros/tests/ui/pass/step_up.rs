use axum::Router;
use axum::routing::get;
use jwtguard_axum::{require_acr, require_auth_age, require_role};

#[require_acr(any("mfa", "hwk"))]
#[require_auth_age(300)]
async fn joined() -> &'static str {
    "ok"
}

#[require_auth_age(60)]
#[require_role("clerk")]
#[require_acr("mfa")]
async fn around_a_role() -> &'static str {
    "ok"
}

#[require_acr("mfa")]
async fn acr_alone() -> &'static str {
    "ok"
}

mod on_actix {
    use jwtguard_actix::{require_acr, require_auth_age};

    #[actix_web::get("/transfer")]
    #[require_auth_age(120)]
    #[require_acr("mfa")]
    pub async fn transfer() -> &'static str {
        "ok"
    }
}

fn main() {
    let _app: Router = Router::new()
        .route("/joined", get(joined))
        .route("/around", get(around_a_role))
        .route("/acr", get(acr_alone));
    let _ = actix_web::App::new().service(on_actix::transfer);
}
