import t from 'tap'
import { memoryEmitter } from '../broker/emitter.js'
import { createLogger } from '../common/logger.js'

type Done = () => void
const log = createLogger('silent')

// mqemitter finishes a message nobody subscribed to synchronously and takes
// the next waiting one in the same call, so a long line of them recursed
// once per message: a broker whose only subscriber had just gone (the bridge
// pausing under load) died of a stack overflow with 45,000 waiting.
t.test('a long line of messages nobody subscribed to drains without recursion', async (t) => {
  const mq = memoryEmitter(log)
  const held: Done[] = []
  mq.on('busy/#', (_m: unknown, done: Done) => {
    held.push(done)
  })

  // 100 deliveries in progress fill the emitter; the rest wait in line.
  for (let i = 0; i < 100; i++) mq.emit({ topic: 'busy/x', payload: i })
  let finished = 0
  const waiting = 200_000
  for (let i = 0; i < waiting; i++) mq.emit({ topic: `idle/${i}`, payload: i }, () => finished++)
  t.equal(held.length, 100, 'the emitter is full')

  for (const done of held.splice(0)) done()
  await new Promise<void>((resolve) => {
    const check = () => (finished === waiting ? resolve() : setImmediate(check))
    check()
  })
  t.equal(finished, waiting, 'every waiting message finished')
})

t.test('messages keep their order through the line', async (t) => {
  const mq = memoryEmitter(log)
  const seen: number[] = []
  const held: Done[] = []
  mq.on('busy/#', (_m: unknown, done: Done) => {
    held.push(done)
  })
  mq.on('seq', (m, done: Done) => {
    seen.push(m.payload as number)
    done()
  })

  for (let i = 0; i < 100; i++) mq.emit({ topic: 'busy/x', payload: i })
  for (let i = 0; i < 5_000; i++) {
    mq.emit({ topic: i % 2 ? 'seq' : `idle/${i}`, payload: i })
  }
  for (const done of held.splice(0)) done()
  await new Promise<void>((resolve) => {
    const check = () => (seen.length === 2_500 ? resolve() : setImmediate(check))
    check()
  })
  t.same(
    seen,
    Array.from({ length: 2_500 }, (_, k) => 2 * k + 1),
    'in the order they were emitted',
  )
})
