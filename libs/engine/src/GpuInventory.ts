/**
 * The GpuInventory port: the GPUs of the machine, as found at start.
 */
import { Context, Data, type Effect } from "effect"

export interface GpuInfo {
  readonly index: number
  readonly uuid: string
  readonly name: string
  readonly memoryMiB: number
}

export class GpuInventoryError extends Data.TaggedError("GpuInventoryError")<{ readonly message: string }> {}

export interface GpuInventoryService {
  readonly list: Effect.Effect<ReadonlyArray<GpuInfo>, GpuInventoryError>
}

export class GpuInventory extends Context.Tag("@gantry/engine/GpuInventory")<GpuInventory, GpuInventoryService>() {}
