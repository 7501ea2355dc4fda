import os from 'node:os'
import type { Redis } from 'ioredis'
import type pg from 'pg'

export interface Machine {
  cores: number
  cpuModel: string
  memoryGb: number
  os: string
  node: string
  postgres: string
  redis: string
  /** 1-minute load average when the run started: above the core count, others competed for CPU. */
  loadAvg1m: number
}

/** What the numbers were measured on: every report carries it. */
export async function describeMachine(pool: pg.Pool, redis: Redis): Promise<Machine> {
  const { rows } = await pool.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)
  const info = await redis.info('server')

  return {
    cores: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGb: Math.round(os.totalmem() / 1024 ** 3),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    postgres: rows[0]?.v ?? 'unknown',
    redis: /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown',
    loadAvg1m: Math.round((os.loadavg()[0] ?? 0) * 100) / 100,
  }
}
