// Recall of timer messages (RocketMQ 5.3.2+, brokers with recallMessageEnable=true): a recalled
// message is never delivered (the launcher's Java reader is the judge), the broker's refusals
// reject with BROKER and its code and remark, a handle that does not decode rejects at once.

import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'

import { Producer } from '../index.js'
import { brokerVersion, createTopic, namesrv, readTopic, rejection, unique } from './support.mjs'

const timer = (topic, body, dueInMs) => ({ topic, body, deliverTimeMs: Date.now() + dueInMs })

describe('recall', { skip: brokerVersion().startsWith('V4_') && 'recall: not in RocketMQ 4.x' }, () => {
  let producer
  before(async () => {
    producer = new Producer({ group: unique('node_recall'), namesrv: namesrv() })
    await producer.start()
  })
  after(() => producer.shutdown())

  test('a recalled timer message is never delivered', async () => {
    const [topic, otherTopic] = [unique('NodeRecall'), unique('NodeRecallOther')]
    createTopic(topic, 2)
    createTopic(otherTopic, 2)
    // The recalled message is due before the kept one: once the kept one is delivered, the
    // recalled one would have been too.
    const late = await producer.send(timer(topic, 'due in 2 s, recalled too late', 2000))
    const recalled = await producer.send(timer(topic, 'due in 5 s, recalled', 5000))
    const kept = await producer.send(timer(topic, 'due in 6 s, kept', 6000))
    for (const result of [late, recalled, kept]) assert.equal(typeof result.recallHandle, 'string')

    assert.equal(await producer.recall(topic, recalled.recallHandle), recalled.msgId)
    const otherTopics = await rejection(producer.recall(otherTopic, kept.recallHandle))
    assert.equal(otherTopics.code, 'BROKER')
    assert.equal(otherTopics.responseCode, 604)
    assert.equal(otherTopics.remark, 'recall failed, topic not match')

    const normal = await producer.send({ topic, body: 'normal' })
    assert.equal(normal.recallHandle, undefined)
    const level = await producer.send({ topic, body: 'delay level 1', delayLevel: 1 })
    assert.equal(level.recallHandle, undefined)

    const expected = [late.msgId, kept.msgId, normal.msgId, level.msgId].sort()
    const stored = readTopic(topic, expected.length).map((m) => m.msgId)
    assert.ok(!stored.includes(recalled.msgId), 'the recalled message was delivered')
    assert.deepEqual(stored.sort(), expected)

    // Long past its due time (the kept message, due later, was delivered).
    const stale = await rejection(producer.recall(topic, late.recallHandle))
    assert.equal(stale.code, 'BROKER')
    assert.equal(stale.responseCode, 604)
    assert.equal(stale.remark, 'recall failed, timestamp invalid')
  })

  test('bad arguments reject before any network traffic', async () => {
    const topic = unique('NodeRecallArgs')
    for (const garbage of ['', 'garbage!', 'aGVsbG8=']) {
      const err = await rejection(producer.recall(topic, garbage))
      assert.equal(err.code, 'INVALID_ARGUMENT')
      assert.match(err.message, /recall handle is invalid/)
    }
    assert.equal((await rejection(producer.recall('bad topic', 'djEgVCBiIDEgSUQ='))).code, 'INVALID_TOPIC')
    assert.equal((await rejection(producer.recall(topic, 42))).code, 'INVALID_ARGUMENT')
    assert.equal((await rejection(producer.recall(undefined, 'djEgVCBiIDEgSUQ='))).code, 'INVALID_ARGUMENT')
  })
})
