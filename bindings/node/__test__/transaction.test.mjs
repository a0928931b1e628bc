// Transactional messages against the real broker: committed visible, rolled back never visible,
// an unknown outcome settled by the check function; a local function or checker that throws or
// rejects counts as UNKNOWN. The broker checks a half message transactionTimeOut after it was
// stored, then every transactionCheckInterval: the test cluster sets both to 2 s
// (RMQ_BROKER_CONF, as tests/run-all.sh does).

import assert from 'node:assert/strict'
import { test } from 'node:test'

import { LocalTransactionState, TransactionProducer } from '../index.js'
import { cluster, createTopic, namesrv, readTopic, rejection, unique } from './support.mjs'

async function eventually(seconds, condition) {
  const until = Date.now() + seconds * 1000
  while (Date.now() < until) {
    if (condition()) return true
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  return condition()
}

test('commit, rollback, and unknown outcomes settled by the check function', async () => {
  const topic = unique('NodeTx')
  createTopic(topic, 4)
  // What the check function answers, by body; and what it was asked about.
  const answers = {
    'unknown then commit': 'COMMIT',
    'throws then commit': async () => 'COMMIT',
    'rejects then rollback': 'ROLLBACK',
  }
  const asked = []
  let checkerThrew = false
  const warnings = []
  const onWarning = (w) => warnings.push(w)
  process.on('warning', onWarning)
  const producer = new TransactionProducer({ group: unique('node_tx'), namesrv: namesrv() }, (check) => {
    const body = check.message.body.toString()
    asked.push({ msgId: check.msgId, body, tags: check.message.tags, checkTimes: check.checkTimes })
    // The first check of one message fails: the broker asks again.
    if (body === 'throws then commit' && !checkerThrew) {
      checkerThrew = true
      throw new Error('checker bug')
    }
    const answer = answers[body]
    return typeof answer === 'function' ? answer() : (answer ?? 'UNKNOWN')
  })
  await producer.start()

  const locals = [
    ['commit', () => 'COMMIT', 'COMMIT'],
    ['rollback', () => LocalTransactionState.Rollback, 'ROLLBACK'],
    ['unknown then commit', () => 'UNKNOWN', 'UNKNOWN'],
    ['async commit', async () => { await new Promise((r) => setTimeout(r, 100)); return 'COMMIT' }, 'COMMIT'],
    ['throws then commit', () => { throw new Error('local bug') }, 'UNKNOWN'],
    ['rejects then rollback', () => Promise.reject(new Error('async local bug')), 'UNKNOWN'],
    ['not a state', () => 'MAYBE', 'UNKNOWN'],
  ]
  const ids = {}
  for (const [body, local, state] of locals) {
    let seen
    const result = await producer.sendInTransaction({ topic, body, tags: 'TagTx', keys: body }, (message, sendResult) => {
      seen = { message, sendResult }
      return local()
    })
    assert.equal(result.sendResult.status, 'SEND_OK')
    assert.equal(result.localState, state, body)
    assert.equal(seen.message.body.toString(), body)
    assert.equal(seen.sendResult.msgId, result.sendResult.msgId)
    assert.ok(result.sendResult.transactionId)
    ids[body] = result.sendResult.msgId
  }

  // The checks need this thread to answer them: wait for them here before reading back (the
  // reader blocks this thread while it runs).
  const checks = (body) => asked.filter((a) => a.msgId === ids[body] && a.body === body && a.tags === 'TagTx').length
  assert.ok(
    await eventually(90, () =>
      ['unknown then commit', 'rejects then rollback', 'not a state'].every((body) => checks(body) >= 1) &&
      checks('throws then commit') >= 2,
    ),
    `the broker never checked the unknown transactions: ${JSON.stringify(asked)}`,
  )

  // Committed at once, or once the check function answered COMMIT.
  const committed = ['commit', 'async commit', 'unknown then commit', 'throws then commit']
  const stored = new Map(readTopic(topic, committed.length).map((m) => [m.msgId, m]))
  for (const body of committed) {
    const found = stored.get(ids[body])
    assert.ok(found, `committed ${body} is not visible`)
    assert.equal(found.body.toString(), body)
    assert.equal(found.tags, 'TagTx')
    assert.equal(found.sysFlag & 0xc, 0x8, 'commit type in sysFlag')
  }
  assert.ok(checkerThrew)
  await producer.shutdown()
  process.off('warning', onWarning)

  // Rolled back (or still unknown): never in the topic. A check-back that crosses the commit
  // may commit a message twice (as with Java): count distinct ids.
  const visible = new Set(
    cluster('read-topic', topic)
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l).msgId),
  )
  assert.deepEqual([...visible].sort(), committed.map((body) => ids[body]).sort())
  const reported = warnings.filter((w) => w.name === 'RmqCallbackError').map((w) => w.message).join('\n')
  assert.match(reported, /local transaction function threw: .*local bug/)
  assert.match(reported, /local transaction function returned a Promise that rejected: .*async local bug/)
  assert.match(reported, /transaction check function threw: .*checker bug/)
})

test('bad arguments of the transaction producer are INVALID_ARGUMENT', async () => {
  assert.throws(() => new TransactionProducer({ group: unique('node_tx') }, 'not a function'), { code: 'INVALID_ARGUMENT' })
  assert.throws(() => new TransactionProducer({ group: unique('node_tx'), nope: 1 }, () => 'COMMIT'), { code: 'INVALID_ARGUMENT' })
  const producer = new TransactionProducer({ group: unique('node_tx'), namesrv: namesrv() }, () => 'COMMIT')
  await producer.start()
  try {
    const topic = unique('NodeTxBad')
    assert.equal((await rejection(producer.sendInTransaction({ topic, body: 'x' }, null))).code, 'INVALID_ARGUMENT')
    assert.equal((await rejection(producer.sendInTransaction({ topic, body: '' }, () => 'COMMIT'))).code, 'EMPTY_BODY')
    // Ordinary sends of the same group go through `producer`.
    const plain = await producer.producer.send({ topic, body: 'not transactional' })
    assert.equal(plain.status, 'SEND_OK')
    const [stored] = readTopic(topic, 1)
    assert.equal(stored.msgId, plain.msgId)
  } finally {
    await producer.shutdown()
  }
  assert.equal((await rejection(producer.sendInTransaction({ topic: 'T', body: 'x' }, () => 'COMMIT'))).code, 'ILLEGAL_STATE')
})
