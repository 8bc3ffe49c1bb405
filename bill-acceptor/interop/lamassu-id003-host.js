// Drives an ID003 validator with an independent host implementation: lamassu-machine's
// lib/id003 (GPL), taken from a checkout named by LAMASSU_MACHINE_DIR. Used by tests/interop.rs
// against our emulator; not part of the kiosk and nothing of lamassu's is copied here.
//
// usage: LAMASSU_MACHINE_DIR=/path/to/lamassu-machine node lamassu-id003-host.js DEVICE SECONDS
// prints one JSON line: the currency table it read, bills read in escrow, VEND VALIDs, rejects.
'use strict'

const path = require('path')
const dir = process.env.LAMASSU_MACHINE_DIR
if (!dir) {
  console.error('LAMASSU_MACHINE_DIR is not set')
  process.exit(2)
}
const Id003 = require(path.join(dir, 'lib/id003/id003'))

const [device, seconds] = process.argv.slice(2)
const validator = Id003.factory({ rs232: { device }, fiatCode: 'RUB' })
const result = { denominations: null, read: [], valid: 0, rejected: 0, errors: [] }
validator.on('error', e => result.errors.push(String(e)))
validator.on('billsRead', bill => {
  result.read.push(bill.denomination)
  validator.stack()
})
validator.on('billsValid', () => { result.valid += 1 })
validator.on('billsRejected', () => { result.rejected += 1 })
validator.run(err => {
  if (err) {
    result.errors.push(String(err))
    console.log(JSON.stringify(result))
    process.exit(1)
  }
  result.denominations = validator.denominations
  validator.enable()
  process.stderr.write('ACCEPTING\n')
  setTimeout(() => {
    console.log(JSON.stringify(result))
    process.exit(0)
  }, Number(seconds) * 1000)
})
