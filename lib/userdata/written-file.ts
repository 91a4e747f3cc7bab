/**
 * A file the user-data writes on a host (cloud-init `write_files`). Its own module because both the
 * renderer and the per-topic file writers (e.g. watchdog.ts) use it: with the type in render.ts,
 * render.ts and watchdog.ts imported each other.
 */
export interface WrittenFile {
  path: string;
  content: string;
  permissions: string;
  owner?: string;
}
