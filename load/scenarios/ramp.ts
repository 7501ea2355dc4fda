import type { StepContext, StepResult, StepSpec } from '../harness/step.js'
import { runStep } from '../harness/step.js'

/** Backlog at the end of a step must be worked off within this, s. */
export const MAX_DRAIN_S = 2

/**
 * Sustainable: the offered rate was published (≥ 95 %), nothing was lost
 * or duplicated, and the backlog when publishing stopped was worked off
 * within MAX_DRAIN_S, so the lag did not grow through the step.
 */
export function sustainable(s: StepResult): boolean {
  return (
    s.verify.lostAcked === 0 &&
    s.verify.lostUnacked === 0 &&
    s.verify.duplicated === 0 &&
    s.fleet.throttled === 0 &&
    s.achievedMsgsPerS >= 0.95 * s.offeredMsgsPerS &&
    s.drainS !== null &&
    s.drainS <= MAX_DRAIN_S
  )
}

export interface RampResult {
  steps: (StepResult & { sustainable: boolean })[]
  maxSustainable: (StepResult & { sustainable: boolean }) | null
}

/** QoS 1 steps of rising offered rate until one is not sustainable. */
export async function rampScenario(
  ctx: StepContext,
  o: { devices: number; stepS: number; offeredMsgsPerS: number[]; prefix: string },
  run: (spec: StepSpec) => Promise<StepResult> = (spec) => runStep(ctx, spec),
): Promise<RampResult> {
  const steps: RampResult['steps'] = []

  for (const [i, offered] of o.offeredMsgsPerS.entries()) {
    ctx.say(`ramp step ${i + 1}: ${offered} msg/s offered`)
    const step = await run({
      name: `ramp-${offered}`,
      devices: o.devices,
      ratePerDevice: Math.max(0.1, (offered - 20) / o.devices),
      durationS: o.stepS,
      qos: 1,
      prefix: `${o.prefix}r${i}-`,
      fleet: { timestampForms: { us: 1 }, maxInflight: 2000 },
    })
    const ok = sustainable(step)

    steps.push({ ...step, sustainable: ok })
    ctx.say(
      `ramp step ${i + 1}: ${step.achievedMsgsPerS} msg/s published, drain ${step.drainS ?? '>limit'} s, ${ok ? 'sustainable' : 'not sustainable'}`,
    )
    if (!ok) break
  }

  const ok = steps.filter((s) => s.sustainable)
  return { steps, maxSustainable: ok.at(-1) ?? null }
}
