//! The queue operations: CreateQueue, DeleteQueue, ListQueues, GetQueueUrl,
//! Get/SetQueueAttributes, PurgeQueue, the tag operations and ListDeadLetterSourceQueues.

use std::collections::BTreeMap;

use nimbus_store::queues::QueueRecord;
use serde_json::{json, Map, Value};

use super::attributes::{self, ALL_NAMES};
use super::{queue_arn, queue_name, queue_url, Input, SqsError, SqsErrorCode, SqsResult};
use crate::app::{now_ms, App};
use crate::request::Ctx;

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// AWS compat: queue names are 1-80 alphanumerics, `-` and `_`; a FIFO queue's end in `.fifo`.
fn check_name(name: &str, fifo: bool) -> SqsResult<()> {
    let base = if fifo {
        name.strip_suffix(".fifo")
    } else {
        Some(name)
    };
    let ok = base.is_some_and(|b| {
        !b.is_empty()
            && name.len() <= 80
            && b.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    });
    match (ok, fifo) {
        (true, _) => Ok(()),
        (false, true) => Err(SqsError::invalid(
            "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.",
        )),
        (false, false) => Err(SqsError::invalid(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
        )),
    }
}

/// AWS compat: tag keys and values (at most 50 tags, keys 1-128, values at most 256).
fn check_tags(tags: &BTreeMap<String, String>) -> SqsResult<()> {
    if tags.len() > 50 {
        return Err(SqsError::invalid("Too many tags added for queue"));
    }
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256 {
            return Err(SqsError::invalid(format!(
                "Tag {k} is invalid: keys are 1 to 128 characters and values at most 256."
            )));
        }
    }
    Ok(())
}

/// Whether a queue exists and is FIFO (for redrive policies), read ahead of validation.
async fn queue_types(
    app: &App,
    attrs: &BTreeMap<String, String>,
) -> SqsResult<BTreeMap<String, bool>> {
    let mut out = BTreeMap::new();
    if let Some(p) = attrs.get("RedrivePolicy") {
        if let Some(arn) = serde_json::from_str::<Value>(p).ok().and_then(|v| {
            v.get("deadLetterTargetArn")
                .and_then(Value::as_str)
                .map(str::to_string)
        }) {
            if let Some(name) = super::queue_of_arn(app, &arn) {
                if let Some(q) = app.queue_store.get_queue(name).await? {
                    out.insert(q.name, q.fifo);
                }
            }
        }
    }
    Ok(out)
}

pub(super) async fn create_queue(
    app: &App,
    ctx: &Ctx,
    input: &Input,
) -> SqsResult<Map<String, Value>> {
    let name = input.required("QueueName")?;
    let attrs = input.string_map("Attributes")?;
    // AWS compat: CreateQueue's member is `tags` in JSON (`Tag.N` in the query protocol).
    let mut tags = input.string_map("tags")?;
    tags.extend(input.string_map("Tags")?);
    let fifo = match attrs.get("FifoQueue").map(|v| v.to_ascii_lowercase()) {
        Some(v) if v == "true" => true,
        Some(v) if v == "false" => false,
        Some(_) => {
            return Err(SqsError::new(
                SqsErrorCode::InvalidAttributeValue,
                "Invalid value for the parameter FifoQueue.",
            ))
        }
        None => false,
    };
    check_name(name, fifo)?;
    check_tags(&tags)?;
    let types = queue_types(app, &attrs).await?;
    let stored = attributes::validate(app, &attrs, fifo, true, &|n| types.get(n).copied())?;
    let now = now_ms();
    let record = QueueRecord {
        name: name.to_string(),
        fifo,
        created_ms: now,
        modified_ms: now,
        attributes: stored.into_iter().filter(|(_, v)| !v.is_empty()).collect(),
        tags,
    };
    if let Some(existing) = app.queue_store.create_queue(&record).await? {
        // AWS compat: creating an existing queue again succeeds if every attribute given has
        // the value the queue has.
        let have = attributes::effective(&existing);
        let want = attributes::effective(&record);
        for name in attrs.keys() {
            if have.get(name) != want.get(name) {
                return Err(SqsError::new(
                    SqsErrorCode::QueueNameExists,
                    format!("A queue already exists with the same name and a different value for attribute {name}"),
                ));
            }
        }
    }
    Ok(object(json!({ "QueueUrl": queue_url(app, ctx, name) })))
}

pub(super) async fn delete_queue(app: &App, input: &Input) -> SqsResult<Map<String, Value>> {
    let name = queue_name(app, input)?;
    if !app.queue_store.delete_queue(&name).await? {
        return Err(SqsError::no_queue());
    }
    app.queue_waiters.forget(&name);
    Ok(Map::new())
}

/// Page tokens: opaque to clients, base64 of the last name of the page.
const TOKEN: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub(super) async fn list_queues(
    app: &App,
    ctx: &Ctx,
    input: &Input,
) -> SqsResult<Map<String, Value>> {
    let prefix = input.str("QueueNamePrefix")?.unwrap_or("");
    let max = input.int("MaxResults")?;
    if let Some(m) = max.filter(|m| !(1..=1000).contains(m)) {
        return Err(SqsError::invalid(format!(
            "Value {m} for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000."
        )));
    }
    let after = match input.str("NextToken")?.filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => Some(
            base64::Engine::decode(&TOKEN, t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| SqsError::invalid("Invalid NextToken value."))?,
        ),
    };
    let limit = usize::try_from(max.unwrap_or(1000)).unwrap_or(1000);
    let page = app
        .queue_store
        .list_queues(prefix, after.as_deref(), limit + 1)
        .await?;
    let more = page.len() > limit;
    let page: Vec<&QueueRecord> = page.iter().take(limit).collect();
    let mut out = Map::new();
    if !page.is_empty() {
        out.insert(
            "QueueUrls".into(),
            page.iter()
                .map(|q| Value::String(queue_url(app, ctx, &q.name)))
                .collect(),
        );
    }
    // AWS compat: only a request with MaxResults is paged.
    if more && max.is_some() {
        if let Some(last) = page.last() {
            out.insert(
                "NextToken".into(),
                Value::String(base64::Engine::encode(&TOKEN, last.name.as_bytes())),
            );
        }
    }
    Ok(out)
}

pub(super) async fn get_queue_url(
    app: &App,
    ctx: &Ctx,
    input: &Input,
) -> SqsResult<Map<String, Value>> {
    let name = input.required("QueueName")?;
    if let Some(owner) = input.str("QueueOwnerAWSAccountId")? {
        if owner != app.account {
            return Err(SqsError::no_queue());
        }
    }
    if app.queue_store.get_queue(name).await?.is_none() {
        return Err(SqsError::no_queue());
    }
    Ok(object(json!({ "QueueUrl": queue_url(app, ctx, name) })))
}

/// The queue `name`, or QueueDoesNotExist.
pub(crate) async fn load(app: &App, name: &str) -> SqsResult<QueueRecord> {
    app.queue_store
        .get_queue(name)
        .await?
        .ok_or_else(SqsError::no_queue)
}

pub(super) async fn get_queue_attributes(
    app: &App,
    ctx: &Ctx,
    input: &Input,
) -> SqsResult<Map<String, Value>> {
    let name = queue_name(app, input)?;
    let q = load(app, &name).await?;
    let wanted = input.strings("AttributeNames")?;
    for w in &wanted {
        if w != "All" && !ALL_NAMES.contains(&w.as_str()) {
            return Err(SqsError::new(
                SqsErrorCode::InvalidAttributeName,
                format!("Unknown Attribute {w}."),
            ));
        }
    }
    let all = wanted.iter().any(|w| w == "All");
    let wants = |n: &str| all || wanted.iter().any(|w| w == n);
    let mut values = attributes::effective(&q);
    values.insert("QueueArn".into(), queue_arn(app, &ctx.region, &q.name));
    values.insert("CreatedTimestamp".into(), (q.created_ms / 1000).to_string());
    values.insert(
        "LastModifiedTimestamp".into(),
        (q.modified_ms / 1000).to_string(),
    );
    if [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    .iter()
    .any(|n| wants(n))
    {
        let s = attributes::settings(app, &q);
        let counts = app
            .queue_store
            .queue_counts(&name, now_ms(), s.retention_seconds.saturating_mul(1000))
            .await?;
        values.insert(
            "ApproximateNumberOfMessages".into(),
            counts.visible.to_string(),
        );
        values.insert(
            "ApproximateNumberOfMessagesNotVisible".into(),
            counts.in_flight.to_string(),
        );
        values.insert(
            "ApproximateNumberOfMessagesDelayed".into(),
            counts.delayed.to_string(),
        );
    }
    let selected: Map<String, Value> = values
        .into_iter()
        .filter(|(k, _)| wants(k))
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let mut out = Map::new();
    if !selected.is_empty() {
        out.insert("Attributes".into(), Value::Object(selected));
    }
    Ok(out)
}

pub(super) async fn set_queue_attributes(
    app: &App,
    input: &Input,
) -> SqsResult<Map<String, Value>> {
    let name = queue_name(app, input)?;
    let attrs = input.string_map("Attributes")?;
    let q = load(app, &name).await?;
    let types = queue_types(app, &attrs).await?;
    let stored = attributes::validate(app, &attrs, q.fifo, false, &|n| types.get(n).copied())?;
    app.queue_store
        .set_queue_attributes(&name, &stored, now_ms())
        .await?;
    // A shorter wait or visibility may make messages receivable for waiting polls.
    app.queue_waiters.wake_all(&name);
    Ok(Map::new())
}

/// When each queue was last purged through the API (AWS allows one PurgeQueue a minute).
#[derive(Debug, Default)]
pub(crate) struct Purges {
    last: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
}

impl Purges {
    /// Records a purge of `queue` now, unless there was one within the last 60 seconds.
    fn admit(&self, queue: &str) -> bool {
        let now = std::time::Instant::now();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        last.retain(|_, t| now.duration_since(*t) < PURGE_INTERVAL);
        if last.contains_key(queue) {
            return false;
        }
        last.insert(queue.to_string(), now);
        true
    }
}

/// AWS compat: one PurgeQueue per queue every 60 seconds.
const PURGE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

pub(super) async fn purge_queue(app: &App, input: &Input) -> SqsResult<Map<String, Value>> {
    let name = queue_name(app, input)?;
    load(app, &name).await?;
    if !app.queue_purges.admit(&name) {
        return Err(SqsError::new(
            SqsErrorCode::PurgeQueueInProgress,
            format!("Only one PurgeQueue operation on {name} is allowed every 60 seconds."),
        ));
    }
    app.queue_store.purge_queue(&name).await?;
    Ok(Map::new())
}

pub(super) async fn tag_queue(app: &App, input: &Input) -> SqsResult<Map<String, Value>> {
    let name = queue_name(app, input)?;
    let tags = input.string_map("Tags")?;
    if tags.is_empty() {
        return Err(SqsError::missing("Tags"));
    }
    check_tags(&tags)?;
    let q = load(app, &name).await?;
    let mut merged = q.tags.clone();
    merged.extend(tags.clone());
    check_tags(&merged)?;
    app.queue_store.tag_queue(&name, &tags, &[]).await?;
    Ok(Map::new())
}

pub(super) async fn untag_queue(app: &App, input: &Input) -> SqsResult<Map<String, Value>> {
    let name = queue_name(app, input)?;
    let keys = input.strings("TagKeys")?;
    if keys.is_empty() {
        return Err(SqsError::missing("TagKeys"));
    }
    app.queue_store
        .tag_queue(&name, &BTreeMap::new(), &keys)
        .await?;
    Ok(Map::new())
}

pub(super) async fn list_queue_tags(app: &App, input: &Input) -> SqsResult<Map<String, Value>> {
    let name = queue_name(app, input)?;
    let q = load(app, &name).await?;
    let mut out = Map::new();
    if !q.tags.is_empty() {
        out.insert(
            "Tags".into(),
            q.tags
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        );
    }
    Ok(out)
}

/// The queues whose redrive policy names `dlq`.
pub(crate) async fn sources_of(app: &App, dlq: &str) -> SqsResult<Vec<String>> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = app
            .queue_store
            .list_queues("", after.as_deref(), 500)
            .await?;
        let Some(last) = page.last() else { break };
        after = Some(last.name.clone());
        for q in &page {
            if attributes::settings(app, q)
                .redrive
                .is_some_and(|r| r.dead_letter_queue == dlq)
            {
                out.push(q.name.clone());
            }
        }
    }
    Ok(out)
}

pub(super) async fn list_dead_letter_source_queues(
    app: &App,
    ctx: &Ctx,
    input: &Input,
) -> SqsResult<Map<String, Value>> {
    let name = queue_name(app, input)?;
    load(app, &name).await?;
    let urls: Vec<Value> = sources_of(app, &name)
        .await?
        .iter()
        .map(|n| Value::String(queue_url(app, ctx, n)))
        .collect();
    Ok(object(json!({ "queueUrls": urls })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names_follow_aws_rules() {
        assert!(check_name("ok-Name_1", false).is_ok());
        assert!(check_name(&"a".repeat(80), false).is_ok());
        assert!(check_name(&"a".repeat(81), false).is_err());
        assert!(check_name("", false).is_err());
        assert!(check_name("a.fifo", false).is_err());
        assert!(check_name("a.fifo", true).is_ok());
        assert!(check_name(".fifo", true).is_err());
        assert!(check_name("a", true).is_err());
        assert!(check_name(&format!("{}.fifo", "a".repeat(76)), true).is_err());
        assert!(check_name("sp ace", false).is_err());
    }
}
