// Logs: silent by default; `setLogger(logger, level)` hands the records of that level and more
// severe to the logger; a logger that throws is contained, reported once, and sends go on.
// (That a held logger never keeps the process alive: lifecycle.test.mjs.)

import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { test } from 'node:test'

import { Producer, setLogger } from '../index.js'
import { closedPort } from './support.mjs'

/** A send whose route lookup warns: the name server refuses the connection. */
async function sendToAClosedNameServer(port) {
  const producer = new Producer({ group: `node_log_${process.pid}_${port}`, namesrv: `127.0.0.1:${port}`, sendTimeoutMs: 500 })
  await producer.start()
  await assert.rejects(producer.send({ topic: 'NodeLogTopic', body: 'x' }))
  await producer.shutdown()
}

async function waitFor(condition, what) {
  const deadline = Date.now() + 10000
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

test('nothing is printed by default', async () => {
  const port = await closedPort()
  const script = `
    const { Producer } = require(${JSON.stringify(new URL('../index.js', import.meta.url).pathname)})
    const producer = new Producer({ group: 'node_log_silent', namesrv: '127.0.0.1:${port}', sendTimeoutMs: 500 })
    producer.start().then(() => producer.send({ topic: 'NodeLogTopic', body: 'x' }))
      .catch(() => {}).then(() => producer.shutdown())`
  const output = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  assert.equal(output, '')
})

test('warnings reach the logger at its level; bad arguments are INVALID_ARGUMENT', async () => {
  assert.throws(() => setLogger(() => {}, 'loud'), { code: 'INVALID_ARGUMENT' })
  assert.throws(() => setLogger(42), { code: 'INVALID_ARGUMENT' })
  const records = []
  setLogger((level, target, message) => records.push({ level, target, message }), 'warn')
  try {
    await sendToAClosedNameServer(await closedPort())
    await waitFor(() => records.some((r) => r.message.includes('name server failed')), 'the warning')
    const warning = records.find((r) => r.message.includes('name server failed'))
    assert.equal(warning.level, 'warn')
    assert.equal(warning.target, 'rmq_core::client::namesrv')
    assert.ok(records.every((r) => r.level === 'warn' || r.level === 'error'), JSON.stringify(records))
  } finally {
    setLogger(null)
  }
  const seen = records.length
  await sendToAClosedNameServer(await closedPort())
  await new Promise((resolve) => setTimeout(resolve, 200))
  assert.equal(records.length, seen, 'a silenced library logged')
})

test('a logger that throws is reported once as a process warning; sends go on', async () => {
  const warnings = []
  const onWarning = (w) => warnings.push(w)
  process.on('warning', onWarning)
  let calls = 0
  setLogger(() => {
    calls++
    throw new Error('logger broke')
  }, 'warn')
  try {
    await sendToAClosedNameServer(await closedPort())
    await sendToAClosedNameServer(await closedPort())
    await waitFor(() => calls >= 2, 'two calls of the logger')
    await new Promise((resolve) => setTimeout(resolve, 100))
  } finally {
    setLogger(null)
    process.off('warning', onWarning)
  }
  const ours = warnings.filter((w) => w.name === 'RmqCallbackError')
  assert.equal(ours.length, 1, ours.map((w) => w.message).join('\n'))
  assert.match(ours[0].message, /logger threw: .*logger broke/)
})
