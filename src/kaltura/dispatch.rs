//! Which action a request names, and the order in which its checks run.
//!
//! One table lists every service and action vidmock knows; the dispatcher, the journal's
//! operation names and the error for an unknown name all read it. Every action goes through
//! [`invoke`], which runs the server's checks in its order (../shared/specs/kaltura.md §1.7):
//! service and action names, then the KS string, then the action's parameters, then the
//! session's validity and rights, then the action itself. An action cannot reorder them: it
//! only supplies `parse` and `run`.

use super::Served;
use std::future::Future;
use std::pin::Pin;

use super::error::ApiError;
use super::params::{to_php_string, Args, Map, Value};
use super::wire::Out;
use super::{apptoken, flavors, media, notifications, session, uploadtoken};

/// Who may call an action, and whether it reads the KS at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// `@ksIgnored`: the KS is not read (`session.start`).
    Ignored,
    /// `@ksOptional`: a KS is checked when given, not required (`session.end`).
    Optional,
    /// A USER or ADMIN session; widget sessions are refused.
    Session,
    /// Any session, widget sessions included (`uploadToken.get`, `uploadToken.list`).
    AnySession,
    /// An ADMIN session (type ≥ 1).
    Admin,
}

/// A validated session: the KS of the request, after every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Session {
    /// The KS string as sent.
    pub ks: String,
    pub partner_id: i64,
    /// Empty for an anonymous session.
    pub user_id: String,
    pub session_type: i64,
    pub privileges: String,
    pub valid_until: i64,
}

impl Session {
    /// ADMIN is any type ≥ 1, as the server validates it.
    pub(crate) fn is_admin(&self) -> bool {
        self.session_type >= 1
    }

    /// A widget session (privilege `widget:1`).
    pub(crate) fn is_widget(&self) -> bool {
        self.privileges.split(',').any(|p| p.trim() == "widget:1")
    }
}

/// What one call knows before its action runs.
pub(crate) struct Call {
    pub served: Served,
    /// The service, lower case, as the action table names it.
    pub service: &'static str,
    /// The action, lower case, as the action table names it.
    pub action: &'static str,
}

impl Call {
    /// `service->action`, as `SERVICE_FORBIDDEN` names it (built only for that error).
    fn name(&self) -> String {
        format!("{}->{}", self.service, self.action)
    }
}

/// A boxed action future (actions may wait, e.g. for chunks still in flight).
pub(crate) type Pending<'a> = Pin<Box<dyn Future<Output = Result<Out, ApiError>> + Send + 'a>>;

/// One action of a service.
pub(crate) trait Action: Sized + Send + 'static {
    /// Who may call it.
    const ACCESS: Access;

    /// Reads the parameters in declared order (MISSING_MANDATORY_PARAMETER, INVALID_ENUM_VALUE,
    /// …); runs before any session check.
    fn parse(args: Args<'_>) -> Result<Self, ApiError>;

    /// The action itself, with the session (`None` only for `Ignored` and `Optional` access).
    fn run(
        self,
        call: &Call,
        session: Option<Session>,
    ) -> impl Future<Output = Result<Out, ApiError>> + Send;
}

/// An entry of the action table.
pub(crate) struct ActionDef {
    pub service: &'static str,
    pub action: &'static str,
    pub run: for<'a> fn(&'a Call, &'a Map) -> Pending<'a>,
}

/// Whether vidmock serves `service.action` (case-insensitive); else a message listing the
/// actions it serves.
pub(crate) fn known_action(service: &str, action: &str) -> Result<(), String> {
    let known = |def: &ActionDef| {
        def.service.eq_ignore_ascii_case(service) && def.action.eq_ignore_ascii_case(action)
    };
    if ACTIONS.iter().any(known) {
        return Ok(());
    }
    let actions: Vec<String> = ACTIONS
        .iter()
        .map(|def| format!("{}.{}", def.service, def.action))
        .collect();
    Err(format!(
        "Kaltura has no action {service}.{action} in vidmock; its actions are {}",
        actions.join(", ")
    ))
}

/// Every action vidmock serves (service and action in lower case).
pub(crate) const ACTIONS: &[ActionDef] = &[
    ActionDef {
        service: "session",
        action: "start",
        run: entry::<session::Start>,
    },
    ActionDef {
        service: "session",
        action: "end",
        run: entry::<session::End>,
    },
    ActionDef {
        service: "session",
        action: "startwidgetsession",
        run: entry::<session::StartWidgetSession>,
    },
    ActionDef {
        service: "apptoken",
        action: "add",
        run: entry::<apptoken::Add>,
    },
    ActionDef {
        service: "apptoken",
        action: "get",
        run: entry::<apptoken::Get>,
    },
    ActionDef {
        service: "apptoken",
        action: "list",
        run: entry::<apptoken::List>,
    },
    ActionDef {
        service: "apptoken",
        action: "delete",
        run: entry::<apptoken::Delete>,
    },
    ActionDef {
        service: "apptoken",
        action: "startsession",
        run: entry::<apptoken::StartSession>,
    },
    ActionDef {
        service: "uploadtoken",
        action: "add",
        run: entry::<uploadtoken::Add>,
    },
    ActionDef {
        service: "uploadtoken",
        action: "get",
        run: entry::<uploadtoken::Get>,
    },
    ActionDef {
        service: "uploadtoken",
        action: "list",
        run: entry::<uploadtoken::List>,
    },
    ActionDef {
        service: "uploadtoken",
        action: "delete",
        run: entry::<uploadtoken::Delete>,
    },
    ActionDef {
        service: "uploadtoken",
        action: "upload",
        run: entry::<uploadtoken::Upload>,
    },
    ActionDef {
        service: "media",
        action: "add",
        run: entry::<media::MediaAdd>,
    },
    ActionDef {
        service: "media",
        action: "addcontent",
        run: entry::<media::MediaAddContent>,
    },
    ActionDef {
        service: "media",
        action: "addfromuploadedfile",
        run: entry::<media::MediaAddFromUploadedFile>,
    },
    ActionDef {
        service: "media",
        action: "get",
        run: entry::<media::EntryGet<true>>,
    },
    ActionDef {
        service: "media",
        action: "delete",
        run: entry::<media::MediaDelete>,
    },
    ActionDef {
        service: "media",
        action: "list",
        run: entry::<media::EntryList<true>>,
    },
    ActionDef {
        service: "media",
        action: "update",
        run: entry::<media::MediaUpdate>,
    },
    ActionDef {
        service: "media",
        action: "updatecontent",
        run: entry::<media::MediaUpdateContent>,
    },
    ActionDef {
        service: "flavorasset",
        action: "get",
        run: entry::<flavors::Get>,
    },
    ActionDef {
        service: "flavorasset",
        action: "list",
        run: entry::<flavors::List>,
    },
    ActionDef {
        service: "flavorasset",
        action: "geturl",
        run: entry::<flavors::GetUrl<false>>,
    },
    ActionDef {
        service: "flavorasset",
        action: "getdownloadurl",
        run: entry::<flavors::GetUrl<true>>,
    },
    ActionDef {
        service: "conversionprofile",
        action: "get",
        run: entry::<flavors::ProfileGet>,
    },
    ActionDef {
        service: "conversionprofile",
        action: "list",
        run: entry::<flavors::ProfileList>,
    },
    ActionDef {
        service: "baseentry",
        action: "addfromuploadedfile",
        run: entry::<media::BaseEntryAddFromUploadedFile>,
    },
    ActionDef {
        service: "baseentry",
        action: "get",
        run: entry::<media::EntryGet<false>>,
    },
    ActionDef {
        service: "baseentry",
        action: "list",
        run: entry::<media::EntryList<false>>,
    },
    ActionDef {
        service: "partner",
        action: "get",
        run: entry::<media::PartnerGet>,
    },
    ActionDef {
        service: "eventnotification_eventnotificationtemplate",
        action: "add",
        run: entry::<notifications::Add>,
    },
    ActionDef {
        service: "eventnotification_eventnotificationtemplate",
        action: "get",
        run: entry::<notifications::Get>,
    },
    ActionDef {
        service: "eventnotification_eventnotificationtemplate",
        action: "list",
        run: entry::<notifications::List>,
    },
    ActionDef {
        service: "eventnotification_eventnotificationtemplate",
        action: "update",
        run: entry::<notifications::Update>,
    },
    ActionDef {
        service: "eventnotification_eventnotificationtemplate",
        action: "updatestatus",
        run: entry::<notifications::UpdateStatus>,
    },
    ActionDef {
        service: "eventnotification_eventnotificationtemplate",
        action: "delete",
        run: entry::<notifications::Delete>,
    },
];

fn entry<'a, A: Action>(call: &'a Call, params: &'a Map) -> Pending<'a> {
    Box::pin(async move {
        let ks = if A::ACCESS == Access::Ignored {
            None
        } else {
            read_ks(call, params)?
        };
        let action = A::parse(Args::new(params))?;
        let session = authorize(call, params, A::ACCESS, ks)?;
        action.run(call, session).await
    })
}

/// Step 2: the KS string must be readable and signed by a known partner.
fn read_ks(call: &Call, params: &Map) -> Result<Option<Session>, ApiError> {
    let ks = params.get("ks").map(to_php_string).unwrap_or_default();
    if ks.is_empty() {
        return Ok(None);
    }
    let data = call
        .served
        .backend
        .read_ks(&ks)
        .map_err(|_| ApiError::unreadable_ks(&ks))?;
    Ok(Some(Session {
        ks,
        partner_id: data.partner_id,
        user_id: data.user_id,
        session_type: data.session_type,
        privileges: data.privileges,
        valid_until: data.valid_until,
    }))
}

/// Steps 4 and 5: expiry and logout, then presence and rights.
fn authorize(
    call: &Call,
    params: &Map,
    access: Access,
    session: Option<Session>,
) -> Result<Option<Session>, ApiError> {
    if access == Access::Ignored {
        return Ok(None);
    }
    if let Some(session) = &session {
        let now = call.served.cx.clock.now().unix_timestamp();
        if session.valid_until <= now {
            return Err(ApiError::refused_ks("EXPIRED"));
        }
        if call.served.backend.is_ended(&session.ks) {
            return Err(ApiError::refused_ks("LOGOUT"));
        }
        // A session started from an app token since deleted is logged out; widget sessions
        // are never checked (`kSessionBase::isValid`).
        if session.privileges.contains("sessionid:") && !session.is_widget() {
            let tenants = call.served.backend.store.lock();
            if apptoken::session_revoked(tenants.get(&session.partner_id), &session.privileges) {
                return Err(ApiError::refused_ks("LOGOUT"));
            }
        }
    }
    let forbidden = || ApiError::new("SERVICE_FORBIDDEN", &[&call.name()]);
    match (access, session) {
        (Access::Ignored, _) | (Access::Optional, None) => Ok(None),
        (Access::Optional, Some(session)) => Ok(Some(session)),
        (_, None) => {
            let partner = params.get("partnerId").or_else(|| params.get("p"));
            if partner.is_some_and(|p| !to_php_string(p).is_empty()) {
                Err(forbidden())
            } else {
                Err(ApiError::new("MISSING_KS", &[]))
            }
        }
        (Access::Session, Some(session)) if session.is_widget() => Err(forbidden()),
        (Access::Admin, Some(session)) if !session.is_admin() => Err(forbidden()),
        (_, Some(session)) => Ok(Some(session)),
    }
}

/// The service and action a parameter map names, lower case (empty when absent).
pub(crate) fn names(params: &Map) -> (String, String) {
    // `strtolower` in the C locale the server runs in: ASCII letters only.
    let name = |key: &str| match params.get(key) {
        Some(Value::Str(name)) => name.to_ascii_lowercase(),
        Some(other) => to_php_string(other).to_ascii_lowercase(),
        None => String::new(),
    };
    (name("service"), name("action"))
}

/// Steps 1 to 6 for one (sub-)request.
pub(crate) async fn invoke(served: Served, params: &Map) -> Result<Out, ApiError> {
    let (service, action) = names(params);
    invoke_named(served, params, &service, &action).await
}

/// [`invoke`] for a caller that has already read the (lower-case) names from `params`.
pub(crate) async fn invoke_named(
    served: Served,
    params: &Map,
    service: &str,
    action: &str,
) -> Result<Out, ApiError> {
    if service.is_empty() {
        return Err(ApiError::new("SERVICE_NOT_SPECIFIED", &[]));
    }
    if !ACTIONS.iter().any(|def| def.service == service) {
        return Err(ApiError::new("SERVICE_DOES_NOT_EXISTS", &[service]));
    }
    if action.is_empty() {
        return Err(ApiError::new("ACTION_NOT_SPECIFIED", &[]));
    }
    let Some(def) = ACTIONS
        .iter()
        .find(|def| def.service == service && def.action == action)
    else {
        return Err(ApiError::new("ACTION_DOES_NOT_EXISTS", &[action, service]));
    };
    let call = Call {
        served,
        service: def.service,
        action: def.action,
    };
    let out = (def.run)(&call, params).await;
    // The entry status changes this call made become event notifications.
    notifications::flush(&call.served.backend, &call.served.cx);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kaltura::{SessionType, DEFAULT_PARTNER_ID};

    /// An action with a mandatory parameter that needs a USER or ADMIN session.
    struct NeedsBoth(String);

    impl Action for NeedsBoth {
        const ACCESS: Access = Access::Session;
        fn parse(args: Args<'_>) -> Result<Self, ApiError> {
            Ok(Self(args.required_string("thing")?))
        }
        async fn run(self, _: &Call, _: Option<Session>) -> Result<Out, ApiError> {
            Ok(Out::Str(self.0))
        }
    }

    async fn served() -> (crate::MockServer, Served) {
        let server = crate::MockServer::start().await;
        let served = Served {
            backend: server.shared().vendors.kaltura.clone(),
            cx: server.shared().cx.clone(),
        };
        (server, served)
    }

    async fn run(served: &Served, params: &[(&str, &str)]) -> Result<Out, ApiError> {
        let map: Map = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::Str((*v).to_owned())))
            .collect();
        let call = Call {
            served: served.clone(),
            service: "test",
            action: "needs",
        };
        entry::<NeedsBoth>(&call, &map).await
    }

    fn code(result: Result<Out, ApiError>) -> String {
        result
            .err()
            .map(|e| e.code().to_owned())
            .unwrap_or_default()
    }

    #[test]
    fn service_and_action_names_are_lowered_as_strtolower_lowers_them() {
        let mut params = Map::default();
        params.insert("service".into(), Value::Str("ÜploadTOKEN".into()));
        params.insert("action".into(), Value::Int(7));

        let (service, action) = names(&params);

        assert_eq!(service, "Üploadtoken");
        assert_eq!(action, "7");
        assert_eq!(names(&Map::default()), (String::new(), String::new()));
    }

    #[tokio::test]
    async fn a_missing_parameter_beats_a_missing_ks() {
        let (_server, served) = served().await;
        assert_eq!(code(run(&served, &[]).await), "MISSING_MANDATORY_PARAMETER");
        assert_eq!(code(run(&served, &[("thing", "x")]).await), "MISSING_KS");
    }

    #[tokio::test]
    async fn an_unreadable_ks_beats_a_missing_parameter() {
        let (_server, served) = served().await;
        assert_eq!(code(run(&served, &[("ks", "garbage")]).await), "INVALID_KS");
    }

    #[tokio::test]
    async fn a_missing_parameter_beats_an_expired_ks() {
        let (_server, served) = served().await;
        let ks = served.backend.mint(
            &served.cx,
            DEFAULT_PARTNER_ID,
            "u",
            SessionType::User,
            std::time::Duration::from_secs(10),
            "",
        );
        served.cx.clock.advance(std::time::Duration::from_secs(11));
        let ks = ks.unwrap_or_default();
        assert_eq!(
            code(run(&served, &[("ks", &ks)]).await),
            "MISSING_MANDATORY_PARAMETER"
        );
        let expired = run(&served, &[("ks", &ks), ("thing", "x")]).await;
        assert_eq!(
            expired.err().map(|e| e.message().to_owned()).as_deref(),
            Some("Invalid KS \"EXPIRED\", Error \"-1,INVALID_STR\"")
        );
    }

    #[tokio::test]
    async fn a_partner_id_without_ks_is_forbidden_rather_than_missing() {
        let (_server, served) = served().await;
        assert_eq!(
            code(run(&served, &[("thing", "x"), ("partnerId", "101")]).await),
            "SERVICE_FORBIDDEN"
        );
    }

    #[tokio::test]
    async fn a_widget_session_cannot_call_a_session_action() {
        let (_server, served) = served().await;
        let ks = served
            .backend
            .mint(
                &served.cx,
                DEFAULT_PARTNER_ID,
                "",
                SessionType::User,
                std::time::Duration::from_secs(60),
                "view:*,widget:1",
            )
            .unwrap_or_default();
        assert_eq!(
            code(run(&served, &[("ks", &ks), ("thing", "x")]).await),
            "SERVICE_FORBIDDEN"
        );
    }
}
