//! The REST API under `/api/v1` (DESIGN.md § REST API). Each resource file
//! exports an `OpenApiRouter` whose routes are registered together with
//! their OpenAPI description, so `/api/v1/openapi.json` cannot drift from
//! the routes. Every `/api/v1` route sits behind the bearer-token middleware;
//! the inbound URLs are merged in here too, so the document covers them.

pub mod api_keys;
pub mod categories;
pub mod endpoints;
pub mod extract;
pub mod gateways;
pub mod inbound_urls;
pub mod keys;
pub mod logs;
pub mod ops;
pub mod products;
pub mod students;
pub mod workspace;

use std::sync::Arc;

use axum::extract::Extension;
use axum::middleware;
use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::ApiError;
use axum::response::IntoResponse;
use extract::Json;

#[derive(OpenApi)]
#[openapi(
    info(title = "gancho", description = "Webhook integration hub for online-course platforms"),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "workspace"), (name = "catalog"), (name = "students"),
        (name = "inbound"), (name = "keys"), (name = "outbound"), (name = "logs"), (name = "meta"), (name = "operations"), (name = "inbound webhooks")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut OpenApiDoc) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// This API's own description.
#[utoipa::path(get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "the OpenAPI 3.1 document", content_type = "application/json")))]
async fn openapi_json(Extension(doc): Extension<Arc<OpenApiDoc>>) -> Json<OpenApiDoc> {
    Json(doc.as_ref().clone())
}

/// The `/api/v1` routes (each behind the token middleware) and the inbound
/// URLs, with the OpenAPI document that describes them all.
pub fn router(state: AppState) -> Router {
    let v1 = OpenApiRouter::new()
        .merge(workspace::router())
        .merge(api_keys::router())
        .merge(products::router())
        .merge(categories::router())
        .merge(students::router())
        .merge(inbound_urls::router())
        .merge(keys::router())
        .merge(gateways::router())
        .merge(endpoints::router())
        .merge(logs::router())
        .routes(routes!(openapi_json))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            extract::require_token,
        ));
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", v1)
        .merge(crate::inbound::receive::router())
        .merge(ops::router())
        .split_for_parts();
    router
        .merge(crate::ui::router(state.clone()))
        .fallback(no_route)
        .method_not_allowed_fallback(no_method)
        .layer(Extension(Arc::new(doc)))
        .with_state(state)
}

/// A path no route serves: the contract's error shape, not an empty 404.
async fn no_route() -> ApiError {
    ApiError::NotFound("no such route".into())
}

/// A route asked with a method it does not take.
async fn no_method() -> axum::response::Response {
    let mut response =
        ApiError::NotFound("this route does not take that method".into()).into_response();
    *response.status_mut() = axum::http::StatusCode::METHOD_NOT_ALLOWED;
    response
}
