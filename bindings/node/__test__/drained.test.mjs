// A topic drained on every broker (`updateTopic -p 4`, read only): its route has no writable
// queue, and every send form fails at once with NO_ROUTE naming the topic, each callback exactly
// once.

import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'

import { Producer, TransactionProducer } from '../index.js'
import { cluster, createTopic, namesrv, rejection, unique } from './support.mjs'

async function drain(topic) {
  createTopic(topic, 4)
  cluster('admin', 'updateTopic', '-t', topic, '-c', 'DefaultCluster', '-r', '4', '-w', '4', '-p', '4')
  const deadline = Date.now() + 30_000
  for (;;) {
    const perms = JSON.parse(cluster('route', topic)).queueDatas.map((q) => q.perm)
    if (perms.length > 0 && perms.every((p) => p === 4)) return
    assert.ok(Date.now() < deadline, `the route of ${topic} still has perms ${perms}`)
    await sleep(300)
  }
}

function assertNoRoute(form, err, topic, tookMs) {
  console.log(`${form.padEnd(28)} ${tookMs.toFixed(1).padStart(8)} ms ${err?.code} ${err?.message}`)
  assert.equal(err?.code, 'NO_ROUTE', `${form}: ${err}`)
  assert.ok(err.message.includes(topic) && err.message.includes('writable'), `${form}: ${err.message}`)
  assert.ok(tookMs < 5000, `${form} took ${tookMs} ms`) // at once, nowhere near the 10 s send timeout
}

/** Starts a callback form; resolves with [calls, first error, ms until called] once settled. */
async function callbackOutcome(start) {
  const calls = []
  const began = performance.now()
  start((err, result) => calls.push({ err, result, at: performance.now() }))
  for (let i = 0; i < 200 && calls.length === 0; i++) await sleep(25)
  await sleep(100) // time for a second call, if there were one
  return [calls.length, calls[0]?.err, calls[0] ? calls[0].at - began : Infinity, calls[0]?.result]
}

test('every send form on a drained topic fails at once with NO_ROUTE', async () => {
  const topic = unique('NodeDrained')
  await drain(topic)
  const producer = new Producer({ group: unique('node_drained'), namesrv: namesrv(), sendTimeoutMs: 10_000 })
  await producer.start()
  const message = { topic, body: 'to a drained topic' }
  const queue = { topic, brokerName: 'broker-a', queueId: 0 }
  try {
    const promised = {
      send: () => producer.send(message),
      sendOneway: () => producer.sendOneway(message),
      publishQueues: () => producer.publishQueues(topic),
      sendToQueue: () => producer.sendToQueue(message, queue),
      sendWithSelector: () => producer.sendWithSelector(message, (qs) => qs.length - 1),
      sendWithShardingKey: () => producer.sendWithShardingKey(message, 'order-1'),
      sendBatch: () => producer.sendBatch([message, message]),
      request: () => producer.request(message, 10_000),
    }
    for (const [form, call] of Object.entries(promised)) {
      const began = performance.now()
      const err = await rejection(call())
      assertNoRoute(form, err, topic, performance.now() - began)
    }

    const callbacks = {
      sendCallback: (cb) => producer.sendCallback(message, cb),
      sendBatchCallback: (cb) => producer.sendBatchCallback([message, message], cb),
      requestCallback: (cb) => producer.requestCallback(message, 10_000, cb),
    }
    for (const [form, start] of Object.entries(callbacks)) {
      const [calls, err, tookMs, result] = await callbackOutcome(start)
      assert.equal(calls, 1, `${form}: callback calls`)
      assert.equal(result, null, form)
      assertNoRoute(form, err, topic, tookMs)
    }
  } finally {
    await producer.shutdown()
  }

  let localCalls = 0
  const txProducer = new TransactionProducer({ group: unique('node_drained_tx'), namesrv: namesrv() }, () => 'ROLLBACK')
  await txProducer.start()
  try {
    const began = performance.now()
    const err = await rejection(
      txProducer.sendInTransaction(message, () => {
        localCalls++
        return 'COMMIT'
      }),
    )
    assertNoRoute('sendInTransaction', err, topic, performance.now() - began)
    assert.equal(localCalls, 0)
  } finally {
    await txProducer.shutdown()
  }
})
