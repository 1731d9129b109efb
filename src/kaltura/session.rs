//! The `session` service: `start` issues a v2 KS from a partner secret, `startWidgetSession`
//! a view-only widget KS from a partner's default widget, `end` revokes one
//! (../shared/specs/kaltura.md §6.2).

use std::time::Duration;

use super::dispatch::{Access, Action, Call, Session};
use super::error::ApiError;
use super::params::Args;
use super::wire::{self, Out};
use super::SessionType;

/// The longest session a partner may start (`session.start` clamps `expiry` to it).
pub(crate) const MAX_EXPIRY: i64 = 86_400;

/// `session.start(secret, userId = "", type = 0, partnerId = null, expiry = 86400, privileges = null)`.
pub(crate) struct Start {
    secret: String,
    user_id: String,
    session_type: i64,
    partner_id: Option<i64>,
    expiry: i64,
    privileges: String,
}

impl Action for Start {
    const ACCESS: Access = Access::Ignored;

    fn parse(args: Args<'_>) -> Result<Self, ApiError> {
        Ok(Self {
            secret: args.required_string("secret")?,
            user_id: args.string("userId")?.unwrap_or_default(),
            session_type: args.int_enum("type", "KalturaSessionType", &[0, 2], 0)?,
            partner_id: args.optional_int("partnerId"),
            expiry: args.int("expiry", MAX_EXPIRY),
            privileges: args.string("privileges")?.unwrap_or_default(),
        })
    }

    async fn run(self, call: &Call, _: Option<Session>) -> Result<Out, ApiError> {
        let backend = &call.served.backend;
        let refused = || {
            let pid = self.partner_id.map(|p| p.to_string()).unwrap_or_default();
            ApiError::new("START_SESSION_ERROR", &[&pid])
        };
        let partner = self
            .partner_id
            .and_then(|id| backend.partner(id))
            .ok_or_else(refused)?;
        let session_type = SessionType::from_code(self.session_type);
        let secret_ok = !self.secret.is_empty()
            && (self.secret == partner.admin_secret
                || (session_type == SessionType::User && self.secret == partner.user_secret));
        if !secret_ok {
            return Err(refused());
        }
        let expiry = if self.expiry <= 0 {
            MAX_EXPIRY
        } else {
            self.expiry.min(MAX_EXPIRY)
        };
        backend
            .mint(
                &call.served.cx,
                partner.id,
                &self.user_id,
                session_type,
                Duration::from_secs(expiry.unsigned_abs()),
                &self.privileges,
            )
            .map(Out::Str)
            .ok_or_else(refused)
    }
}

/// `session.end()`: revokes the request's KS, if it has one; the result is void.
pub(crate) struct End;

impl Action for End {
    const ACCESS: Access = Access::Optional;

    fn parse(_: Args<'_>) -> Result<Self, ApiError> {
        Ok(Self)
    }

    async fn run(self, call: &Call, session: Option<Session>) -> Result<Out, ApiError> {
        if let Some(session) = session {
            let now = call.served.cx.clock.now().unix_timestamp();
            call.served
                .backend
                .end(&session.ks, session.valid_until, now);
        }
        Ok(Out::Null)
    }
}

/// `session.startWidgetSession(widgetId, expiry = 86400)` (`@ksIgnored`): a USER session for
/// user `0` with the privileges `view:*,widget:1`, as `SessionService::startWidgetSession`
/// makes for a widget without privileges of its own.
///
/// vidmock keeps no widgets: the widgets it knows are each partner's default widget, `_` and
/// the partner id, which the server creates with every partner
/// (`widget::createDefaultWidgetForPartner`). Any other id is `INVALID_WIDGET_ID`.
pub(crate) struct StartWidgetSession {
    widget_id: String,
    expiry: i64,
}

/// The privileges of a widget session (`SessionService.php`, `startWidgetSession`).
pub(crate) const WIDGET_PRIVILEGES: &str = "view:*,widget:1";

impl Action for StartWidgetSession {
    const ACCESS: Access = Access::Ignored;

    fn parse(args: Args<'_>) -> Result<Self, ApiError> {
        Ok(Self {
            widget_id: args.required_string("widgetId")?,
            expiry: args.int("expiry", MAX_EXPIRY),
        })
    }

    async fn run(self, call: &Call, _: Option<Session>) -> Result<Out, ApiError> {
        let backend = &call.served.backend;
        let partner = self
            .widget_id
            .strip_prefix('_')
            .filter(|id| id.bytes().all(|b| b.is_ascii_digit()) && !id.starts_with('0'))
            .and_then(|id| id.parse::<i64>().ok())
            .and_then(|id| backend.partner(id))
            .ok_or_else(|| ApiError::new("INVALID_WIDGET_ID", &[&self.widget_id]))?;
        // `createKSessionNoValidations` lowers the expiry to the partner's maximum and takes any
        // other value as it is: 0 or less makes a session that has already expired.
        let expiry = self.expiry.clamp(0, MAX_EXPIRY);
        let ks = backend
            .mint(
                &call.served.cx,
                partner.id,
                "0",
                SessionType::User,
                Duration::from_secs(expiry.unsigned_abs()),
                WIDGET_PRIVILEGES,
            )
            .ok_or_else(|| ApiError::new("START_WIDGET_SESSION_ERROR", &[&self.widget_id]))?;
        Ok(wire::widget_session(partner.id, ks))
    }
}
