//! Serial ports (and pty masters) as non-blocking file descriptors driven by tokio's reactor:
//! no thread per port and no busy polling, which keeps an idle kiosk's CPU use low.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;
use std::time::Duration;

use serialport::{SerialPort, TTYPort};
use tokio::io::unix::AsyncFd;

use crate::protocol::LineSettings;

/// A port opened for async use. Closing it releases exclusive access.
pub struct AsyncPort {
    fd: AsyncFd<TTYPort>,
}

fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own, with integer arguments only.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The builder a protocol's line settings give (split out so the settings are unit-testable).
pub fn builder(path: &Path, line: LineSettings) -> serialport::SerialPortBuilder {
    serialport::new(path.to_string_lossy(), line.baud_rate)
        .data_bits(line.data_bits)
        .parity(line.parity)
        .stop_bits(line.stop_bits)
        .flow_control(serialport::FlowControl::None)
        .timeout(Duration::from_millis(100))
}

impl AsyncPort {
    /// Open a serial device (or a pty slave) with the protocol's line settings, discarding
    /// whatever was waiting in its input buffer.
    pub fn open(path: &Path, line: LineSettings) -> io::Result<Self> {
        let port = builder(path, line)
            .open_native()
            .map_err(|e| io::Error::other(format!("{}: {e}", path.display())))?;
        port.clear(serialport::ClearBuffer::All)
            .map_err(|e| io::Error::other(e.to_string()))?;
        Self::from_tty(port)
    }

    /// Wrap an already open port (a pty master from `TTYPort::pair`).
    pub fn from_tty(port: TTYPort) -> io::Result<Self> {
        set_nonblocking(port.as_raw_fd())?;
        Ok(Self {
            // SAFETY: the TTYPort owns its descriptor and closes it only when dropped together
            // with this AsyncFd; nothing replaces or closes it meanwhile.
            fd: unsafe { AsyncFd::register(port)? },
        })
    }

    /// Read what is available (at least one byte). End of file is an error.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|inner| {
                // SAFETY: reading into a valid, writable buffer of the given length.
                let n = unsafe {
                    libc::read(
                        inner.get_ref().as_raw_fd(),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                    )
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            }) {
                Ok(Ok(0)) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    pub async fn write_all(&self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            let mut guard = self.fd.writable().await?;
            match guard.try_io(|inner| {
                // SAFETY: writing from a valid buffer of the given length.
                let n = unsafe {
                    libc::write(
                        inner.get_ref().as_raw_fd(),
                        bytes.as_ptr().cast(),
                        bytes.len(),
                    )
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            }) {
                Ok(Ok(n)) => bytes = &bytes[n..],
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
        Ok(())
    }
}

impl Drop for AsyncPort {
    fn drop(&mut self) {
        // TIOCEXCL outlives our descriptor while others keep the tty open: clear it so the next
        // opener (a restarted driver) is not refused.
        let _ = self.fd.get_mut().set_exclusive(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Protocol;

    #[test]
    fn builders_carry_the_protocol_line_settings() {
        // A pty drops parity bits from termios, so check what the builder asks for instead.
        let ccnet = format!(
            "{:?}",
            builder(
                Path::new("/dev/ttyS0"),
                Protocol::Ccnet.wire().line_settings()
            )
        );
        assert!(ccnet.contains("baud_rate: 9600"), "{ccnet}");
        assert!(ccnet.contains("parity: None"), "{ccnet}");
        assert!(ccnet.contains("data_bits: Eight"), "{ccnet}");
        assert!(ccnet.contains("stop_bits: One"), "{ccnet}");
        assert!(ccnet.contains("flow_control: None"), "{ccnet}");
        let id003 = format!(
            "{:?}",
            builder(
                Path::new("/dev/ttyS0"),
                Protocol::Id003.wire().line_settings()
            )
        );
        assert!(id003.contains("parity: Even"), "{id003}");
        assert!(id003.contains("data_bits: Eight"), "{id003}");
        assert!(id003.contains("stop_bits: One"), "{id003}");
    }

    #[test]
    fn pty_gets_the_termios_the_settings_ask_for() {
        // A pty ignores baud and parity on the wire, but the termios flags are real: check them.
        let (_master, slave) = TTYPort::pair().unwrap();
        let name = slave.name().unwrap();
        let port = builder(Path::new(&name), Protocol::Id003.wire().line_settings())
            .open_native()
            .unwrap();
        // SAFETY: tcgetattr into a zeroed termios for a valid descriptor.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::tcgetattr(port.as_raw_fd(), &mut t) }, 0);
        assert_eq!(t.c_cflag & libc::CSIZE, libc::CS8);
        assert_eq!(t.c_cflag & libc::CSTOPB, 0, "one stop bit");
        drop(port);
        let port = builder(Path::new(&name), Protocol::Ccnet.wire().line_settings())
            .open_native()
            .unwrap();
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::tcgetattr(port.as_raw_fd(), &mut t) }, 0);
        assert_eq!(t.c_cflag & libc::CSIZE, libc::CS8);
        assert_eq!(t.c_lflag & libc::ICANON, 0, "raw mode");
    }
}
