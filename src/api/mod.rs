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

/// Every answer a `/api/v1` route can give besides its own, added to each
/// operation here rather than repeated on 50 handlers: the token middleware
/// (`401`), the request deadline (`408`) and the database's write health
/// (`503`) stand before every route; a route with an `{id}` in its path can
/// answer `404`, one with query parameters `422`, and one with a JSON body
/// `400` (malformed), `413` (too large), `415` (not JSON) and `422` (does
/// not fit). The statuses a handler documents itself are kept as written.
struct HonestStatuses;

impl Modify for HonestStatuses {
    fn modify(&self, doc: &mut OpenApiDoc) {
        use utoipa::openapi::path::ParameterIn;
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let error = |description: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build(),
            )
        };
        for (path, item) in doc.paths.paths.iter_mut() {
            if !path.starts_with("/api/v1/") {
                continue;
            }
            let has_id = path.contains('{');
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                let has_query = op.parameters.iter().flatten().any(|p| match p {
                    RefOr::T(p) => p.parameter_in == ParameterIn::Query,
                    RefOr::Ref(_) => false,
                });
                let has_body = op.request_body.is_some();
                let mut add = |status: &str, description: &str| {
                    op.responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| error(description));
                };
                add("401", "missing or invalid token");
                add(
                    "408",
                    "the call was not complete within GANCHO_REQUEST_TIMEOUT",
                );
                add(
                    "503",
                    "the database is unavailable; retry after Retry-After",
                );
                if has_id {
                    add("404", "no such resource in this workspace");
                }
                if has_query {
                    add("422", "a query parameter is out of its range or malformed");
                }
                if has_body {
                    add("400", "the body is not valid JSON");
                    add("413", "the body is larger than the limit");
                    add("415", "the body is not sent as application/json");
                    add("422", "the body does not fit the schema");
                }
            }
        }
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
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", v1)
        .merge(crate::inbound::receive::router())
        .merge(ops::router())
        .split_for_parts();
    // After the routes are in: `ApiDoc`'s modifiers run before there are any.
    HonestStatuses.modify(&mut doc);
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
