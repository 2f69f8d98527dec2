import { defineConfig } from "vitest/config"

export default defineConfig({
  // the workspace libraries resolve to their TypeScript sources (docs/ARCHITECTURE.md, Packages)
  ssr: { resolve: { conditions: ["@gantry/source"] } },
  test: {
    include: ["test/**/*.test.ts"],
    reporters: ["verbose"],
    setupFiles: ["../../test/fast-check.setup.ts"]
  }
})
