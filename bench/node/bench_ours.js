// Ours through Node (the rmqproducer addon) under the bench contract (bench/README.md).
// Node has one JS thread: "threads" sync senders are that many concurrent loops, each awaiting
// its send before the next; async sends use sendCallback bounded by a window; oneway awaits
// sendOneway in a loop.
'use strict'

const fs = require('node:fs')
const path = require('node:path')

const COMPRESS_THRESHOLD = 4096
const COMPRESS_LEVEL = 5

function usage(problem) {
  process.stderr.write(`usage error: ${problem}\n`)
  process.exit(64)
}

function parseArgs(argv) {
  const args = {
    namesrv: process.env.NAMESRV_ADDR, topic: null, mode: 'sync', threads: 1, inFlight: 1,
    count: 10000, warmup: 200, body: null, compress: false, autoBatch: false,
  }
  const numbers = { '--threads': 'threads', '--in-flight': 'inFlight', '--count': 'count', '--warmup': 'warmup' }
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]
    if (flag === '--compress') { args.compress = true; continue }
    if (flag === '--auto-batch') { args.autoBatch = true; continue }
    if (i + 1 >= argv.length) usage(`${flag} needs a value`)
    const value = argv[++i]
    if (flag === '--namesrv') args.namesrv = value
    else if (flag === '--topic') args.topic = value
    else if (flag === '--mode') {
      if (!['sync', 'async', 'oneway'].includes(value)) usage(`unknown mode ${value}`)
      args.mode = value
    } else if (flag === '--body-file') args.body = fs.readFileSync(value)
    else if (flag in numbers) {
      const n = Number.parseInt(value, 10)
      if (!Number.isFinite(n) || n < 0) usage(`${flag} takes a number`)
      args[numbers[flag]] = n
    } else usage(`unknown option ${flag}`)
  }
  if (!args.namesrv || !args.topic || !args.body) usage('--namesrv (or NAMESRV_ADDR), --topic and --body-file are required')
  args.threads = Math.max(1, args.threads)
  args.inFlight = Math.max(1, args.inFlight)
  args.count = Math.max(1, args.count)
  return args
}

// The addon: bindings/node of this repository (built by `make node-build`).
function loadAddon() {
  return require(path.resolve(__dirname, '..', '..', 'bindings', 'node'))
}

async function main() {
  const args = parseArgs(process.argv.slice(2))
  const { Producer } = loadAddon()
  const producer = new Producer({
    group: `bench_ours_node_${process.pid}`,
    namesrv: args.namesrv,
    compressThreshold: args.compress ? COMPRESS_THRESHOLD : 2 ** 31 - 1,
    compressLevel: COMPRESS_LEVEL,
    autoBatch: args.autoBatch,
  })
  await producer.start()
  const message = () => ({ topic: args.topic, body: args.body })
  for (let i = 0; i < args.warmup; i++) await producer.send(message())

  const latencies = new Float64Array(args.count)
  let errors = 0
  let firstError = null
  const fail = (e) => { if (errors++ === 0) firstError = String(e && e.message ? `${e.code}: ${e.message}` : e) }

  const runSync = async () => {
    const sender = async (first, count) => {
      for (let index = first; index < first + count; index++) {
        const began = process.hrtime.bigint()
        try { await producer.send(message()) } catch (e) { fail(e) }
        latencies[index] = Number(process.hrtime.bigint() - began)
      }
    }
    const senders = []
    let first = 0
    for (let t = 0; t < args.threads; t++) {
      const count = Math.floor(args.count / args.threads) + (t < args.count % args.threads ? 1 : 0)
      senders.push(sender(first, count))
      first += count
    }
    await Promise.all(senders)
  }

  const runAsync = () => new Promise((resolve) => {
    let next = 0
    let pending = 0
    let done = 0
    const pump = () => {
      while (pending < args.inFlight && next < args.count) {
        const index = next++
        const began = process.hrtime.bigint()
        pending++
        producer.sendCallback(message(), (err) => {
          if (err) fail(err)
          latencies[index] = Number(process.hrtime.bigint() - began)
          pending--
          if (++done === args.count) resolve()
          else pump()
        })
      }
    }
    pump()
  })

  const runOneway = async () => {
    for (let index = 0; index < args.count; index++) {
      const began = process.hrtime.bigint()
      try { await producer.sendOneway(message()) } catch (e) { fail(e) }
      latencies[index] = Number(process.hrtime.bigint() - began)
    }
  }

  const cpuBefore = process.cpuUsage()
  const began = process.hrtime.bigint()
  await { sync: runSync, async: runAsync, oneway: runOneway }[args.mode]()
  const elapsed = Number(process.hrtime.bigint() - began) / 1e9
  const cpu = process.cpuUsage(cpuBefore)
  await producer.shutdown()

  const millis = Array.from(latencies, (n) => n / 1e6).sort((a, b) => a - b)
  const percentile = (p) => millis[Math.min(Math.max(Math.ceil(p * millis.length), 1), millis.length) - 1]
  const ok = args.count - errors
  const version = require(path.resolve(__dirname, '..', '..', 'bindings', 'node', 'package.json')).version
  process.stdout.write(JSON.stringify({
    client: 'ours-node', version, mode: args.mode, threads: args.threads, in_flight: args.inFlight,
    count: args.count, body: args.body.length, compress: args.compress, ok, errors,
    first_error: firstError, elapsed_s: elapsed, msgs_per_s: ok / elapsed,
    p50_ms: percentile(0.5), p99_ms: percentile(0.99), p999_ms: percentile(0.999),
    max_ms: millis[millis.length - 1], cpu_s: (cpu.user + cpu.system) / 1e6,
  }) + '\n')
}

main().catch((e) => {
  process.stderr.write(`ours-node: ${e && e.stack ? e.stack : e}\n`)
  process.exit(1)
})
