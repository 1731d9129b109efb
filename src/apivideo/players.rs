//! Player themes: the colours and switches of the vendor's web player, and an optional logo.
//!
//! Nothing renders a theme here; vidmock keeps and answers what a client set, with the
//! defaults the OpenAPI document's `player-theme-creation-payload` gives. A logo is kept (a
//! [`KeptFile`]: on disk when the server spills uploads) and served at the URL the theme's
//! `assets.logo` names, as the vendor's CDN serves it.

use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::files::{image_extension_invalid, Form};
use super::paging::ListQuery;
use super::{wire, Backend, Problem};
use crate::engine::body::Response;
use crate::engine::ids::Ids;
use crate::upload::kept::KeptFile;

/// A logo's largest size, as the vendor documents it ("a maximum of 100 KiB").
pub(crate) const MAX_LOGO: usize = 100 * 1024;

/// The most player themes one project keeps (the vendor documents no limit).
pub(crate) const MAX_PER_PROJECT: usize = 1000;

/// The longest `name` (the document's `maxLength`), and of any colour string (vidmock's bound).
const MAX_NAME: usize = 100;
const MAX_COLOUR: usize = 255;

/// The colour attributes with their documented defaults (`linkActive` has none documented: it
/// takes `link`'s).
const COLOURS: [(&str, &str); 11] = [
    ("text", "rgba(255, 255, 255, 1)"),
    ("link", "rgba(255, 255, 255, 1)"),
    ("linkHover", "rgba(255, 255, 255, 1)"),
    ("linkActive", "rgba(255, 255, 255, 1)"),
    ("trackPlayed", "rgba(88, 131, 255, .95)"),
    ("trackUnplayed", "rgba(255, 255, 255, .35)"),
    ("trackBackground", "rgba(255, 255, 255, .2)"),
    ("backgroundTop", "rgba(0, 0, 0, .7)"),
    ("backgroundBottom", "rgba(0, 0, 0, .7)"),
    ("backgroundText", "rgba(255, 255, 255, 1)"),
    // Not a colour, but a string attribute checked the same way.
    ("name", ""),
];

/// The switches with their documented defaults.
const SWITCHES: [(&str, bool); 5] = [
    ("enableApi", true),
    ("enableControls", true),
    ("forceAutoplay", false),
    ("hideTitle", false),
    ("forceLoop", false),
];

/// A player's logo, as uploaded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Logo {
    pub filename: String,
    /// The link a viewer clicking the logo goes to.
    #[serde(default)]
    pub link: Option<String>,
    /// The image; a seed may leave it out (then `assets.logo` answers 404).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<KeptFile>,
}

/// One player theme.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct StoredPlayer {
    /// `pl` + 22 base62 characters.
    #[serde(default)]
    pub player_id: String,
    /// String attributes set (name and colours); the others answer their default.
    #[serde(default)]
    pub texts: std::collections::BTreeMap<String, String>,
    /// Switches set; the others answer their default.
    #[serde(default)]
    pub switches: std::collections::BTreeMap<String, bool>,
    #[serde(default)]
    pub logo: Option<Logo>,
    #[serde(default = "crate::engine::clock::unset", with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(default = "crate::engine::clock::unset", with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl StoredPlayer {
    /// Supplies what a seed may leave out: an id and dates.
    pub(crate) fn fill(&mut self, ids: &Ids, now: OffsetDateTime) {
        if self.player_id.is_empty() {
            self.player_id = ids.base62("pl", 22);
        }
        if crate::engine::clock::is_unset(self.created_at) {
            self.created_at = now;
        }
        if crate::engine::clock::is_unset(self.updated_at) {
            self.updated_at = self.created_at;
        }
    }

    /// Its logo's image, if it has one.
    pub(crate) fn kept_file(&self) -> Option<&KeptFile> {
        self.logo.as_ref()?.image.as_ref()
    }

    /// Gives a logo read from a document its bytes back.
    pub(crate) fn restore_logo(&mut self, blob: &dyn Fn(&str, u64) -> Option<bytes::Bytes>) {
        if let Some(image) = self.logo.as_mut().and_then(|logo| logo.image.as_mut()) {
            image.restore(blob);
        }
    }

    fn name(&self) -> &str {
        self.texts.get("name").map_or("", String::as_str)
    }

    fn to_json(&self, base: &str) -> Value {
        let mut object = Map::new();
        object.insert("name".into(), self.name().into());
        for (attribute, default) in COLOURS.iter().filter(|(a, _)| *a != "name") {
            let value = self.texts.get(*attribute).map_or(*default, String::as_str);
            object.insert((*attribute).into(), value.into());
        }
        for (attribute, default) in SWITCHES {
            let value = self.switches.get(attribute).copied().unwrap_or(default);
            object.insert(attribute.into(), value.into());
        }
        object.insert("playerId".into(), self.player_id.clone().into());
        object.insert("createdAt".into(), wire::atom(self.created_at).into());
        object.insert("updatedAt".into(), wire::atom(self.updated_at).into());
        if let Some(logo) = &self.logo {
            // The file's own extension; a name without one (a Node client's Buffer) by the
            // image's type.
            let by_type = match &logo.image {
                Some(image) if image.content_type == "image/jpeg" => "jpg",
                _ => "png",
            };
            let extension = logo
                .filename
                .rsplit_once('.')
                .map_or(by_type.to_owned(), |(_, e)| e.to_ascii_lowercase());
            let mut assets = json!({
                "logo": format!("{base}/player/{}/logo.{extension}", self.player_id),
            });
            if let Some(link) = &logo.link {
                assets["link"] = link.clone().into();
            }
            object.insert("assets".into(), assets);
        }
        Value::Object(object)
    }

    /// Applies the attributes of a creation or update payload, checked first as a whole.
    fn apply(&mut self, body: Option<Value>, now: OffsetDateTime) -> Result<(), Problem> {
        let object = match body {
            None => Map::new(),
            Some(Value::Object(object)) => object,
            Some(_) => return Err(Problem::invalid_payload()),
        };
        let mut texts = Vec::new();
        for (attribute, _) in COLOURS {
            match object.get(attribute) {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) => {
                    let max = if attribute == "name" {
                        MAX_NAME
                    } else {
                        MAX_COLOUR
                    };
                    if s.chars().count() > max {
                        return Err(Problem::invalid_attribute(
                            attribute,
                            format!(
                                "This value is too long. It should have {max} characters or less."
                            ),
                        ));
                    }
                    texts.push((attribute, s.clone()));
                }
                Some(_) => {
                    return Err(Problem::invalid_attribute(
                        attribute,
                        "This value should be of type string.",
                    ))
                }
            }
        }
        let mut switches = Vec::new();
        for (attribute, _) in SWITCHES {
            match object.get(attribute) {
                None | Some(Value::Null) => {}
                Some(Value::Bool(b)) => switches.push((attribute, *b)),
                Some(_) => {
                    return Err(Problem::invalid_attribute(
                        attribute,
                        "This value should be of type bool.",
                    ))
                }
            }
        }
        for (attribute, value) in texts {
            self.texts.insert(attribute.to_owned(), value);
        }
        for (attribute, value) in switches {
            self.switches.insert(attribute.to_owned(), value);
        }
        self.updated_at = now;
        Ok(())
    }
}

fn not_found() -> Problem {
    Problem::resource_not_found("playerId")
}

/// `POST /players`: 201 with the theme.
pub(crate) fn create(
    backend: &Backend,
    ids: &Ids,
    key: &str,
    body: Result<Option<Value>, Problem>,
    base: &str,
    now: OffsetDateTime,
) -> Result<Response, Problem> {
    let mut player = StoredPlayer {
        player_id: ids.base62("pl", 22),
        texts: Default::default(),
        switches: Default::default(),
        logo: None,
        created_at: now,
        updated_at: now,
    };
    player.apply(body?, now)?;
    let mut state = backend.lock();
    let project = state.projects.get_mut(key).ok_or_else(not_found)?;
    if project.players.len() >= MAX_PER_PROJECT {
        return Err(Problem::invalid_payload().detail(format!(
            "A project holds at most {MAX_PER_PROJECT} player themes; delete one first."
        )));
    }
    let json = player.to_json(base);
    project.players.insert(player.player_id.clone(), player);
    Ok(wire::json(StatusCode::CREATED, &json))
}

/// `GET /players/{playerId}`.
pub(crate) fn get(backend: &Backend, key: &str, id: &str, base: &str) -> Result<Response, Problem> {
    backend
        .lock()
        .projects
        .get(key)
        .and_then(|p| p.players.get(id))
        .map(|player| wire::json(StatusCode::OK, &player.to_json(base)))
        .ok_or_else(not_found)
}

/// Runs `f` on player `id` of project `key`, as a change of that player.
fn with_player<T>(
    backend: &Backend,
    key: &str,
    id: &str,
    f: impl FnOnce(&mut StoredPlayer) -> Result<T, Problem>,
) -> Result<T, Problem> {
    let mut state = backend.lock();
    let player = state
        .projects
        .get_mut(key)
        .and_then(|p| p.players.get_mut(id))
        .ok_or_else(not_found)?;
    f(player)
}

/// `PATCH /players/{playerId}`.
pub(crate) fn update(
    backend: &Backend,
    key: &str,
    id: &str,
    body: Result<Option<Value>, Problem>,
    base: &str,
    now: OffsetDateTime,
) -> Result<Response, Problem> {
    let body = body?;
    with_player(backend, key, id, |player| {
        player.apply(body, now)?;
        Ok(wire::json(StatusCode::OK, &player.to_json(base)))
    })
}

/// `DELETE /players/{playerId}`.
pub(crate) fn delete(backend: &Backend, key: &str, id: &str) -> Result<Response, Problem> {
    backend
        .lock()
        .projects
        .get_mut(key)
        .and_then(|p| p.players.shift_remove(id))
        .map(|_| wire::no_content())
        .ok_or_else(not_found)
}

/// `POST /players/{playerId}/logo`: a JPEG or PNG of at most 100 KiB, and an optional `link`;
/// 201 with the theme.
pub(crate) async fn upload_logo(
    backend: &Backend,
    spill: Option<&std::sync::Arc<crate::upload::SpillDir>>,
    key: &str,
    id: &str,
    form: Result<Form, Problem>,
    base: &str,
    now: OffsetDateTime,
) -> Result<Response, Problem> {
    with_player(backend, key, id, |_| Ok(()))?;
    let form = form?;
    let link = form
        .field("link")
        .filter(|l| !l.is_empty())
        .map(str::to_owned);
    let Some(file) = form.file else {
        return Err(Problem::invalid_payload());
    };
    if !file.is_jpeg_or_png() {
        return Err(image_extension_invalid(
            "Only ['jpg', 'JPG', 'jpeg', 'JPEG', 'png', 'PNG'] extensions are supported.",
        ));
    }
    let content_type = file.image_type();
    let image = KeptFile::keep(file.bytes, content_type, backend.retention, spill).await;
    with_player(backend, key, id, |player| {
        player.logo = Some(Logo {
            filename: file.name,
            link,
            image: Some(image),
        });
        player.updated_at = now;
        Ok(wire::json(StatusCode::CREATED, &player.to_json(base)))
    })
}

/// `GET /player/{playerId}/logo.{ext}`, the theme's `assets.logo`: the logo as uploaded, whole
/// or by range, public like the vendor's CDN; the vendor's 404 when the theme or its logo is
/// gone (or a seed named a logo without its bytes).
pub(crate) fn serve_logo(
    backend: &Backend,
    id: &str,
    headers: &http::HeaderMap,
    head: bool,
) -> Response {
    use crate::engine::body::IntoResponse;
    let image = backend.lock().projects.values().find_map(|project| {
        let logo = project.players.get(id)?.logo.as_ref()?;
        logo.image.clone()
    });
    let Some((image, reader)) = image.and_then(|image| {
        let reader = image.reader()?;
        Some((image, reader))
    }) else {
        return not_found().into_response();
    };
    let content_type = http::HeaderValue::from_str(&image.content_type)
        .unwrap_or(http::HeaderValue::from_static("application/octet-stream"));
    let asked = headers
        .get(http::header::RANGE)
        .and_then(|v| v.to_str().ok());
    crate::upload::ranged::ranged(reader, asked, head, content_type)
}

/// `DELETE /players/{playerId}/logo`: 204, whether or not the theme had a logo.
pub(crate) fn delete_logo(
    backend: &Backend,
    key: &str,
    id: &str,
    now: OffsetDateTime,
) -> Result<Response, Problem> {
    with_player(backend, key, id, |player| {
        if player.logo.take().is_some() {
            player.updated_at = now;
        }
        Ok(wire::no_content())
    })
}

/// `GET /players`: sorted by name, creation or last change, paged.
pub(crate) fn list(
    backend: &Backend,
    key: &str,
    query: Option<&str>,
    base: &str,
) -> Result<Response, Problem> {
    let query = ListQuery::parse(query, &["name", "createdAt", "updatedAt"], &[])?;
    let mut players: Vec<StoredPlayer> = backend
        .lock()
        .projects
        .get(key)
        .map(|p| p.players.values().cloned().collect())
        .unwrap_or_default();
    match query.sort_by {
        Some("name") => players.sort_by(|a, b| a.name().cmp(b.name())),
        Some("updatedAt") => players.sort_by_key(|p| p.updated_at),
        _ => players.sort_by_key(|p| p.created_at),
    }
    if query.descending == Some(true) {
        players.reverse();
    }
    let (page, pagination) = query.page(players, &format!("{base}/players"));
    let data: Vec<Value> = page.iter().map(|p| p.to_json(base)).collect();
    Ok(wire::json(
        StatusCode::OK,
        &json!({ "data": data, "pagination": pagination }),
    ))
}
