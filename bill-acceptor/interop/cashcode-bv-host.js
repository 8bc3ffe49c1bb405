// Drives a CCNET validator with an independent host implementation: the `cashcode-bv` npm
// package (Desionlab, MIT). Used by tests/interop.rs against our emulator. Not part of the kiosk.
//
// usage: node cashcode-bv-host.js DEVICE SECONDS
// prints one JSON line: identification, bill table, escrowed and stacked bills.
'use strict'

const Module = require('module')
const { SerialPort } = require('serialport')

// cashcode-bv was written against serialport <= 9 (`new SerialPort(path, options)`); adapt only
// that constructor to the current serialport API. Its protocol code runs unchanged.
function LegacySerialPort (path, options) {
  return new SerialPort({
    path,
    baudRate: options.baudRate,
    dataBits: 8,
    stopBits: 1,
    parity: 'none',
    autoOpen: false
  })
}
const load = Module._load
Module._load = function (request, parent, isMain) {
  if (request === 'serialport' && parent && parent.filename.includes('cashcode-bv')) {
    return LegacySerialPort
  }
  return load.apply(this, arguments)
}

const { CCNet } = require('cashcode-bv')

const [device, seconds] = process.argv.slice(2)
const bv = new CCNet.BillValidator(device === '--vectors' ? '/dev/null' : device)

if (device === '--vectors') {
  // The frames this implementation builds for each command, to compare with our encoder.
  const c = bv.commands
  const hex = b => Buffer.from(b).toString('hex')
  console.log(JSON.stringify({
    reset: hex(c.Reset.request()),
    poll: hex(c.Poll.request()),
    ack: hex(c.Ack.request()),
    nak: hex(c.Nak.request()),
    stack: hex(c.Stack.request()),
    return: hex(c.Return.request()),
    hold: hex(c.Hold.request()),
    identification: hex(c.Identification.request()),
    bill_table: hex(c.GetBillTable.request()),
    security_none: hex(c.SetSecurity.request([0, 0, 0])),
    enable_all: hex(c.EnableBillTypes.request([0xff, 0xff, 0xff, 0xff, 0xff, 0xff])),
    enable_none: hex(c.EnableBillTypes.request([0, 0, 0, 0, 0, 0]))
  }))
  process.exit(0)
}
const result = { identification: null, billTable: null, escrow: [], stacked: [], errors: [] }

bv.on('escrow', bill => {
  result.escrow.push(bill ? bill.amount : null)
  bv.stack()
})
bv.on('stacked', bill => result.stacked.push(bill ? bill.amount : null))

async function main () {
  await bv.connect()
  result.identification = bv.info
  result.billTable = bv.billTable.filter(b => b.amount > 0).map(b => ({ amount: b.amount, code: b.code }))
  await bv.begin()
  // Tell the test we are accepting.
  process.stderr.write('ACCEPTING\n')
  await new Promise(resolve => setTimeout(resolve, Number(seconds) * 1000))
  bv.statusTimerStop()
  await bv.end().catch(e => result.errors.push(String(e)))
  console.log(JSON.stringify(result))
  process.exit(0)
}

main().catch(err => {
  result.errors.push(String(err && err.stack || err))
  console.log(JSON.stringify(result))
  process.exit(1)
})
