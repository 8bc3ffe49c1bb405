//! Framing of a USB-CDC scanner's byte stream: each code is its bytes followed by the suffix the
//! scanner is configured with (CR by default on most models), or nothing but silence.

use crate::Scan;

/// How codes are delimited on the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialFraming {
    /// The suffix after each code; empty when only silence ends a code.
    pub terminator: Vec<u8>,
    /// Longer codes are reported as [`Scan::Overlong`] without their bytes.
    pub max_len: usize,
}

impl SerialFraming {
    /// Parses "cr", "lf", "crlf", "tab" or "none" (then only silence ends a code). Err(String)
    /// names the allowed values.
    pub fn parse_terminator(s: &str) -> Result<Vec<u8>, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cr" => Ok(b"\r".to_vec()),
            "lf" => Ok(b"\n".to_vec()),
            "crlf" => Ok(b"\r\n".to_vec()),
            "tab" => Ok(b"\t".to_vec()),
            "none" => Ok(Vec::new()),
            _ => Err(format!(
                "unknown scanner terminator {s:?}: expected one of cr, lf, crlf, tab, none"
            )),
        }
    }
}

/// Splits the byte stream into scans. Sans-IO: the driver feeds it reads and silences.
pub struct SerialFramer {
    framing: SerialFraming,
    /// The current code's bytes, possibly ending in the first bytes of the terminator. Once the
    /// code is overlong only the last bytes that may still start a terminator are kept.
    pending: Vec<u8>,
    /// Bytes received since the last code ended, a partial terminator included.
    seen: usize,
    overlong: bool,
}

impl SerialFramer {
    pub fn new(framing: SerialFraming) -> SerialFramer {
        SerialFramer {
            framing,
            pending: Vec::new(),
            seen: 0,
            overlong: false,
        }
    }

    /// Feed bytes read from the port; returns every completed scan. Handles a terminator split
    /// across reads, several codes in one read, empty codes (skipped: a bare terminator is not a
    /// scan), overlong codes (one [`Scan::Overlong`], resync at the next terminator).
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Scan> {
        bytes.iter().filter_map(|&b| self.push_byte(b)).collect()
    }

    /// The line was silent for the idle gap: pending bytes become a code (a scanner configured
    /// without a suffix still works). A trailing partial terminator is dropped with it (a
    /// scanner sending CR where CRLF is expected). None when nothing is pending.
    pub fn idle(&mut self) -> Option<Scan> {
        if self.seen == 0 {
            return None;
        }
        let scan = if self.overlong {
            Some(Scan::Overlong { len: self.seen })
        } else {
            let keep = self.pending.len() - self.partial_terminator_len();
            self.pending.truncate(keep);
            (!self.pending.is_empty()).then(|| Scan::Code(std::mem::take(&mut self.pending)))
        };
        self.reset();
        scan
    }

    fn push_byte(&mut self, byte: u8) -> Option<Scan> {
        let term = &self.framing.terminator;
        self.seen += 1;
        self.pending.push(byte);
        if !term.is_empty() && self.pending.ends_with(term) {
            let len = self.seen - term.len();
            let scan = if self.overlong {
                Some(Scan::Overlong { len })
            } else if len == 0 {
                None
            } else {
                self.pending.truncate(len);
                Some(Scan::Code(std::mem::take(&mut self.pending)))
            };
            self.reset();
            return scan;
        }
        // Up to len-1 bytes at the end may still turn out to be the terminator.
        let keep = term.len().saturating_sub(1);
        if !self.overlong && self.pending.len() > self.framing.max_len + keep {
            tracing::debug!(
                max_len = self.framing.max_len,
                "scanned code is overlong, dropping it"
            );
            self.overlong = true;
        }
        if self.overlong && self.pending.len() > keep {
            let cut = self.pending.len() - keep;
            self.pending.drain(..cut);
        }
        None
    }

    /// The longest proper prefix of the terminator the pending bytes end with.
    fn partial_terminator_len(&self) -> usize {
        let term = &self.framing.terminator;
        (1..term.len())
            .rev()
            .find(|&k| self.pending.ends_with(&term[..k]))
            .unwrap_or(0)
    }

    fn reset(&mut self) {
        self.pending.clear();
        self.seen = 0;
        self.overlong = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn framer(terminator: &[u8], max_len: usize) -> SerialFramer {
        SerialFramer::new(SerialFraming {
            terminator: terminator.to_vec(),
            max_len,
        })
    }

    fn code(bytes: &[u8]) -> Scan {
        Scan::Code(bytes.to_vec())
    }

    #[test]
    fn parses_terminators_and_names_the_allowed_ones() {
        assert_eq!(SerialFraming::parse_terminator("cr"), Ok(b"\r".to_vec()));
        assert_eq!(SerialFraming::parse_terminator("LF"), Ok(b"\n".to_vec()));
        assert_eq!(
            SerialFraming::parse_terminator("crlf"),
            Ok(b"\r\n".to_vec())
        );
        assert_eq!(SerialFraming::parse_terminator("tab"), Ok(b"\t".to_vec()));
        assert_eq!(SerialFraming::parse_terminator("none"), Ok(Vec::new()));
        let err = SerialFraming::parse_terminator("enter").unwrap_err();
        for name in ["cr", "lf", "crlf", "tab", "none", "enter"] {
            assert!(err.contains(name), "{err}");
        }
    }

    #[test]
    fn several_codes_in_one_read() {
        let mut f = framer(b"\r", 100);
        assert_eq!(f.push(b"abc\rdef\rgh"), vec![code(b"abc"), code(b"def")]);
        assert_eq!(f.push(b"i\r"), vec![code(b"ghi")]);
    }

    #[test]
    fn terminator_split_across_reads() {
        let mut f = framer(b"\r\n", 100);
        assert_eq!(f.push(b"abc\r"), vec![]);
        assert_eq!(f.push(b"\ndef\r"), vec![code(b"abc")]);
        assert_eq!(f.push(b"\n"), vec![code(b"def")]);
    }

    #[test]
    fn a_lone_cr_inside_a_crlf_code_is_data() {
        let mut f = framer(b"\r\n", 100);
        assert_eq!(f.push(b"a\rb\r\r\n"), vec![code(b"a\rb\r")]);
    }

    #[test]
    fn bare_terminators_are_not_scans() {
        let mut f = framer(b"\r", 100);
        assert_eq!(f.push(b"\r\r\rabc\r\r"), vec![code(b"abc")]);
        assert_eq!(f.idle(), None);
    }

    #[test]
    fn overlong_code_is_reported_once_and_the_next_code_is_clean() {
        let mut f = framer(b"\r\n", 4);
        assert_eq!(f.push(b"12345"), vec![]);
        assert_eq!(f.push(b"6789\r"), vec![]);
        assert_eq!(
            f.push(b"\nok\r\n"),
            vec![Scan::Overlong { len: 9 }, code(b"ok")]
        );
    }

    #[test]
    fn a_code_of_exactly_max_len_is_kept() {
        let mut f = framer(b"\r\n", 4);
        assert_eq!(f.push(b"1234\r\n"), vec![code(b"1234")]);
        let mut f = framer(b"", 4);
        f.push(b"1234");
        assert_eq!(f.idle(), Some(code(b"1234")));
    }

    #[test]
    fn idle_flushes_a_code_without_suffix() {
        let mut f = framer(b"", 100);
        assert_eq!(f.push(b"ST00012|Name=x"), vec![]);
        assert_eq!(f.idle(), Some(code(b"ST00012|Name=x")));
        assert_eq!(f.idle(), None);
        f.push(b"next");
        assert_eq!(f.idle(), Some(code(b"next")));
    }

    #[test]
    fn idle_drops_a_partial_terminator() {
        let mut f = framer(b"\r\n", 100);
        f.push(b"abc\r");
        assert_eq!(f.idle(), Some(code(b"abc")));
        f.push(b"\r");
        assert_eq!(f.idle(), None);
    }

    #[test]
    fn idle_reports_an_overlong_code_without_suffix() {
        let mut f = framer(b"", 3);
        assert_eq!(f.push(b"abcdef"), vec![]);
        assert_eq!(f.idle(), Some(Scan::Overlong { len: 6 }));
        f.push(b"ab");
        assert_eq!(f.idle(), Some(code(b"ab")));
    }

    fn terminator() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(b"\r".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"\t".to_vec()),
        ]
    }

    /// Codes over a small alphabet (so terminator bytes turn up often), without the terminator
    /// inside.
    fn stream() -> impl Strategy<Value = (Vec<u8>, usize, Vec<Vec<u8>>)> {
        let byte = prop_oneof![
            Just(b'\r'),
            Just(b'\n'),
            Just(b'\t'),
            Just(0xc0u8),
            any::<u8>()
        ];
        (terminator(), 0usize..24).prop_flat_map(move |(term, max_len)| {
            let t = term.clone();
            let code = proptest::collection::vec(byte.clone(), 0..40)
                .prop_filter("code contains the terminator", move |c| {
                    !c.windows(t.len()).any(|w| w == t.as_slice())
                });
            (
                Just(term),
                Just(max_len),
                proptest::collection::vec(code, 0..8),
            )
        })
    }

    fn expected(codes: &[Vec<u8>], max_len: usize) -> Vec<Scan> {
        codes
            .iter()
            .filter(|c| !c.is_empty())
            .map(|c| {
                if c.len() > max_len {
                    Scan::Overlong { len: c.len() }
                } else {
                    Scan::Code(c.clone())
                }
            })
            .collect()
    }

    proptest! {
        #[test]
        fn any_split_of_the_stream_yields_the_same_scans(
            (term, max_len, codes) in stream(),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..10),
        ) {
            let wire: Vec<u8> = codes.iter().flat_map(|c| c.iter().chain(&term).copied()).collect();
            let mut at: Vec<usize> = cuts.iter().map(|i| i.index(wire.len() + 1)).collect();
            at.push(0);
            at.push(wire.len());
            at.sort_unstable();
            let mut f = framer(&term, max_len);
            let mut scans = Vec::new();
            for pair in at.windows(2) {
                scans.extend(f.push(&wire[pair[0]..pair[1]]));
            }
            prop_assert_eq!(scans, expected(&codes, max_len));
            prop_assert_eq!(f.idle(), None);
        }

        #[test]
        fn garbage_then_a_terminator_resyncs(
            garbage in proptest::collection::vec(any::<u8>(), 0..200),
            good in proptest::collection::vec(1u8..=255, 1..=16),
        ) {
            // Whatever came before, the code after the next terminator is read exactly.
            let mut f = framer(b"\0", 16);
            f.push(&garbage);
            f.push(b"\0");
            prop_assert_eq!(f.push(&[good.as_slice(), b"\0"].concat()), vec![Scan::Code(good)]);
        }

        #[test]
        fn idle_without_terminator_flushes_the_pending_code(
            (max_len, codes) in (0usize..24, proptest::collection::vec(
                proptest::collection::vec(any::<u8>(), 0..40), 0..6)),
        ) {
            let mut f = framer(b"", max_len);
            let mut scans = Vec::new();
            for c in &codes {
                prop_assert_eq!(f.push(c), vec![]);
                scans.extend(f.idle());
            }
            prop_assert_eq!(scans, expected(&codes, max_len));
        }
    }
}
