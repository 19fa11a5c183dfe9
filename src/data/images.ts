/**
 * Image paths of meta records are relative to an image root and must stay inside it.
 *
 * The reference joins paths without any check (spec §1.8); we refuse absolute paths, `..` escapes and symlinks that
 * lead out of the root, so a dataset file cannot make the trainer read arbitrary files.
 */
import { existsSync, realpathSync, statSync } from "node:fs";
import { isAbsolute, relative, resolve, sep } from "node:path";

/** Why a path was refused; `resolveImagePath` throws it. */
export class ImagePathError extends Error {
  override name = "ImagePathError";
}

function inside(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel === "" ? false : !rel.startsWith(".." + sep) && rel !== ".." && !isAbsolute(rel);
}

/**
 * Checks a record's image path lexically: relative, no NUL byte, and not leaving its root through `..`.
 * Needs no file system; `resolveImagePath` adds the existence and symlink checks.
 *
 * @example
 * checkRelativeImagePath("train_images/a.png");   // ok
 * checkRelativeImagePath("../etc/passwd");         // throws ImagePathError
 */
export function checkRelativeImagePath(path: string): void {
  if (path.includes("\0")) throw new ImagePathError(`image path ${JSON.stringify(path)} contains a NUL byte`);
  if (isAbsolute(path) || /^[A-Za-z]:[\\/]/.test(path)) {
    throw new ImagePathError(`image path ${JSON.stringify(path)} is absolute; it must be relative to the image root`);
  }
  const fake = resolve("/__root__");
  if (!inside(fake, resolve(fake, path))) {
    throw new ImagePathError(`image path ${JSON.stringify(path)} leaves the image root`);
  }
}

export interface ResolveOptions {
  /** Require the file to exist (default true). */
  mustExist?: boolean;
}

/**
 * Resolves `path` against `root` and returns the absolute path, refusing anything outside the root, including
 * through symbolic links, and anything that exists but is not a regular file (a directory, a device). With
 * `mustExist` (the default) a missing file is an error.
 *
 * @example
 * resolveImagePath("/data/images", "train_images/0001.png"); // "/data/images/train_images/0001.png"
 */
export function resolveImagePath(root: string, path: string, opts: ResolveOptions = {}): string {
  checkRelativeImagePath(path);
  const absRoot = resolve(root);
  const abs = resolve(absRoot, path);
  if (!existsSync(abs)) {
    if (opts.mustExist ?? true) throw new ImagePathError(`image ${JSON.stringify(path)} not found under ${absRoot}`);
    return abs;
  }
  const realRoot = realpathSync(absRoot);
  const real = realpathSync(abs);
  if (!inside(realRoot, real)) {
    throw new ImagePathError(`image path ${JSON.stringify(path)} resolves outside the image root (${real})`);
  }
  if (!statSync(real).isFile()) throw new ImagePathError(`image path ${JSON.stringify(path)} is not a file (${real})`);
  return abs;
}
