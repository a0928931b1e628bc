// TLS with client certificates (mutual TLS) against the launcher's mTLS cluster, whose broker
// accepts only connections presenting a client certificate of its test CA; what was sent is read
// back by the launcher's Java reader. Also: the servers' certificates verified against that CA,
// and bad certificate options refused at start. The cluster comes from tests/run-all.sh
// (RMQ_MTLS_*); without it these tests are skipped with the reason.

import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'

import { Producer } from '../index.js'
import { readTopic, rejection, unique } from './support.mjs'

const env = (name) => process.env[`RMQ_MTLS_${name}`]
const files = ['CA_FILE', 'CERT_FILE', 'KEY_FILE', 'UNTRUSTED_CA_FILE', 'UNTRUSTED_CERT_FILE', 'UNTRUSTED_KEY_FILE']
const needed = ['NAMESRV_ADDR', 'PORT_BASE', ...files]
const missing = needed.filter((name) => !env(name)).map((name) => `RMQ_MTLS_${name}`)
const skip = missing.length
  ? `${missing.join(', ')} not set: no mutual-TLS cluster (make test / tests/run-all.sh starts one)`
  : false

/** A producer on the mTLS cluster over TLS verified against the launcher's CA, with `options`. */
const mtlsProducer = (options) =>
  new Producer({
    group: unique('node_mtls'),
    namesrv: env('NAMESRV_ADDR'),
    tls: true,
    tlsCaFile: env('CA_FILE'),
    ...options,
  })

/** The error of one send with `options`, no retry. */
async function sendError(options) {
  const producer = mtlsProducer({ retryTimes: 0, ...options })
  await producer.start()
  const sent = producer.send({ topic: unique('NodeMtlsRefused'), body: 'never stored' })
  return rejection(sent).finally(() => producer.shutdown())
}

test('a client certificate from files or as PEM text is accepted and the sends stored', { skip }, async () => {
  const topic = unique('NodeMtls')
  const forms = {
    files: { tlsCertFile: env('CERT_FILE'), tlsKeyFile: env('KEY_FILE') },
    // The servers' certificates name localhost as well as 127.0.0.1.
    pem: {
      tlsCertPem: readFileSync(env('CERT_FILE'), 'utf8'),
      tlsKeyPem: readFileSync(env('KEY_FILE'), 'utf8'),
      tlsServerName: 'localhost',
    },
  }
  const ids = []
  for (const [name, clientCert] of Object.entries(forms)) {
    const producer = mtlsProducer({ instanceName: `node-mtls-${name}`, ...clientCert })
    await producer.start()
    try {
      ids.push((await producer.send({ topic, body: `${name} sync` })).msgId)
      ids.push(...(await producer.sendBatch([{ topic, body: `${name} b1` }, { topic, body: `${name} b2` }])).msgIds)
    } finally {
      await producer.shutdown()
    }
  }
  const stored = new Map(readTopic(topic, ids.length, { base: env('PORT_BASE') }).map((m) => [m.msgId, m]))
  assert.ok(ids.every((id) => stored.has(id)), `not all of ${ids} stored`)
  assert.equal(stored.get(ids[0]).body.toString(), 'files sync')
})

test('the broker refuses clients without a certificate of its CA: NETWORK', { skip }, async () => {
  const untrusted = { tlsCertFile: env('UNTRUSTED_CERT_FILE'), tlsKeyFile: env('UNTRUSTED_KEY_FILE') }
  for (const [name, clientCert] of [['without', {}], ['untrusted', untrusted]]) {
    const err = await sendError({ instanceName: `node-mtls-${name}`, ...clientCert })
    // The broker's TLS alert closes the connection under the first request.
    assert.equal(err.code, 'NETWORK', `${name}: ${err.message}`)
    assert.ok(err.message.includes(`connection to 127.0.0.1:${Number(env('PORT_BASE')) + 100}`), err.message)
  }
})

test('servers are verified against the given CA and name: CONNECT otherwise', { skip }, async () => {
  const clientCert = { tlsCertFile: env('CERT_FILE'), tlsKeyFile: env('KEY_FILE') }
  const servers = [
    ['wrong-ca', { tlsCaFile: env('UNTRUSTED_CA_FILE') }],
    ['wrong-name', { tlsServerName: 'wrong.example' }],
  ]
  for (const [name, server] of servers) {
    const err = await sendError({ instanceName: `node-mtls-${name}`, ...clientCert, ...server })
    assert.equal(err.code, 'CONNECT', `${name}: ${err.message}`)
    assert.match(err.message, /TLS handshake/, name)
  }
})

test('bad client certificates fail start with INVALID_ARGUMENT naming the option', { skip }, async () => {
  const cases = [
    [
      { tlsCertFile: '/nonexistent/client.pem', tlsKeyFile: env('KEY_FILE') },
      /'tls_cert_file' \(\/nonexistent\/client\.pem\)/,
    ],
    [{ tlsCertFile: env('CERT_FILE') }, /without 'tls_key_file' or 'tls_key_pem'/],
    [{ tlsCertFile: env('CERT_FILE'), tlsKeyFile: env('UNTRUSTED_KEY_FILE') }, /does not belong to the certificate/],
    [{ tlsCertPem: 'not PEM', tlsKeyFile: env('KEY_FILE') }, /no CERTIFICATE PEM block/],
  ]
  for (const [options, expected] of cases) {
    const err = await rejection(mtlsProducer(options).start())
    assert.equal(err.code, 'INVALID_ARGUMENT', err.message)
    assert.match(err.message, expected)
  }
})
