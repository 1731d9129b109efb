//! Webhooks: `POST/GET/DELETE /webhooks`, `GET /webhooks/{webhookId}`, and the events they
//! receive.
//!
//! An integration registers a URL and acts on what api.video POSTs to it; the POST is signed
//! with the webhook's `signatureSecret` (HMAC-SHA256 of the body, hex, in
//! `X-Api-Video-Signature`) and retried as api.video documents. The payloads and headers are
//! built here; the engine's deliveries send them on the server's clock. Every event goes
//! through one function per event type ([`quality_encoded`]), so whatever makes a quality
//! encoded (an upload finishing today, the encoding lifecycle later) emits the same event.

use std::time::Duration;

use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::paging::{ListQuery, Pagination};
use super::{wire, Backend, Problem, ProblemItem};
use crate::engine::body::Response;
use crate::engine::deliveries::{Outbound, RetryPolicy};
use crate::engine::vendor::{Context, Vendor};

/// The events a webhook may subscribe to (OpenAPI `webhooks-creation-payload.events`).
pub(crate) const EVENTS: &[&str] = &[
    "live-stream.broadcast.started",
    "live-stream.broadcast.ended",
    "video.source.recorded",
    "video.encoding.quality.completed",
    "video.caption.generated",
    "video.summary.generated",
];

/// The event sent when one quality of one encoding is ready.
pub(crate) const QUALITY_COMPLETED: &str = "video.encoding.quality.completed";

/// How api.video retries: "3 times, with 3 second intervals between each try", and any status
/// below 300 is a success (api.video-documentation, reference/create-and-manage-webhooks.md,
/// "Retries and failed webhooks").
pub(crate) const RETRY_POLICY: RetryPolicy = RetryPolicy::new(4, Duration::from_secs(3));

/// The most webhooks one project keeps (the vendor publishes no limit; this bounds memory).
pub(crate) const MAX_WEBHOOKS: usize = 100;

/// The URL the vendor accepts: "any http or https URL"; longer ones are refused.
const MAX_URL: usize = 2048;

/// A webhook subscription, as the API answers it and the state file saves it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Webhook {
    pub webhook_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub events: Vec<String>,
    pub url: String,
    pub signature_secret: String,
}

/// The wire form, in the vendor's key order (OpenAPI `webhook`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WebhookBody<'a> {
    webhook_id: &'a str,
    created_at: String,
    events: &'a [String],
    url: &'a str,
    signature_secret: &'a str,
}

impl<'a> From<&'a Webhook> for WebhookBody<'a> {
    fn from(webhook: &'a Webhook) -> Self {
        WebhookBody {
            webhook_id: &webhook.webhook_id,
            created_at: wire::atom(webhook.created_at),
            events: &webhook.events,
            url: &webhook.url,
            signature_secret: &webhook.signature_secret,
        }
    }
}

/// `POST /webhooks` `{"events": [...], "url": "..."}`: 201 with the webhook.
pub(crate) fn create(
    backend: &Backend,
    cx: &Context,
    key: &str,
    body: Option<Value>,
    now: OffsetDateTime,
) -> Result<Response, Problem> {
    let Some(Value::Object(mut body)) = body else {
        return Err(Problem::invalid_payload());
    };
    // The older validation style: every problem found, the first one on top.
    let mut problems = Vec::new();
    let events = match body.remove("events") {
        None | Some(Value::Null) => {
            problems.push(required("events"));
            None
        }
        Some(Value::Array(items)) => {
            let mut events = Vec::new();
            for item in items {
                match item.as_str().filter(|e| EVENTS.contains(e)) {
                    Some(event) if !events.iter().any(|e| e == event) => {
                        events.push(event.to_owned())
                    }
                    Some(_) => {}
                    None => problems.push(ProblemItem::new(
                        "invalid-attribute",
                        format!("This attribute must be one of {}.", EVENTS.join(", ")),
                        "events",
                    )),
                }
            }
            if events.is_empty() && problems.is_empty() {
                problems.push(required("events"));
            }
            Some(events)
        }
        Some(_) => {
            problems.push(ProblemItem::new(
                "invalid-attribute",
                "This attribute must be an array.",
                "events",
            ));
            None
        }
    };
    let url = match body.remove("url") {
        None | Some(Value::Null) => {
            problems.push(required("url"));
            None
        }
        Some(Value::String(url)) if is_http_url(&url) => Some(url),
        Some(_) => {
            problems.push(ProblemItem::new(
                "invalid-attribute",
                "This attribute must be a valid url.",
                "url",
            ));
            None
        }
    };
    let (Some(events), Some(url), true) = (events, url, problems.is_empty()) else {
        return Err(older_style(problems));
    };
    let webhook = Webhook {
        webhook_id: cx.ids.base62("webhook_", 22),
        created_at: now,
        events,
        url,
        signature_secret: cx.ids.base62("sig_sec_", 22),
    };
    let mut state = backend.lock();
    let project = state
        .projects
        .get_mut(key)
        .ok_or_else(|| Problem::resource_not_found("webhookId"))?;
    if project.webhooks.len() >= MAX_WEBHOOKS {
        return Err(Problem::invalid_attribute(
            "url",
            format!("A project holds at most {MAX_WEBHOOKS} webhooks."),
        ));
    }
    project
        .webhooks
        .insert(webhook.webhook_id.clone(), webhook.clone());
    Ok(wire::json(
        StatusCode::CREATED,
        &WebhookBody::from(&webhook),
    ))
}

fn required(name: &str) -> ProblemItem {
    ProblemItem::new("attribute-required", "This attribute is required.", name)
}

/// `{type, title, name, status, problems}` with the first problem on top.
fn older_style(problems: Vec<ProblemItem>) -> Problem {
    let first = problems
        .first()
        .and_then(|p| serde_json::to_value(p).ok())
        .unwrap_or_default();
    let slug = first["type"]
        .as_str()
        .and_then(|t| t.rsplit('/').next())
        .unwrap_or("invalid-payload")
        .to_owned();
    let title = first["title"].as_str().unwrap_or_default().to_owned();
    let name = first["name"].as_str().unwrap_or_default().to_owned();
    Problem::new(400, &slug, title)
        .name(name)
        .problems(problems)
}

fn is_http_url(url: &str) -> bool {
    url.len() <= MAX_URL
        && url.parse::<http::Uri>().ok().is_some_and(|uri| {
            matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some()
        })
}

/// `GET /webhooks/{webhookId}`.
pub(crate) fn get(backend: &Backend, key: &str, id: &str) -> Result<Response, Problem> {
    let state = backend.lock();
    let webhook = state
        .projects
        .get(key)
        .and_then(|p| p.webhooks.get(id))
        .ok_or_else(|| Problem::resource_not_found("webhookId"))?;
    Ok(wire::json(StatusCode::OK, &WebhookBody::from(webhook)))
}

/// `DELETE /webhooks/{webhookId}`: 204, no body.
pub(crate) fn delete(backend: &Backend, key: &str, id: &str) -> Result<Response, Problem> {
    backend
        .lock()
        .projects
        .get_mut(key)
        .and_then(|p| p.webhooks.shift_remove(id))
        .map(|_| wire::no_content())
        .ok_or_else(|| Problem::resource_not_found("webhookId"))
}

/// `GET /webhooks?events=…&currentPage=…&pageSize=…`: in creation order.
pub(crate) fn list(
    backend: &Backend,
    key: &str,
    query: Option<&str>,
    base: &str,
) -> Result<Response, Problem> {
    let query = ListQuery::parse(query, &[], &["events"])?;
    let webhooks: Vec<Webhook> = {
        let state = backend.lock();
        state
            .projects
            .get(key)
            .map(|p| {
                p.webhooks
                    .values()
                    .filter(|w| {
                        query
                            .filter("events")
                            .is_none_or(|event| w.events.iter().any(|e| e == event))
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    };
    let (page, pagination) = query.page(webhooks, &format!("{base}/webhooks"));
    let data: Vec<WebhookBody> = page.iter().map(WebhookBody::from).collect();
    Ok(wire::json(StatusCode::OK, &ListBody { data, pagination }))
}

#[derive(Serialize)]
struct ListBody<'a> {
    data: Vec<WebhookBody<'a>>,
    pagination: Pagination,
}

/// After a restore: the events of every rendition the lifecycle still has to encode, queued for
/// when it does (those due before the restart and not sent are not sent).
pub(crate) fn resume(backend: &Backend, cx: &Context) {
    let now = cx.clock.now();
    let schedule = backend.config.schedule;
    let pending: Vec<(String, super::QualityEncoded)> = {
        let state = backend.lock();
        state
            .projects
            .iter()
            .flat_map(|(key, project)| {
                project.videos.values().flat_map(move |video| {
                    super::lifecycle::encoded_between(
                        video,
                        &schedule,
                        now,
                        now + time::Duration::days(36_500),
                    )
                    .into_iter()
                    .map(move |event| (key.clone(), event))
                })
            })
            .collect()
    };
    for (key, event) in pending {
        quality_encoded(
            backend,
            cx,
            &key,
            &event.video_id,
            event.format.as_str(),
            event.quality,
            event.at,
        );
    }
}

/// The one place a `video.encoding.quality.completed` event is emitted: `quality` (`720p`) of
/// `encoding` (`hls` or `mp4`) of video `video_id` in project `key` is encoded at `at` (on
/// the clock). Each webhook of the project subscribed to the event gets one delivery, due at
/// `at`, with the vendor's body and signature.
pub(crate) fn quality_encoded(
    backend: &Backend,
    cx: &Context,
    key: &str,
    video_id: &str,
    encoding: &str,
    quality: &str,
    at: OffsetDateTime,
) {
    let subscribed: Vec<Webhook> = backend
        .lock()
        .projects
        .get(key)
        .map(|p| {
            p.webhooks
                .values()
                .filter(|w| w.events.iter().any(|e| e == QUALITY_COMPLETED))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    if subscribed.is_empty() {
        return;
    }
    // The vendor's fields, in its order (OpenAPI `x-webhooks`).
    let body = serde_json::json!({
        "type": QUALITY_COMPLETED,
        "emittedAt": emitted_at(at),
        "videoId": video_id,
        "encoding": encoding,
        "quality": quality,
    });
    let body = bytes::Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
    for webhook in subscribed {
        send(backend, cx, &webhook, QUALITY_COMPLETED, body.clone(), at);
    }
}

/// Queues one signed event for one webhook.
fn send(
    backend: &Backend,
    cx: &Context,
    webhook: &Webhook,
    event: &str,
    body: bytes::Bytes,
    due: OffsetDateTime,
) {
    let signature = signature(&webhook.signature_secret, &body);
    cx.deliveries.enqueue(Outbound {
        method: http::Method::POST,
        vendor: Vendor::API_VIDEO,
        event: event.to_owned(),
        url: webhook.url.clone(),
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("X-Api-Video-WebhookID".into(), webhook.webhook_id.clone()),
            ("X-Api-Video-Signature".into(), signature),
        ],
        body,
        signature_headers: vec!["X-Api-Video-Signature".into()],
        policy: crate::engine::vendor::Contract::delivery_policy(backend),
        due,
    });
}

/// `emittedAt`: RFC 3339 in UTC with milliseconds and `Z`, as the body the vendor's signature
/// guide signs (`2021-01-29T15:46:25.217Z`, reference/create-and-manage-webhooks.md).
fn emitted_at(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

/// `X-Api-Video-Signature`: HMAC-SHA256 of the raw body keyed by the webhook's
/// `signatureSecret`, lower-case hex (the vendor's PHP sample: `hash_hmac("sha256", $body,
/// $secret)`).
pub(crate) fn signature(secret: &str, body: &[u8]) -> String {
    crate::engine::hex::encode(hmac_sha256(secret.as_bytes(), body))
}

/// HMAC (RFC 2104) over SHA-256, with the `sha2` the crate already links.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_test_cases() {
        // Test case 2.
        assert_eq!(
            crate::engine::hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block.
        assert_eq!(
            crate::engine::hex::encode(hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn emitted_at_has_milliseconds_and_an_offset() {
        let at = time::macros::datetime!(2021-01-29 15:46:25.217 UTC);
        assert_eq!(emitted_at(at), "2021-01-29T15:46:25.217Z");
    }

    #[test]
    fn the_signature_matches_the_vendors_documented_example() {
        // reference/create-and-manage-webhooks.md, "Simulate a webhook call": this body with
        // the secret of the guide's sample webhook gives the header the guide shows.
        let body = r#"{"type":"video.encoding.quality.completed","emittedAt":"2021-01-29T15:46:25.217Z","videoId":"vi0000000000000000000000","liveStreamId":"li0000000000000000000000","encoding":"hls","quality":"720p"}"#;
        assert_eq!(
            signature("sig_sec_0000000000000000000000", body.as_bytes()),
            "27a77d3a7fc626854886b5dbfae4e32c8b0170c1ea1b714c91ba77f1e7774e8c"
        );
    }
}
