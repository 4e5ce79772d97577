//! Recognises the few container commands a simulated node treats as finite.
//!
//! The argv (`command` followed by `args`) is finite when it is, after the
//! program's basename:
//!
//! - `echo …`, `printf …`, `true`, `:`, `date`, `hostname`, `env`, `pwd` — exit 0 at once;
//! - `false` — exit 1 at once;
//! - `sleep N` (seconds, optionally with an `s`, `m` or `h` suffix) — exit 0 after N,
//!   when N is at most [`MAX_FINITE_SLEEP`]; longer sleeps and `sleep infinity` run forever;
//! - `sh -c SCRIPT` (also `bash`, `ash`, `dash`, `/bin/sh`, `-ec`, `-xc`) where SCRIPT is a
//!   sequence of the forms above joined by `;`, `&&` or newlines, plus `exit N`:
//!   exits with the code of the first `exit N`, the first failing command before an `&&`,
//!   or the last command, after the sum of its sleeps.
//!
//! Anything else (including an empty argv, which means the image's own
//! entrypoint) runs until the pod is deleted.

use std::time::Duration;

/// The longest `sleep` still treated as finite; longer ones mean "forever".
pub const MAX_FINITE_SLEEP: Duration = Duration::from_secs(3600);

/// What a simulated container does once started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Runs until the pod is deleted.
    Forever,
    /// Exits with `code` after running for `after`.
    Exit { code: i32, after: Duration },
}

/// Classifies a container by its `command` and `args`.
pub fn classify(command: &[String], args: &[String]) -> Behaviour {
    let argv: Vec<&str> = command
        .iter()
        .chain(args.iter())
        .map(String::as_str)
        .collect();
    classify_argv(&argv)
}

fn classify_argv(argv: &[&str]) -> Behaviour {
    let Some(first) = argv.first() else {
        return Behaviour::Forever;
    };
    let prog = basename(first);
    if is_shell(prog) {
        return match argv.get(1..) {
            Some([flag, script, ..]) if is_c_flag(flag) => script_behaviour(script),
            _ => Behaviour::Forever,
        };
    }
    match simple(prog, &argv[1..]) {
        Some(Step::Run { code, after }) => Behaviour::Exit { code, after },
        // `exit` is a shell builtin, not a program.
        Some(Step::Exit(_)) | None => Behaviour::Forever,
    }
}

fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

fn is_shell(prog: &str) -> bool {
    matches!(prog, "sh" | "bash" | "ash" | "dash" | "zsh")
}

fn is_c_flag(flag: &str) -> bool {
    flag.starts_with('-')
        && flag.ends_with('c')
        && flag[1..].chars().all(|c| c.is_ascii_alphabetic())
}

/// One recognised simple command.
enum Step {
    Run { code: i32, after: Duration },
    Exit(i32),
}

fn simple(prog: &str, rest: &[&str]) -> Option<Step> {
    let run = |code| {
        Some(Step::Run {
            code,
            after: Duration::ZERO,
        })
    };
    match prog {
        "echo" | "printf" | "true" | ":" | "date" | "hostname" | "env" | "pwd" => run(0),
        "false" => run(1),
        "sleep" => match rest {
            [n] => parse_sleep(n).map(|after| Step::Run { code: 0, after }),
            _ => None,
        },
        "exit" => match rest {
            [] => Some(Step::Exit(0)),
            [n] => n.parse::<i32>().ok().map(|c| Step::Exit(c & 0xff)),
            _ => None,
        },
        _ => None,
    }
}

fn parse_sleep(n: &str) -> Option<Duration> {
    let (num, unit) = match n.char_indices().last() {
        Some((i, 's')) => (&n[..i], 1.0),
        Some((i, 'm')) => (&n[..i], 60.0),
        Some((i, 'h')) => (&n[..i], 3600.0),
        _ => (n, 1.0),
    };
    let secs: f64 = num.parse().ok()?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    let d = Duration::try_from_secs_f64(secs * unit).ok()?;
    (d <= MAX_FINITE_SLEEP).then_some(d)
}

fn script_behaviour(script: &str) -> Behaviour {
    let mut total = Duration::ZERO;
    let mut code = 0;
    for (cmd, and_next) in split_script(script) {
        let words = words(cmd);
        let Some((prog, rest)) = words.split_first() else {
            continue;
        };
        match simple(basename(prog), rest) {
            Some(Step::Exit(c)) => {
                return Behaviour::Exit {
                    code: c,
                    after: total,
                };
            }
            Some(Step::Run { code: c, after }) => {
                total += after;
                code = c;
                if c != 0 && and_next {
                    return Behaviour::Exit {
                        code: c,
                        after: total,
                    };
                }
            }
            None => return Behaviour::Forever,
        }
    }
    Behaviour::Exit { code, after: total }
}

/// Splits a script at `;`, `&&` and newlines (outside quotes); each piece
/// carries whether it is followed by `&&`. A `|`, `||`, `&` or backquote
/// yields a piece that is not recognised.
fn split_script(script: &str) -> Vec<(&str, bool)> {
    let bytes = script.as_bytes();
    let mut out = Vec::new();
    let (mut start, mut i, mut quote) = (0, 0, None::<u8>);
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None => match b {
                b'\'' | b'"' => quote = Some(b),
                b';' | b'\n' => {
                    out.push((&script[start..i], false));
                    start = i + 1;
                }
                b'&' if bytes.get(i + 1) == Some(&b'&') => {
                    out.push((&script[start..i], true));
                    i += 1;
                    start = i + 1;
                }
                b'&' | b'|' | b'`' | b'(' => {
                    // Pipelines, background jobs, substitutions: not simulated.
                    return vec![("\u{0}unrecognised", false)];
                }
                _ => {}
            },
        }
        i += 1;
    }
    out.push((&script[start..], false));
    out
}

/// Splits a simple command into words, dropping quotes.
fn words(cmd: &str) -> Vec<&str> {
    cmd.split_whitespace()
        .map(|w| w.trim_matches(|c| c == '"' || c == '\''))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(argv: &[&str]) -> Behaviour {
        let v: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        classify(&v, &[])
    }

    fn exit(code: i32, secs: u64) -> Behaviour {
        Behaviour::Exit {
            code,
            after: Duration::from_secs(secs),
        }
    }

    #[test]
    fn plain_programs() {
        assert_eq!(c(&[]), Behaviour::Forever);
        assert_eq!(c(&["nginx", "-g", "daemon off;"]), Behaviour::Forever);
        assert_eq!(c(&["echo", "hi"]), exit(0, 0));
        assert_eq!(c(&["/bin/true"]), exit(0, 0));
        assert_eq!(c(&["false"]), exit(1, 0));
        assert_eq!(c(&["sleep", "5"]), exit(0, 5));
        assert_eq!(c(&["sleep", "2m"]), exit(0, 120));
        assert_eq!(c(&["sleep", "infinity"]), Behaviour::Forever);
        assert_eq!(c(&["sleep", "3600000"]), Behaviour::Forever);
        assert_eq!(c(&["exit", "3"]), Behaviour::Forever);
    }

    #[test]
    fn shell_scripts() {
        assert_eq!(c(&["sh", "-c", "echo hi"]), exit(0, 0));
        assert_eq!(
            c(&["/bin/sh", "-c", "echo 'a; b'; sleep 2; exit 3"]),
            exit(3, 2)
        );
        assert_eq!(c(&["sh", "-ec", "sleep 1 && sleep 2"]), exit(0, 3));
        assert_eq!(c(&["sh", "-c", "false && echo no"]), exit(1, 0));
        assert_eq!(c(&["sh", "-c", "false; echo yes"]), exit(0, 0));
        assert_eq!(c(&["sh", "-c", "exit 1"]), exit(1, 0));
        assert_eq!(
            c(&["bash", "-c", "while true; do sleep 1; done"]),
            Behaviour::Forever
        );
        assert_eq!(c(&["sh", "-c", "echo hi | cat"]), Behaviour::Forever);
        assert_eq!(c(&["sh", "-c", "echo $HOSTNAME > /tmp/x"]), exit(0, 0));
        assert_eq!(c(&["sh", "-c", "sleep $(cat n)"]), Behaviour::Forever);
        assert_eq!(c(&["sh"]), Behaviour::Forever);
    }

    #[test]
    fn args_extend_the_command() {
        let cmd = vec!["sh".to_string(), "-c".to_string()];
        let args = vec!["echo done".to_string()];
        assert_eq!(classify(&cmd, &args), exit(0, 0));
    }
}
