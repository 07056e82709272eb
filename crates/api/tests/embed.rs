//! The API mounted under a prefix of another actix-web application, as `examples/embed.rs` does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use actix_web::{App, HttpResponse, test, web};
use support::{ADMIN_TOKEN, TestApp, with_token};

#[actix_web::test]
async fn the_api_works_under_a_prefix_next_to_the_host_routes() {
    let app = TestApp::start();
    let state = app.state.clone();
    let service = test::init_service(
        App::new()
            .route(
                "/",
                web::get().to(|| async { HttpResponse::Ok().body("host application") }),
            )
            .service(
                web::scope("/recozik")
                    .configure(move |config| recozik_api::mount(config, state.clone())),
            ),
    )
    .await;

    let response =
        test::call_service(&service, test::TestRequest::get().uri("/").to_request()).await;
    assert_eq!(test::read_body(response).await, "host application");

    let response = test::call_service(
        &service,
        test::TestRequest::get().uri("/recozik/health").to_request(),
    )
    .await;
    assert_eq!(response.status(), 200);

    let response = test::call_service(
        &service,
        with_token(test::TestRequest::get().uri("/recozik/whoami"), ADMIN_TOKEN).to_request(),
    )
    .await;
    assert_eq!(response.status(), 200);
    let who: serde_json::Value = test::read_body_json(response).await;
    assert_eq!(who["user_id"], "admin");

    // Extractor errors keep the API's format under the prefix too.
    let response = test::call_service(
        &service,
        with_token(
            test::TestRequest::post().uri("/recozik/identify/from-path"),
            ADMIN_TOKEN,
        )
        .insert_header(("content-type", "application/json"))
        .set_payload("[")
        .to_request(),
    )
    .await;
    assert_eq!(response.status(), 422);
}
