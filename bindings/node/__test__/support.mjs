// Shared helpers of the Node tests: the real test cluster (through the project's launcher, whose
// Java reader reads messages back independently of our code) and a fake remoting server for
// failures a healthy cluster cannot produce on demand.

import { execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import net from 'node:net'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url))

const launcher = `${repoRoot}tests/cluster/rmq-cluster`

/** Runs the launcher (with the caller's RMQ_PORT_BASE) and returns its standard output. */
export function cluster(...args) {
  return execFileSync(launcher, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 })
}

/** The same against the cluster at port base `base` (the secure one, say). */
export function clusterAt(base, ...args) {
  const env = { ...process.env, RMQ_PORT_BASE: String(base) }
  return execFileSync(launcher, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, env })
}

/**
 * Starts a long-running launcher command (a responder, say) and returns the child with its
 * output lines as an async iterator.
 */
export function spawnCluster(...args) {
  const child = spawn(launcher, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)))
  return { child, lines, exited }
}

let cachedNamesrv
/** The test cluster's name server: NAMESRV_ADDR when the runner started one, else `rmq-cluster up`. */
export function namesrv() {
  if (process.env.NAMESRV_ADDR) return process.env.NAMESRV_ADDR
  if (!cachedNamesrv) {
    const line = cluster('up').split('\n').find((l) => l.startsWith('NAMESRV_ADDR='))
    if (!line) throw new Error('rmq-cluster up printed no NAMESRV_ADDR')
    cachedNamesrv = line.slice('NAMESRV_ADDR='.length).trim()
  }
  return cachedNamesrv
}

/** A topic or group name no other test run uses. */
export function unique(prefix) {
  return `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`
}

/**
 * Whether clients reach the brokers through the 5.x Proxy (the launcher printed REAL_NAMESRV_ADDR):
 * it sends only to topics it knows whose message.type matches the message's, so tests create
 * theirs first, typed (brokers refuse MIXED topics by default).
 */
const throughProxy = () => Boolean(process.env.REAL_NAMESRV_ADDR)

/**
 * How many sends a test keeps in flight at once. Through the 5.3.3 Proxy, 100: it drops a response
 * when its channel's write buffer is over Netty's high-water mark (64 KiB;
 * `AbstractRemotingActivity.writeResponse` returns when the channel is not writable), and 1,000
 * answers completing together pass that, leaving some sends unanswered until their deadline.
 */
export const concurrency = () => (throughProxy() ? 100 : 1000)

/** Creates `topic` with `queues` read and write queues on every group (of `messageType` for a Proxy). */
export function createTopic(topic, queues, messageType = 'NORMAL') {
  namesrv()
  const typed = throughProxy() ? ['--message-type', messageType] : []
  cluster('create-topic', topic, '--queues', String(queues), ...typed)
}

/** The brokers' RocketMQ version as they report it (e.g. `V4_9_7`). */
export function brokerVersion() {
  namesrv()
  return JSON.parse(cluster('broker-info').split('\n')[0]).version
}

/** A topic no other test run uses, created first when a Proxy is in front (brokers create it on first send). */
export function newTopic(prefix, messageType = 'NORMAL') {
  const topic = unique(prefix)
  if (throughProxy()) createTopic(topic, 4, messageType)
  return topic
}

/**
 * `sendCallback` (the ASYNC send, `retryTimesAsync`) as a Promise: a refusal, which the callback
 * form throws, rejects it as a failure reported through the callback does.
 */
export function sendAsync(producer, message) {
  return new Promise((resolve, reject) =>
    producer.sendCallback(message, (err, result) => (err ? reject(err) : resolve(result))),
  )
}

/** The error `promise` rejects with (fails the test if it resolves). */
export async function rejection(promise) {
  try {
    await promise
  } catch (err) {
    return err
  }
  throw new Error('expected a rejection')
}

/**
 * Every message stored in `topic`, as the launcher's Java reader decodes it (`msgId`, `tags`,
 * `keys`, `userProperties`, `body` as a Buffer, ...), waiting until at least `expect` are there;
 * `base` reads from the cluster at that port base instead of RMQ_PORT_BASE's.
 */
export function readTopic(topic, expect, { base } = {}) {
  const args = ['read-topic', topic, '--expect', String(expect), '--timeout-ms', '60000']
  const out = base === undefined ? cluster(...args) : clusterAt(base, ...args)
  return out
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const stored = JSON.parse(line)
      return { ...stored, body: Buffer.from(stored.bodyBase64, 'base64') }
    })
}

// --- A fake remoting server --------------------------------------------------------------------
//
// Frames are `int32 length | int32 (serialize type << 24 | header length) | JSON header | body`;
// the core sends JSON headers by default.

function frame(header, body = Buffer.alloc(0)) {
  const json = Buffer.from(JSON.stringify(header))
  const out = Buffer.alloc(8 + json.length + body.length)
  out.writeInt32BE(4 + json.length + body.length, 0)
  out.writeInt32BE(json.length, 4)
  json.copy(out, 8)
  body.copy(out, 8 + json.length)
  return out
}

function response(request, code, body, remark) {
  const header = { code, flag: 1, opaque: request.opaque, language: 'JAVA', version: 0, serializeTypeCurrentRPC: 'JSON' }
  if (remark) header.remark = remark
  return frame(header, body)
}

const ROCKETMQ_SERIALIZE_TYPE = 1

/** Splits the bytes of one connection into request headers, calling `onRequest` for each. */
function readRequests(socket, onRequest) {
  let pending = Buffer.alloc(0)
  socket.on('data', (chunk) => {
    pending = Buffer.concat([pending, chunk])
    while (pending.length >= 4 && pending.length >= 4 + pending.readInt32BE(0)) {
      const length = pending.readInt32BE(0)
      const headerLength = pending.readInt32BE(4) & 0xffffff
      const raw = pending.subarray(8, 8 + headerLength)
      // A binary (ROCKETMQ) header, the client's default: code i16, language u8, version i16,
      // opaque i32, ... Servers answer in JSON either way.
      const header =
        pending[4] === ROCKETMQ_SERIALIZE_TYPE
          ? { code: raw.readInt16BE(0), opaque: raw.readInt32BE(5) }
          : JSON.parse(raw.toString('utf8'))
      pending = pending.subarray(4 + length)
      onRequest(header)
    }
  })
  socket.on('error', () => {})
}

const GET_ROUTEINFO_BY_TOPIC = 105

/**
 * A fake cluster of one name server and one broker named `fake-broker`. The name server routes
 * every topic to the broker at `brokerAddr` (default: the fake broker itself). The broker
 * `behaviour` decides how requests fail: 'silent' never answers, 'close' drops the connection,
 * 'garbage' answers with bytes that are not a remoting frame, 'hollow' answers success
 * without any of the fields a send result needs.
 */
export async function fakeCluster({ behaviour, brokerAddr } = {}) {
  const sockets = new Set()
  const track = (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  }
  const broker = net.createServer((socket) => {
    track(socket)
    readRequests(socket, (request) => {
      if (behaviour === 'close') socket.destroy()
      if (behaviour === 'garbage') socket.write(Buffer.from([0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4]))
      if (behaviour === 'hollow') socket.write(response(request, 0))
    })
  })
  broker.listen(0, '127.0.0.1')
  await once(broker, 'listening')
  const routedTo = brokerAddr ?? `127.0.0.1:${broker.address().port}`

  const route = Buffer.from(
    JSON.stringify({
      brokerDatas: [{ cluster: 'FakeCluster', brokerName: 'fake-broker', brokerAddrs: { 0: routedTo } }],
      queueDatas: [{ brokerName: 'fake-broker', readQueueNums: 1, writeQueueNums: 1, perm: 6, topicSysFlag: 0 }],
    }),
  )
  const nameServer = net.createServer((socket) => {
    track(socket)
    readRequests(socket, (request) => {
      socket.write(response(request, 0, request.code === GET_ROUTEINFO_BY_TOPIC ? route : undefined))
    })
  })
  nameServer.listen(0, '127.0.0.1')
  await once(nameServer, 'listening')

  return {
    namesrv: `127.0.0.1:${nameServer.address().port}`,
    async close() {
      for (const socket of sockets) socket.destroy()
      await Promise.all([new Promise((r) => broker.close(r)), new Promise((r) => nameServer.close(r))])
    },
  }
}

/** A local port nothing listens on (bound, then released). */
export async function closedPort() {
  const server = net.createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address()
  await new Promise((r) => server.close(r))
  return port
}
