// KMS's own exception names (botocore kms service-2.json), sent as `__type` on the JSON
// protocol. All are HTTP 400 on AWS except KMSInternalException (500).

export type KmsErrorCode =
  | 'NotFoundException'
  | 'DisabledException'
  | 'KMSInvalidStateException'
  | 'InvalidCiphertextException'
  | 'IncorrectKeyException'
  | 'AlreadyExistsException'
  | 'InvalidAliasNameException'
  | 'InvalidArnException'
  | 'InvalidKeyUsageException'
  | 'InvalidMarkerException'
  | 'MalformedPolicyDocumentException'
  | 'TagException'
  | 'LimitExceededException'
  | 'UnsupportedOperationException'
  | 'ValidationException'
  | 'AccessDeniedException'
  | 'DependencyTimeoutException'
  | 'KMSInternalException';

export class KmsError extends Error {
  /** Read by the AWS JSON edge (query-edge.ts): the protocol error it sends. */
  readonly awsJsonError = true;
  readonly status: number;
  constructor(
    readonly code: KmsErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'KmsError';
    this.status = code === 'KMSInternalException' || code === 'DependencyTimeoutException' ? 500 : 400;
  }
}

export const isKmsError = (err: unknown): err is KmsError => err instanceof KmsError;
