//! A size check on incoming WebSocket frames at their header.
//!
//! actix-http's WebSocket codec compares a frame's length with its limit only once the
//! whole frame is buffered: a header declaring 2^40 bytes makes it wait for (and keep) every
//! byte that follows. [`FrameGuard`] sits between the HTTP payload and the codec, reads each
//! frame header as the bytes go by (they pass unchanged, without a copy) and fails the
//! stream as soon as a header declares more than the limit — or, for a fragmented message,
//! as soon as the fragments declared so far add up to more — before any of that payload is
//! read. The socket closes with 4109 FRAME_TOO_LONG.
//!
//! The failure surfaces from actix-ws as `ProtocolError::Io` wrapping
//! [`PayloadError::Overflow`]; [`is_too_long`] recognises it.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::error::PayloadError;
use actix_web::{dev, web};
use bytes::Bytes;
use futures_util::Stream;

/// Largest payload of a control frame (RFC 6455 §5.5).
const MAX_CONTROL_PAYLOAD: u64 = 125;

/// Passes a WebSocket byte stream through, failing it at the first frame header that
/// declares too much.
pub struct FrameGuard<S> {
    inner: S,
    max: u64,
    /// Header bytes of the frame being read, `have` of them so far (at most 14).
    header: [u8; 14],
    have: usize,
    /// Payload bytes of the current frame still to pass.
    skip: u64,
    /// Declared bytes of the data message being received (its fragments summed).
    message: u64,
    /// The failure, returned once the bytes before it have been handed on.
    failure: Option<PayloadError>,
    /// Whether the stream paused once before returning `failure` (so the reader decodes
    /// the complete frames it holds first).
    paused: bool,
    done: bool,
}

impl FrameGuard<web::Payload> {
    /// A request payload guarded so, for `actix_ws::handle` (through `web::Payload`'s
    /// extractor, the one way to build a `web::Payload` from another stream).
    pub fn payload(body: web::Payload, max: usize) -> dev::Payload {
        let guarded: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> = Box::pin(FrameGuard::new(body, max));
        dev::Payload::from(guarded)
    }
}

impl<S> FrameGuard<S> {
    /// Frames (and fragmented messages) of at most `max` payload bytes pass.
    pub fn new(inner: S, max: usize) -> Self {
        FrameGuard {
            inner,
            max: max as u64,
            header: [0; 14],
            have: 0,
            skip: 0,
            message: 0,
            failure: None,
            paused: false,
            done: false,
        }
    }

    /// Reads `chunk`; on a header that declares too much, returns the offset just past that
    /// header and the failure.
    fn inspect(&mut self, chunk: &[u8]) -> Option<(usize, PayloadError)> {
        let mut pos = 0;
        while pos < chunk.len() {
            if self.skip > 0 {
                let n = self.skip.min((chunk.len() - pos) as u64);
                self.skip -= n;
                pos += n as usize;
                continue;
            }
            self.header[self.have] = chunk[pos];
            self.have += 1;
            pos += 1;
            if self.have < 2 || self.have < header_len(&self.header) {
                continue;
            }
            let verdict = self.on_header();
            self.have = 0;
            if let Err(err) = verdict {
                return Some((pos, err));
            }
        }
        None
    }

    /// Checks a complete header and sets up skipping its payload.
    fn on_header(&mut self) -> Result<(), PayloadError> {
        let opcode = self.header[0] & 0x0F;
        let len = declared_len(&self.header);
        if opcode >= 8 {
            if len > MAX_CONTROL_PAYLOAD {
                return Err(PayloadError::Io(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("control frame declares {len} bytes"),
                )));
            }
        } else {
            // A continuation adds to its message; anything else starts one.
            self.message = if opcode == 0 { self.message.saturating_add(len) } else { len };
            if self.message > self.max {
                return Err(PayloadError::Overflow);
            }
        }
        self.skip = len;
        Ok(())
    }
}

/// Bytes of a frame header, given at least its first two.
fn header_len(header: &[u8; 14]) -> usize {
    let extended = match header[1] & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask = if header[1] & 0x80 != 0 { 4 } else { 0 };
    2 + extended + mask
}

/// The payload length a complete header declares.
fn declared_len(header: &[u8; 14]) -> u64 {
    match header[1] & 0x7F {
        126 => u64::from(u16::from_be_bytes([header[2], header[3]])),
        127 => u64::from_be_bytes(header[2..10].try_into().expect("eight bytes")),
        len => u64::from(len),
    }
}

impl<S> Stream for FrameGuard<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(failure) = this.failure.take() {
            if !this.paused {
                // actix-ws reads until the payload has nothing more, then decodes; an error
                // returned in the same read would discard the frames before it.
                this.paused = true;
                this.failure = Some(failure);
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            this.done = true;
            return Poll::Ready(Some(Err(failure)));
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(mut chunk))) => match this.inspect(&chunk) {
                None => Poll::Ready(Some(Ok(chunk))),
                Some((end, failure)) => {
                    this.failure = Some(failure);
                    Poll::Ready(Some(Ok(chunk.split_to(end))))
                }
            },
            other => other,
        }
    }
}

/// Whether a WebSocket read error is [`FrameGuard`]'s "too long".
pub fn is_too_long(err: &io::Error) -> bool {
    err.get_ref().and_then(|e| e.downcast_ref::<PayloadError>()).is_some_and(|e| matches!(e, PayloadError::Overflow))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    /// A client frame header (masked, mask key zero) for `opcode` declaring `len` bytes.
    fn header(fin: bool, opcode: u8, len: u64) -> Vec<u8> {
        let mut h = vec![if fin { 0x80 } else { 0 } | opcode];
        match len {
            0..=125 => h.push(0x80 | len as u8),
            126..=0xFFFF => {
                h.push(0x80 | 126);
                h.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                h.push(0x80 | 127);
                h.extend_from_slice(&len.to_be_bytes());
            }
        }
        h.extend_from_slice(&[0; 4]);
        h
    }

    fn frame(fin: bool, opcode: u8, len: usize) -> Vec<u8> {
        let mut f = header(fin, opcode, len as u64);
        f.extend(std::iter::repeat_n(b'x', len));
        f
    }

    /// Runs `bytes`, cut into `chunk`-sized pieces, through a guard of `max`; returns the
    /// bytes passed and whether it failed with "too long".
    async fn run(bytes: &[u8], chunk: usize, max: usize) -> (usize, Option<bool>) {
        let pieces: Vec<Result<Bytes, PayloadError>> =
            bytes.chunks(chunk).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        let mut guard = FrameGuard::new(futures_util::stream::iter(pieces), max);
        let (mut passed, mut failed) = (0, None);
        while let Some(item) = guard.next().await {
            match item {
                Ok(b) => passed += b.len(),
                Err(err) => failed = Some(matches!(err, PayloadError::Overflow)),
            }
        }
        (passed, failed)
    }

    #[tokio::test]
    async fn frames_within_the_limit_pass_unchanged() {
        let mut bytes = frame(true, 2, 100);
        bytes.extend(frame(true, 9, 5)); // ping
        bytes.extend(frame(false, 2, 300));
        bytes.extend(frame(true, 9, 0)); // a ping between fragments
        bytes.extend(frame(true, 0, 700));
        bytes.extend(frame(true, 1, 1000));
        for chunk in [1, 3, 7, 64, 100_000] {
            assert_eq!(run(&bytes, chunk, 1000).await, (bytes.len(), None), "chunks of {chunk}");
        }
    }

    #[tokio::test]
    async fn a_header_declaring_too_much_fails_before_its_payload() {
        let mut bytes = frame(true, 2, 10);
        let huge = header(true, 2, 1 << 40);
        bytes.extend(&huge);
        bytes.extend(vec![0u8; 4096]);
        for chunk in [1, 5, 4096] {
            let (passed, failed) = run(&bytes, chunk, 1000).await;
            assert_eq!(failed, Some(true), "chunks of {chunk}");
            assert_eq!(passed, frame(true, 2, 10).len() + huge.len(), "nothing past the header passes");
        }
        assert_eq!(run(&frame(true, 1, 1001), 64, 1000).await.1, Some(true), "one byte over");
    }

    #[tokio::test]
    async fn fragments_count_together() {
        let mut bytes = frame(false, 2, 600);
        bytes.extend(frame(false, 0, 300));
        bytes.extend(frame(true, 0, 101));
        assert_eq!(run(&bytes, 50, 1000).await.1, Some(true));
        // A new message starts the count again.
        let mut bytes = frame(false, 2, 600);
        bytes.extend(frame(true, 0, 400));
        bytes.extend(frame(true, 2, 1000));
        assert_eq!(run(&bytes, 50, 1000).await, (bytes.len(), None));
    }

    #[tokio::test]
    async fn an_oversized_control_frame_is_a_protocol_error() {
        let (_, failed) = run(&header(true, 9, 1 << 40), 64, 1000).await;
        assert_eq!(failed, Some(false));
    }
}
