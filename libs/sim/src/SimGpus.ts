/**
 * The simulator's GpuInventory: `count` identical GPUs.
 */
import { GpuInventory, type GpuInfo } from "@gantry/engine"
import { Effect, Layer } from "effect"

export const simGpus = (count: number): ReadonlyArray<GpuInfo> =>
  Array.from({ length: count }, (_, index) => ({
    index,
    uuid: `GPU-sim-${String(index).padStart(4, "0")}`,
    name: "Simulated GPU",
    memoryMiB: 81_920
  }))

export const layer = (count: number): Layer.Layer<GpuInventory> =>
  Layer.succeed(GpuInventory, { list: Effect.succeed(simGpus(count)) })
