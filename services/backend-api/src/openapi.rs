//! The OpenAPI document, generated from the handlers' annotations, served at `/openapi.json` with
//! Swagger UI at `/docs`.

use actix_web::{HttpResponse, web};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use crate::routes::{auth, tasks};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "TaskFlow API", description = "Tasks with recurrence rules, reminders and per-user isolation. Every change is published as a CloudEvent."),
    paths(
        auth::register, auth::login, auth::me, auth::update_me,
        tasks::list, tasks::create, tasks::get, tasks::update, tasks::patch, tasks::complete, tasks::delete,
        tasks::stats, tasks::occurrences, crate::routes::audit::list,
        crate::routes::notifications::list, crate::routes::notifications::mark_read,
        crate::routes::notifications::read_all, crate::routes::notifications::delete,
        taskflow_runtime::health::health, taskflow_runtime::health::ready, taskflow_runtime::metrics::render,
    ),
    components(schemas(
        taskflow_runtime::error::ErrorBody, taskflow_runtime::error::ErrorDetail,
        taskflow_domain::task::Reminder, taskflow_domain::ReminderSpec, taskflow_domain::Recurrence,
        taskflow_domain::RecurrenceInput, taskflow_domain::recurrence::RecurrenceObject,
        taskflow_domain::RecurrenceAnchor,
        taskflow_domain::Priority, taskflow_domain::Category,
    )),
    modifiers(&BearerAuth),
    tags((name = "auth"), (name = "tasks"), (name = "audit"), (name = "notifications"), (name = "operations")),
)]
pub struct ApiDoc;

async fn docs_redirect() -> HttpResponse {
    HttpResponse::Found()
        .insert_header(("Location", "/docs/"))
        .finish()
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/docs").route(web::get().to(docs_redirect)))
        .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", ApiDoc::openapi()));
}
