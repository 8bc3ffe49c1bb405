//! The KKT's serial port (or a pty) as a non-blocking descriptor on tokio's reactor, and the
//! line settings (8N1, baud from config) kept apart so they can be unit-tested: a pty ignores
//! them.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;
use std::time::Duration;

use serialport::{DataBits, FlowControl, Parity, SerialPort, StopBits, TTYPort};
use tokio::io::unix::AsyncFd;

/// Shtrih-M KKTs ship at 115200 baud; 4800…115200 are configurable in the KKT's table 21.
pub const DEFAULT_BAUD: u32 = 115_200;

/// The builder for a KKT port: 8 data bits, no parity, 1 stop bit, no flow control.
pub fn builder(path: &Path, baud: u32) -> serialport::SerialPortBuilder {
    serialport::new(path.to_string_lossy(), baud)
        .data_bits(DataBits::Eight)
        .parity(Parity::None)
        .stop_bits(StopBits::One)
        .flow_control(FlowControl::None)
        .timeout(Duration::from_millis(50))
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

/// An open port for async use.
pub struct AsyncPort {
    fd: AsyncFd<TTYPort>,
}

impl AsyncPort {
    /// Opens the device with the KKT's line settings, discarding stale input.
    pub fn open(path: &Path, baud: u32) -> io::Result<Self> {
        let port = builder(path, baud)
            .open_native()
            .map_err(|e| io::Error::other(format!("{}: {e}", path.display())))?;
        port.clear(serialport::ClearBuffer::All)
            .map_err(|e| io::Error::other(e.to_string()))?;
        set_nonblocking(port.as_raw_fd())?;
        Ok(AsyncPort {
            // SAFETY: the TTYPort owns its descriptor and closes it only when dropped together
            // with this AsyncFd; nothing replaces or closes it meanwhile.
            fd: unsafe { AsyncFd::register(port)? },
        })
    }

    /// Reads what is available (at least one byte).
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
                Ok(Ok(0)) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    /// Writes all of `bytes`.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_settings_are_8n1_without_flow_control() {
        let b = builder(Path::new("/dev/ttyS0"), 9600);
        let text = format!("{b:?}");
        assert!(text.contains("baud_rate: 9600"), "{text}");
        assert!(text.contains("data_bits: Eight"), "{text}");
        assert!(text.contains("parity: None"), "{text}");
        assert!(text.contains("stop_bits: One"), "{text}");
        assert!(text.contains("flow_control: None"), "{text}");
    }
}
