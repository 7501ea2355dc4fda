// aedes-persistence's own conformance suite (node:test), run against the
// memory persistence with our outgoing store installed. Started by
// test/broker-memory-outgoing.test.ts as `node --test`.
import { createRequire } from 'node:module'
import { test } from 'node:test'
import memoryPersistence from 'aedes-persistence'
import { MemoryOutgoing } from '../../broker/memory-outgoing.js'
import type { BrokerPersistence } from '../../broker/persistence.js'

const require = createRequire(import.meta.url)
const abstract = require('aedes-persistence/abstract.js') as (opts: object) => void
const create = memoryPersistence as unknown as (opts: object) => BrokerPersistence

abstract({
  test,
  // Aedes 1.2 calls the promise API, which is what testAsync exercises.
  testAsync: true,
  persistence: () => {
    const p = create({ broadcastSubscriptions: true })
    new MemoryOutgoing().install(p)
    return p
  },
})
