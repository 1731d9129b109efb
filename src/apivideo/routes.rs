//! Which api.video operation a method and path name.
//!
//! This one table drives the dispatcher, the journal's operation names and the `op()` matcher,
//! so the three can never disagree. Operation names are a public contract: faults and
//! expectations refer to them.

use http::Method;

/// An api.video operation with its path parameters (percent-decoded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    Authenticate,
    RefreshToken,
    CreateToken,
    ListTokens,
    GetToken(String),
    DeleteToken(String),
    UploadWithUploadToken,
    UploadVideo(String),
    CreateVideo,
    ListVideos,
    GetVideo(String),
    UpdateVideo(String),
    DeleteVideo(String),
    GetVideoStatus(String),
    /// The HLS manifest behind a video's `assets.hls` (a CDN URL at the vendor).
    HlsManifest(String),
    CreateWebhook,
    ListWebhooks,
    GetWebhook(String),
    DeleteWebhook(String),
}

/// Why a request matched no operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NoRoute {
    /// No operation has this path.
    NotFound,
    /// The path exists, with other methods.
    MethodNotAllowed,
}

/// What a request costs against the per-minute budgets (../shared/specs/apivideo.md §9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// `/auth/*`: never limited.
    Exempt,
    Read,
    Write,
    Upload,
}

impl Route {
    /// Classifies `method` + `path` (the raw, percent-encoded path).
    pub(crate) fn classify(method: &Method, path: &str) -> Result<Route, NoRoute> {
        let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
        let id = |segment: &str| decode(segment);
        let route = match (segments.as_slice(), method.clone()) {
            (["auth", "api-key"], Method::POST) => Route::Authenticate,
            (["auth", "refresh"], Method::POST) => Route::RefreshToken,
            (["upload-tokens"], Method::POST) => Route::CreateToken,
            (["upload-tokens"], Method::GET) => Route::ListTokens,
            (["upload-tokens", t], Method::GET) if !t.is_empty() => Route::GetToken(id(t)?),
            (["upload-tokens", t], Method::DELETE) if !t.is_empty() => Route::DeleteToken(id(t)?),
            (["upload"], Method::POST) => Route::UploadWithUploadToken,
            (["videos"], Method::POST) => Route::CreateVideo,
            (["videos"], Method::GET) => Route::ListVideos,
            (["videos", v], Method::GET) if !v.is_empty() => Route::GetVideo(id(v)?),
            (["videos", v], Method::PATCH) if !v.is_empty() => Route::UpdateVideo(id(v)?),
            (["videos", v], Method::DELETE) if !v.is_empty() => Route::DeleteVideo(id(v)?),
            (["videos", v, "status"], Method::GET) if !v.is_empty() => {
                Route::GetVideoStatus(id(v)?)
            }
            (["videos", v, "source"], Method::POST) if !v.is_empty() => Route::UploadVideo(id(v)?),
            (["vod", v, "hls", "manifest.m3u8"], Method::GET | Method::HEAD) if !v.is_empty() => {
                Route::HlsManifest(id(v)?)
            }
            (["webhooks"], Method::POST) => Route::CreateWebhook,
            (["webhooks"], Method::GET) => Route::ListWebhooks,
            (["webhooks", w], Method::GET) if !w.is_empty() => Route::GetWebhook(id(w)?),
            (["webhooks", w], Method::DELETE) if !w.is_empty() => Route::DeleteWebhook(id(w)?),
            (
                ["auth", "api-key" | "refresh"]
                | ["upload-tokens"]
                | ["upload"]
                | ["videos"]
                | ["webhooks"],
                _,
            ) => return Err(NoRoute::MethodNotAllowed),
            (["upload-tokens" | "videos" | "webhooks", v], _) if !v.is_empty() => {
                return Err(NoRoute::MethodNotAllowed)
            }
            (["videos", v, "status" | "source"], _) if !v.is_empty() => {
                return Err(NoRoute::MethodNotAllowed)
            }
            _ => return Err(NoRoute::NotFound),
        };
        Ok(route)
    }

    /// Every operation's public name, from one route of each kind (a kind of route added to
    /// `classify` is added here too, or the admin API refuses faults on it).
    pub(crate) fn operations() -> impl Iterator<Item = &'static str> {
        let id = String::new;
        [
            Route::Authenticate,
            Route::RefreshToken,
            Route::CreateToken,
            Route::ListTokens,
            Route::GetToken(id()),
            Route::DeleteToken(id()),
            Route::UploadWithUploadToken,
            Route::UploadVideo(id()),
            Route::CreateVideo,
            Route::ListVideos,
            Route::GetVideo(id()),
            Route::UpdateVideo(id()),
            Route::DeleteVideo(id()),
            Route::GetVideoStatus(id()),
            Route::HlsManifest(id()),
            Route::CreateWebhook,
            Route::ListWebhooks,
            Route::GetWebhook(id()),
            Route::DeleteWebhook(id()),
        ]
        .into_iter()
        .map(|route| route.operation())
    }

    /// The operation's public name (`createToken`, …).
    pub(crate) fn operation(&self) -> &'static str {
        match self {
            Route::Authenticate => "authenticate",
            Route::RefreshToken => "refreshToken",
            Route::CreateToken => "createToken",
            Route::ListTokens => "listTokens",
            Route::GetToken(_) => "getToken",
            Route::DeleteToken(_) => "deleteToken",
            Route::UploadWithUploadToken => "uploadWithUploadToken",
            Route::UploadVideo(_) => "uploadVideo",
            Route::CreateVideo => "createVideo",
            Route::ListVideos => "listVideos",
            Route::GetVideo(_) => "getVideo",
            Route::UpdateVideo(_) => "updateVideo",
            Route::DeleteVideo(_) => "deleteVideo",
            Route::GetVideoStatus(_) => "getVideoStatus",
            Route::HlsManifest(_) => "hlsManifest",
            Route::CreateWebhook => "createWebhook",
            Route::ListWebhooks => "listWebhooks",
            Route::GetWebhook(_) => "getWebhook",
            Route::DeleteWebhook(_) => "deleteWebhook",
        }
    }

    pub(crate) fn class(&self) -> Class {
        match self {
            Route::Authenticate | Route::RefreshToken | Route::HlsManifest(_) => Class::Exempt,
            Route::ListTokens
            | Route::GetToken(_)
            | Route::ListVideos
            | Route::GetVideo(_)
            | Route::GetVideoStatus(_)
            | Route::ListWebhooks
            | Route::GetWebhook(_) => Class::Read,
            Route::CreateToken
            | Route::DeleteToken(_)
            | Route::CreateVideo
            | Route::UpdateVideo(_)
            | Route::DeleteVideo(_)
            | Route::CreateWebhook
            | Route::DeleteWebhook(_) => Class::Write,
            Route::UploadWithUploadToken | Route::UploadVideo(_) => Class::Upload,
        }
    }
}

/// Percent-decodes a path segment; a segment that is not UTF-8 names nothing.
fn decode(segment: &str) -> Result<String, NoRoute> {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| NoRoute::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_paths_name_their_operations() {
        assert_eq!(
            Route::classify(&Method::GET, "/upload-tokens/to1%41"),
            Ok(Route::GetToken("to1A".into()))
        );
        assert_eq!(
            Route::classify(&Method::POST, "/upload-tokens"),
            Ok(Route::CreateToken)
        );
    }

    #[test]
    fn known_paths_with_other_methods_are_not_allowed() {
        assert_eq!(
            Route::classify(&Method::PUT, "/upload-tokens"),
            Err(NoRoute::MethodNotAllowed)
        );
        assert_eq!(
            Route::classify(&Method::GET, "/auth/api-key"),
            Err(NoRoute::MethodNotAllowed)
        );
    }

    #[test]
    fn unknown_paths_are_not_found() {
        assert_eq!(
            Route::classify(&Method::GET, "/upload-tokens/"),
            Err(NoRoute::NotFound)
        );
        assert_eq!(
            Route::classify(&Method::GET, "/nope"),
            Err(NoRoute::NotFound)
        );
    }
}
