//! Event filtering of event source mappings (`FilterCriteria`): compiling filter patterns and
//! matching records against them, in the pattern language Lambda shares with Amazon
//! EventBridge.
//!
//! AWS compat: <https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html>
//! ("Filter rule syntax") and
//! <https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-content-based-filtering.html>.
//!
//! A pattern is a JSON object whose keys name fields of the record. A key's value is either a
//! nested object (the field is itself an object) or an array of matchers, which match when any
//! of them matches. All keys of an object must match (AND); `"$or": [{...}, {...}]` at any
//! level needs one of its alternatives to match. Matchers:
//!
//! - exact values: strings (case-sensitive), numbers (compared numerically, so `5` equals
//!   `5.0`), booleans and `null`;
//! - `{"prefix": "s"}`, `{"prefix": {"equals-ignore-case": "s"}}`, `{"suffix": "s"}`,
//!   `{"suffix": {"equals-ignore-case": "s"}}`, `{"equals-ignore-case": "s"}`,
//!   `{"wildcard": "a*b"}` (`\*` is a literal asterisk, `\\` a backslash; `**` is refused);
//! - `{"anything-but": ...}` with a string, a number, a list of strings or of numbers, or one of
//!   `prefix`, `suffix`, `equals-ignore-case` (string or list) and `wildcard` (string or list);
//! - `{"numeric": [">", 0, "<=", 5]}`: `=` alone, or at most one lower bound (`>`, `>=`) and
//!   one upper bound (`<`, `<=`), values within ±5.0e9;
//! - `{"exists": true}` / `{"exists": false}` (false matches a field that is absent);
//! - `{"cidr": "10.0.0.0/24"}` for IPv4 and IPv6 addresses held in strings.
//!
//! String matchers only match strings and numeric ones only numbers. When the record holds an
//! array, the field matches if any element does; arrays of objects are matched element by
//! element, so the keys of one pattern object must all be satisfied within the same element.
//! `exists` looks only at leaf values (strings, numbers, booleans, `null`): a field holding an
//! object, or an empty array, counts as absent. `anything-but` needs the field to be present
//! and matches every value its inner matcher does not. The empty pattern `{}` matches every
//! record.
//!
//! What Lambda filters is the record, not the batch: for SQS that is the SQS record object, with
//! keys such as `body`, `attributes` and `messageAttributes`. AWS compat: the `body` is matched
//! as parsed JSON when the message body is a JSON object and as a plain string otherwise. That
//! parsing is the caller's job; [`Pattern::matches`] takes whatever JSON value it is given. A
//! record passes when any of the mapping's filters matches it, and every record passes when
//! there are none ([`matches_any`]).

use std::net::IpAddr;

use serde_json::{Map, Value};

use crate::error::{LambdaError, ValidationErrors};

/// AWS compat: filters per event source mapping (Lambda's default quota; AWS raises it to 10
/// on request).
pub const MAX_FILTERS: usize = 5;
/// AWS compat: the longest `Filter.Pattern`, characters (the model's length constraint).
pub const MAX_PATTERN_LEN: usize = 4096;
/// AWS compat: Lambda's message for any pattern it cannot compile, whatever is wrong with it.
pub const INVALID_PATTERN: &str = "Invalid filter pattern definition.";
/// The range `numeric` bounds must lie in (EventBridge's documented limit).
const NUMERIC_LIMIT: f64 = 5.0e9;
/// Keys that keep an object inside `$or` from being read as an alternative (EventBridge keeps
/// them for matchers, present and future).
const RESERVED: &[&str] = &[
    "exactly",
    "equals-ignore-case",
    "prefix",
    "suffix",
    "anything-but",
    "exists",
    "wildcard",
    "numeric",
    "cidr",
    "=",
    "<",
    "<=",
    ">",
    ">=",
    "regex",
    "not-wildcard",
    "not-equals-ignore-case",
    "date-after",
    "date-on-or-after",
    "date-before",
    "date-on-or-before",
    "in-date-range",
    "ip-address-in-range",
    "ip-address-not-in-range",
];

/// Why a pattern does not compile. Lambda answers every one of these with the same
/// [`INVALID_PATTERN`] message; the detail is for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// The text is not JSON.
    #[error("pattern is not JSON: {0}")]
    Json(String),
    /// The pattern is JSON but not an object.
    #[error("pattern must be a JSON object")]
    NotObject,
    /// A key's value is neither an object nor an array of matchers.
    #[error("{0}: value must be an object or an array of matchers")]
    FieldValue(String),
    /// An empty array where matchers are expected.
    #[error("{0}: empty arrays are not allowed")]
    EmptyArray(String),
    /// An empty nested object.
    #[error("{0}: empty objects are not allowed")]
    EmptyObject(String),
    /// An array inside a matcher array.
    #[error("{0}: a matcher cannot be an array")]
    NestedArray(String),
    /// A matcher object with other than one key.
    #[error("{0}: a matcher object must have exactly one key")]
    MatcherKeys(String),
    /// A matcher the language does not have.
    #[error("{path}: unrecognized match type {operator}")]
    UnknownOperator {
        /// Where, as dotted keys.
        path: String,
        /// The key that names no matcher.
        operator: String,
    },
    /// A known matcher given a value of the wrong kind.
    #[error("{path}: {operator} {expected}")]
    OperatorValue {
        /// Where, as dotted keys.
        path: String,
        /// The matcher.
        operator: &'static str,
        /// What it takes.
        expected: &'static str,
    },
    /// A `numeric` range that breaks its rules.
    #[error("{path}: numeric {problem}")]
    Numeric {
        /// Where, as dotted keys.
        path: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// A `wildcard` value that breaks its rules.
    #[error("{path}: wildcard {problem}")]
    Wildcard {
        /// Where, as dotted keys.
        path: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// A `cidr` value that is not an IPv4 or IPv6 CIDR block.
    #[error("{path}: {value} is not a CIDR block")]
    Cidr {
        /// Where, as dotted keys.
        path: String,
        /// The value given.
        value: String,
    },
}

impl From<PatternError> for LambdaError {
    fn from(_: PatternError) -> Self {
        LambdaError::invalid_parameter(INVALID_PATTERN)
    }
}

/// One compiled filter pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    root: Object,
}

impl Pattern {
    /// Compiles `text`, or answers Lambda's InvalidParameterValueException.
    ///
    /// AWS compat: Lambda gives the one message [`INVALID_PATTERN`] for every flaw; use
    /// [`Pattern::compile`] to learn which.
    pub fn parse(text: &str) -> Result<Pattern, LambdaError> {
        Ok(Self::compile(text)?)
    }

    /// Compiles `text`, saying what is wrong with it when it does not compile.
    pub fn compile(text: &str) -> Result<Pattern, PatternError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| PatternError::Json(e.to_string()))?;
        let Value::Object(map) = value else {
            return Err(PatternError::NotObject);
        };
        Ok(Pattern {
            root: Object::compile(&map, "")?,
        })
    }

    /// Whether `event` (one record) matches.
    pub fn matches(&self, event: &Value) -> bool {
        self.root.matches(Some(event))
    }
}

/// Lambda's rule for a mapping's filters: a record passes when any filter matches it; with no
/// filters, every record passes.
pub fn matches_any(patterns: &[Pattern], event: &Value) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| p.matches(event))
}

/// Checks `FilterCriteria.Filters[].Pattern` against Lambda's limits: each pattern at most
/// [`MAX_PATTERN_LEN`] characters (a model constraint, so ValidationException listing every
/// offender), then at most [`MAX_FILTERS`] filters.
pub fn check_limits<S: AsRef<str>>(patterns: &[S]) -> Result<(), LambdaError> {
    let mut errors = ValidationErrors::default();
    for (i, p) in patterns.iter().enumerate() {
        let p = p.as_ref();
        if p.chars().count() > MAX_PATTERN_LEN {
            errors.push(
                p,
                &format!("filterCriteria.filters.{}.member.pattern", i + 1),
                &format!("Member must have length less than or equal to {MAX_PATTERN_LEN}"),
            );
        }
    }
    errors.finish()?;
    if patterns.len() > MAX_FILTERS {
        // The exact wording AWS uses here is not recorded anywhere we could check.
        return Err(LambdaError::invalid_parameter(format!(
            "The number of filters in FilterCriteria exceeds the limit of {MAX_FILTERS}."
        )));
    }
    Ok(())
}

/// Checks the limits ([`check_limits`]) and compiles every pattern, as CreateEventSourceMapping
/// and UpdateEventSourceMapping do.
pub fn compile_filters<S: AsRef<str>>(patterns: &[S]) -> Result<Vec<Pattern>, LambdaError> {
    check_limits(patterns)?;
    patterns
        .iter()
        .map(|p| Pattern::parse(p.as_ref()))
        .collect()
}

/// A pattern object: fields that must all match, and `$or` groups of which one alternative
/// each must match.
#[derive(Debug, Clone, PartialEq)]
struct Object {
    fields: Vec<(String, Field)>,
    ors: Vec<Vec<Object>>,
}

#[derive(Debug, Clone, PartialEq)]
enum Field {
    Nested(Object),
    Leaf(Vec<Matcher>),
}

#[derive(Debug, Clone, PartialEq)]
enum Matcher {
    Exact(Exact),
    Prefix(String),
    PrefixIgnoreCase(String),
    Suffix(String),
    SuffixIgnoreCase(String),
    EqualsIgnoreCase(String),
    Wildcard(Wildcard),
    AnythingBut(AnythingBut),
    Numeric(Range),
    Exists(bool),
    Cidr(Cidr),
}

#[derive(Debug, Clone, PartialEq)]
enum Exact {
    String(String),
    Number(f64),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, PartialEq)]
enum AnythingBut {
    Strings(Vec<String>),
    Numbers(Vec<f64>),
    Prefix(String),
    Suffix(String),
    IgnoreCase(Vec<String>),
    Wildcard(Vec<Wildcard>),
}

/// `numeric` bounds: `(value, inclusive)`.
#[derive(Debug, Clone, PartialEq)]
struct Range {
    lower: Option<(f64, bool)>,
    upper: Option<(f64, bool)>,
}

/// A wildcard split at its unescaped asterisks: `parts.len() - 1` wildcards.
#[derive(Debug, Clone, PartialEq)]
struct Wildcard {
    parts: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cidr {
    V4 { net: u32, mask: u32 },
    V6 { net: u128, mask: u128 },
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl Object {
    fn compile(map: &Map<String, Value>, path: &str) -> Result<Object, PatternError> {
        let mut object = Object {
            fields: Vec::new(),
            ors: Vec::new(),
        };
        for (key, value) in map {
            let here = join(path, key);
            if key == "$or" {
                if let Some(alternatives) = or_alternatives(value) {
                    let group = alternatives
                        .iter()
                        .map(|m| Object::compile_nested(m, &here))
                        .collect::<Result<Vec<_>, _>>()?;
                    object.ors.push(group);
                    continue;
                }
                // AWS compat: otherwise `$or` is an ordinary field name.
            }
            let field = match value {
                Value::Object(m) => Field::Nested(Object::compile_nested(m, &here)?),
                Value::Array(items) => {
                    if items.is_empty() {
                        return Err(PatternError::EmptyArray(here));
                    }
                    Field::Leaf(
                        items
                            .iter()
                            .map(|v| Matcher::compile(v, &here))
                            .collect::<Result<_, _>>()?,
                    )
                }
                _ => return Err(PatternError::FieldValue(here)),
            };
            object.fields.push((key.clone(), field));
        }
        Ok(object)
    }

    fn compile_nested(map: &Map<String, Value>, path: &str) -> Result<Object, PatternError> {
        if map.is_empty() {
            return Err(PatternError::EmptyObject(path.to_string()));
        }
        Object::compile(map, path)
    }

    /// `value` is the record's value at this object's place; `None` when absent.
    fn matches(&self, value: Option<&Value>) -> bool {
        if let Some(Value::Array(items)) = value {
            if !items.is_empty() {
                return items.iter().any(|item| self.matches(Some(item)));
            }
            return self.matches(None);
        }
        self.fields
            .iter()
            .all(|(key, field)| field.matches(value.and_then(|v| v.get(key))))
            && self
                .ors
                .iter()
                .all(|group| group.iter().any(|alt| alt.matches(value)))
    }
}

/// AWS compat: `$or` means OR only when it holds two or more objects, none keyed by a reserved
/// matcher name.
fn or_alternatives(value: &Value) -> Option<Vec<&Map<String, Value>>> {
    let items = value.as_array()?;
    if items.len() < 2 {
        return None;
    }
    items
        .iter()
        .map(|item| {
            let map = item.as_object()?;
            if map.keys().any(|k| RESERVED.contains(&k.as_str())) {
                None
            } else {
                Some(map)
            }
        })
        .collect()
}

impl Field {
    fn matches(&self, value: Option<&Value>) -> bool {
        match self {
            Field::Nested(object) => object.matches(value),
            Field::Leaf(matchers) => {
                let mut leaves = Vec::new();
                if let Some(v) = value {
                    collect_leaves(v, &mut leaves);
                }
                if leaves.is_empty() {
                    return matchers.iter().any(|m| *m == Matcher::Exists(false));
                }
                matchers
                    .iter()
                    .any(|m| leaves.iter().any(|leaf| m.matches(leaf)))
            }
        }
    }
}

/// The scalar values at a place: arrays are flattened, objects are not leaves.
fn collect_leaves<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    match value {
        Value::Array(items) => items.iter().for_each(|i| collect_leaves(i, out)),
        Value::Object(_) => {}
        leaf => out.push(leaf),
    }
}

fn string_of<'a>(
    value: &'a Value,
    path: &str,
    operator: &'static str,
) -> Result<&'a str, PatternError> {
    value.as_str().ok_or_else(|| PatternError::OperatorValue {
        path: path.to_string(),
        operator,
        expected: "takes a string",
    })
}

/// A string, or a non-empty list of strings.
fn strings_of(
    value: &Value,
    path: &str,
    operator: &'static str,
) -> Result<Vec<String>, PatternError> {
    let bad = || PatternError::OperatorValue {
        path: path.to_string(),
        operator,
        expected: "takes a string or a non-empty list of strings",
    };
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|i| i.as_str().map(str::to_string).ok_or_else(bad))
            .collect(),
        _ => Err(bad()),
    }
}

/// `{"equals-ignore-case": "s"}` inside `prefix` or `suffix`.
fn ignore_case_of(
    value: &Value,
    path: &str,
    operator: &'static str,
) -> Result<Option<String>, PatternError> {
    let bad = || PatternError::OperatorValue {
        path: path.to_string(),
        operator,
        expected: "takes a string or {\"equals-ignore-case\": string}",
    };
    match value {
        Value::String(_) => Ok(None),
        Value::Object(m) if m.len() == 1 => match m.get("equals-ignore-case") {
            Some(Value::String(s)) => Ok(Some(s.clone())),
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

impl Matcher {
    fn compile(value: &Value, path: &str) -> Result<Matcher, PatternError> {
        let map = match value {
            Value::String(s) => return Ok(Matcher::Exact(Exact::String(s.clone()))),
            Value::Number(n) => {
                let n = n.as_f64().ok_or_else(|| PatternError::Numeric {
                    path: path.to_string(),
                    problem: "value is not a finite number",
                })?;
                return Ok(Matcher::Exact(Exact::Number(n)));
            }
            Value::Bool(b) => return Ok(Matcher::Exact(Exact::Bool(*b))),
            Value::Null => return Ok(Matcher::Exact(Exact::Null)),
            Value::Array(_) => return Err(PatternError::NestedArray(path.to_string())),
            Value::Object(map) => map,
        };
        let mut entries = map.iter();
        let (Some((operator, arg)), None) = (entries.next(), entries.next()) else {
            return Err(PatternError::MatcherKeys(path.to_string()));
        };
        Ok(match operator.as_str() {
            "prefix" => match ignore_case_of(arg, path, "prefix")? {
                Some(s) => Matcher::PrefixIgnoreCase(s.to_lowercase()),
                None => Matcher::Prefix(string_of(arg, path, "prefix")?.to_string()),
            },
            "suffix" => match ignore_case_of(arg, path, "suffix")? {
                Some(s) => Matcher::SuffixIgnoreCase(s.to_lowercase()),
                None => Matcher::Suffix(string_of(arg, path, "suffix")?.to_string()),
            },
            "equals-ignore-case" => Matcher::EqualsIgnoreCase(
                string_of(arg, path, "equals-ignore-case")?.to_lowercase(),
            ),
            "wildcard" => {
                Matcher::Wildcard(Wildcard::compile(string_of(arg, path, "wildcard")?, path)?)
            }
            "anything-but" => Matcher::AnythingBut(AnythingBut::compile(arg, path)?),
            "numeric" => Matcher::Numeric(Range::compile(arg, path)?),
            "exists" => {
                Matcher::Exists(arg.as_bool().ok_or_else(|| PatternError::OperatorValue {
                    path: path.to_string(),
                    operator: "exists",
                    expected: "takes true or false",
                })?)
            }
            "cidr" => Matcher::Cidr(Cidr::compile(string_of(arg, path, "cidr")?, path)?),
            _ => {
                return Err(PatternError::UnknownOperator {
                    path: path.to_string(),
                    operator: operator.clone(),
                })
            }
        })
    }

    /// Whether one leaf value (never an array or object) matches.
    fn matches(&self, leaf: &Value) -> bool {
        match self {
            Matcher::Exact(e) => e.matches(leaf),
            Matcher::Exists(present) => *present,
            Matcher::Numeric(r) => leaf.as_f64().is_some_and(|n| r.contains(n)),
            Matcher::AnythingBut(a) => !a.excluded(leaf),
            Matcher::Cidr(c) => leaf.as_str().is_some_and(|s| c.contains(s)),
            _ => leaf.as_str().is_some_and(|s| self.matches_str(s)),
        }
    }

    fn matches_str(&self, s: &str) -> bool {
        match self {
            Matcher::Prefix(p) => s.starts_with(p.as_str()),
            Matcher::PrefixIgnoreCase(p) => s.to_lowercase().starts_with(p.as_str()),
            Matcher::Suffix(p) => s.ends_with(p.as_str()),
            Matcher::SuffixIgnoreCase(p) => s.to_lowercase().ends_with(p.as_str()),
            Matcher::EqualsIgnoreCase(p) => s.to_lowercase() == *p,
            Matcher::Wildcard(w) => w.matches(s),
            _ => false,
        }
    }
}

impl Exact {
    fn matches(&self, leaf: &Value) -> bool {
        match (self, leaf) {
            (Exact::String(a), Value::String(b)) => a == b,
            (Exact::Number(a), Value::Number(b)) => b.as_f64() == Some(*a),
            (Exact::Bool(a), Value::Bool(b)) => a == b,
            (Exact::Null, Value::Null) => true,
            _ => false,
        }
    }
}

impl AnythingBut {
    fn compile(arg: &Value, path: &str) -> Result<AnythingBut, PatternError> {
        let bad = || {
            PatternError::OperatorValue {
            path: path.to_string(),
            operator: "anything-but",
            expected: "takes a string, a number, a non-empty list of strings or of numbers, or one of prefix, suffix, equals-ignore-case and wildcard",
        }
        };
        match arg {
            Value::String(s) => Ok(AnythingBut::Strings(vec![s.clone()])),
            Value::Number(n) => Ok(AnythingBut::Numbers(vec![n.as_f64().ok_or_else(bad)?])),
            Value::Array(items) if !items.is_empty() => {
                if items.iter().all(Value::is_string) {
                    Ok(AnythingBut::Strings(
                        items
                            .iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect(),
                    ))
                } else if items.iter().all(Value::is_number) {
                    Ok(AnythingBut::Numbers(
                        items.iter().filter_map(Value::as_f64).collect(),
                    ))
                } else {
                    Err(bad())
                }
            }
            Value::Object(m) if m.len() == 1 => {
                let (operator, inner) = m.iter().next().ok_or_else(bad)?;
                match operator.as_str() {
                    "prefix" => Ok(AnythingBut::Prefix(
                        string_of(inner, path, "anything-but prefix")?.to_string(),
                    )),
                    "suffix" => Ok(AnythingBut::Suffix(
                        string_of(inner, path, "anything-but suffix")?.to_string(),
                    )),
                    "equals-ignore-case" => Ok(AnythingBut::IgnoreCase(
                        strings_of(inner, path, "anything-but equals-ignore-case")?
                            .into_iter()
                            .map(|s| s.to_lowercase())
                            .collect(),
                    )),
                    "wildcard" => Ok(AnythingBut::Wildcard(
                        strings_of(inner, path, "anything-but wildcard")?
                            .iter()
                            .map(|s| Wildcard::compile(s, path))
                            .collect::<Result<_, _>>()?,
                    )),
                    _ => Err(PatternError::UnknownOperator {
                        path: path.to_string(),
                        operator: format!("anything-but {operator}"),
                    }),
                }
            }
            _ => Err(bad()),
        }
    }

    /// Whether the inner matcher takes `leaf` (so anything-but refuses it).
    fn excluded(&self, leaf: &Value) -> bool {
        match self {
            AnythingBut::Strings(list) => {
                leaf.as_str().is_some_and(|s| list.iter().any(|l| l == s))
            }
            AnythingBut::Numbers(list) => leaf.as_f64().is_some_and(|n| list.contains(&n)),
            AnythingBut::Prefix(p) => leaf.as_str().is_some_and(|s| s.starts_with(p.as_str())),
            AnythingBut::Suffix(p) => leaf.as_str().is_some_and(|s| s.ends_with(p.as_str())),
            AnythingBut::IgnoreCase(list) => leaf
                .as_str()
                .is_some_and(|s| list.contains(&s.to_lowercase())),
            AnythingBut::Wildcard(list) => leaf
                .as_str()
                .is_some_and(|s| list.iter().any(|w| w.matches(s))),
        }
    }
}

impl Range {
    fn compile(arg: &Value, path: &str) -> Result<Range, PatternError> {
        let fail = |problem| PatternError::Numeric {
            path: path.to_string(),
            problem,
        };
        let items = match arg {
            Value::Array(items) if !items.is_empty() && items.len() % 2 == 0 => items,
            _ => return Err(fail("takes operator and value pairs")),
        };
        let mut range = Range {
            lower: None,
            upper: None,
        };
        for pair in items.chunks(2) {
            let op = pair[0]
                .as_str()
                .ok_or_else(|| fail("operators must be strings"))?;
            let n = pair[1]
                .as_f64()
                .ok_or_else(|| fail("values must be numbers"))?;
            if !(-NUMERIC_LIMIT..=NUMERIC_LIMIT).contains(&n) {
                return Err(fail("values must lie between -5.0e9 and 5.0e9"));
            }
            match op {
                "=" if items.len() == 2 => {
                    range.lower = Some((n, true));
                    range.upper = Some((n, true));
                }
                "=" => return Err(fail("= cannot be combined with other operators")),
                ">" | ">=" if range.lower.is_none() => range.lower = Some((n, op == ">=")),
                "<" | "<=" if range.upper.is_none() => range.upper = Some((n, op == "<=")),
                ">" | ">=" | "<" | "<=" => {
                    return Err(fail("takes at most one lower and one upper bound"))
                }
                _ => return Err(fail("operator is not one of =, <, <=, >, >=")),
            }
        }
        if let (Some((lo, _)), Some((hi, _))) = (range.lower, range.upper) {
            let equality = items.len() == 2;
            if !equality && lo >= hi {
                return Err(fail("lower bound must be less than upper bound"));
            }
        }
        Ok(range)
    }

    fn contains(&self, n: f64) -> bool {
        let above = match self.lower {
            Some((lo, true)) => n >= lo,
            Some((lo, false)) => n > lo,
            None => true,
        };
        let below = match self.upper {
            Some((hi, true)) => n <= hi,
            Some((hi, false)) => n < hi,
            None => true,
        };
        above && below
    }
}

impl Wildcard {
    /// AWS compat: `\*` is a literal asterisk and `\\` a backslash; any other escape, and two
    /// wildcards in a row, are refused.
    fn compile(text: &str, path: &str) -> Result<Wildcard, PatternError> {
        let fail = |problem| PatternError::Wildcard {
            path: path.to_string(),
            problem,
        };
        let mut parts = vec![String::new()];
        let mut chars = text.chars();
        let mut after_wildcard = false;
        while let Some(c) = chars.next() {
            match c {
                '*' if after_wildcard => return Err(fail("cannot have consecutive wildcards")),
                '*' => {
                    parts.push(String::new());
                    after_wildcard = true;
                    continue;
                }
                '\\' => match chars.next() {
                    Some(e @ ('*' | '\\')) => push_last(&mut parts, e),
                    _ => return Err(fail("escapes only * and \\")),
                },
                other => push_last(&mut parts, other),
            }
            after_wildcard = false;
        }
        Ok(Wildcard { parts })
    }

    fn matches(&self, s: &str) -> bool {
        let (first, rest) = match self.parts.split_first() {
            Some(split) => split,
            None => return s.is_empty(),
        };
        let Some((last, middle)) = rest.split_last() else {
            return s == first;
        };
        if s.len() < first.len() + last.len()
            || !s.starts_with(first.as_str())
            || !s.ends_with(last.as_str())
        {
            return false;
        }
        let mut window = &s[first.len()..s.len() - last.len()];
        for part in middle {
            match window.find(part.as_str()) {
                Some(at) => window = &window[at + part.len()..],
                None => return false,
            }
        }
        true
    }
}

fn push_last(parts: &mut [String], c: char) {
    if let Some(last) = parts.last_mut() {
        last.push(c);
    }
}

impl Cidr {
    fn compile(text: &str, path: &str) -> Result<Cidr, PatternError> {
        let fail = || PatternError::Cidr {
            path: path.to_string(),
            value: text.to_string(),
        };
        let (addr, bits) = text.split_once('/').ok_or_else(fail)?;
        let bits: u32 = if !bits.is_empty() && bits.bytes().all(|b| b.is_ascii_digit()) {
            bits.parse().map_err(|_| fail())?
        } else {
            return Err(fail());
        };
        match addr.parse::<IpAddr>().map_err(|_| fail())? {
            IpAddr::V4(a) if bits <= 32 => {
                let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
                Ok(Cidr::V4 {
                    net: u32::from(a) & mask,
                    mask,
                })
            }
            IpAddr::V6(a) if bits <= 128 => {
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                Ok(Cidr::V6 {
                    net: u128::from(a) & mask,
                    mask,
                })
            }
            _ => Err(fail()),
        }
    }

    fn contains(&self, s: &str) -> bool {
        match (self, s.parse::<IpAddr>()) {
            (Cidr::V4 { net, mask }, Ok(IpAddr::V4(a))) => u32::from(a) & mask == *net,
            (Cidr::V6 { net, mask }, Ok(IpAddr::V6(a))) => u128::from(a) & mask == *net,
            _ => false,
        }
    }
}
