"""Decodes ESC/POS from stdin with emupos (an independent printer emulator) and prints the
text of each receipt it completes, separated by a line with a form feed."""
import sys
from importlib import resources

import yaml
from emupos.config import PrinterProfile
from emupos.printer.printer import Printer

name = sys.argv[1] if len(sys.argv) > 1 else "epson-tm-t20iii"
data = yaml.safe_load(resources.files("emupos").joinpath("profiles", "printers", name + ".yaml").read_text())
profile = PrinterProfile.model_validate(data)
printer = Printer("p1", profile, sensor_open_level="high", job_idle_timeout_ms=1000)
printer.open_connection("c1", 0.0)
out = printer.receive("c1", sys.stdin.buffer.read(), 1.0)
for receipt in out.receipts:
    sys.stdout.write(receipt.text)
    sys.stdout.write("\n\f\n")
