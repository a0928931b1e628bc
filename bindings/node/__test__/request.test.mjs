// Request-reply against a responder built on the official Java client (`rmq-cluster
// reply-responder`): it replies with MessageUtil.createReplyMessage, the broker pushes the reply
// to us, and request() resolves with it; nobody answering is a TIMEOUT.

import assert from 'node:assert/strict'
import { test } from 'node:test'

import { Producer } from '../index.js'
import { createTopic, namesrv, rejection, spawnCluster, unique } from './support.mjs'

test('request() and requestCallback() get the Java responder\'s replies, and time out when nobody answers', async () => {
  const topic = unique('NodeRequest')
  createTopic(topic, 2)
  const responder = spawnCluster('reply-responder', topic, '--count', '4')
  const ready = await responder.lines.next()
  assert.match(ready.value, /ready/)

  const producer = new Producer({ group: unique('node_request'), namesrv: namesrv() })
  await producer.start()
  try {
    // Three requests in flight at once: each gets its own reply.
    const replies = await Promise.all(
      [0, 1, 2].map((i) => producer.request({ topic, body: `ping ${i}`, tags: 'Req' }, 30000)),
    )
    replies.forEach((reply, i) => {
      assert.ok(Buffer.isBuffer(reply.body))
      assert.equal(reply.body.toString(), `reply:ping ${i}`)
      assert.equal(reply.topic, 'DefaultCluster_REPLY_TOPIC')
    })

    const called = await new Promise((resolve, reject) =>
      producer.requestCallback({ topic, body: 'ping 3' }, 30000, (err, reply) => (err ? reject(err) : resolve(reply))),
    )
    assert.equal(called.body.toString(), 'reply:ping 3')

    const silent = unique('NodeUnanswered')
    const started = Date.now()
    const err = await rejection(producer.request({ topic: silent, body: 'hello?' }, 1500))
    assert.equal(err.code, 'TIMEOUT', err.message)
    assert.ok(Date.now() - started < 10000, 'the timeout was not kept')
    const viaCallback = await new Promise((resolve) =>
      producer.requestCallback({ topic: silent, body: 'hello?' }, 1000, (err, reply) => resolve({ err, reply })),
    )
    assert.equal(viaCallback.err.code, 'TIMEOUT')
    assert.equal(viaCallback.reply, null)
    assert.throws(() => producer.requestCallback({ topic, body: 'x' }, 1000, 'not a function'), { code: 'INVALID_ARGUMENT' })

    for (const timeout of [-1, NaN, '1000', undefined]) {
      assert.equal((await rejection(producer.request({ topic, body: 'x' }, timeout))).code, 'INVALID_ARGUMENT')
    }
  } finally {
    await producer.shutdown()
  }

  const answered = []
  for await (const line of { [Symbol.asyncIterator]: () => responder.lines }) answered.push(JSON.parse(line))
  assert.equal(await responder.exited, 0)
  assert.equal(answered.length, 4)
  for (const reply of answered) {
    assert.equal(reply.status, 'SEND_OK')
    assert.equal(reply.replied.length, 36, 'a UUID correlation id')
  }
  assert.deepEqual(answered.map((r) => r.requestBody).sort(), ['ping 0', 'ping 1', 'ping 2', 'ping 3'])
})

test('flush() waits for a pending request', async () => {
  const producer = new Producer({ group: unique('node_request_flush'), namesrv: namesrv() })
  await producer.start()
  try {
    const started = Date.now()
    let settledAt
    const pending = rejection(producer.request({ topic: unique('NodeUnanswered'), body: 'anyone?' }, 1500)).then((err) => {
      settledAt = Date.now()
      return err
    })
    await producer.flush(10000)
    const flushedAt = Date.now()
    assert.ok(settledAt !== undefined, `flush() resolved ${flushedAt - started} ms in, before the request ended`)
    assert.ok(flushedAt - started >= 1400, `flush() resolved after ${flushedAt - started} ms`)
    assert.equal((await pending).code, 'TIMEOUT')

    const silent = rejection(producer.request({ topic: unique('NodeUnanswered'), body: 'anyone?' }, 3000))
    const err = await rejection(producer.flush(200))
    assert.equal(err.code, 'TIMEOUT')
    assert.match(err.message, /1 async send\(s\) still in flight/)
    await silent
    assert.equal((await rejection(producer.flush(-1))).code, 'INVALID_ARGUMENT')
  } finally {
    await producer.shutdown()
  }
})
