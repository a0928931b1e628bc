// The three send forms against the real cluster; every message is read back by the launcher's
// independent Java reader and compared field by field.

import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'

import { Producer } from '../index.js'
import { brokerVersion, concurrency, namesrv, newTopic, readTopic, unique } from './support.mjs'

function assertSendResult(result, topic) {
  assert.equal(result.status, 'SEND_OK')
  assert.match(result.msgId, /^[0-9A-F]{32,}$/)
  assert.match(result.offsetMsgId, /^[0-9A-F]{32}$/)
  assert.equal(result.queue.topic, topic)
  assert.match(result.queue.brokerName, /^broker-[ab]$/)
  assert.ok(Number.isInteger(result.queue.queueId) && result.queue.queueId >= 0)
  assert.ok(Number.isInteger(result.queueOffset) && result.queueOffset >= 0)
  assert.equal(typeof result.regionId, 'string')
  assert.equal(typeof result.traceOn, 'boolean')
}

function byMsgId(stored) {
  return new Map(stored.map((m) => [m.msgId, m]))
}

describe('sending to the real cluster', () => {
  let producer
  before(async () => {
    producer = new Producer({ group: unique('node_send'), namesrv: namesrv() })
    await producer.start()
  })
  after(() => producer.shutdown())

  test('send() resolves with a full SendResult and the broker stores every field', async () => {
    const topic = newTopic('NodeSend')
    const message = {
      topic,
      body: 'Hello RocketMQ ünïcode ✓',
      tags: 'TagA',
      keys: ['key-1', 'key-2'],
      properties: { origin: 'node', 'with space': 'a b' },
      flag: 7,
    }
    const result = await producer.send(message)
    assertSendResult(result, topic)

    const [stored] = readTopic(topic, 1)
    assert.equal(stored.msgId, result.msgId)
    assert.equal(stored.offsetMsgId, result.offsetMsgId)
    assert.equal(stored.brokerName, result.queue.brokerName)
    assert.equal(stored.queueId, result.queue.queueId)
    assert.equal(stored.queueOffset, result.queueOffset)
    assert.equal(stored.body.toString('utf8'), message.body)
    assert.equal(stored.tags, 'TagA')
    assert.equal(stored.keys, 'key-1 key-2')
    assert.deepEqual(stored.userProperties, message.properties)
    assert.equal(stored.flag, 7)
  })

  test('sendCallback() calls back once with (null, result)', async () => {
    const topic = newTopic('NodeCallback')
    const { err, result, calls } = await new Promise((resolve) => {
      let calls = 0
      producer.sendCallback({ topic, body: 'by callback', tags: 'TagCb', keys: 'one-key' }, (err, result) => {
        calls += 1
        setTimeout(() => resolve({ err, result, calls }), 50)
      })
    })
    assert.equal(calls, 1)
    assert.equal(err, null)
    assertSendResult(result, topic)

    const [stored] = readTopic(topic, 1)
    assert.equal(stored.msgId, result.msgId)
    assert.equal(stored.body.toString(), 'by callback')
    assert.equal(stored.tags, 'TagCb')
    assert.equal(stored.keys, 'one-key')
  })

  test('sendOneway() resolves once written, and the broker stores the message', async () => {
    const topic = newTopic('NodeOneway')
    assert.equal(await producer.sendOneway({ topic, body: 'fire and forget', tags: 'TagOw' }), undefined)
    const [stored] = readTopic(topic, 1)
    assert.equal(stored.body.toString(), 'fire and forget')
    assert.equal(stored.tags, 'TagOw')
  })

  test('binary bodies with NUL bytes come back byte-exact, compressed or not', async () => {
    const topic = newTopic('NodeBinary')
    const small = Buffer.from([0, 0, 1, 0, 255, 0, 10, 13, 0])
    const pattern = Buffer.from([0, 1, 0, 2, 0, 0, 0, 3, 0xfe, 0])
    const large = Buffer.alloc(256 * 1024).map((_, i) => pattern[i % pattern.length]) // over the compress threshold
    const view = new Uint8Array([0, 42, 0])
    const sent = []
    for (const body of [small, large, view]) {
      const result = await producer.send({ topic, body })
      sent.push({ msgId: result.msgId, body: Buffer.from(body) })
    }
    const stored = byMsgId(readTopic(topic, sent.length))
    for (const { msgId, body } of sent) {
      assert.ok(stored.has(msgId), `message ${msgId} not found`)
      assert.ok(stored.get(msgId).body.equals(body), `body of ${msgId} differs`)
    }
  })

  test('1000 concurrent sends all succeed, and the broker has every one of them', async () => {
    const topic = newTopic('NodeConcurrent')
    const count = concurrency()
    const results = await Promise.all(
      Array.from({ length: count }, (_, i) => producer.send({ topic, body: `concurrent ${i}`, keys: `k${i}` })),
    )
    assert.equal(new Set(results.map((r) => r.msgId)).size, count)
    for (const result of results) assertSendResult(result, topic)

    // At least once: an attempt that answers after its share of the send timeout is retried,
    // and the broker may then hold both copies (same msgId), as with every RocketMQ client.
    const stored = byMsgId(readTopic(topic, count))
    assert.equal(stored.size, count)
    results.forEach((result, i) => {
      const message = stored.get(result.msgId)
      assert.ok(message, `message ${i} not stored`)
      assert.equal(message.body.toString(), `concurrent ${i}`)
      assert.equal(message.keys, `k${i}`)
    })
  })

  test('1000 concurrent sendCallback() calls each call back exactly once', async () => {
    const topic = newTopic('NodeConcurrentCb')
    const count = concurrency()
    const calls = new Array(count).fill(0)
    const results = await Promise.all(
      Array.from(
        { length: count },
        (_, i) =>
          new Promise((resolve, reject) =>
            producer.sendCallback({ topic, body: `callback ${i}` }, (err, result) => {
              calls[i] += 1
              if (err) reject(err)
              else resolve(result)
            }),
          ),
      ),
    )
    await new Promise((resolve) => setTimeout(resolve, 100)) // room for a stray second call
    assert.ok(calls.every((n) => n === 1))
    const stored = byMsgId(readTopic(topic, count))
    results.forEach((result, i) => assert.equal(stored.get(result.msgId)?.body.toString(), `callback ${i}`))
  })

  test('a delay level and a delivery time hold the message back until due', async () => {
    const topic = newTopic('NodeDelayed', 'DELAY')
    const deliverTimeMs = Date.now() + 2000
    const delayed = await producer.send({ topic, body: 'delay level 1 (1 s)', delayLevel: 1 })
    const timed = await producer.send({ topic, body: 'at a time', deliverTimeMs })
    const stored = byMsgId(readTopic(topic, 2))

    const byLevel = stored.get(delayed.msgId)
    assert.equal(byLevel.properties.DELAY, '1')
    assert.ok(byLevel.storeTimestamp - byLevel.bornTimestamp >= 900, 'stored before its delay')
    const byTime = stored.get(timed.msgId)
    assert.equal(byTime.properties.TIMER_DELIVER_MS, String(deliverTimeMs))
    if (brokerVersion().startsWith('V4_')) {
      // 4.x has delay levels only: what its users see of a timer message is that it is stored at once.
      assert.ok(byTime.storeTimestamp < deliverTimeMs - 1000, 'held back by a 4.x broker')
    } else {
      // The broker's timer wheel ticks by the second.
      assert.ok(byTime.storeTimestamp >= deliverTimeMs - 1000, 'stored before its time')
    }
  })
})
