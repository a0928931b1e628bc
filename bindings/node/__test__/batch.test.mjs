// Batch sends: one request, every inner message stored as its own message with its own id, as
// the launcher's Java reader sees them; Java's batch rules as typed errors.

import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'

import { Producer } from '../index.js'
import { createTopic, namesrv, readTopic, rejection, unique } from './support.mjs'

function batch(topic, name, n) {
  return Array.from({ length: n }, (_, i) => ({
    topic,
    body: Buffer.from(`${name} body ${i}`),
    tags: `Tag${name}`,
    keys: `${name}-${i}`,
    properties: { index: String(i) },
    flag: i,
  }))
}

function checkResult(result, n) {
  assert.equal(result.status, 'SEND_OK')
  assert.equal(result.msgIds.length, n)
  assert.equal(new Set(result.msgIds).size, n, 'ids are unique')
  assert.equal(result.msgId, result.msgIds.join(','))
  assert.equal(result.offsetMsgIds.length, n)
}

describe('batch sends', () => {
  let producer
  let topic
  before(async () => {
    topic = unique('NodeBatch')
    createTopic(topic, 4)
    producer = new Producer({ group: unique('node_batch'), namesrv: namesrv() })
    await producer.start()
  })
  after(() => producer.shutdown())

  test('sendBatch() and sendBatchCallback() store every message with its own id', async () => {
    const sent = []
    const promised = batch(topic, 'promise', 50)
    const result = await producer.sendBatch(promised)
    checkResult(result, 50)
    sent.push([result, promised])

    const called = batch(topic, 'callback', 20)
    const calledResult = await new Promise((resolve, reject) =>
      producer.sendBatchCallback(called, (err, res) => (err ? reject(err) : resolve(res))),
    )
    checkResult(calledResult, 20)
    sent.push([calledResult, called])

    const stored = new Map(readTopic(topic, 70).map((m) => [m.msgId, m]))
    assert.equal(stored.size, 70)
    for (const [res, messages] of sent) {
      messages.forEach((message, i) => {
        const found = stored.get(res.msgIds[i])
        assert.ok(found, `${res.msgIds[i]} not stored`)
        assert.ok(found.body.equals(message.body))
        assert.equal(found.tags, message.tags)
        assert.equal(found.keys, message.keys)
        assert.equal(found.userProperties.index, String(i))
        assert.equal(found.flag, i)
        assert.equal(found.brokerName, res.queue.brokerName)
        assert.equal(found.queueId, res.queue.queueId)
        assert.equal(found.queueOffset, res.queueOffset + i)
        assert.equal(found.offsetMsgId, res.offsetMsgIds[i])
      })
    }
  })

  test("Java's batch rules reject with typed errors", async () => {
    const other = unique('NodeBatchOther')
    const cases = [
      [[{ topic, body: 'a' }, { topic: other, body: 'b' }], 'INVALID_MESSAGE'],
      [[{ topic, body: 'a' }, { topic, body: 'b', delayLevel: 2 }], 'INVALID_MESSAGE'],
      [[{ topic, body: 'a' }, { topic, body: 'b', deliverTimeMs: Date.now() + 5000 }], 'INVALID_MESSAGE'],
      [Array.from({ length: 5 }, () => ({ topic, body: Buffer.alloc(1024 * 1024) })), 'MESSAGE_TOO_LARGE'],
      [[], 'INVALID_ARGUMENT'],
      [[{ topic, body: '' }], 'EMPTY_BODY'],
      [[{ topic, body: 'a' }, 'not a message'], 'INVALID_ARGUMENT'],
      ['not an array', 'INVALID_ARGUMENT'],
    ]
    for (const [messages, code] of cases) {
      const err = await rejection(producer.sendBatch(messages))
      assert.equal(err.code, code, `${JSON.stringify(messages).slice(0, 80)}: ${err.message}`)
    }
    // A refused batch: the callback form throws and never calls back.
    let calls = 0
    assert.throws(() => producer.sendBatchCallback([], () => calls++), { code: 'INVALID_ARGUMENT' })
    await new Promise((resolve) => setTimeout(resolve, 100))
    assert.equal(calls, 0)
  })
})
