//! Where log lines go and in what shape: `GANCHO_LOG` filters (default
//! `info,sqlx=warn,tower_http=info`), `GANCHO_LOG_FORMAT` chooses `text`
//! (the default; coloured on a terminal) or `json`, one object per line for
//! Loki, Datadog or CloudWatch:
//!
//! ```json
//! {"timestamp":"…","level":"INFO","fields":{"message":"…"},"target":"gancho::app",
//!  "span":{"method":"POST","path":"/in/…","request_id":"01j…","name":"http"},"spans":[…]}
//! ```
//!
//! Every line logged while a call is handled carries its `request_id` (the
//! `http` span, `app::router`), the same id the answer's `X-Request-Id`
//! gives and the inbound log entry records.

use tracing_subscriber::EnvFilter;

/// The two shapes of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

impl Format {
    /// `GANCHO_LOG_FORMAT`'s value; empty or unset is text.
    pub fn parse(value: Option<&str>) -> Result<Self, String> {
        match value.map(str::trim).unwrap_or("") {
            "" | "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!(
                "GANCHO_LOG_FORMAT: expected text or json, got {other:?}"
            )),
        }
    }
}

/// Who is logging: the server (to stdout, from `info`), or a one-shot
/// command whose stdout is its answer (to stderr, warnings only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Server,
    Command,
}

/// Installs the global subscriber from the environment.
pub fn init(output: Output) -> Result<(), String> {
    let format = Format::parse(std::env::var("GANCHO_LOG_FORMAT").ok().as_deref())?;
    let default = match output {
        Output::Server => "info,sqlx=warn,tower_http=info",
        Output::Command => "warn,sqlx=error",
    };
    let filter = EnvFilter::try_from_env("GANCHO_LOG").unwrap_or_else(|_| default.into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let terminal = match output {
        Output::Server => std::io::IsTerminal::is_terminal(&std::io::stdout()),
        Output::Command => std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    match (format, output) {
        (Format::Text, Output::Server) => builder.with_ansi(terminal).init(),
        (Format::Text, Output::Command) => builder
            .with_ansi(terminal)
            .with_writer(std::io::stderr)
            .init(),
        (Format::Json, Output::Server) => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        (Format::Json, Output::Command) => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .init(),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_is_text_unless_json_is_asked() {
        assert_eq!(Format::parse(None), Ok(Format::Text));
        assert_eq!(Format::parse(Some(" ")), Ok(Format::Text));
        assert_eq!(Format::parse(Some("json")), Ok(Format::Json));
        assert!(Format::parse(Some("xml")).is_err());
    }
}
