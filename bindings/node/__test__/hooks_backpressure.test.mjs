// Send hooks (before/after every send attempt, every send form) and async backpressure
// (max in flight by count and bytes; fail refuses with TOO_MANY_REQUESTS, block waits), on the
// real cluster, read back by the launcher's Java reader.

import assert from 'node:assert/strict'
import { test } from 'node:test'

import { Producer } from '../index.js'
import { createTopic, fakeCluster, namesrv, readTopic, rejection, sendAsync, unique } from './support.mjs'

const settle = (promises) => Promise.allSettled(promises)

test('send hooks see every attempt of every send form; a throwing hook is only a warning', async () => {
  const topic = unique('NodeHooked')
  createTopic(topic, 4)
  const producer = new Producer({ group: unique('node_hooks'), namesrv: namesrv() })
  const befores = []
  const afters = []
  producer.addSendHook({
    before: (ctx) => befores.push(ctx),
    after: (ctx, outcome) => afters.push({ ctx, outcome }),
  })
  producer.addSendHook({
    before() {
      throw new Error('hook bug')
    },
  })
  producer.addSendHook({ after: async () => Promise.reject(new Error('async hook bug')) })
  const warnings = []
  const onWarning = (w) => warnings.push(w)
  process.on('warning', onWarning)
  await producer.start()

  const single = await producer.send({ topic, body: 'hooked' })
  const batch = await producer.sendBatch([{ topic, body: 'b1' }, { topic, body: 'b2' }])
  const keyed = await producer.sendWithShardingKey({ topic, body: 'keyed' }, 'k')
  await producer.sendOneway({ topic, body: 'oneway' })
  const stored = new Map(readTopic(topic, 5).map((m) => [m.msgId, m]))
  await new Promise((resolve) => setTimeout(resolve, 200)) // hooks are queued to this thread
  await producer.shutdown()
  process.off('warning', onWarning)

  assert.equal(befores.length, 4)
  assert.equal(afters.length, 4)
  const byMsgId = new Map(afters.map((a) => [a.ctx.msgId, a]))
  for (const result of [single, batch, keyed]) {
    const { ctx, outcome } = byMsgId.get(result.msgId)
    assert.equal(outcome.kind, 'STORED')
    assert.equal(outcome.result.msgId, result.msgId)
    assert.deepEqual(outcome.result.queue, result.queue)
    assert.deepEqual(ctx.queue, result.queue)
    assert.equal(ctx.batch, result === batch)
    assert.equal(ctx.oneway, false)
    assert.equal(ctx.attempt, 0)
    assert.match(ctx.brokerAddr, /^127\.0\.0\.1:\d+$/)
    assert.ok(outcome.latencyMs >= 0)
    for (const id of result.msgIds) assert.ok(stored.has(id), `${id} not stored`)
  }
  const oneway = afters.find((a) => a.ctx.oneway)
  assert.equal(oneway.outcome.kind, 'WRITTEN')
  assert.ok(stored.has(oneway.ctx.msgId))
  assert.ok(befores.every((ctx) => ctx.group.startsWith('node_hooks')))

  const reported = warnings.filter((w) => w.name === 'RmqCallbackError').map((w) => w.message)
  assert.equal(reported.filter((m) => /send hook threw: .*hook bug/.test(m)).length, 4)
  assert.equal(reported.filter((m) => /send hook returned a Promise that rejected: .*async hook bug/.test(m)).length, 4)
})

test('a failed attempt reaches after() with its error', async () => {
  const fake = await fakeCluster({ behaviour: 'silent' })
  const producer = new Producer({ group: unique('node_hooks_fail'), namesrv: fake.namesrv, sendTimeoutMs: 1000, retryTimes: 0 })
  const afters = []
  producer.addSendHook({ after: (ctx, outcome) => afters.push({ ctx, outcome }) })
  await producer.start()
  try {
    const err = await rejection(producer.send({ topic: unique('NodeHookFail'), body: 'x' }))
    assert.equal(err.code, 'TIMEOUT')
    await new Promise((resolve) => setTimeout(resolve, 200))
    assert.equal(afters.length, 1)
    const { ctx, outcome } = afters[0]
    assert.equal(ctx.queue.brokerName, 'fake-broker')
    assert.equal(outcome.kind, 'FAILED')
    assert.equal(outcome.result, undefined)
    assert.ok(outcome.error instanceof Error)
    assert.equal(outcome.error.code, 'TIMEOUT')
  } finally {
    await producer.shutdown()
    await fake.close()
  }
})

test('bad hooks throw INVALID_ARGUMENT', () => {
  const producer = new Producer({ group: unique('node_hooks_bad'), namesrv: namesrv() })
  for (const hook of [null, 'hook', { before: 'not a function' }, { after: 42 }]) {
    assert.throws(() => producer.addSendHook(hook), { code: 'INVALID_ARGUMENT' })
  }
})

test('backpressure fail refuses beyond the bounds with TOO_MANY_REQUESTS', async () => {
  const topic = unique('NodeBoundFail')
  createTopic(topic, 4)
  for (const [bounds, bodyLength] of [
    [{ maxAsyncInFlight: 2 }, 10],
    [{ maxAsyncInFlightBytes: 1000 }, 600],
  ]) {
    const producer = new Producer({ group: unique('node_fail'), namesrv: namesrv(), backpressure: 'fail', ...bounds })
    await producer.start()
    await producer.send({ topic, body: 'warm up the route' })
    // The bounds are on async sends: `send` is the SYNC one.
    const results = await settle(Array.from({ length: 50 }, () => sendAsync(producer, { topic, body: Buffer.alloc(bodyLength, 120) })))
    await producer.shutdown()
    const refused = results.filter((r) => r.status === 'rejected' && r.reason.code === 'TOO_MANY_REQUESTS')
    const sent = results.filter((r) => r.status === 'fulfilled').map((r) => r.value.msgId)
    assert.ok(refused.length > 0, `${JSON.stringify(bounds)}: nothing was refused`)
    assert.equal(refused.length + sent.length, 50, `${JSON.stringify(bounds)}: other errors`)
    const stored = new Set(readTopic(topic, sent.length).map((m) => m.msgId))
    for (const id of sent) assert.ok(stored.has(id), `${id} reported sent but not stored`)
  }
})

test('backpressure block waits for room without blocking the JS thread', async () => {
  const topic = unique('NodeBoundBlock')
  createTopic(topic, 4)
  const producer = new Producer({ group: unique('node_block'), namesrv: namesrv(), backpressure: 'block', maxAsyncInFlight: 4 })
  const inFlight = { now: 0, most: 0 }
  producer.addSendHook({
    before: () => {
      inFlight.now += 1
      inFlight.most = Math.max(inFlight.most, inFlight.now)
    },
    after: () => {
      inFlight.now -= 1
    },
  })
  await producer.start()
  let ticks = 0
  const timer = setInterval(() => (ticks += 1), 5)
  const results = await Promise.all(Array.from({ length: 200 }, (_, i) => sendAsync(producer, { topic, body: `blocked ${i}` })))
  clearInterval(timer)
  await producer.shutdown()
  assert.ok(ticks > 0, 'the event loop was blocked')
  assert.ok(inFlight.most <= 4, `${inFlight.most} sends in flight`)
  const stored = new Set(readTopic(topic, 200).map((m) => m.msgId))
  for (const r of results) assert.ok(stored.has(r.msgId))
})
