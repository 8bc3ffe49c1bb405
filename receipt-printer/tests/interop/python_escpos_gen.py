"""Writes ESC/POS bytes made by python-escpos (an independent implementation) to stdout."""
import sys

from escpos.printer import Dummy

p = Dummy(profile="TM-T88V")
p.hw("INIT")
p.charcode("CP866")
p.set(align="center", bold=True, double_height=True)
p.text("КАССОВЫЙ ЧЕК\n")
p.set(align="left", bold=False, normal_textsize=True)
p.text("Электроснабжение, л/с 1234567890\n")
p.text("ИТОГ 1 500,00 руб.\n")
p.qr("t=20261127T140533&s=1500.00&fn=9999078900012345&i=7&fp=0123456789&n=1", native=True, size=5)
p.cut()
sys.stdout.buffer.write(p.output)
