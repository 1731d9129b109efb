//! `KalturaAPIException`: the one error shape of API v3, in every format.
//!
//! The server's catalog writes each error as `"CODE;ARG1,ARG2;message with @ARG1@"`; the same
//! table lives here, so a code always carries the vendor's own message template and argument
//! names (../shared/specs/kaltura.md §1.6, §5).

/// `(code, argument names, message template)` for every error vidmock can send.
const CATALOG: &[(&str, &[&str], &str)] = &[
    ("MISSING_KS", &[], "Missing KS, session not established"),
    (
        "INVALID_KS",
        &["KSID", "ERR_CODE", "ERR_DESC"],
        "Invalid KS \"@KSID@\", Error \"@ERR_CODE@,@ERR_DESC@\"",
    ),
    (
        "SERVICE_FORBIDDEN",
        &["SERVICE"],
        "The access to service [@SERVICE@] is forbidden",
    ),
    (
        "START_SESSION_ERROR",
        &["PID"],
        "Error while starting session for partner [@PID@]",
    ),
    (
        "APP_TOKEN_ID_NOT_FOUND",
        &["ID"],
        "Application token id \"@ID@\" not found",
    ),
    (
        "APP_TOKEN_NOT_ACTIVE",
        &["ID"],
        "Application token id \"@ID@\" not active",
    ),
    (
        "APP_TOKEN_EXPIRED",
        &["ID"],
        "Application token id \"@ID@\" expired",
    ),
    (
        "INVALID_APP_TOKEN_HASH",
        &[],
        "Invalid application token hash",
    ),
    (
        "INVALID_WIDGET_ID",
        &["WIDGET_ID"],
        "Unknown widget [@WIDGET_ID@]",
    ),
    (
        "START_WIDGET_SESSION_ERROR",
        &["WIDGET_ID"],
        "error while starting session for widget id [@WIDGET_ID@]",
    ),
    (
        "SERVICE_NOT_SPECIFIED",
        &[],
        "Service name was not specified, please specify one",
    ),
    (
        "SERVICE_DOES_NOT_EXISTS",
        &["SRV_NAME"],
        "Service \"@SRV_NAME@\" does not exists",
    ),
    (
        "ACTION_NOT_SPECIFIED",
        &[],
        "Action name was not specified, please specify one",
    ),
    (
        "ACTION_DOES_NOT_EXISTS",
        &["ACTION_NAME", "SERVICE_NAME"],
        "Action \"@ACTION_NAME@\" does not exists for service \"@SERVICE_NAME@\"",
    ),
    (
        "MISSING_MANDATORY_PARAMETER",
        &["PARAM_NAME"],
        "Missing parameter \"@PARAM_NAME@\"",
    ),
    (
        "INVALID_ENUM_VALUE",
        &["ENUM_VAL", "PARAM_NAME", "ENUM_TYPE"],
        "Invalid enumeration value \"@ENUM_VAL@\" for parameter \"@PARAM_NAME@\", expecting enumeration type \"@ENUM_TYPE@\"",
    ),
    (
        "PROPERTY_VALIDATION_NOT_UPDATABLE",
        &["PROP_NAME"],
        "The property \"@PROP_NAME@\" cannot be updated",
    ),
    (
        "PROPERTY_VALIDATION_MAX_LENGTH",
        &["PROP_NAME", "MAX_LEN"],
        "The property \"@PROP_NAME@\" cannot have more than @MAX_LEN@ characters",
    ),
    (
        "PROPERTY_VALIDATION_WRONG_FORMAT",
        &["PROP_NAME", "FORMAT"],
        "The property \"@PROP_NAME@\" must match format @FORMAT@",
    ),
    (
        "INVALID_PARAMETER_CHAR",
        &["XML_FIELD"],
        "Invalid char in \"@XML_FIELD@\" field",
    ),
    ("UPLOAD_ERROR", &[], "Upload failed"),
    ("INVALID_USER_ID", &[], "Invalid user id"),
    (
        "INTERNAL_SERVERL_ERROR",
        &[],
        "Internal server error occurred",
    ),
    ("UPLOAD_TOKEN_NOT_FOUND", &[], "Upload token not found"),
    (
        "UPLOAD_TOKEN_INVALID_STATUS_FOR_UPLOAD",
        &[],
        "Upload token is in an invalid status for uploading a file, maybe the file was already uploaded",
    ),
    (
        "UPLOAD_TOKEN_CANNOT_RESUME",
        &[],
        "Cannot resume the upload, original file was not found",
    ),
    (
        "UPLOAD_TOKEN_CANNOT_MATCH_EXPECTED_SIZE",
        &[],
        "Failed to match expected file size",
    ),
    (
        "UPLOAD_TOKEN_FILE_TYPE_RESTRICTED_FOR_UPLOAD",
        &[],
        "Upload token is restricted due to the file type",
    ),
    (
        "UPLOAD_TOKEN_MISSING_FILE_SIZE",
        &[],
        "FileSize is mandatory when enabling autoFinalize",
    ),
    (
        "UPLOAD_PASSED_MAX_RESUME_TIME_ALLOWED",
        &["MAX_RESUME_TIME"],
        "Max resume time of @MAX_RESUME_TIME@ seconds reached, cannot resume upload",
    ),
    (
        "MAX_ALLOWED_CHUNK_COUNT_EXCEEDED",
        &[],
        "Max allowed waiting chunks to be concatenated has exceeded allowed limit",
    ),
    (
        "UPLOAD_TOKEN_INVALID_STATUS_FOR_ADD_ENTRY",
        &[],
        "Upload token is in an invalid status for adding entry, maybe the a file was not uploaded or the token was used",
    ),
    (
        "UPLOADED_FILE_NOT_FOUND_BY_TOKEN",
        &[],
        "The uploaded file was not found by the given token id, or was already used",
    ),
    ("INVALID_UPLOAD_TOKEN_ID", &[], "Invalid upload token id"),
    (
        "ENTRY_ID_NOT_FOUND",
        &["ENTRY_ID"],
        "Entry id \"@ENTRY_ID@\" not found",
    ),
    (
        "ENTRY_REPLACEMENT_ALREADY_EXISTS",
        &[],
        "Entry already in replacement",
    ),
    (
        "CONVERSION_PROFILE_ID_NOT_FOUND",
        &["ID"],
        "Conversion profile id \"@ID@\" not found",
    ),
    (
        "FLAVOR_ASSET_ID_NOT_FOUND",
        &["ID"],
        "Flavor asset id \"@ID@\" not found",
    ),
    (
        "FLAVOR_ASSET_IS_NOT_READY",
        &[],
        "The flavor asset is not ready",
    ),
    (
        "ENTRY_ALREADY_WITH_CONTENT",
        &[],
        "Entry already associated with content",
    ),
    (
        "RESOURCE_TYPE_NOT_SUPPORTED",
        &["RES_TYPE"],
        "Resource type \"@RES_TYPE@\" not supported",
    ),
    (
        "PROPERTY_VALIDATION_CANNOT_BE_NULL",
        &["PROP_NAME"],
        "The property \"@PROP_NAME@\" cannot be null",
    ),
    (
        "PERMISSION_DENIED_TO_UPDATE_ENTRY",
        &[],
        "User can update only the entries he own, otherwise an admin session must be used",
    ),
    ("INVALID_PARTNER_ID", &["PID"], "Invalid partner id \"@PID@\""),
    (
        "PROPERTY_VALIDATION_MIN_LENGTH",
        &["PROP_NAME", "MIN_LEN"],
        "The property \"@PROP_NAME@\" must have a min length of @MIN_LEN@ characters",
    ),
    (
        "PROPERTY_VALIDATION_MIN_VALUE",
        &["PROP_NAME", "MIN_VAL"],
        "The property \"@PROP_NAME@\" must have a min value of @MIN_VAL@",
    ),
    (
        "OBJECT_TYPE_ABSTRACT",
        &["OBJ_TYPE"],
        "The object type \"@OBJ_TYPE@\" is abstract, use one of the object implementations",
    ),
    // plugins/event_notification/lib/errors/KalturaEventNotificationErrors.php
    (
        "EVENT_NOTIFICATION_TEMPLATE_NOT_FOUND",
        &["ID"],
        "Event notification template id [@ID@] not found",
    ),
    (
        "EVENT_NOTIFICATION_TEMPLATE_DUPLICATE_SYSTEM_NAME",
        &["NAME"],
        "Event notification template with system name [@NAME@] already exists.",
    ),
    // plugins/event_notification/providers/http/lib/errors/KalturaHttpNotificationErrors.php
    (
        "HTTP_NOTIFICATION_INVALID_OBJECT_TYPE",
        &[],
        "Invalid API object type",
    ),
];

/// A Kaltura API error: the `KalturaAPIException` object clients receive (always with HTTP 200).
///
/// # Example
///
/// ```
/// use vidmock::kaltura::ApiError;
///
/// let error = ApiError::new("MISSING_MANDATORY_PARAMETER", &["uploadTokenId"]);
/// assert_eq!(error.message(), "Missing parameter \"uploadTokenId\"");
/// assert_eq!(error.args(), &[("PARAM_NAME".to_string(), "uploadTokenId".to_string())]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// The vendor's error code, e.g. `UPLOAD_TOKEN_NOT_FOUND`.
    code: String,
    /// The template with every `@ARG@` replaced.
    message: String,
    /// Argument name → value, in the catalog's order; empty for codes without arguments.
    args: Vec<(String, String)>,
}

impl ApiError {
    /// The error `code` with its argument values in the catalog's order. A value not given is
    /// `N/A`, as the server fills it. A code outside vidmock's catalog keeps the code as its
    /// message and takes no arguments.
    ///
    /// # Example
    ///
    /// ```
    /// let error = vidmock::kaltura::ApiError::new("INVALID_KS", &["abc"]);
    /// assert_eq!(error.message(), "Invalid KS \"abc\", Error \"N/A,N/A\"");
    /// ```
    pub fn new(code: &str, values: &[&str]) -> Self {
        let Some((_, names, template)) = CATALOG.iter().find(|(c, _, _)| *c == code) else {
            return Self {
                code: code.to_owned(),
                message: code.to_owned(),
                args: Vec::new(),
            };
        };
        let args: Vec<(String, String)> = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let value = values.get(i).copied().unwrap_or("N/A");
                ((*name).to_owned(), value.to_owned())
            })
            .collect();
        let mut message = (*template).to_owned();
        for (name, value) in &args {
            message = message.replace(&format!("@{name}@"), value);
        }
        Self {
            code: code.to_owned(),
            message,
            args,
        }
    }

    /// The error code.
    ///
    /// # Example
    ///
    /// ```
    /// let error = vidmock::kaltura::ApiError::new("MISSING_KS", &[]);
    /// assert_eq!(error.code(), "MISSING_KS");
    /// ```
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The message as sent, arguments substituted.
    ///
    /// # Example
    ///
    /// ```
    /// let error = vidmock::kaltura::ApiError::new("MISSING_KS", &[]);
    /// assert_eq!(error.message(), "Missing KS, session not established");
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The arguments, name and value, in the catalog's order.
    ///
    /// # Example
    ///
    /// ```
    /// let error = vidmock::kaltura::ApiError::new("SERVICE_DOES_NOT_EXISTS", &["nope"]);
    /// assert_eq!(error.args()[0].0, "SRV_NAME");
    /// ```
    pub fn args(&self) -> &[(String, String)] {
        &self.args
    }

    pub(crate) fn missing_parameter(name: &str) -> Self {
        Self::new("MISSING_MANDATORY_PARAMETER", &[name])
    }

    /// `INVALID_KS` for a KS string that cannot be read: the string itself is the KSID.
    pub(crate) fn unreadable_ks(ks: &str) -> Self {
        Self::new("INVALID_KS", &[ks, "-1", "INVALID_STR"])
    }

    /// `INVALID_KS` for a readable KS refused for `reason` (`EXPIRED`, `LOGOUT`, …): the server
    /// passes the reason in the KSID slot.
    pub(crate) fn refused_ks(reason: &str) -> Self {
        Self::new("INVALID_KS", &[reason, "-1", "INVALID_STR"])
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalog_template_names_only_its_own_arguments() {
        for (code, names, template) in CATALOG {
            let mut rest = template.to_string();
            for name in *names {
                rest = rest.replace(&format!("@{name}@"), "");
            }
            assert!(!rest.contains('@'), "{code}: {template}");
        }
    }

    #[test]
    fn the_action_error_names_both_the_action_and_the_service() {
        let error = ApiError::new("ACTION_DOES_NOT_EXISTS", &["nope", "session"]);
        assert_eq!(
            error.message(),
            "Action \"nope\" does not exists for service \"session\""
        );
    }
}

/// The admin API's JSON form of an error fault (README, "Admin API": `kalturaError`).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ErrorAction {
    #[serde(rename = "type")]
    _type: String,
    code: String,
    #[serde(default)]
    args: Vec<String>,
}

impl ApiError {
    /// The error an admin API fault's `action` (`"type": "kalturaError"`) describes.
    pub(crate) fn from_action(action: &serde_json::Value) -> Result<ApiError, String> {
        let spec = <ErrorAction as serde::Deserialize>::deserialize(action)
            .map_err(|e| format!("invalid fault: action: {e}"))?;
        let values: Vec<&str> = spec.args.iter().map(String::as_str).collect();
        Ok(ApiError::new(&spec.code, &values))
    }
}

impl crate::engine::faults::VendorError for ApiError {
    fn describe(&self) -> String {
        format!("kaltura error {}", self.code())
    }

    /// The admin API's form (`kalturaError`), which [`ApiError::from_action`] reads back.
    fn to_json(&self) -> serde_json::Value {
        let args: Vec<&str> = self.args.iter().map(|(_, value)| value.as_str()).collect();
        serde_json::json!({ "type": "kalturaError", "code": self.code, "args": args })
    }

    /// In the format (JSON, XML, …) the request asked for, read from its query and form
    /// fields; a file part is skipped, never buffered.
    fn answer(
        &self,
        request: crate::engine::body::Request,
    ) -> futures_util::future::BoxFuture<'static, crate::engine::body::Response> {
        Box::pin(super::error_response(request, self.clone()))
    }
}
