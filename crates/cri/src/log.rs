//! Parses the CRI container log format that runtimes write to a container's `log_path`.
//!
//! Each line is `TIMESTAMP STREAM TAGS MESSAGE`, e.g.
//! `2016-10-06T00:17:09.669794202Z stdout F Hello Kubernetes!`: an RFC 3339
//! timestamp with nanoseconds, `stdout` or `stderr`, tags separated by `:`
//! (`F` ends a line of output, `P` is a part of a longer one), then the text
//! without its newline.

/// Which output stream a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The container's standard output.
    Stdout,
    /// The container's standard error.
    Stderr,
}

/// One line of a CRI log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine<'a> {
    /// RFC 3339 timestamp with nanoseconds, as written by the runtime.
    pub timestamp: &'a str,
    /// The stream the output came from.
    pub stream: Stream,
    /// True for a part of an output line that continues in the next log line (`P`).
    pub partial: bool,
    /// The output itself, without the newline.
    pub message: &'a [u8],
}

/// Parses one line of a CRI log file (with or without its trailing newline);
/// `None` when the line is not in the CRI format.
pub fn parse_line(line: &[u8]) -> Option<LogLine<'_>> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let (timestamp, rest) = split_field(line)?;
    let (stream, rest) = split_field(rest)?;
    let stream = match stream {
        b"stdout" => Stream::Stdout,
        b"stderr" => Stream::Stderr,
        _ => return None,
    };
    let (tags, message) = match split_field(rest) {
        Some(split) => split,
        // A full line with empty output: "TS stdout F".
        None => (rest, &b""[..]),
    };
    let partial = tags.split(|&b| b == b':').any(|tag| tag == b"P");
    Some(LogLine {
        timestamp: std::str::from_utf8(timestamp).ok()?,
        stream,
        partial,
        message,
    })
}

fn split_field(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let space = bytes.iter().position(|&b| b == b' ')?;
    Some((&bytes[..space], &bytes[space + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_and_partial_lines() {
        let line =
            parse_line(b"2016-10-06T00:17:09.669794202Z stdout F Hello Kubernetes!\n").unwrap();
        assert_eq!(line.timestamp, "2016-10-06T00:17:09.669794202Z");
        assert_eq!(line.stream, Stream::Stdout);
        assert!(!line.partial);
        assert_eq!(line.message, b"Hello Kubernetes!");

        let line = parse_line(b"2016-10-06T00:17:09.669794203Z stderr P part one ").unwrap();
        assert_eq!(line.stream, Stream::Stderr);
        assert!(line.partial);
        assert_eq!(line.message, b"part one ");
    }

    #[test]
    fn empty_output_lines() {
        let line = parse_line(b"2016-10-06T00:17:09.669794202Z stdout F \n").unwrap();
        assert_eq!(line.message, b"");
        let line = parse_line(b"2016-10-06T00:17:09.669794202Z stdout F").unwrap();
        assert_eq!(line.message, b"");
        assert!(!line.partial);
    }

    #[test]
    fn rejects_other_formats() {
        assert_eq!(parse_line(b"hello"), None);
        assert_eq!(parse_line(b"2016-10-06T00:17:09Z stdin F x"), None);
        assert_eq!(parse_line(b""), None);
    }
}
