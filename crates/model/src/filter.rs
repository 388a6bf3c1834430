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
                    return matchers.contains(&Matcher::Exists(false));
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
        for pair in items.chunks_exact(2) {
            let [op, n] = pair else {
                return Err(fail("takes operator and value pairs"));
            };
            let op = op
                .as_str()
                .ok_or_else(|| fail("operators must be strings"))?;
            let n = n.as_f64().ok_or_else(|| fail("values must be numbers"))?;
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::error::ErrorCode;

    fn pattern(text: &str) -> Pattern {
        Pattern::compile(text).expect("pattern compiles")
    }

    /// Whether `text`, compiled, matches `event`.
    fn hit(text: &str, event: Value) -> bool {
        pattern(text).matches(&event)
    }

    fn refused(text: &str) -> PatternError {
        Pattern::compile(text).expect_err("pattern refused")
    }

    #[test]
    fn empty_pattern_matches_everything() {
        assert!(hit("{}", json!({"a": 1})));
        assert!(hit("{}", json!({})));
        assert!(hit("{}", json!("plain")));
    }

    #[test]
    fn exact_values() {
        let p = r#"{"status": ["ERROR", "WARN"]}"#;
        assert!(hit(p, json!({"status": "ERROR"})));
        assert!(hit(p, json!({"status": "WARN", "other": 1})));
        assert!(!hit(p, json!({"status": "error"})));
        assert!(!hit(p, json!({"state": "ERROR"})));
        assert!(!hit(p, json!({})));
        // Types do not mix: a string never equals a number, nor a boolean its name.
        assert!(!hit(r#"{"n": ["5"]}"#, json!({"n": 5})));
        assert!(!hit(r#"{"n": [5]}"#, json!({"n": "5"})));
        assert!(hit(r#"{"ok": [true]}"#, json!({"ok": true})));
        assert!(!hit(r#"{"ok": [true]}"#, json!({"ok": "true"})));
        assert!(!hit(r#"{"ok": [false]}"#, json!({"ok": true})));
    }

    #[test]
    fn null_and_empty_string() {
        // The docs' examples: a null UserID, an empty LastName.
        let null = r#"{"UserID": [null]}"#;
        assert!(hit(null, json!({"UserID": null})));
        assert!(!hit(null, json!({"UserID": "u1"})));
        assert!(!hit(null, json!({})));
        let empty = r#"{"LastName": [""]}"#;
        assert!(hit(empty, json!({"LastName": ""})));
        assert!(!hit(empty, json!({"LastName": null})));
    }

    #[test]
    fn numbers_compare_numerically() {
        let p = r#"{"n": [5]}"#;
        assert!(hit(p, json!({"n": 5})));
        assert!(hit(p, json!({"n": 5.0})));
        assert!(hit(r#"{"n": [5.0]}"#, json!({"n": 5})));
        assert!(hit(r#"{"n": [3.018e2]}"#, json!({"n": 301.8})));
        assert!(!hit(p, json!({"n": 5.000001})));
        assert!(hit(r#"{"n": [-0.5]}"#, json!({"n": -0.5})));
    }

    #[test]
    fn nested_objects() {
        let p = r#"{"dynamodb": {"NewImage": {"Quantity": {"N": ["3"]}}}}"#;
        let event =
            json!({"eventName": "INSERT", "dynamodb": {"NewImage": {"Quantity": {"N": "3"}}}});
        assert!(hit(p, event));
        assert!(!hit(
            p,
            json!({"dynamodb": {"NewImage": {"Quantity": {"N": "4"}}}})
        ));
        assert!(!hit(
            p,
            json!({"dynamodb": {"OldImage": {"Quantity": {"N": "3"}}}})
        ));
        // A leaf where the pattern expects an object is no match.
        assert!(!hit(p, json!({"dynamodb": "flat"})));
    }

    #[test]
    fn every_key_must_match() {
        let p = r#"{"a": ["x"], "b": {"c": [1]}}"#;
        assert!(hit(p, json!({"a": "x", "b": {"c": 1}})));
        assert!(!hit(p, json!({"a": "x", "b": {"c": 2}})));
        assert!(!hit(p, json!({"a": "y", "b": {"c": 1}})));
        assert!(!hit(p, json!({"b": {"c": 1}})));
    }

    #[test]
    fn arrays_in_the_record() {
        let p = r#"{"tags": ["blue"]}"#;
        assert!(hit(p, json!({"tags": ["red", "blue"]})));
        assert!(hit(p, json!({"tags": [["red"], ["blue"]]})));
        assert!(!hit(p, json!({"tags": ["red", "green"]})));
        assert!(!hit(p, json!({"tags": []})));
        // Pattern values and record values intersect.
        assert!(hit(r#"{"tags": ["x", "red"]}"#, json!({"tags": ["red"]})));
    }

    #[test]
    fn arrays_of_objects_match_within_one_element() {
        let event = json!({"people": [
            {"first": "Ana", "last": "Silva"},
            {"first": "Ben", "last": "Okafor"}
        ]});
        assert!(hit(r#"{"people": {"first": ["Ben"]}}"#, event.clone()));
        assert!(hit(
            r#"{"people": {"first": ["Ana"], "last": ["Silva"]}}"#,
            event.clone()
        ));
        assert!(!hit(
            r#"{"people": {"first": ["Ana"], "last": ["Okafor"]}}"#,
            event
        ));
        // Records whose top level is an array are matched element by element too.
        assert!(hit(r#"{"k": ["v"]}"#, json!([{"k": "w"}, {"k": "v"}])));
    }

    #[test]
    fn prefix_and_suffix() {
        let p = r#"{"region": [{"prefix": "us-"}]}"#;
        assert!(hit(p, json!({"region": "us-east-1"})));
        assert!(!hit(p, json!({"region": "eu-west-1"})));
        assert!(!hit(p, json!({"region": "US-east-1"})));
        assert!(!hit(p, json!({"region": 5})));
        let p = r#"{"key": [{"suffix": ".png"}]}"#;
        assert!(hit(p, json!({"key": "photos/cat.png"})));
        assert!(!hit(p, json!({"key": "photos/cat.PNG"})));
        assert!(!hit(p, json!({"key": "photos/cat.png.txt"})));
    }

    #[test]
    fn prefix_and_suffix_ignoring_case() {
        let p = r#"{"region": [{"prefix": {"equals-ignore-case": "US-"}}]}"#;
        assert!(hit(p, json!({"region": "us-east-1"})));
        assert!(hit(p, json!({"region": "Us-west-2"})));
        assert!(!hit(p, json!({"region": "eu-us-1"})));
        let p = r#"{"key": [{"suffix": {"equals-ignore-case": ".PNG"}}]}"#;
        assert!(hit(p, json!({"key": "cat.png"})));
        assert!(hit(p, json!({"key": "cat.Png"})));
        assert!(!hit(p, json!({"key": "cat.jpg"})));
    }

    #[test]
    fn equals_ignore_case() {
        let p = r#"{"name": [{"equals-ignore-case": "Alice"}]}"#;
        assert!(hit(p, json!({"name": "ALICE"})));
        assert!(hit(p, json!({"name": "alice"})));
        assert!(!hit(p, json!({"name": "alicia"})));
        assert!(hit(p, json!({"name": ["bob", "ALICE"]})));
    }

    #[test]
    fn wildcard() {
        let p = r#"{"file": [{"wildcard": "dir/*.png"}]}"#;
        assert!(hit(p, json!({"file": "dir/a.png"})));
        assert!(hit(p, json!({"file": "dir/.png"})));
        assert!(hit(p, json!({"file": "dir/sub/b.png"})));
        assert!(!hit(p, json!({"file": "dir/a.jpg"})));
        assert!(!hit(p, json!({"file": "other/a.png"})));
        let p = r#"{"s": [{"wildcard": "*a*b*"}]}"#;
        assert!(hit(p, json!({"s": "ab"})));
        assert!(hit(p, json!({"s": "xxaxxbxx"})));
        assert!(!hit(p, json!({"s": "ba"})));
        // Pieces may not overlap.
        assert!(!hit(
            r#"{"s": [{"wildcard": "ab*ba"}]}"#,
            json!({"s": "aba"})
        ));
        assert!(hit(
            r#"{"s": [{"wildcard": "ab*ba"}]}"#,
            json!({"s": "abba"})
        ));
        // No wildcard at all: plain equality.
        assert!(hit(r#"{"s": [{"wildcard": "abc"}]}"#, json!({"s": "abc"})));
        assert!(!hit(
            r#"{"s": [{"wildcard": "abc"}]}"#,
            json!({"s": "abcd"})
        ));
        assert!(hit(r#"{"s": [{"wildcard": "*"}]}"#, json!({"s": ""})));
    }

    #[test]
    fn wildcard_escapes() {
        let star = r#"{"s": [{"wildcard": "a\\*b"}]}"#;
        assert!(hit(star, json!({"s": "a*b"})));
        assert!(!hit(star, json!({"s": "axb"})));
        let slash = r#"{"s": [{"wildcard": "a\\\\*"}]}"#;
        assert!(hit(slash, json!({"s": "a\\"})));
        assert!(hit(slash, json!({"s": "a\\tail"})));
        assert!(!hit(slash, json!({"s": "atail"})));
        // An escaped asterisk between wildcards keeps them apart.
        assert!(hit(
            r#"{"s": [{"wildcard": "*\\**"}]}"#,
            json!({"s": "x*y"})
        ));
        assert!(matches!(
            refused(r#"{"s": [{"wildcard": "a**b"}]}"#),
            PatternError::Wildcard { .. }
        ));
        assert!(matches!(
            refused(r#"{"s": [{"wildcard": "a\\b"}]}"#),
            PatternError::Wildcard { .. }
        ));
        assert!(matches!(
            refused(r#"{"s": [{"wildcard": "a\\"}]}"#),
            PatternError::Wildcard { .. }
        ));
    }

    #[test]
    fn anything_but_values() {
        let p = r#"{"state": [{"anything-but": "stopped"}]}"#;
        assert!(hit(p, json!({"state": "running"})));
        assert!(!hit(p, json!({"state": "stopped"})));
        // The field must be there.
        assert!(!hit(p, json!({})));
        let p = r#"{"state": [{"anything-but": ["stopped", "overloaded"]}]}"#;
        assert!(hit(p, json!({"state": "running"})));
        assert!(!hit(p, json!({"state": "overloaded"})));
        let p = r#"{"n": [{"anything-but": [100, 200]}]}"#;
        assert!(hit(p, json!({"n": 150})));
        assert!(!hit(p, json!({"n": 200.0})));
        assert!(!hit(r#"{"n": [{"anything-but": 5}]}"#, json!({"n": 5})));
        assert!(hit(r#"{"n": [{"anything-but": 5}]}"#, json!({"n": 6})));
        // An array matches if any element is not excluded.
        assert!(hit(
            r#"{"s": [{"anything-but": "a"}]}"#,
            json!({"s": ["a", "b"]})
        ));
        assert!(!hit(
            r#"{"s": [{"anything-but": "a"}]}"#,
            json!({"s": ["a", "a"]})
        ));
    }

    #[test]
    fn anything_but_operators() {
        let p = r#"{"s": [{"anything-but": {"prefix": "init"}}]}"#;
        assert!(hit(p, json!({"s": "running"})));
        assert!(!hit(p, json!({"s": "initializing"})));
        let p = r#"{"s": [{"anything-but": {"suffix": ".tmp"}}]}"#;
        assert!(hit(p, json!({"s": "a.txt"})));
        assert!(!hit(p, json!({"s": "a.tmp"})));
        let p = r#"{"s": [{"anything-but": {"equals-ignore-case": ["Red", "BLUE"]}}]}"#;
        assert!(hit(p, json!({"s": "green"})));
        assert!(!hit(p, json!({"s": "RED"})));
        assert!(!hit(p, json!({"s": "blue"})));
        let p = r#"{"s": [{"anything-but": {"equals-ignore-case": "Red"}}]}"#;
        assert!(!hit(p, json!({"s": "rEd"})));
        let p = r#"{"s": [{"anything-but": {"wildcard": "*/lib/*"}}]}"#;
        assert!(hit(p, json!({"s": "/usr/bin/ls"})));
        assert!(!hit(p, json!({"s": "/usr/lib/x.so"})));
        let p = r#"{"s": [{"anything-but": {"wildcard": ["a*", "*z"]}}]}"#;
        assert!(hit(p, json!({"s": "mid"})));
        assert!(!hit(p, json!({"s": "abc"})));
        assert!(!hit(p, json!({"s": "xyz"})));
    }

    #[test]
    fn numeric_ranges() {
        let p = r#"{"n": [{"numeric": [">", 0, "<=", 5]}]}"#;
        assert!(hit(p, json!({"n": 5})));
        assert!(hit(p, json!({"n": 5.0})));
        assert!(hit(p, json!({"n": 0.1})));
        assert!(!hit(p, json!({"n": 0})));
        assert!(!hit(p, json!({"n": 5.5})));
        assert!(!hit(p, json!({"n": "3"})));
        assert!(!hit(p, json!({})));
        let p = r#"{"n": [{"numeric": [">=", 10, "<", 20]}]}"#;
        assert!(hit(p, json!({"n": 10})));
        assert!(!hit(p, json!({"n": 20})));
        assert!(hit(r#"{"n": [{"numeric": ["<", 10]}]}"#, json!({"n": -3})));
        assert!(hit(r#"{"n": [{"numeric": [">", 10]}]}"#, json!({"n": 1e9})));
        // Bounds may come in either order.
        assert!(hit(
            r#"{"n": [{"numeric": ["<", 2, ">", 1]}]}"#,
            json!({"n": 1.5})
        ));
        let eq = r#"{"n": [{"numeric": ["=", 5]}]}"#;
        assert!(hit(eq, json!({"n": 5.0})));
        assert!(hit(eq, json!({"n": 5})));
        assert!(!hit(eq, json!({"n": 5.1})));
        assert!(hit(
            r#"{"n": [{"numeric": ["=", 3.018e2]}]}"#,
            json!({"n": 301.8})
        ));
        // Any element of an array.
        assert!(hit(eq, json!({"n": [1, 5]})));
    }

    #[test]
    fn numeric_refusals() {
        for bad in [
            r#"{"n": [{"numeric": []}]}"#,
            r#"{"n": [{"numeric": [">"]}]}"#,
            r#"{"n": [{"numeric": 5}]}"#,
            r#"{"n": [{"numeric": [">", "5"]}]}"#,
            r#"{"n": [{"numeric": [5, ">"]}]}"#,
            r#"{"n": [{"numeric": ["!=", 5]}]}"#,
            r#"{"n": [{"numeric": [">", 1, ">", 2]}]}"#,
            r#"{"n": [{"numeric": ["<", 1, "<=", 2]}]}"#,
            r#"{"n": [{"numeric": [">", 5, "<", 1]}]}"#,
            r#"{"n": [{"numeric": [">=", 5, "<=", 5]}]}"#,
            r#"{"n": [{"numeric": ["=", 5, "<", 9]}]}"#,
            r#"{"n": [{"numeric": [">", 1, "<", 2, ">", 0]}]}"#,
            r#"{"n": [{"numeric": ["<", 6e9]}]}"#,
        ] {
            assert!(
                matches!(refused(bad), PatternError::Numeric { .. }),
                "{bad} should be refused as a bad range"
            );
        }
    }

    #[test]
    fn exists() {
        let yes = r#"{"a": {"b": [{"exists": true}]}}"#;
        let no = r#"{"a": {"b": [{"exists": false}]}}"#;
        assert!(hit(yes, json!({"a": {"b": 1}})));
        assert!(hit(yes, json!({"a": {"b": null}})));
        assert!(hit(yes, json!({"a": {"b": ""}})));
        assert!(!hit(yes, json!({"a": {"c": 1}})));
        assert!(hit(no, json!({"a": {"c": 1}})));
        assert!(hit(no, json!({})));
        assert!(hit(no, json!({"a": 3})));
        assert!(!hit(no, json!({"a": {"b": 1}})));
        // Only leaves count: an object or an empty array is absence.
        assert!(!hit(yes, json!({"a": {"b": {"c": 1}}})));
        assert!(hit(no, json!({"a": {"b": {"c": 1}}})));
        assert!(hit(no, json!({"a": {"b": []}})));
        assert!(!hit(no, json!({"a": {"b": [1]}})));
        // exists: false beside another matcher is one more alternative.
        let either = r#"{"s": ["x", {"exists": false}]}"#;
        assert!(hit(either, json!({})));
        assert!(hit(either, json!({"s": "x"})));
        assert!(!hit(either, json!({"s": "y"})));
    }

    #[test]
    fn cidr() {
        let p = r#"{"ip": [{"cidr": "10.0.0.0/24"}]}"#;
        assert!(hit(p, json!({"ip": "10.0.0.0"})));
        assert!(hit(p, json!({"ip": "10.0.0.255"})));
        assert!(!hit(p, json!({"ip": "10.0.1.0"})));
        assert!(!hit(p, json!({"ip": "not an ip"})));
        assert!(!hit(p, json!({"ip": "::ffff:10.0.0.1"})));
        // The block's host bits are masked off.
        assert!(hit(
            r#"{"ip": [{"cidr": "192.168.7.9/16"}]}"#,
            json!({"ip": "192.168.200.1"})
        ));
        assert!(hit(
            r#"{"ip": [{"cidr": "0.0.0.0/0"}]}"#,
            json!({"ip": "8.8.8.8"})
        ));
        assert!(hit(
            r#"{"ip": [{"cidr": "10.1.2.3/32"}]}"#,
            json!({"ip": "10.1.2.3"})
        ));
        assert!(!hit(
            r#"{"ip": [{"cidr": "10.1.2.3/32"}]}"#,
            json!({"ip": "10.1.2.4"})
        ));
        let v6 = r#"{"ip": [{"cidr": "2001:db8::/32"}]}"#;
        assert!(hit(v6, json!({"ip": "2001:db8:1::7"})));
        assert!(hit(v6, json!({"ip": "2001:DB8::1"})));
        assert!(!hit(v6, json!({"ip": "2001:db9::1"})));
        assert!(!hit(v6, json!({"ip": "10.0.0.1"})));
        for bad in [
            r#"{"ip": [{"cidr": "10.0.0.0"}]}"#,
            r#"{"ip": [{"cidr": "10.0.0.0/33"}]}"#,
            r#"{"ip": [{"cidr": "10.0.0/8"}]}"#,
            r#"{"ip": [{"cidr": "10.0.0.0/x"}]}"#,
            r#"{"ip": [{"cidr": "10.0.0.0/-1"}]}"#,
            r#"{"ip": [{"cidr": "2001:db8::/129"}]}"#,
            r#"{"ip": [{"cidr": "host/8"}]}"#,
        ] {
            assert!(matches!(refused(bad), PatternError::Cidr { .. }), "{bad}");
        }
        assert!(matches!(
            refused(r#"{"ip": [{"cidr": 10}]}"#),
            PatternError::OperatorValue { .. }
        ));
    }

    #[test]
    fn or_at_any_level() {
        let p = r#"{"$or": [{"a": ["x"]}, {"b": [{"numeric": [">", 3]}]}]}"#;
        assert!(hit(p, json!({"a": "x"})));
        assert!(hit(p, json!({"b": 4})));
        assert!(!hit(p, json!({"a": "y", "b": 1})));
        // AND with the other keys, nested inside objects, and several $or groups.
        let p = r#"{
            "source": ["orders"],
            "detail": {
                "$or": [{"kind": ["refund"]}, {"amount": [{"numeric": [">=", 100]}]}]
            },
            "$or": [{"region": ["eu"]}, {"vip": [true]}]
        }"#;
        assert!(hit(
            p,
            json!({"source": "orders", "detail": {"kind": "refund"}, "region": "eu"})
        ));
        assert!(hit(
            p,
            json!({"source": "orders", "detail": {"amount": 150}, "vip": true})
        ));
        assert!(!hit(
            p,
            json!({"source": "orders", "detail": {"amount": 50}, "vip": true})
        ));
        assert!(!hit(
            p,
            json!({"source": "orders", "detail": {"kind": "refund"}})
        ));
        assert!(!hit(
            p,
            json!({"source": "other", "detail": {"kind": "refund"}, "region": "eu"})
        ));
        // An alternative holding its own $or.
        let p = r#"{"$or": [
            {"a": ["1"]},
            {"b": ["2"], "$or": [{"c": ["3"]}, {"d": ["4"]}]}
        ]}"#;
        assert!(hit(p, json!({"b": "2", "d": "4"})));
        assert!(!hit(p, json!({"b": "2"})));
        assert!(hit(p, json!({"a": "1"})));
    }

    #[test]
    fn or_that_is_a_field_name() {
        // One alternative only, or a reserved key inside: "$or" is then a plain field.
        let p = r#"{"$or": {"a": ["x"]}}"#;
        assert!(hit(p, json!({"$or": {"a": "x"}})));
        assert!(!hit(p, json!({"a": "x"})));
        assert!(hit(r#"{"$or": ["v"]}"#, json!({"$or": "v"})));
        // Objects keyed by matcher names are matchers of a field called "$or".
        let p = r#"{"$or": [{"numeric": [">", 1]}, {"prefix": "a"}]}"#;
        assert!(hit(p, json!({"$or": 5})));
        assert!(hit(p, json!({"$or": "abc"})));
        assert!(!hit(p, json!({"$or": 0})));
        assert!(matches!(
            refused(r#"{"$or": [{"a": ["x"]}]}"#),
            PatternError::UnknownOperator { .. }
        ));
        assert!(matches!(
            refused(r#"{"$or": [{"a": ["x"]}, {}]}"#),
            PatternError::EmptyObject(_)
        ));
    }

    #[test]
    fn documented_kinds_of_record() {
        // A Kinesis-style record whose data was decoded to JSON, filtered on nested values.
        let p = r#"{"data": {"temperature": [{"numeric": [">=", 25]}], "city": [{"anything-but": ["Oslo"]}]}}"#;
        assert!(hit(
            p,
            json!({"partitionKey": "k", "data": {"temperature": 30, "city": "Lima"}})
        ));
        assert!(!hit(
            p,
            json!({"data": {"temperature": 30, "city": "Oslo"}})
        ));
        assert!(!hit(
            p,
            json!({"data": {"temperature": 10, "city": "Lima"}})
        ));
        // An SQS record: a JSON body was parsed by the caller, attributes are plain strings.
        let p = r#"{"body": {"Order": {"Type": ["Pizza"]}}, "attributes": {"ApproximateReceiveCount": ["1"]}}"#;
        let record = json!({
            "messageId": "m-1",
            "body": {"Order": {"Type": "Pizza", "Size": "L"}},
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {}
        });
        assert!(hit(p, record));
        // A body that is not a JSON object stays a string and is matched as one.
        let p = r#"{"body": [{"prefix": "ERROR"}]}"#;
        assert!(hit(p, json!({"body": "ERROR: disk full"})));
        assert!(!hit(p, json!({"body": {"level": "ERROR"}})));
        // A DynamoDB stream record: only INSERTs whose new image has a given attribute value.
        let p = r#"{"eventName": ["INSERT"], "dynamodb": {"NewImage": {"Status": {"S": [{"equals-ignore-case": "active"}]}}}}"#;
        assert!(hit(
            p,
            json!({"eventName": "INSERT", "dynamodb": {"NewImage": {"Status": {"S": "Active"}}}})
        ));
        assert!(!hit(
            p,
            json!({"eventName": "MODIFY", "dynamodb": {"NewImage": {"Status": {"S": "Active"}}}})
        ));
    }

    #[test]
    fn matches_any_is_or_and_none_passes_all() {
        let event = json!({"a": 2});
        assert!(matches_any(&[], &event));
        let one = pattern(r#"{"a": [1]}"#);
        let two = pattern(r#"{"a": [2]}"#);
        assert!(matches_any(&[one.clone(), two.clone()], &event));
        assert!(!matches_any(&[one], &event));
        assert!(matches_any(&[two], &event));
    }

    #[test]
    fn refusals_name_the_flaw() {
        assert!(matches!(refused("{not json"), PatternError::Json(_)));
        assert!(matches!(refused(""), PatternError::Json(_)));
        assert_eq!(refused("null"), PatternError::NotObject);
        assert_eq!(refused(r#"[{"a": [1]}]"#), PatternError::NotObject);
        assert_eq!(refused(r#""text""#), PatternError::NotObject);
        assert_eq!(
            refused(r#"{"a": "x"}"#),
            PatternError::FieldValue("a".into())
        );
        assert_eq!(
            refused(r#"{"a": {"b": 5}}"#),
            PatternError::FieldValue("a.b".into())
        );
        assert_eq!(
            refused(r#"{"a": []}"#),
            PatternError::EmptyArray("a".into())
        );
        assert_eq!(
            refused(r#"{"a": {}}"#),
            PatternError::EmptyObject("a".into())
        );
        assert_eq!(
            refused(r#"{"a": [["x"]]}"#),
            PatternError::NestedArray("a".into())
        );
        assert_eq!(
            refused(r#"{"a": [{"prefix": "x", "suffix": "y"}]}"#),
            PatternError::MatcherKeys("a".into())
        );
        assert_eq!(
            refused(r#"{"a": [{}]}"#),
            PatternError::MatcherKeys("a".into())
        );
        assert_eq!(
            refused(r#"{"a": [{"regex": "x+"}]}"#),
            PatternError::UnknownOperator {
                path: "a".into(),
                operator: "regex".into()
            }
        );
        for bad in [
            r#"{"a": [{"prefix": 5}]}"#,
            r#"{"a": [{"prefix": {"other": "x"}}]}"#,
            r#"{"a": [{"suffix": ["x"]}]}"#,
            r#"{"a": [{"equals-ignore-case": 1}]}"#,
            r#"{"a": [{"wildcard": null}]}"#,
            r#"{"a": [{"exists": "yes"}]}"#,
            r#"{"a": [{"anything-but": null}]}"#,
            r#"{"a": [{"anything-but": true}]}"#,
            r#"{"a": [{"anything-but": []}]}"#,
            r#"{"a": [{"anything-but": ["x", 1]}]}"#,
            r#"{"a": [{"anything-but": {"prefix": 1}}]}"#,
            r#"{"a": [{"anything-but": {"equals-ignore-case": []}}]}"#,
        ] {
            assert!(
                matches!(refused(bad), PatternError::OperatorValue { .. }),
                "{bad}"
            );
        }
        assert!(matches!(
            refused(r#"{"a": [{"anything-but": {"numeric": [">", 1]}}]}"#),
            PatternError::UnknownOperator { .. }
        ));
        assert!(matches!(
            refused(r#"{"a": [{"anything-but": {"wildcard": "a**"}}]}"#),
            PatternError::Wildcard { .. }
        ));
    }

    #[test]
    fn parse_answers_with_lambdas_message() {
        assert!(Pattern::parse(r#"{"a": ["x"]}"#).is_ok());
        for bad in [
            "{",
            "null",
            r#"{"a": "x"}"#,
            r#"{"a": [{"numeric": ["<", 1, ">", 2]}]}"#,
        ] {
            let e = Pattern::parse(bad).expect_err("refused");
            assert_eq!(e.code, ErrorCode::InvalidParameterValue);
            assert_eq!(e.message, "Invalid filter pattern definition.");
        }
    }

    #[test]
    fn limits() {
        let five = vec![r#"{"a": [1]}"#; MAX_FILTERS];
        assert_eq!(compile_filters(&five).expect("five filters").len(), 5);
        assert!(compile_filters::<&str>(&[]).expect("none").is_empty());
        let six = vec![r#"{"a": [1]}"#; MAX_FILTERS + 1];
        let e = check_limits(&six).expect_err("six filters");
        assert_eq!(e.code, ErrorCode::InvalidParameterValue);
        // Exactly MAX_PATTERN_LEN characters passes, one more does not; characters, not bytes.
        let fill = |n: usize| format!(r#"{{"a": ["{}"]}}"#, "é".repeat(n - 11));
        assert_eq!(fill(MAX_PATTERN_LEN).chars().count(), MAX_PATTERN_LEN);
        assert!(compile_filters(&[fill(MAX_PATTERN_LEN)]).is_ok());
        let long = fill(MAX_PATTERN_LEN + 1);
        let e = check_limits(&[r#"{}"#.to_string(), long.clone()]).expect_err("too long");
        assert_eq!(e.code, ErrorCode::Validation);
        assert_eq!(
            e.message,
            format!("1 validation error detected: Value '{long}' at 'filterCriteria.filters.2.member.pattern' failed to satisfy constraint: Member must have length less than or equal to 4096")
        );
        let e = compile_filters(&[r#"{"a": 1}"#]).expect_err("bad pattern");
        assert_eq!(e.message, INVALID_PATTERN);
    }
}
