//! A sans-IO ESC/POS tokenizer: bytes in, commands out. It knows the length of every command a
//! receipt printer commonly receives, so unknown or binary payloads never desynchronise it.

const ESC: u8 = 0x1B;
const GS: u8 = 0x1D;
const DLE: u8 = 0x10;
const FS: u8 = 0x1C;

/// The largest payload the decoder buffers (raster images above this are skipped unseen).
const MAX_COMMAND: usize = 1 << 20;

/// One decoded ESC/POS command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A run of printable bytes, still in the printer's code page.
    Text(Vec<u8>),
    LineFeed,
    CarriageReturn,
    /// `ESC @`.
    Init,
    /// `ESC t n`.
    CodePage(u8),
    /// `ESC a n`.
    Align(u8),
    /// `ESC E n`.
    Bold(bool),
    /// `ESC ! n`.
    PrintMode(u8),
    /// `GS ! n`.
    Size(u8),
    /// `ESC d n`: print and feed n lines.
    FeedLines(u8),
    /// `ESC J n`: print and feed n dots.
    FeedDots(u8),
    /// `GS V …`, `ESC i`, `ESC m`.
    Cut {
        partial: bool,
    },
    /// `GS ( k` for QR codes (cn = 49).
    QrModel(u8),
    QrModuleSize(u8),
    QrErrorLevel(u8),
    QrStore(Vec<u8>),
    QrPrint,
    /// `DLE EOT n`: real-time status request.
    StatusRequest(u8),
    /// A known command that does not change the receipt text (barcode, image, drawer …).
    Ignored(Vec<u8>),
    /// Bytes the decoder does not know; skipped.
    Unknown(Vec<u8>),
}

/// Result of trying to parse one command from the front of the buffer.
enum Parse {
    Need,
    Done(Command, usize),
}

/// Stateful tokenizer; keeps an incomplete command until the rest arrives.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Bytes of an oversized payload still to skip.
    skip: usize,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; returns every command completed by them.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Command> {
        let mut bytes = bytes;
        if self.skip > 0 {
            let n = self.skip.min(bytes.len());
            self.skip -= n;
            bytes = &bytes[n..];
        }
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < self.buf.len() {
            if let Some((header, declared)) = oversized(&self.buf[pos..]) {
                out.push(Command::Unknown(self.buf[pos..pos + header].to_vec()));
                let available = self.buf.len() - pos - header;
                let skipped = declared.min(available);
                pos += header + skipped;
                self.skip = declared - skipped;
                continue;
            }
            match parse(&self.buf[pos..]) {
                Parse::Done(cmd, len) => {
                    pos += len;
                    out.push(cmd);
                }
                Parse::Need => break,
            }
        }
        self.buf.drain(..pos);
        out
    }

    /// Bytes waiting for the rest of a command.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

/// Splits a byte stream at command boundaries. A host must not put a real-time request
/// (`DLE EOT n`) inside another command's parameters, so a print job only polls between the
/// pieces returned here. An incomplete command at the end stays one piece.
pub fn split_commands(bytes: &[u8]) -> Vec<&[u8]> {
    let mut pieces = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        let len = if let Some((header, declared)) = oversized(rest) {
            (header + declared).min(rest.len())
        } else {
            match parse(rest) {
                Parse::Done(_, len) => len,
                Parse::Need => rest.len(),
            }
        };
        pieces.push(&rest[..len]);
        pos += len;
    }
    pieces
}

fn arg(b: &[u8], i: usize) -> Option<u8> {
    b.get(i).copied()
}

fn fixed(b: &[u8], len: usize, make: impl FnOnce(&[u8]) -> Command) -> Parse {
    if b.len() < len {
        Parse::Need
    } else {
        Parse::Done(make(&b[..len]), len)
    }
}

fn ignored(b: &[u8], len: usize) -> Parse {
    fixed(b, len, |c| Command::Ignored(c.to_vec()))
}

/// Commands up to a NUL terminator (at most `max` bytes after the header).
fn until_nul(b: &[u8], header: usize, max: usize) -> Parse {
    match b.iter().skip(header).take(max + 1).position(|&x| x == 0) {
        Some(i) => ignored(b, header + i + 1),
        None if b.len() > header + max => {
            Parse::Done(Command::Unknown(b[..header].to_vec()), header)
        }
        None => Parse::Need,
    }
}

/// A command whose declared payload exceeds what we buffer: (header length, payload length).
fn oversized(b: &[u8]) -> Option<(usize, usize)> {
    let len = |lo: u8, hi: u8| lo as usize + 256 * hi as usize;
    match b {
        [GS, b'v', b'0', _, xl, xh, yl, yh, ..] => {
            let size = len(*xl, *xh) * len(*yl, *yh);
            (size + 8 > MAX_COMMAND).then_some((8, size))
        }
        _ => None,
    }
}

fn parse(b: &[u8]) -> Parse {
    let first = b[0];
    match first {
        b'\n' => Parse::Done(Command::LineFeed, 1),
        b'\r' => Parse::Done(Command::CarriageReturn, 1),
        ESC => parse_esc(b),
        GS => parse_gs(b),
        DLE => parse_dle(b),
        FS => parse_fs(b),
        0x20..=0xFF if first != 0x7F => {
            let run = b.iter().take_while(|&&x| x >= 0x20 && x != 0x7F).count();
            Parse::Done(Command::Text(b[..run].to_vec()), run)
        }
        // HT, FF, CAN and other single control bytes change no text.
        _ => Parse::Done(Command::Ignored(vec![first]), 1),
    }
}

fn parse_esc(b: &[u8]) -> Parse {
    let Some(c) = arg(b, 1) else {
        return Parse::Need;
    };
    match c {
        b'@' => Parse::Done(Command::Init, 2),
        b't' => fixed(b, 3, |x| Command::CodePage(x[2])),
        b'a' => fixed(b, 3, |x| Command::Align(x[2])),
        b'E' => fixed(b, 3, |x| Command::Bold(x[2] & 1 == 1)),
        b'!' => fixed(b, 3, |x| Command::PrintMode(x[2])),
        b'd' => fixed(b, 3, |x| Command::FeedLines(x[2])),
        b'J' => fixed(b, 3, |x| Command::FeedDots(x[2])),
        b'i' => Parse::Done(Command::Cut { partial: false }, 2),
        b'm' => Parse::Done(Command::Cut { partial: true }, 2),
        b'2' | b'<' | b'S' | b'L' | b'F' => ignored(b, 2),
        b'3' | b' ' | b'M' | b'R' | b'V' | b'{' | b'U' | b'r' | b'=' | b'%' | b'?' | b'-'
        | b'G' | b'e' | b'K' | b'T' => ignored(b, 3),
        b'c' => ignored(b, 4),
        b'$' | b'\\' => ignored(b, 4),
        b'p' => ignored(b, 5),
        b'D' => until_nul(b, 2, 32),
        b'*' => {
            let (Some(m), Some(nl), Some(nh)) = (arg(b, 2), arg(b, 3), arg(b, 4)) else {
                return Parse::Need;
            };
            let columns = nl as usize + 256 * nh as usize;
            let per_column = if m >= 32 { 3 } else { 1 };
            ignored(b, 5 + columns * per_column)
        }
        _ => Parse::Done(Command::Unknown(b[..2].to_vec()), 2),
    }
}

fn parse_gs(b: &[u8]) -> Parse {
    let Some(c) = arg(b, 1) else {
        return Parse::Need;
    };
    match c {
        b'!' => fixed(b, 3, |x| Command::Size(x[2])),
        b'V' => {
            let Some(m) = arg(b, 2) else {
                return Parse::Need;
            };
            let partial = matches!(m, 1 | 49 | 66 | 98 | 104);
            let len = if matches!(m, 0 | 1 | 48 | 49) { 3 } else { 4 };
            fixed(b, len, |_| Command::Cut { partial })
        }
        b'(' => {
            let (Some(f), Some(pl), Some(ph)) = (arg(b, 2), arg(b, 3), arg(b, 4)) else {
                return Parse::Need;
            };
            let len = 5 + pl as usize + 256 * ph as usize;
            if b.len() < len {
                return Parse::Need;
            }
            let data = &b[5..len];
            let cmd = match (f, data) {
                (b'k', [49, 65, n, ..]) => Command::QrModel(*n),
                (b'k', [49, 67, n, ..]) => Command::QrModuleSize(*n),
                (b'k', [49, 69, n, ..]) => Command::QrErrorLevel(*n),
                (b'k', [49, 80, 48, payload @ ..]) => Command::QrStore(payload.to_vec()),
                (b'k', [49, 81, ..]) => Command::QrPrint,
                _ => Command::Ignored(b[..len].to_vec()),
            };
            Parse::Done(cmd, len)
        }
        b'k' => {
            let Some(m) = arg(b, 2) else {
                return Parse::Need;
            };
            if m <= 6 {
                until_nul(b, 3, 255)
            } else {
                let Some(n) = arg(b, 3) else {
                    return Parse::Need;
                };
                ignored(b, 4 + n as usize)
            }
        }
        b'v' => {
            let (Some(xl), Some(xh), Some(yl), Some(yh)) =
                (arg(b, 4), arg(b, 5), arg(b, 6), arg(b, 7))
            else {
                return Parse::Need;
            };
            let size = (xl as usize + 256 * xh as usize) * (yl as usize + 256 * yh as usize);
            if size + 8 > MAX_COMMAND {
                // Handled by `oversized`: the header goes out as Unknown and the payload is skipped.
                return Parse::Need;
            }
            ignored(b, 8 + size)
        }
        b'*' => {
            let (Some(x), Some(y)) = (arg(b, 2), arg(b, 3)) else {
                return Parse::Need;
            };
            ignored(b, 4 + x as usize * y as usize * 8)
        }
        b'H' | b'h' | b'w' | b'f' | b'a' | b'r' | b'I' | b'B' | b'b' | b'/' | b'x' | b'T' => {
            ignored(b, 3)
        }
        b'L' | b'W' | b'P' => ignored(b, 4),
        b'^' => ignored(b, 5),
        b':' => ignored(b, 2),
        _ => Parse::Done(Command::Unknown(b[..2].to_vec()), 2),
    }
}

fn parse_dle(b: &[u8]) -> Parse {
    let Some(c) = arg(b, 1) else {
        return Parse::Need;
    };
    match c {
        0x04 => {
            let Some(n) = arg(b, 2) else {
                return Parse::Need;
            };
            if n == 7 || n == 8 {
                ignored(b, 4)
            } else {
                Parse::Done(Command::StatusRequest(n), 3)
            }
        }
        0x05 => ignored(b, 3),
        0x14 => ignored(b, 5),
        _ => Parse::Done(Command::Unknown(b[..2].to_vec()), 2),
    }
}

fn parse_fs(b: &[u8]) -> Parse {
    let Some(c) = arg(b, 1) else {
        return Parse::Need;
    };
    match c {
        b'.' | b'&' => ignored(b, 2),
        b'!' | b'-' | b'C' => ignored(b, 3),
        b'p' => ignored(b, 4),
        _ => Parse::Done(Command::Unknown(b[..2].to_vec()), 2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn splits_a_stream_into_commands() {
        let mut d = Decoder::new();
        let bytes = b"\x1b@\x1bt\x11AB\n\x10\x04\x04\x1dVA\x00";
        assert_eq!(
            d.push(bytes),
            vec![
                Command::Init,
                Command::CodePage(17),
                Command::Text(b"AB".to_vec()),
                Command::LineFeed,
                Command::StatusRequest(4),
                Command::Cut { partial: false },
            ]
        );
    }

    #[test]
    fn byte_at_a_time_gives_the_same_commands() {
        let bytes = b"\x1b@\x1d(k\x06\x001P0t=1\x1d(k\x03\x001Q0\x1bd\x03";
        let whole = Decoder::new().push(bytes);
        let mut d = Decoder::new();
        let pieces: Vec<Command> = bytes.iter().flat_map(|b| d.push(&[*b])).collect();
        assert_eq!(whole, pieces);
        assert!(whole.contains(&Command::QrStore(b"t=1".to_vec())));
    }

    #[test]
    fn splits_only_between_commands() {
        let bytes = b"\x1b@AB\x1d(k\x06\x001P0t=1\x1dVA\x00";
        let pieces = split_commands(bytes);
        assert_eq!(
            pieces,
            vec![&b"\x1b@"[..], b"AB", b"\x1d(k\x06\x001P0t=1", b"\x1dVA\x00"]
        );
        assert_eq!(
            split_commands(b"\x1d(k\x06\x001P"),
            vec![&b"\x1d(k\x06\x001P"[..]]
        );
    }

    #[test]
    fn huge_raster_is_skipped_without_buffering() {
        let mut d = Decoder::new();
        let cmds = d.push(&[GS, b'v', b'0', 0, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3]);
        assert!(matches!(cmds[0], Command::Unknown(_)));
        assert_eq!(d.pending(), 0);
        assert_eq!(d.push(b"x"), vec![]); // still inside the skipped payload
    }

    proptest! {
        #[test]
        fn any_bytes_decode_without_panic_and_chunking_does_not_matter(
            bytes in proptest::collection::vec(any::<u8>(), 0..400),
            split in 0usize..400,
        ) {
            let whole = Decoder::new().push(&bytes);
            let split = split.min(bytes.len());
            let mut d = Decoder::new();
            let mut parts = d.push(&bytes[..split]);
            parts.extend(d.push(&bytes[split..]));
            // Text runs may split at the chunk border; compare the bytes they carry.
            let flat = |cmds: &[Command]| -> Vec<u8> {
                cmds.iter().flat_map(|c| match c {
                    Command::Text(t) => t.clone(),
                    other => format!("{other:?}").into_bytes(),
                }).collect()
            };
            prop_assert_eq!(flat(&whole), flat(&parts));
        }
    }
}
