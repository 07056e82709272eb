use actix_web::{App, test};

#[actix_web::test]
async fn health_answers_ok() {
    let app = test::init_service(App::new().configure(recozik_api::configure)).await;
    let response =
        test::call_service(&app, test::TestRequest::get().uri("/health").to_request()).await;
    assert!(response.status().is_success());
    let body: serde_json::Value = test::read_body_json(response).await;
    assert_eq!(body, serde_json::json!({"status": "ok"}));
}

#[actix_web::test]
async fn health_can_be_mounted_under_a_prefix() {
    let app = test::init_service(
        App::new().service(actix_web::web::scope("/recozik").configure(recozik_api::configure)),
    )
    .await;
    let response = test::call_service(
        &app,
        test::TestRequest::get().uri("/recozik/health").to_request(),
    )
    .await;
    assert!(response.status().is_success());
}
