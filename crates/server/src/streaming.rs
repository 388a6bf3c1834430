//! Streamed responses: an invocation whose function streams (its runtime's `streaming`
//! response mode) hands its bytes on as they arrive, to InvokeWithResponseStream (AWS's event
//! stream framing) and to RESPONSE_STREAM function URLs (HTTP, chunked).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Bytes;
use hyper::body::Frame;
use nimbus_engine::{InvocationOutcome, InvocationRequest, InvokeError, StreamPart};
use tokio::sync::mpsc;

use crate::app::App;

/// Parts of a streamed response the engine may hold before the caller takes them.
const SINK_PARTS: usize = 16;

/// The end of an invocation, awaited after its stream.
pub(crate) type Completion =
    Pin<Box<dyn Future<Output = Result<InvocationOutcome, InvokeError>> + Send>>;

/// How an invocation begins, for a caller that takes streams.
pub(crate) enum Begun {
    /// The function streams: the content type its runtime gave, the version that runs, its
    /// parts as they come, and the invocation's end (the outcome says whether the stream
    /// ended with an error).
    Streaming {
        content_type: Option<String>,
        executed_version: String,
        parts: mpsc::Receiver<StreamPart>,
        done: Completion,
    },
    /// It ended without streaming: a buffered answer, an error, a DryRun.
    Finished(InvocationOutcome),
}

/// Runs `req`, its streamed response (if the function streams) sent here as it comes.
pub(crate) async fn begin(app: &App, mut req: InvocationRequest) -> Result<Begun, InvokeError> {
    let (tx, mut parts) = mpsc::channel(SINK_PARTS);
    req.stream = Some(tx);
    let engine = Arc::clone(&app.engine);
    let mut done: Completion = Box::pin(async move { engine.invoke(req).await });
    tokio::select! {
        biased;
        part = parts.recv() => match part {
            Some(StreamPart::Start { content_type, executed_version }) => Ok(Begun::Streaming {
                content_type,
                executed_version,
                parts,
                done,
            }),
            // The runtime sends Start first; a chunk first would be a bug of ours.
            Some(StreamPart::Chunk(_)) | None => done.await.map(Begun::Finished),
        },
        outcome = &mut done => {
            let outcome = outcome?;
            match parts.try_recv() {
                Ok(StreamPart::Start {
                    content_type,
                    executed_version,
                }) => Ok(Begun::Streaming {
                    content_type,
                    executed_version,
                    parts,
                    done: Box::pin(async move { Ok(outcome) }),
                }),
                _ => Ok(Begun::Finished(outcome)),
            }
        }
    }
}

/// The most [`next_chunk`] joins of the chunks already waiting.
const JOIN_BYTES: usize = 64 * 1024;

/// The next bytes of a stream (what has arrived, joined up to 64 KiB, so that a function
/// writing a byte at a time costs one message per read, not one per byte), or, once it has
/// ended, `None` (after the invocation ended: every chunk it sent is taken before).
pub(crate) async fn next_chunk(
    parts: &mut mpsc::Receiver<StreamPart>,
    done: &mut Completion,
    outcome: &mut Option<Result<InvocationOutcome, InvokeError>>,
) -> Option<Bytes> {
    let first = one_chunk(parts, done, outcome).await?;
    if first.len() >= JOIN_BYTES {
        return Some(first);
    }
    let mut joined: Option<Vec<u8>> = None;
    while joined.as_ref().map_or(first.len(), Vec::len) < JOIN_BYTES {
        match parts.try_recv() {
            Ok(StreamPart::Chunk(b)) => joined
                .get_or_insert_with(|| first.to_vec())
                .extend_from_slice(&b),
            Ok(StreamPart::Start { .. }) => {}
            Err(_) => break,
        }
    }
    Some(joined.map_or(first, Bytes::from))
}

async fn one_chunk(
    parts: &mut mpsc::Receiver<StreamPart>,
    done: &mut Completion,
    outcome: &mut Option<Result<InvocationOutcome, InvokeError>>,
) -> Option<Bytes> {
    loop {
        if outcome.is_some() {
            return match parts.try_recv() {
                Ok(StreamPart::Chunk(b)) => Some(b),
                Ok(StreamPart::Start { .. }) => continue,
                Err(_) => None,
            };
        }
        tokio::select! {
            biased;
            part = parts.recv() => match part {
                Some(StreamPart::Chunk(b)) => return Some(b),
                Some(StreamPart::Start { .. }) => {}
                None => *outcome = Some((&mut *done).await),
            },
            o = &mut *done => *outcome = Some(o),
        }
    }
}

/// A response body fed by a channel (a producer task writes it; a reader gone ends it).
pub(crate) struct ChannelBody(pub(crate) mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}

/// One message of AWS's event stream (`application/vnd.amazon.eventstream`): the prelude
/// (total length, headers length, their CRC-32), string headers, the payload, the message's
/// CRC-32.
pub(crate) fn event_message(headers: &[(&str, &str)], payload: &[u8]) -> Bytes {
    let mut h = Vec::new();
    for (name, value) in headers {
        h.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
        h.extend_from_slice(name.as_bytes());
        // Header value type 7: a string with a 2-byte length.
        h.push(7);
        h.extend_from_slice(&u16::try_from(value.len()).unwrap_or(u16::MAX).to_be_bytes());
        h.extend_from_slice(value.as_bytes());
    }
    let total = 12 + h.len() + payload.len() + 4;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&u32::try_from(total).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(&u32::try_from(h.len()).unwrap_or(u32::MAX).to_be_bytes());
    let prelude_crc = crc32fast::hash(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    Bytes::from(out)
}

/// An event of InvokeWithResponseStream's stream.
pub(crate) fn event(event_type: &str, content_type: &str, payload: &[u8]) -> Bytes {
    event_message(
        &[
            (":event-type", event_type),
            (":content-type", content_type),
            (":message-type", "event"),
        ],
        payload,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes one message as a client does, checking both CRCs.
    fn decode(m: &[u8]) -> (Vec<(String, String)>, Vec<u8>) {
        let total = u32::from_be_bytes(m[0..4].try_into().expect("4")) as usize;
        let hlen = u32::from_be_bytes(m[4..8].try_into().expect("4")) as usize;
        assert_eq!(total, m.len());
        assert_eq!(
            u32::from_be_bytes(m[8..12].try_into().expect("4")),
            crc32fast::hash(&m[..8])
        );
        assert_eq!(
            u32::from_be_bytes(m[total - 4..].try_into().expect("4")),
            crc32fast::hash(&m[..total - 4])
        );
        let mut headers = Vec::new();
        let mut i = 12;
        while i < 12 + hlen {
            let n = m[i] as usize;
            let name = String::from_utf8(m[i + 1..i + 1 + n].to_vec()).expect("utf-8");
            i += 1 + n;
            assert_eq!(m[i], 7);
            let len = u16::from_be_bytes([m[i + 1], m[i + 2]]) as usize;
            let value = String::from_utf8(m[i + 3..i + 3 + len].to_vec()).expect("utf-8");
            i += 3 + len;
            headers.push((name, value));
        }
        (headers, m[12 + hlen..total - 4].to_vec())
    }

    #[test]
    fn messages_frame_as_the_event_stream_encoding_does() {
        let m = event("PayloadChunk", "application/octet-stream", b"hello");
        let (headers, payload) = decode(&m);
        assert_eq!(payload, b"hello");
        assert_eq!(
            headers,
            [
                (":event-type".to_string(), "PayloadChunk".to_string()),
                (":content-type".into(), "application/octet-stream".into()),
                (":message-type".into(), "event".into()),
            ]
        );
        // An empty payload still frames.
        let (_, payload) = decode(&event("InvokeComplete", "application/json", b""));
        assert!(payload.is_empty());
    }
}
