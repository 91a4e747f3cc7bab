// ESLint: typescript-eslint's recommended rules (syntax only, so `npm run lint` stays fast); formatting is Prettier's.
import { defineConfig } from "eslint/config";
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import prettier from "eslint-config-prettier";

export default defineConfig(
  { ignores: ["dist/**", "node_modules/**", "**/__snapshots__/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    rules: {
      // `_`-prefixed names mark what a signature needs but the body does not use.
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
    },
  },
  {
    // Pulumi programs must be loaded after `setMocks` (hence require), and mock inputs are untyped records.
    files: ["test/component/**/*.ts", "test/boot/**/*.ts"],
    rules: { "@typescript-eslint/no-require-imports": "off", "@typescript-eslint/no-explicit-any": "off" },
  },
  {
    // Plain Node.js scripts (CommonJS).
    files: ["scripts/**/*.js"],
    rules: { "@typescript-eslint/no-require-imports": "off", "no-undef": "off" },
  },
);
