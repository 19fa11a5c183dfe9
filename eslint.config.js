import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", "native/build/", "runs/", "**/*.generated.ts", "*.tmp.*"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-non-null-assertion": "off",
    },
  },
  {
    // Layering: the tensor-free parts never import the tensor stack.
    files: ["src/data/**", "src/tasks/**", "src/rewards/**", "examples/rewards/**"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["**/tensor/**", "**/native/**", "**/nn/**", "**/models/**", "**/train/**"],
              message: "data/tasks/rewards stay tensor-free",
            },
          ],
        },
      ],
    },
  },
  {
    files: ["bin/**", "scripts/**", "bench/**", "codegen/**", "native/**"],
    languageOptions: { globals: { process: "readonly", console: "readonly" } },
  },
  {
    files: ["**/*.cjs"],
    languageOptions: {
      sourceType: "commonjs",
      globals: { require: "readonly", module: "writable", __dirname: "readonly" },
    },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
);
