//! Serial-port plumbing shared by the driver, the emulator and the probe: ZVT's line settings,
//! raw mode, non-blocking reads.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use serialport::{DataBits, FlowControl, Parity, SerialPortBuilder, StopBits, TTYPort};

/// ZVT over RS-232: 9600 baud, 8 data bits, no parity, 2 stop bits, no flow control.
pub fn zvt_builder(path: &str) -> SerialPortBuilder {
    serialport::new(path, 9600)
        .data_bits(DataBits::Eight)
        .parity(Parity::None)
        .stop_bits(StopBits::Two)
        .flow_control(FlowControl::None)
        .timeout(Duration::from_millis(50))
        // Shared lock: a restarted kiosk (or a test's second driver) can reopen the port while an
        // emulator or a dying predecessor still holds it.
        .exclusive(false)
}

/// Opens a ZVT port: ZVT settings, not exclusive (so it can be reopened after a crash while an
/// emulator keeps the other end), raw, non-blocking.
pub fn open(path: &str) -> io::Result<TTYPort> {
    let port = zvt_builder(path).open_native().map_err(io::Error::from)?;
    use std::os::fd::AsRawFd;
    set_raw(port.as_raw_fd())?;
    set_nonblocking(port.as_raw_fd())?;
    // Bytes left in the input queue belong to an earlier session (e.g. the terminal's ACK to a
    // frame sent just before a restart); they must not be taken as answers to ours.
    // SAFETY: tcflush on an fd the port owns.
    unsafe { libc::tcflush(port.as_raw_fd(), libc::TCIFLUSH) };
    Ok(port)
}

/// Puts a terminal into raw mode (no echo, no line editing, no CR/LF translation).
pub fn set_raw(fd: RawFd) -> io::Result<()> {
    // SAFETY: termios is plain data; tcgetattr fills it for a valid fd, errors are checked.
    unsafe {
        let mut termios: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(fd, &mut termios) != 0 {
            return Err(io::Error::last_os_error());
        }
        libc::cfmakeraw(&mut termios);
        if libc::tcsetattr(fd, libc::TCSANOW, &termios) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

pub fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a caller-owned fd; errors are checked.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Non-blocking read: `Ok(0)` means nothing available right now.
pub fn read_available(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: buf is valid for writes of buf.len() bytes.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::WouldBlock || err.kind() == io::ErrorKind::Interrupted {
            return Ok(0);
        }
        return Err(err);
    }
    Ok(n as usize)
}

/// Writes all bytes to a non-blocking fd, waiting for writability as needed.
pub fn write_all(fd: RawFd, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        // SAFETY: bytes is valid for reads of bytes.len() bytes.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::WouldBlock || err.kind() == io::ErrorKind::Interrupted {
                wait_fd(fd, libc::POLLOUT, Duration::from_millis(50))?;
                continue;
            }
            return Err(err);
        }
        bytes = &bytes[n as usize..];
    }
    Ok(())
}

/// Waits until `fd` is ready for `events` or `timeout` passes; true if ready.
pub fn wait_fd(fd: RawFd, events: libc::c_short, timeout: Duration) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut pfd, 1, ms) };
    if n < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok(false);
        }
        return Err(err);
    }
    Ok(n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serialport::SerialPort;

    #[test]
    fn zvt_line_settings() {
        // A pty ignores these, so check what the builder asks of a real UART.
        let (_master, slave) = TTYPort::pair().expect("pty pair");
        let name = slave.name().expect("slave name");
        let port = zvt_builder(&name).open_native().expect("open slave");
        assert_eq!(port.data_bits().unwrap(), DataBits::Eight);
        assert_eq!(port.parity().unwrap(), Parity::None);
        assert_eq!(port.stop_bits().unwrap(), StopBits::Two);
        assert_eq!(port.flow_control().unwrap(), FlowControl::None);
    }
}
