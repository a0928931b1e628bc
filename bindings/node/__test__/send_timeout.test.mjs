// A timeout per send: a message's `sendTimeoutMs` replaces the producer's for every send of it,
// retries included. The hung broker is a fake one here (test files run side by side, and pausing
// the cluster's broker would stall the others); rmq-core's send_timeout test proves the same on
// the real cluster with a SIGSTOPped broker.

import assert from 'node:assert/strict'
import { test } from 'node:test'

import { Producer } from '../index.js'
import { fakeCluster, namesrv, newTopic, readTopic, rejection, sendAsync, unique } from './support.mjs'

const OWN_TIMEOUT_MS = 1500
// Scheduling margin: far below the producer's own 20 s.
const MARGIN_MS = 3000

async function timedFailure(promise) {
  const begin = Date.now()
  const err = await rejection(promise)
  return { took: Date.now() - begin, err }
}

test('every send form fails at its own timeout on a hung broker, not the producer’s', async () => {
  const fake = await fakeCluster({ behaviour: 'silent' })
  const producer = new Producer({ group: unique('node_own_timeout'), namesrv: fake.namesrv, sendTimeoutMs: 20000 })
  await producer.start()
  try {
    const message = (body) => ({ topic: 'NodeOwnTimeout', body, sendTimeoutMs: OWN_TIMEOUT_MS })
    const forms = {
      send: () => producer.send(message('send')),
      sendCallback: () => sendAsync(producer, message('callback')),
      sendBatch: () => producer.sendBatch([message('batch 1'), message('batch 2')]),
      sendWithShardingKey: () => producer.sendWithShardingKey(message('key'), 'k'),
    }
    const outcomes = await Promise.all(
      Object.entries(forms).map(async ([form, send]) => [form, await timedFailure(send())]),
    )
    for (const [form, { took, err }] of outcomes) {
      assert.equal(err.code, 'TIMEOUT', `${form}: ${err.message}`)
      assert.ok(took >= OWN_TIMEOUT_MS - 5 && took < OWN_TIMEOUT_MS + MARGIN_MS, `${form} took ${took} ms`)
    }
  } finally {
    await producer.shutdown()
    await fake.close()
  }
})

test('a send with its own timeout is stored, and the timeout is not sent', async () => {
  const topic = newTopic('NodeOwnTimeout')
  const producer = new Producer({ group: unique('node_own_timeout'), namesrv: namesrv() })
  await producer.start()
  try {
    const result = await producer.send({ topic, body: 'in time', sendTimeoutMs: 5000 })
    const [stored] = readTopic(topic, 1)
    assert.equal(stored.msgId, result.msgId)
    assert.equal(stored.body.toString(), 'in time')
    assert.ok(!Object.keys(stored.properties).some((name) => /timeout/i.test(name)))
  } finally {
    await producer.shutdown()
  }
})

test('a send timeout out of range, or not a number, is INVALID_ARGUMENT', async () => {
  const producer = new Producer({ group: unique('node_own_timeout'), namesrv: namesrv() })
  await producer.start()
  try {
    for (const sendTimeoutMs of [0, -1, 86_400_001, Number.NaN, '100']) {
      const message = { topic: 'NodeOwnTimeoutBad', body: 'x', sendTimeoutMs }
      const err = await rejection(producer.send(message))
      assert.equal(err.code, 'INVALID_ARGUMENT', `${sendTimeoutMs}: ${err.message}`)
      assert.throws(() => producer.sendCallback(message, () => assert.fail('called back')), {
        code: 'INVALID_ARGUMENT',
      })
    }
  } finally {
    await producer.shutdown()
  }
})
