import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ImagePathError, checkRelativeImagePath, resolveImagePath } from "../../src/data/images.ts";

test("lexical checks: relative paths inside the root only", () => {
  for (const ok of ["a.png", "train_images/x/y.png", "a/../b.png", "./a.png"]) checkRelativeImagePath(ok);
  for (const bad of ["../a.png", "a/../../b.png", "/etc/passwd", "C:\\x.png", "a\0b.png", ".."]) {
    assert.throws(() => checkRelativeImagePath(bad), ImagePathError, bad);
  }
});

test("resolve: existing files inside the root; missing files and symlink escapes are errors", () => {
  const root = mkdtempSync(join(tmpdir(), "imgroot-"));
  const outside = mkdtempSync(join(tmpdir(), "outside-"));
  mkdirSync(join(root, "sub"));
  writeFileSync(join(root, "sub", "a.png"), "x");
  writeFileSync(join(outside, "secret.png"), "x");
  symlinkSync(join(outside, "secret.png"), join(root, "link.png"));
  symlinkSync(join(root, "sub", "a.png"), join(root, "inner-link.png"));

  assert.equal(resolveImagePath(root, "sub/a.png"), join(root, "sub", "a.png"));
  assert.equal(
    resolveImagePath(root, "inner-link.png"),
    join(root, "inner-link.png"),
    "a link inside the root is fine",
  );
  assert.throws(() => resolveImagePath(root, "sub/missing.png"), /not found under/);
  assert.equal(resolveImagePath(root, "sub/missing.png", { mustExist: false }), join(root, "sub", "missing.png"));
  assert.throws(() => resolveImagePath(root, "link.png"), /resolves outside the image root/);
  assert.throws(() => resolveImagePath(root, "../outside/secret.png"), /leaves the image root/);
});
