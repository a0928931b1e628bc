// Options that change what goes on the wire: namespaces, the VIP channel, TLS, ACL signing and
// compression, each proven against the real cluster and read back by the launcher's Java reader.
// The ACL/TLS-enforcing cluster comes from tests/run-all.sh (RMQ_SECURE_*); without it that test
// is skipped with the reason.

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import { Producer } from '../index.js'
import { cluster, createTopic, namesrv, readTopic, rejection, unique } from './support.mjs'

/** Runs `use` with a started producer of `options`, then shuts it down. */
async function withProducer(options, use) {
  const producer = new Producer({ group: unique('node_wire'), namesrv: namesrv(), ...options })
  await producer.start()
  try {
    return await use(producer)
  } finally {
    await producer.shutdown()
  }
}

const byMsgId = (stored) => new Map(stored.map((m) => [m.msgId, m]))

test('namespace: the broker stores <namespace>%<topic>, results show the bare topic', async () => {
  const namespace = unique('ns').replaceAll('_', '')
  const topic = unique('NodeSpaced')
  const ids = await withProducer({ namespace }, async (producer) => {
    const single = await producer.send({ topic, body: 'single' })
    assert.equal(single.queue.topic, topic)
    const queues = await producer.publishQueues(topic)
    assert.ok(queues.every((q) => q.topic === topic))
    const explicit = await producer.sendToQueue({ topic, body: 'explicit' }, queues[0])
    assert.deepEqual(explicit.queue, queues[0])
    const keyed = await producer.sendWithShardingKey({ topic, body: 'keyed' }, 'k1')
    const batch = await producer.sendBatch([{ topic, body: 'b1' }, { topic, body: 'b2' }])
    assert.equal(batch.queue.topic, topic)
    return [single.msgId, explicit.msgId, keyed.msgId, ...batch.msgIds]
  })
  const wrapped = `${namespace}%${topic}`
  const stored = byMsgId(readTopic(wrapped, ids.length))
  for (const id of ids) {
    assert.equal(stored.get(id)?.topic, wrapped, id)
    assert.equal(stored.get(id).properties.INSTANCE_ID, namespace)
  }
  assert.throws(() => new Producer({ group: 'g', namespace: 'bad%ns' }), { code: 'INVALID_ARGUMENT' })
})

test('vipChannelEnabled: every send goes to the broker port - 2', async () => {
  const topic = unique('NodeVip')
  createTopic(topic, 2)
  const route = JSON.parse(cluster('route', topic).trim())
  const port = (addr) => Number(addr.split(':').pop())
  const vipPorts = new Set(route.brokerDatas.map((b) => port(b.brokerAddrs['0']) - 2))
  const used = new Set()
  const ids = await withProducer({ vipChannelEnabled: true }, async (producer) => {
    producer.addSendHook({ after: (ctx) => used.add(port(ctx.brokerAddr)) })
    const results = []
    for (let i = 0; i < 20; i++) results.push(await producer.send({ topic, body: `vip ${i}` }))
    await new Promise((resolve) => setTimeout(resolve, 100)) // hooks are queued to this thread
    return results.map((r) => r.msgId)
  })
  assert.deepEqual([...used].sort(), [...vipPorts].sort())
  const stored = byMsgId(readTopic(topic, ids.length))
  assert.ok(ids.every((id) => stored.has(id)))
})

describe('TLS and ACL', () => {
  test('tls with tlsVerify false reaches the servers; verifying their self-signed certificate fails', async () => {
    const topic = unique('NodeTls')
    createTopic(topic, 2)
    const ids = await withProducer({ tls: true, tlsVerify: false, instanceName: 'node-tls' }, async (producer) => {
      const results = await Promise.all([0, 1, 2].map((i) => producer.send({ topic, body: `over tls ${i}` })))
      return results.map((r) => r.msgId)
    })
    const stored = byMsgId(readTopic(topic, ids.length))
    assert.ok(ids.every((id) => stored.has(id)))

    const strict = await withProducer({ tls: true, instanceName: 'node-tls-strict', tlsServerName: 'localhost', sendTimeoutMs: 3000 }, (producer) =>
      rejection(producer.send({ topic, body: 'never' })),
    )
    assert.equal(strict.code, 'CONNECT', strict.message)
    assert.match(strict.message, /TLS/)
  })

  const secure = process.env.RMQ_SECURE_NAMESRV_ADDR
  const skip = secure ? false : 'RMQ_SECURE_NAMESRV_ADDR not set: no ACL/TLS-enforcing cluster (make test / tests/run-all.sh starts one)'
  test('signed over TLS is stored; a wrong secret is BROKER 16; plain TCP fails', { skip }, async () => {
    const base = process.env.RMQ_SECURE_PORT_BASE
    const credentials = { accessKey: process.env.RMQ_SECURE_ACCESS_KEY, secretKey: process.env.RMQ_SECURE_SECRET_KEY }
    const secureProducer = (options) =>
      new Producer({ group: unique('node_secure'), namesrv: secure, tls: true, tlsVerify: false, ...credentials, ...options })
    const topic = unique('NodeSecure')
    const signed = secureProducer({ instanceName: 'node-signed' })
    await signed.start()
    const ids = []
    try {
      ids.push((await signed.send({ topic, body: 'signed', keys: 'k1' })).msgId)
      ids.push(...(await signed.sendBatch([{ topic, body: 'b1' }, { topic, body: 'b2' }])).msgIds)
    } finally {
      await signed.shutdown()
    }
    const stored = byMsgId(readTopic(topic, ids.length, { base }))
    assert.ok(ids.every((id) => stored.has(id)))

    const wrong = secureProducer({ instanceName: 'node-wrong', secretKey: 'not-the-secret', retryTimes: 0 })
    await wrong.start()
    const refused = await rejection(wrong.send({ topic, body: 'refused' })).finally(() => wrong.shutdown())
    assert.equal(refused.code, 'BROKER', refused.message)
    assert.equal(refused.responseCode, 16)

    const plain = secureProducer({ instanceName: 'node-plain', tls: false, sendTimeoutMs: 3000 })
    const started = Date.now()
    const failed = await plain
      .start()
      .then(() => plain.send({ topic, body: 'plain' }))
      .then(
        (result) => result,
        (err) => err,
      )
      .finally(() => plain.shutdown())
    assert.ok(failed instanceof Error, `plain TCP was answered: ${JSON.stringify(failed)}`)
    assert.ok(failed.code, failed.message)
    assert.ok(Date.now() - started < 15000, 'not within the send timeout')
  })
})

test('compression: zlib, lz4 and zstd bodies read back decompressed', async () => {
  const topic = unique('NodeCompressed')
  const body = Buffer.from(Array.from({ length: 64 * 1024 }, (_, i) => 'compressible rocketmq body '.charCodeAt(i % 27) ^ (i >> 12)))
  const sent = []
  for (const [compressType, flag] of [['zlib', 0x301], ['lz4', 0x101], ['zstd', 0x201]]) {
    await withProducer({ compressType, compressThreshold: 1024 }, async (producer) => {
      sent.push([compressType, (await producer.send({ topic, body })).msgId, flag, body])
      sent.push([compressType, (await producer.send({ topic, body: 'tiny' })).msgId, 0, Buffer.from('tiny')])
    })
  }
  const stored = byMsgId(readTopic(topic, sent.length))
  for (const [kind, msgId, flag, expected] of sent) {
    const found = stored.get(msgId)
    assert.equal(found.sysFlag & 0x701, flag, `${kind}: sysFlag ${found.sysFlag.toString(16)}`)
    assert.ok(found.body.equals(expected), `${kind}: body differs`)
  }
  for (const bad of [{ compressType: 'gzip' }, { compressLevel: 11 }, { backpressure: 'drop' }, { maxAsyncInFlight: -1 }]) {
    assert.throws(() => new Producer({ group: 'g', ...bad }), { code: 'INVALID_ARGUMENT' }, JSON.stringify(bad))
  }
})
