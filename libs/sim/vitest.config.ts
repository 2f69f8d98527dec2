import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    reporters: ["verbose"],
    setupFiles: ["../../test/fast-check.setup.ts"]
  }
})
