import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import t from 'tap'
import { MemoryOutgoing } from '../broker/memory-outgoing.js'

const run = promisify(execFile)

const publish = (n: number) => ({
  cmd: 'publish',
  brokerId: 'b',
  brokerCounter: n,
  topic: `devices/d/telemetry`,
  payload: Buffer.from(String(n)),
  qos: 1,
})

async function ids(store: MemoryOutgoing, client: string): Promise<string[]> {
  const out: string[] = []
  for await (const s of store.stream(client)) out.push(`${s.brokerCounter}:${s.messageId ?? '-'}`)
  return out
}

t.test("aedes-persistence's conformance suite passes with this store", async (t) => {
  const { stdout } = await run(
    process.execPath,
    ['--import', 'tsx', '--test', '--test-reporter=tap', 'test/helpers/memory-conformance.ts'],
    { maxBuffer: 16 * 1024 * 1024 },
  )
  const count = (name: string) => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(stdout)?.[1])
  t.ok(count('pass') >= 40, `${count('pass')} passed`)
  t.equal(count('fail'), 0, 'none failed')
})

t.test('queue order, packet ids, PUBREL and clearing', async (t) => {
  const store = new MemoryOutgoing()
  for (let n = 1; n <= 5; n++) store.enqueue('c', publish(n))
  store.enqueue('c', publish(3))
  t.equal(await store.depth('c'), 5, 'a message queued twice for one client is kept once')

  store.update('c', { ...publish(2), messageId: 100 })
  store.update('c', { ...publish(4), messageId: 101 })
  t.same(await ids(store, 'c'), ['1:-', '2:100', '3:-', '4:101', '5:-'], 'arrival order, ids set')

  // Re-sent under a new id: the old one no longer finds it.
  store.update('c', { ...publish(2), messageId: 102 })
  t.equal(store.clear('c', { cmd: 'puback', messageId: 100 } as never), undefined, 'stale id')

  store.update('c', { cmd: 'pubrel', messageId: 101 } as never)
  t.same(await ids(store, 'c'), ['1:-', '2:102', '3:-', 'undefined:101', '5:-'], 'PUBREL in place')

  t.equal(
    store.clear('c', { cmd: 'puback', messageId: 102 } as never)?.brokerCounter,
    2,
    'PUBACK clears the message sent under its id',
  )
  t.equal(
    store.clear('c', { cmd: 'pubcomp', messageId: 101 } as never)?.cmd,
    'pubrel',
    'PUBCOMP clears the PUBREL',
  )
  // Never sent: cleared as itself (Aedes' emptyOutgoingQueue does this).
  t.equal(store.clear('c', publish(1))?.brokerCounter, 1, 'an unsent message is cleared as itself')
  t.same(await ids(store, 'c'), ['3:-', '5:-'], 'what is left')
  t.same(await store.all(), [2], 'depths')

  t.throws(() => store.update('c', { ...publish(9), messageId: 7 }), /no such packet/)
  t.throws(() => store.update('x', { cmd: 'pubrel', messageId: 7 } as never), /no such packet/)
  t.equal(store.clear('x', { cmd: 'puback', messageId: 1 } as never), undefined, 'unknown client')
})
