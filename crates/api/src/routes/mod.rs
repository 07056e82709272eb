//! Route table.

mod health;

use actix_web::web;

pub fn configure(config: &mut web::ServiceConfig) {
    config.route("/health", web::get().to(health::health));
}
