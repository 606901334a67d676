/**
 * A Kubernetes object that cannot be evaluated as written (an unknown selector operator, a bad CIDR, an
 * `endPort` below its `port`). Thrown by the pure parsers; the manifest reader adds the file and turns it into
 * an `InputError`, so the CLI prints one line that names both.
 */
export class ManifestError extends Error {
  readonly code = 'bad_manifest';
  constructor(message: string) {
    super(message);
    this.name = 'ManifestError';
  }
}
