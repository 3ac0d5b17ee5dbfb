//! The actix-web service.

use actix_web::{App, HttpResponse, HttpServer, get, web};

use crate::db::Db;

#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Serve until SIGINT/SIGTERM.
pub async fn run(db: Db, bind: &str) -> std::io::Result<()> {
    tracing::info!(backend = %db.describe(), %bind, "mnemo listening");
    let data = web::Data::new(db);
    HttpServer::new(move || App::new().app_data(data.clone()).service(healthz))
        .bind(bind)?
        .run()
        .await
}
