"""Drives the KKT emulator with pyshtrih (an independent Shtrih-M host from PyPI): connects,
reads the short status, the FN status, opens and closes a shift, and prints what it saw as
JSON lines for the Rust test to check.

Usage: python pyshtrih_host.py PORT
"""
import json
import sys

import serial

# A pty has no modem lines: pyserial's RTS/DTR ioctls fail on it, so they are no-ops here.
serial.Serial._update_rts_state = lambda self: None
serial.Serial._update_dtr_state = lambda self: None

import pyshtrih  # noqa: E402


def out(name, value):
    print(json.dumps({"step": name, "value": value}, ensure_ascii=False, default=str))
    sys.stdout.flush()


def main(port):
    device = pyshtrih.ShtrihAllCommands(port=port, baudrate=115200, timeout=2)
    device.connect()
    out("name", device.name)
    state = device.state()
    out("mode", state[u"Режим ФР"].state)
    out("submode", state[u"Подрежим ФР"].state)
    fs = device.fs_state()
    out("fn_number", fs[u"Номер ФН"].decode("ascii") if isinstance(fs[u"Номер ФН"], (bytes, bytearray)) else fs[u"Номер ФН"])
    out("last_fd", fs[u"Номер последнего ФД"])
    out("shift_state", fs[u"Состояние смены"])
    device.fs_begin_open_shift()
    device.fs_open_shift()
    out("shift_open_mode", device.state()[u"Режим ФР"].state)
    out("last_fd_after_open", device.fs_state()[u"Номер последнего ФД"])
    device.fs_begin_close_shift()
    device.fs_close_shift()
    out("shift_closed_mode", device.state()[u"Режим ФР"].state)
    out("last_fd_after_close", device.fs_state()[u"Номер последнего ФД"])
    device.disconnect()


if __name__ == "__main__":
    main(sys.argv[1])
