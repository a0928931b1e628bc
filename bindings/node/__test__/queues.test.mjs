// Sends to a chosen queue: an explicit queue, a selector callback and a sharding key, the last
// compared with the official Java client's SelectMessageQueueByHash on the same topic. Where each
// message landed is read back by the launcher's Java reader.

import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'

import { Producer } from '../index.js'
import { cluster, createTopic, namesrv, readTopic, rejection, unique } from './support.mjs'

/** Where the Java client put a message sent with `--sharding-key key`. */
function javaQueueForKey(topic, key) {
  const result = JSON.parse(cluster('send', topic, `java ${key}`, '--sharding-key', key).trim())
  assert.equal(result.status, 'SEND_OK')
  return { brokerName: result.brokerName, queueId: result.queueId }
}

const where = (queue) => ({ brokerName: queue.brokerName, queueId: queue.queueId })

/** The groups that hold `topic` (two masters, or one controller group), as the NameServer routes it. */
const brokersOf = (topic) => JSON.parse(cluster('route', topic)).queueDatas.map((q) => q.brokerName).sort()

describe('choosing the queue', () => {
  let producer
  let topic
  let queues
  before(async () => {
    topic = unique('NodeQueues')
    createTopic(topic, 4)
    producer = new Producer({ group: unique('node_queues'), namesrv: namesrv() })
    await producer.start()
    queues = await producer.publishQueues(topic)
  })
  after(() => producer.shutdown())

  test('publishQueues() lists the writable queues by broker, then queue id', () => {
    const expected = brokersOf(topic).flatMap((brokerName) =>
      [0, 1, 2, 3].map((queueId) => ({ topic, brokerName, queueId })),
    )
    assert.deepEqual(queues, expected)
  })

  test('sendToQueue(), sendWithSelector() and sendWithShardingKey() land where asked', async () => {
    const expected = new Map()
    for (const target of [queues.at(-2), queues[1]]) {
      const result = await producer.sendToQueue({ topic, body: 'explicit' }, target)
      assert.equal(result.status, 'SEND_OK')
      assert.deepEqual(result.queue, target)
      expected.set(result.msgId, target)
    }

    let seen
    const selected = await producer.sendWithSelector({ topic, body: 'selected', tags: 'last', keys: 'k1' }, (qs, msg) => {
      seen = { qs, msg }
      return qs.length - 1
    })
    assert.deepEqual(seen.qs, queues)
    assert.equal(seen.msg.topic, topic)
    assert.equal(seen.msg.tags, 'last')
    assert.deepEqual(seen.msg.keys, ['k1'])
    assert.ok(Buffer.isBuffer(seen.msg.body) && seen.msg.body.toString() === 'selected')
    assert.deepEqual(selected.queue, queues.at(-1))
    expected.set(selected.msgId, queues.at(-1))

    const promised = await producer.sendWithSelector({ topic, body: 'selected later' }, async () => 2)
    assert.deepEqual(promised.queue, queues[2])
    expected.set(promised.msgId, queues[2])

    const keys = ['order-1', 'order-2', 'customer-42', 'clé-é', 'polygenelubricants', 'z']
    for (const key of keys) {
      const java = javaQueueForKey(topic, key)
      const ours = await producer.sendWithShardingKey({ topic, body: `node ${key}` }, key)
      assert.deepEqual(where(ours.queue), java, `key ${key}`)
      expected.set(ours.msgId, ours.queue)
    }

    const stored = new Map(readTopic(topic, expected.size + keys.length).map((m) => [m.msgId, m]))
    for (const [msgId, queue] of expected) {
      const found = stored.get(msgId)
      assert.ok(found, `${msgId} not stored`)
      assert.deepEqual(where(found), where(queue), msgId)
    }
  })

  test('bad choices reject with INVALID_ARGUMENT before anything is sent', async () => {
    const message = { topic, body: 'never sent' }
    for (const index of [queues.length, -1, 1.5, NaN]) {
      const err = await rejection(producer.sendWithSelector(message, () => index))
      assert.equal(err.code, 'INVALID_ARGUMENT', `index ${index}: ${err.message}`)
    }
    const outOfRange = await rejection(producer.sendWithSelector(message, (qs) => qs.length))
    const count = queues.length
    assert.match(outOfRange.message, new RegExp(`index ${count}.*${count} writable queue`))
    // The bounds check is the core's, with its words.
    for (const index of [-1, count]) {
      const err = await rejection(producer.sendWithSelector(message, () => index))
      assert.equal(err.code, 'INVALID_ARGUMENT')
      assert.equal(err.message, `the queue selector returned index ${index}, but topic '${topic}' has ${count} writable queue(s)`)
    }

    const threw = await rejection(
      producer.sendWithSelector(message, () => {
        throw new Error('selector bug')
      }),
    )
    assert.equal(threw.code, 'INVALID_ARGUMENT')
    assert.match(threw.message, /selector threw.*selector bug/)

    const rejected = await rejection(producer.sendWithSelector(message, () => Promise.reject(new Error('async bug'))))
    assert.equal(rejected.code, 'INVALID_ARGUMENT')
    assert.match(rejected.message, /async bug/)

    const notANumber = await rejection(producer.sendWithSelector(message, () => 'first'))
    assert.equal(notANumber.code, 'INVALID_ARGUMENT')

    // One at a time: a Promise made before the previous one is awaited may reject unhandled.
    for (const send of [
      () => producer.sendWithSelector(message, 'not a function'),
      () => producer.sendToQueue(message, { ...queues[0], topic: 'OtherTopic' }),
      () => producer.sendToQueue(message, { brokerName: 'broker-a' }),
      () => producer.sendToQueue(message, null),
      () => producer.sendWithShardingKey(message, 42),
      () => producer.publishQueues(undefined),
    ]) {
      assert.equal((await rejection(send())).code, 'INVALID_ARGUMENT')
    }
    assert.equal((await rejection(producer.publishQueues('bad topic!'))).code, 'INVALID_TOPIC')
  })
})
