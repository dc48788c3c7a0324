//! The OpenAPI document, generated from the handlers' annotations, served at `/openapi.json` with
//! Swagger UI at `/docs`.

use actix_web::{HttpResponse, web};
use utoipa::openapi::path::ParameterIn;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use crate::routes::{auth, tasks};

/// An IANA time-zone name, spelt exactly: the document lists every name the server accepts.
pub struct TimeZoneName;

impl utoipa::PartialSchema for TimeZoneName {
    fn schema() -> RefOr<utoipa::openapi::schema::Schema> {
        let names = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name());
        RefOr::T(utoipa::openapi::schema::Schema::Object(
            utoipa::openapi::schema::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::String)
                .description(Some("An IANA time zone such as `Europe/Berlin`"))
                .enum_values(Some(names))
                .build(),
        ))
    }
}

impl utoipa::ToSchema for TimeZoneName {}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        // The same header with a `tf_pat_…` token (POST /api/{user_id}/tokens): limited to its
        // scopes, and refused (403 `session_required`) where only a session may act.
        let mut pat = Http::new(HttpAuthScheme::Bearer);
        pat.bearer_format = Some("tf_pat_…".into());
        pat.description = Some(
            "A personal access token, limited to its scopes (`tasks:read`, `tasks:write`, `notifications`, \
             `assistant`, `webhooks`); a request needing another scope gets 403 `insufficient_scope`"
                .into(),
        );
        components.add_security_scheme("personal_access_token", SecurityScheme::Http(pat));
    }
}

/// Declares the error answers every operation can give, so the document matches what the server does:
/// 401 where a token is required, 400/413/415/422 where there is a body, 400 for query strings, 404
/// under `/api/{user_id}` (another user's data), 405 everywhere.
struct CommonErrors;

fn error_response(description: &str) -> RefOr<Response> {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("ErrorBody")))
        .build();
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content("application/json", content)
            .build(),
    )
}

/// Optional headers are absent or a string: utoipa types an `Option<String>` parameter as
/// `["string", "null"]`, and a header cannot be null (a fuzzer would send the text `null`).
struct NonNullHeaders;

impl Modify for NonNullHeaders {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::{Schema, SchemaType, Type};
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                for parameter in operation.parameters.iter_mut().flatten() {
                    let RefOr::T(p) = parameter else { continue };
                    if p.parameter_in != ParameterIn::Header {
                        continue;
                    }
                    match p.schema.as_mut() {
                        // `Option<String>`: `type: [string, null]`.
                        Some(RefOr::T(Schema::Object(schema))) => {
                            schema.schema_type = SchemaType::Type(Type::String);
                        }
                        // `Option<SomeSchema>`: `oneOf: [{$ref}, {type: null}]`.
                        Some(RefOr::T(Schema::OneOf(one_of))) => {
                            let is_null = |s: &RefOr<Schema>| {
                                matches!(s, RefOr::T(Schema::Object(o))
                                    if o.schema_type == SchemaType::Type(Type::Null))
                            };
                            if let Some(non_null) = one_of.items.iter().find(|s| !is_null(s)).cloned() {
                                p.schema = Some(non_null);
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

/// A personal access token may lack the operation's scope: 403 `insufficient_scope`, added to the
/// description of a 403 the operation documents already.
fn scope_refusal(responses: &mut std::collections::BTreeMap<String, RefOr<Response>>) {
    const WHY: &str = "`insufficient_scope`: a personal access token without the scope this operation needs";
    match responses.get_mut("403") {
        Some(RefOr::T(existing)) => existing.description = format!("{}; or {WHY}", existing.description),
        Some(RefOr::Ref(_)) => {}
        None => {
            responses.insert("403".to_owned(), error_response(WHY));
        }
    }
}

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                let mut add = |status: &str, description: &str| {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error_response(description));
                };
                let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
                if secured {
                    add("401", "Missing, invalid or expired token");
                }
                if path.starts_with("/api/{user_id}") {
                    add("404", "Not found (also another user's data)");
                }
                let has_query = operation.parameters.iter().flatten().any(|p| match p {
                    RefOr::T(p) => p.parameter_in == ParameterIn::Query,
                    RefOr::Ref(_) => false,
                });
                if has_query {
                    add("400", "A query parameter is malformed or unknown");
                }
                if operation.request_body.is_some() {
                    add("400", "Malformed JSON");
                    add("413", "Body larger than 1 MiB");
                    add("415", "Body is not JSON");
                    add("422", "A field is invalid");
                }
                add("405", "Method not allowed on this route");
                if secured {
                    scope_refusal(&mut operation.responses.responses);
                }
            }
        }
    }
}

/// utoipa names an operation after its handler, and handlers of different resources share names
/// (`list`, `create`, `get`, `delete`). OpenAPI requires unique `operationId`s: client generators
/// name methods after them, and schemathesis follows links by them (with duplicates it linked a
/// created task to the webhook routes). A shared name gets the resource its path names appended:
/// `list_tasks`, `list_webhooks_deliveries`, `delete_conversations`.
struct UniqueOperationIds;

impl UniqueOperationIds {
    fn operations(
        item: &mut utoipa::openapi::PathItem,
    ) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
        [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
    }
}

impl Modify for UniqueOperationIds {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let mut uses: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        for item in openapi.paths.paths.values_mut() {
            for operation in Self::operations(item) {
                if let Some(id) = &operation.operation_id {
                    *uses.entry(id.clone()).or_default() += 1;
                }
            }
        }
        for (path, item) in openapi.paths.paths.iter_mut() {
            let resource = path
                .split('/')
                .filter(|s| !s.is_empty() && *s != "api" && !s.starts_with('{'))
                .collect::<Vec<_>>()
                .join("_")
                .replace(['-', '.'], "_");
            for operation in Self::operations(item) {
                if let Some(id) = operation.operation_id.as_mut()
                    && uses.get(id.as_str()).is_some_and(|n| *n > 1)
                {
                    *id = format!("{id}_{resource}");
                }
            }
        }
    }
}

/// `Idempotency-Key` on the operations [`crate::idempotency::ROUTES`] wraps: the header parameter,
/// the answers it adds (400 for a malformed key, 409 while the first request runs, 422 for a key
/// reused on another request) and `Idempotent-Replayed` on the success responses.
struct IdempotencyKeys;

impl Modify for IdempotencyKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use crate::idempotency::request;
        use utoipa::openapi::Required;
        use utoipa::openapi::header::HeaderBuilder;
        use utoipa::openapi::path::ParameterBuilder;
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        for path in crate::idempotency::ROUTES {
            let Some(operation) = openapi.paths.paths.get_mut(path).and_then(|i| i.post.as_mut()) else {
                continue;
            };
            let key = ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(request::MAX_KEY_LEN))
                .pattern(Some(request::KEY_PATTERN))
                .build();
            operation.parameters.get_or_insert_with(Vec::new).push(RefOr::T(
                ParameterBuilder::new()
                    .name(request::HEADER)
                    .parameter_in(ParameterIn::Header)
                    .required(Required::False)
                    .description(Some(
                        "Makes a retry safe (draft-ietf-httpapi-idempotency-key-header): the first \
                         complete response for this key is stored for 24 hours and sent again, with \
                         `Idempotent-Replayed: true`, for the same request. A new key per new request, \
                         e.g. a UUID; keys are per user.",
                    ))
                    .schema(Some(key))
                    .build(),
            ));
            let responses = &mut operation.responses.responses;
            for (status, response) in responses.iter_mut() {
                if let (true, RefOr::T(response)) = (status.starts_with('2'), response) {
                    response.headers.insert(
                        request::REPLAYED.to_owned(),
                        RefOr::T(HeaderBuilder::new()
                            .schema(Some(ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["true"]))))
                            .description(Some("`true` when this is the stored response of an earlier request with the same `Idempotency-Key`"))
                            .build()),
                    );
                }
            }
            // Where the operation already answers with the status (a 400 or 422 for its body), the
            // header's reason is added to the description.
            let mut add = |status: &str, description: &str| match responses.get_mut(status) {
                // An annotation without a description: its status's usual meaning.
                Some(RefOr::T(existing)) if existing.description.is_empty() => {
                    let usual = if status == "400" {
                        "Malformed request"
                    } else {
                        "A field is invalid"
                    };
                    existing.description = format!("{usual}; or {description}");
                }
                Some(RefOr::T(existing)) => {
                    existing.description = format!("{}; or {description}", existing.description);
                }
                Some(RefOr::Ref(_)) => {}
                None => {
                    responses.insert(status.to_owned(), error_response(description));
                }
            };
            add("400", "`Idempotency-Key` not 1-255 printable ASCII characters");
            add(
                "409",
                "`request_in_progress`: the first request with this `Idempotency-Key` is still running; see `Retry-After`",
            );
            add(
                "422",
                "`idempotency_key_reused`: this `Idempotency-Key` came with a different request",
            );
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "TaskFlow API", description = "Tasks with recurrence rules, reminders and per-user isolation. Every change is published as a CloudEvent."),
    paths(
        auth::register, auth::login, auth::me, auth::update_me,
        tasks::list, tasks::create, tasks::get, tasks::update, tasks::patch, tasks::complete, tasks::delete,
        tasks::stats, tasks::occurrences, crate::routes::quick_add::create, crate::routes::quick_add::preview,
        crate::routes::recurrence_preview::preview, crate::routes::audit::list,
        crate::routes::notifications::list, crate::routes::notifications::mark_read,
        crate::routes::notifications::read_all, crate::routes::notifications::delete,
        crate::routes::chat::chat, crate::routes::chat_stream::stream, crate::routes::chat_confirm::confirm, crate::routes::chat::conversations,
        crate::routes::chat::messages, crate::routes::chat::delete, crate::routes::chat::clear,
        crate::routes::predecessor_chat::chat_as_token_user, crate::routes::predecessor_chat::latest_conversation_history,
        crate::chatkit::process, crate::chatkit::session::session, crate::chatkit::session::refresh,
        crate::chatkit::session::health,
        crate::routes::mcp::post, crate::routes::stream_tickets::create,
        crate::routes::tokens::create, crate::routes::tokens::list, crate::routes::tokens::revoke,
        crate::routes::calendar::feed, crate::routes::calendar::rotate, crate::routes::calendar::disable,
        crate::routes::webhooks::create, crate::routes::webhooks::list, crate::routes::webhooks::get,
        crate::routes::webhooks::update, crate::routes::webhooks::delete, crate::routes::webhooks::rotate_secret,
        crate::routes::webhook_deliveries::list, crate::routes::webhook_deliveries::retry,
        taskflow_runtime::health::health, taskflow_runtime::health::ready, taskflow_runtime::metrics::render,
    ),
    components(schemas(
        taskflow_runtime::error::ErrorBody, taskflow_runtime::error::ErrorDetail,
        taskflow_domain::task::Reminder, taskflow_domain::ReminderSpec, taskflow_domain::Recurrence,
        taskflow_domain::RecurrenceInput, taskflow_domain::recurrence::RecurrenceObject,
        taskflow_domain::RecurrenceAnchor,
        taskflow_domain::Priority, taskflow_domain::Category, TimeZoneName,
        crate::routes::mcp::McpProtocolVersion, crate::routes::mcp::JsonRpcBody,
    )),
    modifiers(&BearerAuth, &CommonErrors, &NonNullHeaders, &IdempotencyKeys, &UniqueOperationIds),
    tags((name = "auth"), (name = "tasks"), (name = "audit"), (name = "notifications"), (name = "assistant"), (name = "mcp"), (name = "tokens", description = "Personal access tokens: long-lived, scoped bearer tokens for scripts and integrations"), (name = "realtime", description = "Tickets for the WebSocket (`GET /ws`) and SSE (`GET /api/sse/{user_id}`) streams, which the websocket service serves"), (name = "calendar", description = "The iCalendar feed a calendar app subscribes to, and its feed token"), (name = "chatkit", description = "A server for OpenAI's ChatKit web component (custom-backend mode): the assistant's threads and items, and short-lived client secrets"), (name = "operations")),
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::Value;
    use taskflow_domain::{text, user};

    use super::*;

    #[test]
    fn every_operation_id_is_unique() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let mut seen = std::collections::HashMap::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                if let Some(id) = operation["operationId"].as_str() {
                    let here = format!("{method} {path}");
                    if let Some(before) = seen.insert(id.to_owned(), here.clone()) {
                        panic!("operationId {id} names both {before} and {here}");
                    }
                }
            }
        }
        assert_eq!(seen["list_tasks"], "get /api/{user_id}/tasks");
    }

    fn property<'a>(doc: &'a Value, schema: &str, field: &str) -> &'a Value {
        &doc["components"]["schemas"][schema]["properties"][field]
    }

    /// The patterns in the document are the domain's (whose property tests check them against the
    /// validation code): schemathesis holds the server to them in both directions.
    #[test]
    fn documented_patterns_are_the_servers_rules() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        for (schema, field, pattern, max) in [
            ("CreateTask", "title", text::SINGLE_LINE_PATTERN, 200),
            ("TaskUpdate", "title", text::SINGLE_LINE_PATTERN, 200),
            ("CreateTask", "description", text::MULTI_LINE_PATTERN, 10_000),
            ("TaskUpdate", "description", text::MULTI_LINE_PATTERN, 10_000),
            ("RegisterRequest", "name", text::SINGLE_LINE_PATTERN, 100),
            ("ProfileUpdate", "name", text::SINGLE_LINE_PATTERN, 100),
            ("RegisterRequest", "email", user::EMAIL_PATTERN, 254),
            ("RegisterRequest", "password", user::PASSWORD_PATTERN, 1024),
            ("ChatRequest", "message", text::MULTI_LINE_NON_BLANK_PATTERN, 4000),
            ("QuickAddRequest", "text", text::SINGLE_LINE_PATTERN, 500),
        ] {
            let p = property(&doc, schema, field);
            assert_eq!(p["pattern"], pattern, "{schema}.{field}");
            assert_eq!(p["maxLength"], max, "{schema}.{field}");
        }
        let zones = &doc["components"]["schemas"]["TimeZoneName"]["enum"];
        assert_eq!(zones.as_array().unwrap().len(), chrono_tz::TZ_VARIANTS.len());
        let mcp = &doc["paths"]["/mcp"]["post"]["parameters"][0];
        assert_eq!(mcp["name"], "MCP-Protocol-Version");
        let versions = &doc["components"]["schemas"]["McpProtocolVersion"]["enum"];
        assert_eq!(
            versions,
            &serde_json::json!(taskflow_assistant::mcp::PROTOCOL_VERSIONS)
        );
    }
}
