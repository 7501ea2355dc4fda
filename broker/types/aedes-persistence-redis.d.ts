// aedes-persistence-redis 12 ships no types; this is the part we call.
declare module 'aedes-persistence-redis' {
  import type { AedesPersistence } from 'aedes-persistence'
  import type { Redis } from 'ioredis'

  interface RedisPersistenceOptions {
    /** An existing connection; the persistence disconnects it on destroy. */
    conn?: Redis
    /** Queued messages sent on reconnect; the rest wait for the next one. Default 1000. */
    maxSessionDelivery?: number
  }

  function persistence(opts?: RedisPersistenceOptions): AedesPersistence
  export default persistence
}
