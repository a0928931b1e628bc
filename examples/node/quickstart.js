// Quickstart: sends 1000 messages "Hello RocketMQ i" with tag TagA to topic TopicTest and prints
// each SendResult. The name server comes from the NAMESRV_ADDR environment variable
// (for example NAMESRV_ADDR=127.0.0.1:9876 node quickstart.js).
const { Producer } = require('rmqproducer')

async function main() {
  const producer = new Producer({ group: 'please_rename_unique_group_name' })
  await producer.start()
  try {
    for (let i = 0; i < 1000; i++) {
      const result = await producer.send({ topic: 'TopicTest', tags: 'TagA', body: `Hello RocketMQ ${i}` })
      console.log(JSON.stringify(result))
    }
  } finally {
    await producer.shutdown()
  }
}

main().catch((err) => {
  console.error(`send failed (${err.code}): ${err.message}`)
  process.exitCode = 1
})
