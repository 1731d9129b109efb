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
    /// The segment the HLS manifest names.
    HlsSegment(String),
    /// `assets.mp4`.
    Mp4Asset(String),
    /// `assets.thumbnail`.
    ThumbnailAsset(String),
    /// `assets.player`, which `assets.iframe` embeds (an embed host at the vendor).
    PlayerPage(String),
    /// A caption's `src`: its WebVTT file (video id, language).
    CaptionFile(String, String),
    /// A chapters file's `src` (video id, language).
    ChapterFile(String, String),
    /// A player theme's `assets.logo` (player id; any extension).
    LogoAsset(String),
    UploadThumbnail(String),
    PickThumbnail(String),
    // The rest of the video API: video id (and language), or the resource's id.
    ListCaptions(String),
    GetCaption(String, String),
    UploadCaption(String, String),
    UpdateCaption(String, String),
    DeleteCaption(String, String),
    ListChapters(String),
    GetChapter(String, String),
    UploadChapter(String, String),
    DeleteChapter(String, String),
    UploadWatermark,
    ListWatermarks,
    DeleteWatermark(String),
    ListPlayers,
    CreatePlayer,
    GetPlayer(String),
    UpdatePlayer(String),
    DeletePlayer(String),
    UploadLogo(String),
    DeleteLogo(String),
    ListTags,
    ListDiscardedVideos,
    GetDiscardedVideo(String),
    UpdateDiscardedVideo(String),
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
            (["vod", v, "hls", "segment-0.ts"], Method::GET | Method::HEAD) if !v.is_empty() => {
                Route::HlsSegment(id(v)?)
            }
            (["vod", v, "mp4", "source.mp4"], Method::GET | Method::HEAD) if !v.is_empty() => {
                Route::Mp4Asset(id(v)?)
            }
            (["vod", v, "thumbnail.jpg"], Method::GET | Method::HEAD) if !v.is_empty() => {
                Route::ThumbnailAsset(id(v)?)
            }
            (["vod", v], Method::GET | Method::HEAD) if !v.is_empty() => Route::PlayerPage(id(v)?),
            (["vod", v, kind @ ("captions" | "chapters"), file], Method::GET | Method::HEAD)
                if !v.is_empty() && file.len() > ".vtt".len() && file.ends_with(".vtt") =>
            {
                let (v, l) = (id(v)?, id(&file[..file.len() - ".vtt".len()])?);
                if *kind == "captions" {
                    Route::CaptionFile(v, l)
                } else {
                    Route::ChapterFile(v, l)
                }
            }
            (["player", p, logo], Method::GET | Method::HEAD)
                if !p.is_empty() && logo.starts_with("logo.") =>
            {
                Route::LogoAsset(id(p)?)
            }
            (["videos", v, "thumbnail"], Method::POST) if !v.is_empty() => {
                Route::UploadThumbnail(id(v)?)
            }
            (["videos", v, "thumbnail"], Method::PATCH) if !v.is_empty() => {
                Route::PickThumbnail(id(v)?)
            }
            (["videos", v, "captions"], Method::GET) if !v.is_empty() => {
                Route::ListCaptions(id(v)?)
            }
            (["videos", v, "captions", l], m) if !v.is_empty() && !l.is_empty() => {
                let (v, l) = (id(v)?, id(l)?);
                match m {
                    Method::GET => Route::GetCaption(v, l),
                    Method::POST => Route::UploadCaption(v, l),
                    Method::PATCH => Route::UpdateCaption(v, l),
                    Method::DELETE => Route::DeleteCaption(v, l),
                    _ => return Err(NoRoute::MethodNotAllowed),
                }
            }
            (["videos", v, "chapters"], Method::GET) if !v.is_empty() => {
                Route::ListChapters(id(v)?)
            }
            (["videos", v, "chapters", l], m) if !v.is_empty() && !l.is_empty() => {
                let (v, l) = (id(v)?, id(l)?);
                match m {
                    Method::GET => Route::GetChapter(v, l),
                    Method::POST => Route::UploadChapter(v, l),
                    Method::DELETE => Route::DeleteChapter(v, l),
                    _ => return Err(NoRoute::MethodNotAllowed),
                }
            }
            (["watermarks"], Method::POST) => Route::UploadWatermark,
            (["watermarks"], Method::GET) => Route::ListWatermarks,
            (["watermarks", w], Method::DELETE) if !w.is_empty() => Route::DeleteWatermark(id(w)?),
            (["players"], Method::GET) => Route::ListPlayers,
            (["players"], Method::POST) => Route::CreatePlayer,
            (["players", p], Method::GET) if !p.is_empty() => Route::GetPlayer(id(p)?),
            (["players", p], Method::PATCH) if !p.is_empty() => Route::UpdatePlayer(id(p)?),
            (["players", p], Method::DELETE) if !p.is_empty() => Route::DeletePlayer(id(p)?),
            (["players", p, "logo"], Method::POST) if !p.is_empty() => Route::UploadLogo(id(p)?),
            (["players", p, "logo"], Method::DELETE) if !p.is_empty() => Route::DeleteLogo(id(p)?),
            (["tags"], Method::GET) => Route::ListTags,
            (["discarded", "videos"], Method::GET) => Route::ListDiscardedVideos,
            (["discarded", "videos", v], Method::GET) if !v.is_empty() => {
                Route::GetDiscardedVideo(id(v)?)
            }
            (["discarded", "videos", v], Method::PATCH) if !v.is_empty() => {
                Route::UpdateDiscardedVideo(id(v)?)
            }
            (
                ["watermarks" | "players" | "tags"]
                | ["discarded", "videos"]
                | ["discarded", "videos", _],
                _,
            ) => return Err(NoRoute::MethodNotAllowed),
            (["watermarks" | "players", w], _) if !w.is_empty() => {
                return Err(NoRoute::MethodNotAllowed)
            }
            (["players", p, "logo"], _) if !p.is_empty() => return Err(NoRoute::MethodNotAllowed),
            (["videos", v, "captions" | "chapters"], _) if !v.is_empty() => {
                return Err(NoRoute::MethodNotAllowed)
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
            (["videos", v, "status" | "source" | "thumbnail"], _) if !v.is_empty() => {
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
            Route::HlsSegment(id()),
            Route::Mp4Asset(id()),
            Route::ThumbnailAsset(id()),
            Route::PlayerPage(id()),
            Route::CaptionFile(id(), id()),
            Route::ChapterFile(id(), id()),
            Route::LogoAsset(id()),
            Route::UploadThumbnail(id()),
            Route::PickThumbnail(id()),
            Route::ListCaptions(id()),
            Route::GetCaption(id(), id()),
            Route::UploadCaption(id(), id()),
            Route::UpdateCaption(id(), id()),
            Route::DeleteCaption(id(), id()),
            Route::ListChapters(id()),
            Route::GetChapter(id(), id()),
            Route::UploadChapter(id(), id()),
            Route::DeleteChapter(id(), id()),
            Route::UploadWatermark,
            Route::ListWatermarks,
            Route::DeleteWatermark(id()),
            Route::ListPlayers,
            Route::CreatePlayer,
            Route::GetPlayer(id()),
            Route::UpdatePlayer(id()),
            Route::DeletePlayer(id()),
            Route::UploadLogo(id()),
            Route::DeleteLogo(id()),
            Route::ListTags,
            Route::ListDiscardedVideos,
            Route::GetDiscardedVideo(id()),
            Route::UpdateDiscardedVideo(id()),
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
            Route::HlsSegment(_) => "hlsSegment",
            Route::Mp4Asset(_) => "mp4Asset",
            Route::ThumbnailAsset(_) => "thumbnailAsset",
            Route::PlayerPage(_) => "playerPage",
            Route::CaptionFile(..) => "captionFile",
            Route::ChapterFile(..) => "chapterFile",
            Route::LogoAsset(_) => "logoAsset",
            Route::UploadThumbnail(_) => "uploadThumbnail",
            Route::PickThumbnail(_) => "pickThumbnail",
            Route::ListCaptions(_) => "listCaptions",
            Route::GetCaption(..) => "getCaption",
            Route::UploadCaption(..) => "uploadCaption",
            Route::UpdateCaption(..) => "updateCaption",
            Route::DeleteCaption(..) => "deleteCaption",
            Route::ListChapters(_) => "listChapters",
            Route::GetChapter(..) => "getChapter",
            Route::UploadChapter(..) => "uploadChapter",
            Route::DeleteChapter(..) => "deleteChapter",
            Route::UploadWatermark => "uploadWatermark",
            Route::ListWatermarks => "listWatermarks",
            Route::DeleteWatermark(_) => "deleteWatermark",
            Route::ListPlayers => "listPlayers",
            Route::CreatePlayer => "createPlayer",
            Route::GetPlayer(_) => "getPlayer",
            Route::UpdatePlayer(_) => "updatePlayer",
            Route::DeletePlayer(_) => "deletePlayer",
            Route::UploadLogo(_) => "uploadLogo",
            Route::DeleteLogo(_) => "deleteLogo",
            Route::ListTags => "listTags",
            Route::ListDiscardedVideos => "listDiscardedVideos",
            Route::GetDiscardedVideo(_) => "getDiscardedVideo",
            Route::UpdateDiscardedVideo(_) => "updateDiscardedVideo",
            Route::CreateWebhook => "createWebhook",
            Route::ListWebhooks => "listWebhooks",
            Route::GetWebhook(_) => "getWebhook",
            Route::DeleteWebhook(_) => "deleteWebhook",
        }
    }

    pub(crate) fn class(&self) -> Class {
        match self {
            Route::Authenticate
            | Route::RefreshToken
            | Route::HlsManifest(_)
            | Route::HlsSegment(_)
            | Route::Mp4Asset(_)
            | Route::ThumbnailAsset(_)
            | Route::PlayerPage(_)
            | Route::CaptionFile(..)
            | Route::ChapterFile(..)
            | Route::LogoAsset(_) => Class::Exempt,
            Route::ListTokens
            | Route::GetToken(_)
            | Route::ListVideos
            | Route::GetVideo(_)
            | Route::GetVideoStatus(_)
            | Route::ListCaptions(_)
            | Route::GetCaption(..)
            | Route::ListChapters(_)
            | Route::GetChapter(..)
            | Route::ListWatermarks
            | Route::ListPlayers
            | Route::GetPlayer(_)
            | Route::ListTags
            | Route::ListDiscardedVideos
            | Route::GetDiscardedVideo(_)
            | Route::ListWebhooks
            | Route::GetWebhook(_) => Class::Read,
            Route::CreateToken
            | Route::DeleteToken(_)
            | Route::CreateVideo
            | Route::UpdateVideo(_)
            | Route::DeleteVideo(_)
            | Route::PickThumbnail(_)
            | Route::UploadCaption(..)
            | Route::UpdateCaption(..)
            | Route::DeleteCaption(..)
            | Route::UploadChapter(..)
            | Route::DeleteChapter(..)
            | Route::UploadWatermark
            | Route::DeleteWatermark(_)
            | Route::CreatePlayer
            | Route::UpdatePlayer(_)
            | Route::DeletePlayer(_)
            | Route::UploadLogo(_)
            | Route::DeleteLogo(_)
            | Route::UpdateDiscardedVideo(_)
            | Route::CreateWebhook
            | Route::DeleteWebhook(_) => Class::Write,
            Route::UploadThumbnail(_) => Class::Upload,
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
