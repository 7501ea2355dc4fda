/**
 * A subscriber that does nothing but count: the bare broker relay
 * baseline. Prints the running count on stdout every 200 ms.
 *
 * Run: node --import tsx load/baselines/null-subscriber.ts mqtt://127.0.0.1:1883
 */
import mqtt from 'mqtt'

const url = process.argv[2] ?? 'mqtt://127.0.0.1:1883'
// A service account from the environment when the broker requires one.
const id = process.env.NULL_SUB_ID
const client = await mqtt.connectAsync(url, {
  clientId: id ?? `null-sub-${process.pid}`,
  clean: true,
  ...(id ? { username: id, password: process.env.NULL_SUB_SECRET } : {}),
})
let count = 0

client.on('message', () => {
  count++
})
await client.subscribeAsync('devices/+/telemetry', { qos: 1 })
process.stdout.write('ready\n')

const timer = setInterval(() => process.stdout.write(`${count}\n`), 200)

process.once('SIGTERM', () => {
  clearInterval(timer)
  process.stdout.write(`${count}\n`)
  client.end(true, {}, () => process.exit(0))
})
