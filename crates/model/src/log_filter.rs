//! CloudWatch Logs filter patterns (FilterLogEvents' `filterPattern`): terms and quoted
//! phrases (all must occur), `?` terms (one of them must), `-` terms (none may), and JSON
//! selectors `{ $.a.b[0] = "x*" && ($.n >= 5 || $.flag IS TRUE) }`. Matching is
//! case-sensitive, as AWS's.
//!
//! AWS compat: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html>.
//! Space-delimited patterns (`[ip, user, ...]`) are not supported: they are refused, named.

use serde_json::Value;

/// A parsed filter pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterPattern {
    /// Every event (an empty pattern).
    All,
    /// Unstructured terms.
    Terms {
        /// All of these occur.
        all: Vec<String>,
        /// At least one of these occurs (if any are given).
        any: Vec<String>,
        /// None of these occurs.
        none: Vec<String>,
    },
    /// A JSON selector expression.
    Json(Expr),
}

/// A JSON selector expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// Both.
    And(Box<Expr>, Box<Expr>),
    /// Either.
    Or(Box<Expr>, Box<Expr>),
    /// `$.path <op> value`.
    Compare(Vec<Step>, Op, Literal),
    /// `$.path IS NULL|TRUE|FALSE`.
    Is(Vec<Step>, Literal),
    /// `$.path NOT EXISTS`.
    NotExists(Vec<Step>),
}

/// One step of a selector path.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// `.name`.
    Key(String),
    /// `[n]`.
    Index(usize),
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
}

/// A literal a selector is compared with.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// A string (`*` matches any run of characters).
    Str(String),
    /// A number.
    Num(f64),
    /// `TRUE`/`FALSE`.
    Bool(bool),
    /// `NULL`.
    Null,
}

/// Why a pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid filter pattern: {0}")]
pub struct FilterError(pub String);

impl FilterPattern {
    /// Parses `pattern`.
    pub fn parse(pattern: &str) -> Result<Self, FilterError> {
        let p = pattern.trim();
        if p.is_empty() {
            return Ok(Self::All);
        }
        if p.starts_with('{') {
            let inner = p
                .strip_prefix('{')
                .and_then(|s| s.strip_suffix('}'))
                .ok_or_else(|| FilterError("a JSON pattern ends with }".into()))?;
            let tokens = tokenize(inner)?;
            let mut parser = Parser { tokens, at: 0 };
            let e = parser.or()?;
            if parser.at != parser.tokens.len() {
                return Err(FilterError(format!(
                    "unexpected {:?}",
                    parser.tokens[parser.at]
                )));
            }
            return Ok(Self::Json(e));
        }
        if p.starts_with('[') {
            return Err(FilterError(
                "space-delimited patterns ([...]) are not supported by Nimbus".into(),
            ));
        }
        let (mut all, mut any, mut none) = (Vec::new(), Vec::new(), Vec::new());
        let mut rest = p;
        while !rest.is_empty() {
            rest = rest.trim_start();
            if rest.is_empty() {
                break;
            }
            let (kind, body) = match rest.as_bytes()[0] {
                b'?' => ('?', &rest[1..]),
                b'-' => ('-', &rest[1..]),
                _ => ('+', rest),
            };
            let (term, after) = if let Some(q) = body.strip_prefix('"') {
                let end = q
                    .find('"')
                    .ok_or_else(|| FilterError("an unclosed quote".into()))?;
                (q[..end].to_string(), &q[end + 1..])
            } else {
                let end = body.find(char::is_whitespace).unwrap_or(body.len());
                (body[..end].to_string(), &body[end..])
            };
            if term.is_empty() {
                return Err(FilterError("an empty term".into()));
            }
            match kind {
                '?' => any.push(term),
                '-' => none.push(term),
                _ => all.push(term),
            }
            rest = after;
        }
        Ok(Self::Terms { all, any, none })
    }

    /// Whether `message` matches.
    pub fn matches(&self, message: &str) -> bool {
        match self {
            Self::All => true,
            Self::Terms { all, any, none } => {
                all.iter().all(|t| message.contains(t.as_str()))
                    && (any.is_empty() || any.iter().any(|t| message.contains(t.as_str())))
                    && !none.iter().any(|t| message.contains(t.as_str()))
            }
            Self::Json(e) => serde_json::from_str::<Value>(message.trim())
                .ok()
                .is_some_and(|v| eval(e, &v)),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Path(Vec<Step>),
    Op(Op),
    And,
    Or,
    Open,
    Close,
    Lit(Literal),
    Is,
    Not,
    Exists,
}

fn tokenize(s: &str) -> Result<Vec<Token>, FilterError> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'(' => {
                out.push(Token::Open);
                i += 1;
            }
            b')' => {
                out.push(Token::Close);
                i += 1;
            }
            b'&' if b.get(i + 1) == Some(&b'&') => {
                out.push(Token::And);
                i += 2;
            }
            b'|' if b.get(i + 1) == Some(&b'|') => {
                out.push(Token::Or);
                i += 2;
            }
            b'=' => {
                out.push(Token::Op(Op::Eq));
                i += 1;
            }
            b'!' if b.get(i + 1) == Some(&b'=') => {
                out.push(Token::Op(Op::Ne));
                i += 2;
            }
            b'<' | b'>' => {
                let eq = b.get(i + 1) == Some(&b'=');
                out.push(Token::Op(match (c, eq) {
                    (b'<', true) => Op::Le,
                    (b'<', false) => Op::Lt,
                    (_, true) => Op::Ge,
                    _ => Op::Gt,
                }));
                i += if eq { 2 } else { 1 };
            }
            b'"' => {
                let end = s[i + 1..]
                    .find('"')
                    .ok_or_else(|| FilterError("an unclosed quote".into()))?;
                out.push(Token::Lit(Literal::Str(s[i + 1..i + 1 + end].to_string())));
                i += end + 2;
            }
            b'$' => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && !b" \t\n\r=!<>()&|".contains(&b[j]) {
                    j += 1;
                }
                out.push(Token::Path(path(&s[start..j])?));
                i = j;
            }
            _ => {
                let mut j = i;
                while j < b.len() && !b" \t\n\r=!<>()&|\"".contains(&b[j]) {
                    j += 1;
                }
                let word = &s[i..j];
                out.push(match word {
                    "IS" => Token::Is,
                    "NOT" => Token::Not,
                    "EXISTS" => Token::Exists,
                    "NULL" => Token::Lit(Literal::Null),
                    "TRUE" | "true" => Token::Lit(Literal::Bool(true)),
                    "FALSE" | "false" => Token::Lit(Literal::Bool(false)),
                    w => match w.parse::<f64>() {
                        Ok(n) => Token::Lit(Literal::Num(n)),
                        // An unquoted string value (AWS allows them).
                        Err(_) if !w.is_empty() => Token::Lit(Literal::Str(w.to_string())),
                        Err(_) => return Err(FilterError(format!("unexpected {:?}", &s[i..]))),
                    },
                });
                i = j;
            }
        }
    }
    Ok(out)
}

/// `.a.b[0].c` (after the `$`).
fn path(s: &str) -> Result<Vec<Step>, FilterError> {
    let mut steps = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end == 0 {
                return Err(FilterError(format!("an empty key in ${s}")));
            }
            steps.push(Step::Key(r[..end].to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r
                .find(']')
                .ok_or_else(|| FilterError(format!("an unclosed [ in ${s}")))?;
            let n = r[..end]
                .parse()
                .map_err(|_| FilterError(format!("a bad index in ${s}")))?;
            steps.push(Step::Index(n));
            rest = &r[end + 1..];
        } else {
            return Err(FilterError(format!("a bad selector ${s}")));
        }
    }
    if steps.is_empty() {
        return Err(FilterError("a selector names no field".into()));
    }
    Ok(steps)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn take(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn or(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.and()?;
        while self.peek() == Some(&Token::Or) {
            self.at += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.atom()?;
        while self.peek() == Some(&Token::And) {
            self.at += 1;
            left = Expr::And(Box::new(left), Box::new(self.atom()?));
        }
        Ok(left)
    }

    fn atom(&mut self) -> Result<Expr, FilterError> {
        match self.take() {
            Some(Token::Open) => {
                let e = self.or()?;
                match self.take() {
                    Some(Token::Close) => Ok(e),
                    _ => Err(FilterError("a ( without its )".into())),
                }
            }
            Some(Token::Path(p)) => match self.take() {
                Some(Token::Op(op)) => match self.take() {
                    Some(Token::Lit(l)) => Ok(Expr::Compare(p, op, l)),
                    _ => Err(FilterError("a comparison without its value".into())),
                },
                Some(Token::Is) => match self.take() {
                    Some(Token::Lit(l @ (Literal::Null | Literal::Bool(_)))) => Ok(Expr::Is(p, l)),
                    _ => Err(FilterError("IS takes NULL, TRUE or FALSE".into())),
                },
                Some(Token::Not) => match self.take() {
                    Some(Token::Exists) => Ok(Expr::NotExists(p)),
                    _ => Err(FilterError("NOT takes EXISTS".into())),
                },
                _ => Err(FilterError("a selector without a comparison".into())),
            },
            other => Err(FilterError(format!("unexpected {other:?}"))),
        }
    }
}

fn lookup<'v>(v: &'v Value, path: &[Step]) -> Option<&'v Value> {
    path.iter().try_fold(v, |v, step| match step {
        Step::Key(k) => v.get(k),
        Step::Index(i) => v.get(*i),
    })
}

/// `*` matches any run of characters.
fn glob(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first) || !s[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(at) => rest = &rest[at + mid.len()..],
            None => return false,
        }
    }
    true
}

fn eval(e: &Expr, v: &Value) -> bool {
    match e {
        Expr::And(a, b) => eval(a, v) && eval(b, v),
        Expr::Or(a, b) => eval(a, v) || eval(b, v),
        Expr::NotExists(p) => lookup(v, p).is_none(),
        Expr::Is(p, l) => match (lookup(v, p), l) {
            (Some(Value::Null), Literal::Null) => true,
            (Some(Value::Bool(b)), Literal::Bool(want)) => b == want,
            _ => false,
        },
        Expr::Compare(p, op, l) => {
            let Some(found) = lookup(v, p) else {
                return false;
            };
            match (found, l) {
                (Value::Number(n), Literal::Num(want)) => {
                    let n = n.as_f64().unwrap_or(f64::NAN);
                    match op {
                        Op::Eq => n == *want,
                        Op::Ne => n != *want,
                        Op::Lt => n < *want,
                        Op::Le => n <= *want,
                        Op::Gt => n > *want,
                        Op::Ge => n >= *want,
                    }
                }
                (Value::String(s), Literal::Str(want)) => match op {
                    Op::Eq => glob(want, s),
                    Op::Ne => !glob(want, s),
                    _ => false,
                },
                (Value::Bool(b), Literal::Bool(want)) => match op {
                    Op::Eq => b == want,
                    Op::Ne => b != want,
                    _ => false,
                },
                _ => false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, msg: &str) -> bool {
        FilterPattern::parse(p).expect("pattern").matches(msg)
    }

    #[test]
    fn terms_phrases_alternatives_and_exclusions() {
        assert!(m("", "anything"));
        assert!(m("ERROR", "2026 id ERROR boom"));
        assert!(!m("ERROR", "2026 id error boom"), "case-sensitive");
        assert!(m("ERROR boom", "boom then ERROR"));
        assert!(!m("ERROR boom", "ERROR only"));
        assert!(m(
            "\"Task timed out\"",
            "x Task timed out after 3.00 seconds"
        ));
        assert!(!m("\"Task timed out\"", "Task was timed out"));
        assert!(m("?ERROR ?WARN", "a WARN line"));
        assert!(!m("?ERROR ?WARN", "an INFO line"));
        assert!(m("ERROR -retrying", "ERROR failed"));
        assert!(!m("ERROR -retrying", "ERROR retrying in 1s"));
        assert!(FilterPattern::parse("\"open").is_err());
        assert!(FilterPattern::parse("[ip, user]").is_err());
    }

    #[test]
    fn json_selectors() {
        let msg = r#"{"level": "ERROR", "n": 7, "ok": false, "tags": ["a", "b"], "ctx": {"user": "ada-lovelace", "none": null}}"#;
        assert!(m(r#"{ $.level = "ERROR" }"#, msg));
        assert!(!m(r#"{ $.level = "WARN" }"#, msg));
        assert!(m(r#"{ $.level != "WARN" }"#, msg));
        assert!(m("{ $.n > 5 && $.n <= 7 }", msg));
        assert!(!m("{ $.n > 7 }", msg));
        assert!(m(r#"{ $.ctx.user = "ada*" }"#, msg));
        assert!(m(r#"{ $.ctx.user = "*love*" }"#, msg));
        assert!(m(r#"{ $.tags[1] = "b" }"#, msg));
        assert!(m("{ $.ok IS FALSE }", msg));
        assert!(m("{ $.ctx.none IS NULL }", msg));
        assert!(m("{ $.missing NOT EXISTS }", msg));
        assert!(m(
            r#"{ ($.level = "WARN" || $.n = 7) && $.ok IS FALSE }"#,
            msg
        ));
        assert!(!m(r#"{ $.level = "ERROR" }"#, "not json at all"));
        assert!(FilterPattern::parse("{ $.a = }").is_err());
        assert!(FilterPattern::parse("{ $.a = 1").is_err());
        assert!(FilterPattern::parse("{ ($.a = 1 }").is_err());
    }
}
