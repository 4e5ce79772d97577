//! The query of a streaming request: `command` (repeated), the streams
//! (`stdin`/`input`, `stdout`/`output`, `stderr`/`error`, `tty`) and, for
//! port forwarding, `port` (repeated).

use axum::http::StatusCode;

use super::Refusal;

/// What a streaming request asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamOptions {
    /// The command and its arguments (exec).
    pub command: Vec<String>,
    /// Pass the client's standard input.
    pub stdin: bool,
    /// Pass the container's standard output back.
    pub stdout: bool,
    /// Pass the container's standard error back.
    pub stderr: bool,
    /// Allocate a terminal.
    pub tty: bool,
    /// Ports to forward (informative: SPDY clients name the port per stream).
    pub ports: Vec<i32>,
}

fn truthy(v: &str) -> bool {
    matches!(v, "1" | "true" | "True" | "TRUE")
}

impl StreamOptions {
    /// Parses a raw query string.
    pub fn parse(query: &str) -> Result<StreamOptions, String> {
        let mut o = StreamOptions::default();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            match k.as_ref() {
                "command" => o.command.push(v.into_owned()),
                "stdin" | "input" => o.stdin = truthy(&v),
                "stdout" | "output" => o.stdout = truthy(&v),
                "stderr" | "error" => o.stderr = truthy(&v),
                "tty" => o.tty = truthy(&v),
                "port" | "ports" => {
                    for p in v.split(',').filter(|p| !p.is_empty()) {
                        let port = p
                            .parse::<u16>()
                            .ok()
                            .filter(|p| *p > 0)
                            .ok_or_else(|| format!("invalid port: {p:?}"))?;
                        o.ports.push(i32::from(port));
                    }
                }
                _ => {}
            }
        }
        Ok(o)
    }

    /// At least one stream must be asked for (exec and attach).
    pub fn check_streams(&self) -> Result<(), Refusal> {
        if self.stdin || self.stdout || self.stderr {
            Ok(())
        } else {
            Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "you must specify at least 1 of stdin, stdout, stderr",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_of_the_streams_are_understood() {
        let o = StreamOptions::parse(
            "command=sh&command=-c&command=echo+hi&stdin=true&stdout=1&error=1&tty=false",
        )
        .unwrap();
        assert_eq!(o.command, ["sh", "-c", "echo hi"]);
        assert!(o.stdin && o.stdout && o.stderr && !o.tty);
        assert!(o.check_streams().is_ok());
        let none = StreamOptions::parse("command=ls").unwrap();
        assert!(none.check_streams().is_err());
        assert_eq!(
            StreamOptions::parse("port=80&port=8080,9090")
                .unwrap()
                .ports,
            [80, 8080, 9090]
        );
        assert!(StreamOptions::parse("port=0").is_err());
        assert!(StreamOptions::parse("port=http").is_err());
    }
}
