import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["**/*.test.ts"],
    exclude: ["**/node_modules/**"],
    reporters: ["verbose"],
    setupFiles: ["./fast-check.setup.ts"],
    testTimeout: 120_000
  }
})
