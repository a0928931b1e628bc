// Auto-batching (`autoBatch: true`) against the real cluster: sends gathered into batch requests,
// each message still answered on its own (its callback once) and stored with its own content, as
// the Java reader finds it.

import assert from 'node:assert/strict'
import { test } from 'node:test'

import { Producer } from '../index.js'
import { namesrv, newTopic, readTopic, sendAsync, unique } from './support.mjs'

const COUNT = 20

async function withBatchingProducer(use) {
  const producer = new Producer({ group: unique('node_auto_batch'), namesrv: namesrv(), autoBatch: true, batchMaxDelayMs: 500 })
  const requests = []
  producer.addSendHook({ before: (ctx) => requests.push(ctx.batch ? ctx.msgId.split(',').length : 1) })
  await producer.start()
  try {
    return await use(producer, requests)
  } finally {
    await producer.shutdown()
  }
}

const message = (topic, i) => ({
  topic,
  body: `gathered ${i}`,
  tags: `tag${i % 3}`,
  keys: [`key-${i}`],
  properties: { index: String(i) },
})

test('callback sends go out together, each answered once with its own result, in call order', async () => {
  const topic = newTopic('NodeAutoBatch')
  await withBatchingProducer(async (producer, requests) => {
    const calls = new Array(COUNT).fill(0)
    const results = await Promise.all(
      Array.from({ length: COUNT }, (_, i) =>
        sendAsync(producer, message(topic, i)).finally(() => {
          calls[i] += 1
        }),
      ),
    )
    assert.deepEqual(requests, [COUNT], 'one request carried them all')
    assert.deepEqual(calls, new Array(COUNT).fill(1))
    const first = Number(results[0].queueOffset)
    assert.deepEqual(
      results.map((r) => Number(r.queueOffset)),
      Array.from({ length: COUNT }, (_, i) => first + i),
    )
    assert.equal(new Set(results.map((r) => r.offsetMsgId)).size, COUNT)
    const stored = new Map(readTopic(topic, COUNT).map((m) => [m.msgId, m]))
    results.forEach((result, i) => {
      const back = stored.get(result.msgId)
      assert.equal(back.body.toString(), `gathered ${i}`)
      assert.equal(back.tags, `tag${i % 3}`)
      assert.equal(back.keys, `key-${i}`)
      assert.equal(back.userProperties.index, String(i))
    })
  })
})

test('promise sends wait for their batch and go out together', async () => {
  const topic = newTopic('NodeAutoBatch')
  await withBatchingProducer(async (producer, requests) => {
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => producer.send(message(topic, i))))
    assert.equal(new Set(results.map((r) => r.msgId)).size, 6)
    assert.equal(requests.reduce((a, b) => a + b, 0), 6)
    assert.ok(requests.length < 6, `the sends went together: ${requests}`)
    assert.equal(readTopic(topic, 6).length, 6)
  })
})

test('auto-batch options out of range are INVALID_ARGUMENT', () => {
  for (const [option, value] of [
    ['batchMaxDelayMs', 0],
    ['batchMaxBytes', 2 * 1024 * 1024 + 1],
    ['totalBatchMaxBytes', 0],
  ]) {
    assert.throws(() => new Producer({ group: 'node_auto_batch_bad', namesrv: namesrv(), autoBatch: true, [option]: value }), {
      code: 'INVALID_ARGUMENT',
    })
  }
})
