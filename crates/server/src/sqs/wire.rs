//! The two wire protocols: requests into the JSON protocol's shape, answers and errors out
//! as JSON or as the query protocol's XML.

use std::collections::BTreeMap;

use axum::response::Response;
use serde_json::{Map, Value};

use super::{respond, with_header, Protocol, SqsError, SqsErrorCode, SqsResult, XMLNS};

/// A JSON protocol body: an object (an empty body reads as `{}`).
pub(super) fn decode_json(body: &[u8]) -> SqsResult<Map<String, Value>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(SqsError::new(
            SqsErrorCode::InvalidParameterValue,
            "The request body is not a JSON object.",
        )),
    }
}

/// Query-protocol members that are maps, flattened as `<Name>.N.Name`/`.Value` (tags as
/// `.Key`/`.Value`), and the JSON member each becomes.
const MAPS: &[(&str, &str)] = &[
    ("Attribute", "Attributes"),
    ("Tag", "Tags"),
    // TagQueue's member has no location name of its own.
    ("Tags", "Tags"),
    ("MessageAttribute", "MessageAttributes"),
    ("MessageSystemAttribute", "MessageSystemAttributes"),
];

/// Query-protocol members that are lists of strings, flattened as `<Name>.N`.
const LISTS: &[(&str, &str)] = &[
    ("AttributeName", "AttributeNames"),
    ("MessageAttributeName", "MessageAttributeNames"),
    ("MessageSystemAttributeName", "MessageSystemAttributeNames"),
    ("TagKey", "TagKeys"),
];

/// Batch entries, flattened as `<Name>.N.<member>`.
const ENTRIES: &[&str] = &[
    "SendMessageBatchRequestEntry",
    "DeleteMessageBatchRequestEntry",
    "ChangeMessageVisibilityBatchRequestEntry",
];

/// A form's keys as a tree: `A.1.B=v` is `A -> 1 -> B -> v`.
#[derive(Debug, Default)]
struct Node {
    value: Option<String>,
    children: BTreeMap<String, Node>,
}

impl Node {
    fn insert(&mut self, path: &[&str], value: String) {
        match path.split_first() {
            None => self.value = Some(value),
            Some((first, rest)) => self
                .children
                .entry((*first).to_string())
                .or_default()
                .insert(rest, value),
        }
    }

    /// The children whose keys are positions (`1`, `2`, ...), in numeric order.
    fn indexed(&self) -> Vec<&Node> {
        let mut items: Vec<(u64, &Node)> = self
            .children
            .iter()
            .filter_map(|(k, v)| k.parse::<u64>().ok().map(|i| (i, v)))
            .collect();
        items.sort_by_key(|(i, _)| *i);
        items.into_iter().map(|(_, v)| v).collect()
    }

    fn text(&self) -> Option<String> {
        self.value.clone()
    }

    fn child_text(&self, key: &str) -> Option<String> {
        self.children.get(key).and_then(Node::text)
    }
}

/// The members of one level of the tree, in the JSON protocol's shape.
fn convert(node: &Node) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, child) in &node.children {
        if let Some((_, json)) = MAPS.iter().find(|(q, _)| q == key) {
            let mut map = Map::new();
            for item in child.indexed() {
                let name = item.child_text("Name").or_else(|| item.child_text("Key"));
                let Some(name) = name else { continue };
                let value = match item.children.get("Value") {
                    Some(v) if v.children.is_empty() => Value::String(v.text().unwrap_or_default()),
                    Some(v) => Value::Object(convert(v)),
                    None => Value::Null,
                };
                map.insert(name, value);
            }
            out.insert((*json).to_string(), Value::Object(map));
        } else if let Some((_, json)) = LISTS.iter().find(|(q, _)| q == key) {
            let items = child
                .indexed()
                .into_iter()
                .filter_map(Node::text)
                .map(Value::String)
                .collect();
            out.insert((*json).to_string(), Value::Array(items));
        } else if ENTRIES.contains(&key.as_str()) {
            let items = child
                .indexed()
                .into_iter()
                .map(|e| Value::Object(convert(e)))
                .collect();
            out.insert("Entries".to_string(), Value::Array(items));
        } else if child.children.is_empty() {
            out.insert(key.clone(), Value::String(child.text().unwrap_or_default()));
        } else {
            out.insert(key.clone(), Value::Object(convert(child)));
        }
    }
    out
}

/// A query-protocol form: its `Action` and the rest in the JSON protocol's shape.
pub(super) fn decode_query(body: &[u8]) -> SqsResult<(String, Map<String, Value>)> {
    if std::str::from_utf8(body).is_err() {
        return Err(SqsError::new(
            SqsErrorCode::InvalidParameterValue,
            "The request body is not a valid form.",
        ));
    }
    let mut root = Node::default();
    let mut action = String::new();
    for (k, v) in form_urlencoded::parse(body) {
        match k.as_ref() {
            "Action" => action = v.into_owned(),
            "Version" => {}
            key => {
                let path: Vec<&str> = key.split('.').collect();
                // Nesting deeper than any SQS member is no SQS member.
                if path.len() <= 6 {
                    root.insert(&path, v.into_owned());
                }
            }
        }
    }
    Ok((action, convert(&root)))
}

/// Text for XML element content.
pub(super) fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            // Kept through XML parsers, which would turn a raw CR into LF.
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
    out
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => xml_escape(s),
        Value::Null => String::new(),
        other => xml_escape(&other.to_string()),
    }
}

/// One member of a result, as the query protocol writes it.
fn write_member(out: &mut String, op: &str, key: &str, value: &Value) {
    let name_value = |out: &mut String, tag: &str, k: &str, name: &str, v: &Value| {
        out.push_str(&format!("<{tag}><{k}>{}</{k}>", xml_escape(name)));
        match v {
            Value::Object(o) => {
                out.push_str("<Value>");
                write_members(out, op, o);
                out.push_str("</Value>");
            }
            v => out.push_str(&format!("<Value>{}</Value>", scalar(v))),
        }
        out.push_str(&format!("</{tag}>"));
    };
    match (key, value) {
        ("Attributes", Value::Object(m)) => {
            for (k, v) in m {
                name_value(out, "Attribute", "Name", k, v);
            }
        }
        ("Tags", Value::Object(m)) => {
            for (k, v) in m {
                name_value(out, "Tag", "Key", k, v);
            }
        }
        ("MessageAttributes", Value::Object(m)) => {
            for (k, v) in m {
                name_value(out, "MessageAttribute", "Name", k, v);
            }
        }
        ("QueueUrls" | "queueUrls", Value::Array(items)) => {
            for v in items {
                out.push_str(&format!("<QueueUrl>{}</QueueUrl>", scalar(v)));
            }
        }
        (key, Value::Array(items)) => {
            let tag = match key {
                "Messages" => "Message".to_string(),
                "Failed" => "BatchResultErrorEntry".to_string(),
                "Successful" => format!("{op}ResultEntry"),
                other => other.to_string(),
            };
            for v in items {
                match v {
                    Value::Object(o) => {
                        out.push_str(&format!("<{tag}>"));
                        write_members(out, op, o);
                        out.push_str(&format!("</{tag}>"));
                    }
                    v => out.push_str(&format!("<{tag}>{}</{tag}>", scalar(v))),
                }
            }
        }
        (key, Value::Object(o)) => {
            out.push_str(&format!("<{key}>"));
            write_members(out, op, o);
            out.push_str(&format!("</{key}>"));
        }
        (key, v) => out.push_str(&format!("<{key}>{}</{key}>", scalar(v))),
    }
}

fn write_members(out: &mut String, op: &str, m: &Map<String, Value>) {
    for (k, v) in m {
        write_member(out, op, k, v);
    }
}

/// Operations whose answer has no members: the query protocol writes no result element.
const NO_RESULT: &[&str] = &[
    "DeleteQueue",
    "SetQueueAttributes",
    "PurgeQueue",
    "TagQueue",
    "UntagQueue",
    "DeleteMessage",
    "ChangeMessageVisibility",
];

/// A successful answer.
pub(super) fn success(
    protocol: Protocol,
    op: &str,
    out: Map<String, Value>,
    request_id: &str,
) -> Response {
    match protocol {
        Protocol::Json => respond(
            200,
            "application/x-amz-json-1.0",
            Value::Object(out).to_string(),
        ),
        Protocol::Query => {
            let mut body = format!("<?xml version=\"1.0\"?><{op}Response xmlns=\"{XMLNS}\">");
            if !NO_RESULT.contains(&op) {
                body.push_str(&format!("<{op}Result>"));
                write_members(&mut body, op, &out);
                body.push_str(&format!("</{op}Result>"));
            }
            body.push_str(&format!(
                "<ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{op}Response>",
                xml_escape(request_id)
            ));
            respond(200, "text/xml", body)
        }
    }
}

/// An error, in AWS's shape for the protocol.
pub(super) fn error(protocol: Protocol, e: &SqsError, request_id: &str) -> Response {
    let (json_type, query_code, status) = e.code.shape();
    let fault = if status >= 500 { "Receiver" } else { "Sender" };
    match protocol {
        Protocol::Json => {
            let body = serde_json::json!({ "__type": json_type, "message": e.message });
            let resp = respond(status, "application/x-amz-json-1.0", body.to_string());
            with_header(resp, "x-amzn-query-error", &format!("{query_code};{fault}"))
        }
        Protocol::Query => respond(
            status,
            "text/xml",
            format!(
                "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>{fault}</Type><Code>{}</Code><Message>{}</Message><Detail/></Error><RequestId>{}</RequestId></ErrorResponse>",
                xml_escape(query_code),
                xml_escape(&e.message),
                xml_escape(request_id)
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_forms_take_the_json_shape() {
        let form = b"Action=SendMessageBatch&Version=2012-11-05&QueueUrl=http%3A%2F%2Fh%2F1%2Fq\
&SendMessageBatchRequestEntry.2.Id=b&SendMessageBatchRequestEntry.2.MessageBody=two\
&SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=one+%26\
&SendMessageBatchRequestEntry.1.MessageAttribute.1.Name=k\
&SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType=String\
&SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue=v\
&SendMessageBatchRequestEntry.10.Id=j&SendMessageBatchRequestEntry.10.MessageBody=ten";
        let (action, m) = decode_query(form).expect("decode");
        assert_eq!(action, "SendMessageBatch");
        assert_eq!(m["QueueUrl"], "http://h/1/q");
        let entries = m["Entries"].as_array().expect("entries");
        let ids: Vec<&str> = entries.iter().filter_map(|e| e["Id"].as_str()).collect();
        assert_eq!(ids, ["a", "b", "j"], "numeric order, not text order");
        assert_eq!(entries[0]["MessageBody"], "one &");
        assert_eq!(
            entries[0]["MessageAttributes"]["k"],
            serde_json::json!({"DataType": "String", "StringValue": "v"})
        );
        let (_, m) = decode_query(
            b"Action=CreateQueue&Attribute.1.Name=DelaySeconds&Attribute.1.Value=5&Tag.1.Key=t&Tag.1.Value=x&AttributeName.1=All",
        )
        .expect("decode");
        assert_eq!(m["Attributes"], serde_json::json!({"DelaySeconds": "5"}));
        assert_eq!(m["Tags"], serde_json::json!({"t": "x"}));
        assert_eq!(m["AttributeNames"], serde_json::json!(["All"]));
    }

    #[tokio::test]
    async fn answers_are_written_in_both_protocols() {
        let mut out = Map::new();
        out.insert("Attributes".into(), serde_json::json!({"A": "<1>"}));
        let resp = success(Protocol::Query, "GetQueueAttributes", out, "rid");
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .expect("body");
        let text = String::from_utf8(body.to_vec()).expect("utf-8");
        assert!(text.contains("<GetQueueAttributesResult><Attribute><Name>A</Name><Value>&lt;1&gt;</Value></Attribute></GetQueueAttributesResult>"), "{text}");
        let resp = error(Protocol::Json, &SqsError::no_queue(), "rid");
        assert_eq!(
            resp.headers()["x-amzn-query-error"],
            "AWS.SimpleQueueService.NonExistentQueue;Sender"
        );
        let resp = error(Protocol::Query, &SqsError::no_queue(), "rid");
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .expect("body");
        let text = String::from_utf8(body.to_vec()).expect("utf-8");
        assert!(
            text.contains("<Code>AWS.SimpleQueueService.NonExistentQueue</Code>"),
            "{text}"
        );
    }
}
