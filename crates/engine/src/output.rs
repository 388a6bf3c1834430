//! Capture of a runtime's stdout and stderr (one pipe). Bytes are gathered as they come; `take`
//! also reads whatever is already in the pipe, so that everything a runtime wrote before it
//! answered an invocation belongs to that invocation.

use std::io;
use std::sync::{Arc, Mutex};

use tokio::net::unix::pipe;

/// Most bytes held between two `take`s; beyond it the oldest output is dropped.
const MAX_PENDING: usize = 8 << 20;

pub(crate) struct Output {
    /// For waiting until there is something to read.
    rx: pipe::Receiver,
    /// The same pipe, read directly: a read here does not depend on readiness the event loop
    /// may not have seen yet, so [`Output::take`] gets everything written before it.
    direct: Mutex<std::io::PipeReader>,
    pending: Mutex<Vec<u8>>,
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
            pending: Mutex::new(Vec::new()),
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
                    pending.extend_from_slice(&buf[..n]);
                    if pending.len() > MAX_PENDING {
                        let cut = pending.len() - MAX_PENDING;
                        pending.drain(..cut);
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
        let bytes = std::mem::take(&mut *pending);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}
