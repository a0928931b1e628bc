// Message trace (`enableMsgTrace`) against brokers started with traceTopicEnable=true: Java's own
// `mqadmin queryMsgTraceById` finds the Pub record of sync, async, batch and transaction sends; a
// trace topic that cannot be written fails no send and its lost records are counted.

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'

import { Producer, TransactionProducer } from '../index.js'
import { cluster, createTopic, namesrv, sendAsync, unique } from './support.mjs'

/** The Pub row Java prints for `msgId` (type, group, host, date, time, cost, status), once indexed. */
async function pubRow(msgId) {
  const deadline = Date.now() + 60_000
  for (;;) {
    const line = cluster('admin', 'queryMsgTraceById', '-i', msgId)
      .split('\n')
      .find((l) => l.startsWith('Pub '))
    if (line) return line.trim().split(/\s+/)
    assert.ok(Date.now() < deadline, `no Pub trace row for ${msgId}`)
    await sleep(1000)
  }
}

async function assertTraced(msgId, group) {
  const [, traced, , , , cost, status] = await pubRow(msgId)
  assert.equal(traced, group)
  assert.match(cost, /^\d+ms$/)
  assert.equal(status, 'success')
}

test('sync, async, batch and transaction sends are traced as Java reads them', async () => {
  const topic = unique('NodeTrace')
  createTopic(topic, 2)
  const group = unique('node_trace')
  const producer = new Producer({ group, namesrv: namesrv(), enableMsgTrace: true })
  await producer.start()
  const sync = await producer.send({ topic, body: 'sync', tags: 'TagA', keys: ['order-1'] })
  const async = await sendAsync(producer, { topic, body: 'async' })
  const batch = await producer.sendBatch([
    { topic, body: 'b1' },
    { topic, body: 'b2' },
  ])
  await producer.shutdown()
  assert.deepEqual({ ...producer.traceStats() }, { sent: 3, dropped: 0, failed: 0 })

  const txGroup = unique('node_trace_tx')
  const tx = new TransactionProducer({ group: txGroup, namesrv: namesrv(), enableMsgTrace: true }, () => 'COMMIT')
  await tx.start()
  const half = await tx.sendInTransaction({ topic, body: 'tx' }, () => 'COMMIT')
  await tx.shutdown()
  // The half message's Pub record and the commit's EndTransaction record.
  assert.deepEqual({ ...tx.producer.traceStats() }, { sent: 2, dropped: 0, failed: 0 })

  await assertTraced(sync.msgId, group)
  await assertTraced(async.msgId, group)
  assert.ok(batch.msgId.includes(','), 'one record under the joined ids, as Java writes it')
  await assertTraced(batch.msgId, group)
  await assertTraced(half.sendResult.msgId, txGroup)
})

test('a trace topic that cannot be written costs the sends nothing', async () => {
  const topic = unique('NodeTraceUser')
  createTopic(topic, 2)
  // Read-only queues (perm 4): every trace send fails.
  const traceTopic = unique('NodeTraceReadOnly')
  assert.match(cluster('admin', 'updateTopic', '-c', 'DefaultCluster', '-t', traceTopic, '-p', '4'), /success/)
  const producer = new Producer({
    group: unique('node_trace_ro'),
    namesrv: namesrv(),
    enableMsgTrace: true,
    customizedTraceTopic: traceTopic,
  })
  await producer.start()
  for (let i = 0; i < 3; i++) assert.equal((await producer.send({ topic, body: `m${i}` })).status, 'SEND_OK')
  await producer.shutdown()
  assert.deepEqual({ ...producer.traceStats() }, { sent: 0, dropped: 0, failed: 3 })
})

test('bad trace options are refused', () => {
  for (const value of ['SCHEDULE_TOPIC_XXXX', 'no spaces', 'x'.repeat(200)]) {
    assert.throws(() => new Producer({ group: 'node_trace_bad', namesrv: namesrv(), customizedTraceTopic: value }), {
      code: 'INVALID_ARGUMENT',
    })
  }
  assert.throws(() => new Producer({ group: 'node_trace_bad', namesrv: namesrv(), enableMsgTrace: 'maybe' }), {
    code: 'INVALID_ARGUMENT',
  })
  const off = new Producer({ group: 'node_trace_off', namesrv: namesrv() })
  assert.deepEqual({ ...off.traceStats() }, { sent: 0, dropped: 0, failed: 0 })
})
