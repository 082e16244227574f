use jwtguard_actix::require_role;

struct Api;

impl Api {
    #[require_role("admin")]
    async fn handler(&self) {}
}

fn main() {}
