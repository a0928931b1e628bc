// Chaos workload driver for the Node binding (contract: tests/chaos/README.md, "The drivers").
//
//     node driver.mjs NAMESRV_ADDR TOPIC GROUP HISTORY_FILE RATE
//
// Sends sync (two concurrent loops of awaited sends), async (promises, up to 200 in flight),
// oneway and batches of four, paced at about RATE messages/s in total, until `stop` or EOF on
// stdin.

import { closeSync, openSync, writeSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'

import { Producer } from '../../../../bindings/node/index.mjs'

const LANG = 'node'
const MAX_ASYNC_IN_FLIGHT = 200
const BATCH_SIZE = 4
const ANSWER_WAIT_MS = 60_000

if (process.argv.length !== 7) {
  console.error('usage: driver.mjs NAMESRV_ADDR TOPIC GROUP HISTORY_FILE RATE')
  process.exit(2)
}
const [namesrv, topic, group, historyPath, rateArg] = process.argv.slice(2)
const rate = Math.max(Number(rateArg) || 0, 0.1)

// Synchronous writes: one whole line per write, on the OS at once; nothing after `end`.
let historyFd = openSync(historyPath, 'w')
function record(ev, fields) {
  if (historyFd === null) return
  writeSync(historyFd, JSON.stringify({ ev, t: Date.now(), ...fields }) + '\n')
  if (ev === 'end') {
    closeSync(historyFd)
    historyFd = null
  }
}

function failure(err) {
  return { ok: false, kind: err?.code ?? err?.name ?? 'UNKNOWN', error: String(err?.message ?? err) }
}

let stopping = false
let nextCall = 0
const nextSeq = new Map() // per op, from 1 as the Rust driver numbers them
const unanswered = new Set()

function newCall(op, count) {
  const call = nextCall++
  const first = nextSeq.get(op) ?? 1
  nextSeq.set(op, first + count)
  const ids = Array.from({ length: count }, (_, i) => `${LANG}-${op}-${first + i}`)
  unanswered.add(call)
  record('call', { call, op, ids })
  return { call, messages: ids.map((id) => ({ topic, body: id, keys: id })) }
}

function answer(call, fields) {
  record('answer', { call, ...fields })
  unanswered.delete(call)
}

function stored(result) {
  return { ok: true, status: result.status, uniq: result.msgIds.join(',') }
}

const producer = new Producer({ group, namesrv, sendTimeoutMs: 3000 })
producer.addSendHook({
  after(ctx, outcome) {
    const fields = { uniq: ctx.msgId, n: ctx.attempt, ok: outcome.kind !== 'FAILED' }
    if (!fields.ok) fields.kind = outcome.error?.code ?? 'UNKNOWN'
    record('attempt', fields)
  },
})

// Calls sendOne about callsPerS times a second until stopping; a loop that fell behind catches
// up on at most one second of calls (no burst after a stall).
async function paced(callsPerS, sendOne) {
  const interval = 1000 / callsPerS
  let due = performance.now()
  while (!stopping) {
    await sendOne()
    due += interval
    if (performance.now() - due > 1000) due = performance.now()
    while (!stopping && performance.now() < due) await sleep(Math.min(due - performance.now(), 100))
  }
}

async function sendSync() {
  const { call, messages } = newCall('sync', 1)
  try {
    answer(call, stored(await producer.send(messages[0])))
  } catch (err) {
    answer(call, failure(err))
  }
}

let asyncInFlight = 0
let slotFreed = null // resolves when an async send completes while the loop waits for a slot
async function sendAsync() {
  while (asyncInFlight >= MAX_ASYNC_IN_FLIGHT && !stopping) {
    await new Promise((resolve) => {
      slotFreed = resolve
    })
  }
  if (stopping) return
  const { call, messages } = newCall('async', 1)
  asyncInFlight++
  const settled = (fields) => {
    answer(call, fields)
    asyncInFlight--
    slotFreed?.()
    slotFreed = null
  }
  try {
    producer.send(messages[0]).then((result) => settled(stored(result)), (err) => settled(failure(err)))
  } catch (err) {
    settled(failure(err))
  }
}

async function sendOneway() {
  const { call, messages } = newCall('oneway', 1)
  try {
    await producer.sendOneway(messages[0])
    answer(call, { ok: true })
  } catch (err) {
    answer(call, failure(err))
  }
}

async function sendBatch() {
  const { call, messages } = newCall('batch', BATCH_SIZE)
  try {
    answer(call, stored(await producer.sendBatch(messages)))
  } catch (err) {
    answer(call, failure(err))
  }
}

function stdinStop() {
  return new Promise((resolve) => {
    const lines = createInterface({ input: process.stdin })
    let stopped = false
    const done = () => {
      if (stopped) return
      stopped = true
      lines.close()
      process.stdin.destroy() // else an open stdin keeps the process alive
      resolve()
    }
    lines.on('line', (line) => line.trim() === 'stop' && done())
    lines.on('close', done)
  })
}

record('start', { lang: LANG, pid: process.pid })
await producer.start()
const perMode = rate / 4 // messages/s for each of sync, async, oneway, batch
const loops = [
  paced(perMode / 2, sendSync),
  paced(perMode / 2, sendSync),
  paced(perMode, sendAsync),
  paced(perMode, sendOneway),
  paced(perMode / BATCH_SIZE, sendBatch),
]
await stdinStop()
stopping = true
slotFreed?.()
// Shut down at once, async sends still in flight: their answers must still come.
const shutdown = producer.shutdown().catch((err) => console.error('shutdown failed:', err))
const deadline = Date.now() + ANSWER_WAIT_MS
while (unanswered.size > 0 && Date.now() < deadline) await sleep(50)
record('end', { lang: LANG, outstanding: unanswered.size })
if (unanswered.size > 0) process.exit(0) // a send never answered would keep the process alive
await Promise.all([shutdown, ...loops])
