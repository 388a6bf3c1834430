//! Capture of a runtime's stdout and stderr (one pipe). Bytes are gathered as they come; `take`
//! also reads whatever is already in the pipe, so that everything a runtime wrote before it
//! answered an invocation belongs to that invocation.

use std::io;
use std::sync::{Arc, Mutex};

use tokio::net::unix::pipe;

/// Most output kept of one invocation (or init phase); beyond it the oldest is dropped, and
/// the log says how much.
pub(crate) const MAX_PENDING: usize = 1 << 20;

pub(crate) struct Output {
    /// For waiting until there is something to read.
    rx: pipe::Receiver,
    /// The same pipe, read directly: a read here does not depend on readiness the event loop
    /// may not have seen yet, so [`Output::take`] gets everything written before it.
    direct: Mutex<std::io::PipeReader>,
    pending: Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    dropped: u64,
}

impl Output {
    /// Starts gathering from `reader`. Must be called within the tokio runtime.
    pub(crate) fn start(reader: io::PipeReader) -> io::Result<Arc<Self>> {
        // Shares the open file, and so the non-blocking mode tokio sets on it.
        let direct = reader.try_clone()?;
        let rx = pipe::Receiver::from_owned_fd(reader.into())?;
        let out = Arc::new(Self {
            rx,
            direct: Mutex::new(direct),
            pending: Mutex::new(Pending::default()),
        });
        let weak = Arc::downgrade(&out);
        tokio::spawn(async move {
            loop {
                let Some(out) = weak.upgrade() else { return };
                if out.rx.readable().await.is_err() {
                    return;
                }
                // Clears the readiness once the pipe is empty, so the wait above waits again.
                let ended = out.rx.try_io(|| {
                    if out.drain() {
                        Ok(true)
                    } else {
                        Err(io::ErrorKind::WouldBlock.into())
                    }
                });
                if matches!(ended, Ok(true)) {
                    return;
                }
            }
        });
        Ok(out)
    }

    /// Reads everything available now; true at the end of output.
    fn drain(&self) -> bool {
        let mut pending = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut direct = self
            .direct
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut buf = [0u8; 16 * 1024];
        loop {
            match io::Read::read(&mut *direct, &mut buf) {
                Ok(0) => return true,
                Ok(n) => {
                    pending.bytes.extend_from_slice(&buf[..n]);
                    if pending.bytes.len() > MAX_PENDING {
                        let cut = pending.bytes.len() - MAX_PENDING;
                        pending.bytes.drain(..cut);
                        pending.dropped += cut as u64;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return true,
            }
        }
    }

    /// Everything written so far and not yet taken.
    pub(crate) fn take(&self) -> String {
        self.drain();
        let mut pending = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let p = std::mem::take(&mut *pending);
        let text = String::from_utf8_lossy(&p.bytes);
        if p.dropped == 0 {
            return text.into_owned();
        }
        // The cut may fall inside a line: the marker stands on a line of its own before what
        // was kept.
        format!(
            "[nimbus] {} bytes of output dropped: at most {MAX_PENDING} are kept per invocation\n{text}",
            p.dropped
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn output_over_the_quota_is_cut_and_the_cut_is_said() {
        let (r, mut w) = std::io::pipe().expect("pipe");
        let out = Output::start(r).expect("output");
        std::io::Write::write_all(&mut w, b"first\n").expect("write");
        assert_eq!(out.take(), "first\n");
        let line = vec![b'x'; 1023];
        let writer = std::thread::spawn(move || {
            for _ in 0..3 * 1024 {
                std::io::Write::write_all(&mut w, &line).expect("write");
                std::io::Write::write_all(&mut w, b"\n").expect("write");
            }
            w
        });
        // The pipe holds less than that: keep draining while the writer writes.
        loop {
            let done = writer.is_finished();
            tokio::task::yield_now().await;
            out.drain();
            if done {
                break;
            }
        }
        let _w = writer.join().expect("writer");
        let kept = out.take();
        assert!(
            kept.starts_with("[nimbus] 2097152 bytes of output dropped"),
            "{}",
            &kept[..80]
        );
        assert!(kept.len() < MAX_PENDING + 200);
        assert!(kept.ends_with("x\n"));
        assert_eq!(out.take(), "", "the next invocation starts clean");
    }
}
