import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { GpuInventory, type GpuInfo } from "@gantry/engine"
import { Effect, Either } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import * as NvidiaSmiGpus from "../src/NvidiaSmiGpus.js"
import { cleanupAll, tempDir } from "./helpers.js"

/** What `nvidia-smi --query-gpu=index,uuid,name,memory.total --format=csv,noheader,nounits` prints on an 8×H100 box. */
const H100_FIXTURE = Array.from(
  { length: 8 },
  (_, i) => `${i}, GPU-${["4b1e", "9c3a", "0f77", "d2e5", "61ab", "7c08", "e9f4", "35d1"][i]}2f6a-8c1d-4e2b-9a3f-1b2c3d4e5f6${i}, NVIDIA H100 80GB HBM3, 81559`
).join("\n") + "\n"

const H100 = (i: number): GpuInfo => ({
  index: i,
  uuid: `GPU-${["4b1e", "9c3a", "0f77", "d2e5", "61ab", "7c08", "e9f4", "35d1"][i]}2f6a-8c1d-4e2b-9a3f-1b2c3d4e5f6${i}`,
  name: "NVIDIA H100 80GB HBM3",
  memoryMiB: 81559
})

const gpusOf = (n: number): ReadonlyArray<GpuInfo> => Array.from({ length: n }, (_, i) => H100(i))

/** The list through the layer, as the engine sees it. */
const listWith = (options: NvidiaSmiGpus.NvidiaSmiGpusOptions) =>
  Effect.runPromise(
    Effect.either(Effect.flatMap(GpuInventory, (inventory) => inventory.list).pipe(Effect.provide(NvidiaSmiGpus.layer(options))))
  )

/** A fake nvidia-smi: checks its arguments (the inventory query's, unless told), counts its calls, then runs `body`. */
const fakeSmi = (dir: string, body: string, args: ReadonlyArray<string> = NvidiaSmiGpus.NVIDIA_SMI_ARGS): string => {
  const path = join(dir, "nvidia-smi")
  writeFileSync(
    path,
    `#!/bin/sh
echo called >> "${dir}/calls"
if [ "$*" != "${args.join(" ")}" ]; then echo "unexpected arguments: $*" >&2; exit 64; fi
${body}
`,
    { mode: 0o755 }
  )
  return path
}

const savedEnv = { PATH: process.env.PATH, GANTRY_FAKE_GPUS: process.env.GANTRY_FAKE_GPUS }
beforeEach(() => {
  delete process.env.GANTRY_FAKE_GPUS
})
afterEach(() => {
  process.env.PATH = savedEnv.PATH
  if (savedEnv.GANTRY_FAKE_GPUS === undefined) delete process.env.GANTRY_FAKE_GPUS
  else process.env.GANTRY_FAKE_GPUS = savedEnv.GANTRY_FAKE_GPUS
  cleanupAll()
})

describe("parseNvidiaSmi", () => {
  it("parses nvidia-smi's CSV from an 8×H100 machine", () => {
    expect(NvidiaSmiGpus.parseNvidiaSmi(H100_FIXTURE)).toEqual(Either.right(gpusOf(8)))
  })

  it("trims fields, keeps spaces (and commas) in names, sorts by index, reads [N/A] memory as 0", () => {
    const csv = "1, GPU-b, NVIDIA A100-SXM4-40GB , 40960\r\n\n0,GPU-a,Tesla V100, Rev. 2,16384\n2, GPU-c, NVIDIA GH200 480GB, [N/A]\n"
    expect(NvidiaSmiGpus.parseNvidiaSmi(csv)).toEqual(
      Either.right([
        { index: 0, uuid: "GPU-a", name: "Tesla V100, Rev. 2", memoryMiB: 16384 },
        { index: 1, uuid: "GPU-b", name: "NVIDIA A100-SXM4-40GB", memoryMiB: 40960 },
        { index: 2, uuid: "GPU-c", name: "NVIDIA GH200 480GB", memoryMiB: 0 }
      ])
    )
    expect(NvidiaSmiGpus.parseNvidiaSmi("")).toEqual(Either.right([]))
  })

  it.each([
    ["too few fields", "0, GPU-a, 81559"],
    ["a non-numeric index", "x, GPU-a, H100, 81559"],
    ["junk memory", "0, GPU-a, H100, lots"],
    ["a duplicated index", "0, GPU-a, H100, 1\n0, GPU-b, H100, 1"],
    ["an empty name", "0, GPU-a, , 81559"]
  ])("rejects %s", (_what, csv) => {
    const result = NvidiaSmiGpus.parseNvidiaSmi(csv)
    expect(Either.isLeft(result) && result.left._tag).toBe("GpuInventoryError")
  })
})

describe("selectGpus", () => {
  const eight = gpusOf(8)
  const indices = (spec: string | undefined) => Either.map(NvidiaSmiGpus.selectGpus(eight, spec), (l) => l.map((g) => g.index))
  const error = (spec: string, list: ReadonlyArray<GpuInfo> = eight) => {
    const result = NvidiaSmiGpus.selectGpus(list, spec)
    if (Either.isRight(result)) throw new Error(`--gpus ${spec} was accepted`)
    expect(result.left._tag).toBe("GpuInventoryError")
    return result.left.message
  }

  it("selects all, none, the first N, or exact indices", () => {
    expect(indices(undefined)).toEqual(Either.right([0, 1, 2, 3, 4, 5, 6, 7]))
    expect(indices("all")).toEqual(Either.right([0, 1, 2, 3, 4, 5, 6, 7]))
    expect(indices("none")).toEqual(Either.right([]))
    expect(indices("0")).toEqual(Either.right([]))
    expect(indices("3")).toEqual(Either.right([0, 1, 2]))
    expect(indices("8")).toEqual(Either.right([0, 1, 2, 3, 4, 5, 6, 7]))
    expect(indices("0,2,3")).toEqual(Either.right([0, 2, 3]))
    expect(indices(" 7, 1 ")).toEqual(Either.right([1, 7]))
    expect(indices("5,")).toEqual(Either.right([5]))
    expect(NvidiaSmiGpus.selectGpus(eight, "2,4")).toEqual(Either.right([H100(2), H100(4)]))
  })

  it("refuses selections the machine cannot satisfy, naming what is missing", () => {
    expect(error("9")).toContain("asked for 9 GPUs but this machine has 8")
    expect(error("1", [])).toContain("has 0")
    expect(error("0,8,12")).toContain("no GPU 8, 12 on this machine (it has: 0,1,2,3,4,5,6,7)")
    expect(error("0,", [])).toContain("it has: none")
  })

  it.each([["-1"], ["abc"], ["1,1"], ["1,,2"], [",1"], [""], ["1.5"], ["0x1"], ["all,1"], ["2 3"]])("refuses the malformed selection %j", (spec) => {
    const message = error(spec)
    expect(message).toMatch(spec === "1,1" ? /GPU 1 listed more than once/ : /not a GPU index/)
  })
})

describe("NvidiaSmiGpus.layer", () => {
  it("lists the GPUs a fake nvidia-smi first on PATH prints, once per layer", async () => {
    const dir = tempDir()
    fakeSmi(dir, `cat <<'EOF'\n${H100_FIXTURE}EOF`)
    process.env.PATH = `${dir}:${process.env.PATH}`
    const inventory = await Effect.runPromise(Effect.provide(GpuInventory, NvidiaSmiGpus.layer({ gpus: "0,2,3" })))
    expect(await Effect.runPromise(inventory.list)).toEqual([H100(0), H100(2), H100(3)])
    expect(await Effect.runPromise(inventory.list)).toEqual([H100(0), H100(2), H100(3)])
    expect(readFileSync(join(dir, "calls"), "utf8")).toBe("called\n")
  })

  it("reports nvidia-smi's failure (no driver) with its message", async () => {
    const dir = tempDir()
    const smi = fakeSmi(
      dir,
      `echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running." >&2; exit 9`
    )
    const result = await listWith({ nvidiaSmi: smi })
    if (Either.isRight(result)) throw new Error("a failing nvidia-smi was accepted")
    expect(result.left._tag).toBe("GpuInventoryError")
    expect(result.left.message).toContain("exited with status 9")
    expect(result.left.message).toContain("couldn't communicate with the NVIDIA driver")
  })

  it("reports an nvidia-smi that hangs, after its timeout", async () => {
    const dir = tempDir()
    const smi = fakeSmi(dir, "exec sleep 30")
    const result = await listWith({ nvidiaSmi: smi, timeoutMs: 200 })
    expect(Either.isLeft(result) && result.left.message).toContain("timed out after 200 ms")
  })

  it("reports unparsable output", async () => {
    const dir = tempDir()
    const result = await listWith({ nvidiaSmi: fakeSmi(dir, "echo 'No devices were found'") })
    expect(Either.isLeft(result) && result.left.message).toContain("unexpected nvidia-smi line")
  })

  it("finds no GPUs on a machine without nvidia-smi", async () => {
    expect(await listWith({ nvidiaSmi: join(tempDir(), "nvidia-smi") })).toEqual(Either.right([]))
    process.env.PATH = tempDir()
    expect(await listWith({})).toEqual(Either.right([]))
    expect(await listWith({ gpus: "none" })).toEqual(Either.right([]))
    const some = await listWith({ gpus: "1" })
    expect(Either.isLeft(some) && some.left.message).toContain("asked for 1 GPU but this machine has 0")
  })

  it("makes GANTRY_FAKE_GPUS=N fake GPUs without calling nvidia-smi, and applies the selection to them", async () => {
    const dir = tempDir()
    const smi = fakeSmi(dir, "exit 1")
    process.env.GANTRY_FAKE_GPUS = "4"
    const fake = (index: number): GpuInfo => ({ index, uuid: `GPU-fake-${index}`, name: "Fake GPU", memoryMiB: 81920 })
    expect(await listWith({ nvidiaSmi: smi })).toEqual(Either.right([fake(0), fake(1), fake(2), fake(3)]))
    expect(await listWith({ nvidiaSmi: smi, gpus: "1,3" })).toEqual(Either.right([fake(1), fake(3)]))
    expect(await listWith({ nvidiaSmi: smi, gpus: "none" })).toEqual(Either.right([]))
    process.env.GANTRY_FAKE_GPUS = "0"
    expect(await listWith({ nvidiaSmi: smi })).toEqual(Either.right([]))
    process.env.GANTRY_FAKE_GPUS = "two"
    const bad = await listWith({ nvidiaSmi: smi })
    expect(Either.isLeft(bad) && bad.left.message).toContain("GANTRY_FAKE_GPUS=two")
    expect(() => readFileSync(join(dir, "calls"))).toThrow()
  })
})

describe("GPU load (the common queue API's /api/system/status)", () => {
  /** A fake nvidia-smi answering the load query only. */
  const loadSmi = (dir: string, body: string): string => fakeSmi(dir, body, NvidiaSmiGpus.NVIDIA_SMI_LOAD_ARGS)
  const calls = (dir: string) => readFileSync(join(dir, "calls"), "utf8").trim().split("\n").length

  it("parses utilisation and memory per GPU; [N/A] and unreadable lines are left out or null", () => {
    expect(NvidiaSmiGpus.parseLoad("0, 87, 40960, 81559\n1, [N/A], [N/A], 81559\n2, 0, 0, 0\nNo devices were found\n")).toEqual([
      { index: 0, utilizationPercent: 87, memoryPercent: 50.2 },
      { index: 1, utilizationPercent: null, memoryPercent: null },
      { index: 2, utilizationPercent: 0, memoryPercent: null }
    ])
  })

  it("queries nvidia-smi at most once per cache period, whoever asks", async () => {
    const dir = tempDir()
    const smi = loadSmi(dir, `echo "0, 12, 1024, 2048"`)
    const sample = await Effect.runPromise(NvidiaSmiGpus.loadSampler({ nvidiaSmi: smi, cacheMs: 60_000 }))
    expect(await Effect.runPromise(sample)).toEqual([{ index: 0, utilizationPercent: 12, memoryPercent: 50 }])
    expect(await Effect.runPromise(sample)).toEqual([{ index: 0, utilizationPercent: 12, memoryPercent: 50 }])
    expect(calls(dir)).toBe(1)
  })

  it("is empty, not an error, when nvidia-smi fails, is missing, or the GPUs are fake", async () => {
    const dir = tempDir()
    const failing = await Effect.runPromise(NvidiaSmiGpus.loadSampler({ nvidiaSmi: loadSmi(dir, "echo 'driver not loaded' >&2; exit 9") }))
    expect(await Effect.runPromise(failing)).toEqual([])
    expect(calls(dir)).toBe(1)
    const missing = await Effect.runPromise(NvidiaSmiGpus.loadSampler({ nvidiaSmi: join(tempDir(), "nvidia-smi") }))
    expect(await Effect.runPromise(missing)).toEqual([])
    process.env.GANTRY_FAKE_GPUS = "2"
    const other = tempDir()
    const fake = await Effect.runPromise(NvidiaSmiGpus.loadSampler({ nvidiaSmi: loadSmi(other, `echo "0, 1, 1, 1"`) }))
    expect(await Effect.runPromise(fake)).toEqual([])
    expect(() => readFileSync(join(other, "calls"))).toThrow()
  })
})
