/** A layer or file the engine refuses: the scan ends FAILED with this readable reason. */
export class ScanRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScanRefused';
  }
}

/** The image has nothing Berth can scan (or a package database it cannot read): UNSUPPORTED_IMAGE. */
export class UnsupportedImage extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedImage';
  }
}
