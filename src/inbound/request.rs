//! The inbound request as plain data: what the HTTP adapter hands to the
//! gateway adapters, so they can be tested against fixture files without a
//! server. Parsing the body into a [`Payload`] happens once, here.

use bytes::Bytes;
use serde_json::{Map, Value};

/// How the body was encoded, from the `Content-Type` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Json,
    Form,
}

impl BodyKind {
    /// Reads a `Content-Type` value. `None` means unsupported (415).
    /// A missing header is sniffed from the body by [`BodyKind::sniff`].
    pub fn from_content_type(value: &str) -> Option<Self> {
        let essence = value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/json" | "text/json" => Some(Self::Json),
            "application/x-www-form-urlencoded" => Some(Self::Form),
            other if other.starts_with("application/") && other.ends_with("+json") => {
                Some(Self::Json)
            }
            _ => None,
        }
    }

    /// Guesses the encoding of a request that named none.
    pub fn sniff(body: &[u8]) -> Self {
        match body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') | Some(b'[') => Self::Json,
            _ => Self::Form,
        }
    }
}

/// One inbound webhook call, reduced to the parts the gateways look at.
#[derive(Debug, Clone)]
pub struct InboundRequest {
    /// Header names lowercased; values that are not visible ASCII are dropped.
    pub headers: Vec<(String, String)>,
    /// Decoded query pairs, in order.
    pub query: Vec<(String, String)>,
    /// The raw body bytes, exactly as received (signatures cover these).
    pub body: Bytes,
    pub kind: BodyKind,
}

impl InboundRequest {
    /// The first header with this (lowercase) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first query parameter with this name.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a body could not be read (answered with 400).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PayloadError {
    #[error("the body is empty")]
    Empty,
    #[error("the body is not valid UTF-8")]
    NotUtf8,
    #[error("the body is not valid JSON: {0}")]
    BadJson(String),
    #[error("the JSON body is not an object")]
    NotAnObject,
    #[error("the form body has no fields")]
    EmptyForm,
}

/// A parsed body: a JSON object or the pairs of a form.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Json(Map<String, Value>),
    Form(Vec<(String, String)>),
}

impl Payload {
    /// Parses the body according to its kind.
    pub fn parse(kind: BodyKind, body: &[u8]) -> Result<Self, PayloadError> {
        if body.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(PayloadError::Empty);
        }
        let text = std::str::from_utf8(body).map_err(|_| PayloadError::NotUtf8)?;
        match kind {
            BodyKind::Json => match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(map)) => Ok(Self::Json(map)),
                Ok(_) => Err(PayloadError::NotAnObject),
                Err(e) => Err(PayloadError::BadJson(e.to_string())),
            },
            BodyKind::Form => {
                let pairs: Vec<(String, String)> = form_urlencoded::parse(text.trim().as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                if pairs.iter().all(|(k, _)| k.is_empty()) {
                    return Err(PayloadError::EmptyForm);
                }
                Ok(Self::Form(pairs))
            }
        }
    }

    /// A top-level field as text: strings as they are, numbers and booleans
    /// printed, everything else (null, objects, arrays, absent) as `None`.
    /// Empty strings are `None` too: gateways send `""` for "no value".
    pub fn text(&self, key: &str) -> Option<String> {
        match self {
            Self::Json(map) => map.get(key).and_then(value_text),
            Self::Form(pairs) => pairs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.trim().to_string())
                .filter(|v| !v.is_empty()),
        }
    }

    /// The JSON object, if this is JSON.
    pub fn as_json(&self) -> Option<&Map<String, Value>> {
        match self {
            Self::Json(map) => Some(map),
            Self::Form(_) => None,
        }
    }
}

/// A JSON value as text (see [`Payload::text`]).
pub fn value_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Follows a path of object keys (`["data", "buyer", "email"]`) and returns
/// the value there as text (see [`value_text`]).
pub fn path_text(root: &Map<String, Value>, path: &[&str]) -> Option<String> {
    path_value(root, path).and_then(value_text)
}

/// Follows a path of object keys and returns the value there.
pub fn path_value<'a>(root: &'a Map<String, Value>, path: &[&str]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let mut current = root.get(*first)?;
    for key in rest {
        current = current.as_object()?.get(*key)?;
    }
    Some(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_are_read_by_their_essence() {
        assert_eq!(
            BodyKind::from_content_type("application/json; charset=utf-8"),
            Some(BodyKind::Json)
        );
        assert_eq!(
            BodyKind::from_content_type("Application/X-WWW-Form-Urlencoded"),
            Some(BodyKind::Form)
        );
        assert_eq!(BodyKind::from_content_type("text/plain"), None);
        assert_eq!(BodyKind::from_content_type("multipart/form-data"), None);
    }

    #[test]
    fn bad_bodies_are_named() {
        assert_eq!(
            Payload::parse(BodyKind::Json, b""),
            Err(PayloadError::Empty)
        );
        assert_eq!(
            Payload::parse(BodyKind::Json, &[0x7b, 0xff, 0x7d]),
            Err(PayloadError::NotUtf8)
        );
        assert_eq!(
            Payload::parse(BodyKind::Json, b"[1,2]"),
            Err(PayloadError::NotAnObject)
        );
        assert!(matches!(
            Payload::parse(BodyKind::Json, b"{\"a\":"),
            Err(PayloadError::BadJson(_))
        ));
    }

    #[test]
    fn numbers_read_as_text() {
        let p = Payload::parse(
            BodyKind::Json,
            br#"{"a": 12, "b": " x ", "c": "", "d": null}"#,
        )
        .unwrap();
        assert_eq!(p.text("a").as_deref(), Some("12"));
        assert_eq!(p.text("b").as_deref(), Some("x"));
        assert_eq!(p.text("c"), None);
        assert_eq!(p.text("d"), None);
    }
}
