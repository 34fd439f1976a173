// The one error table. Every failure a client can see is defined here once, with the
// OCI Distribution error code and HTTP status the /v2 edge answers with, and the ECR
// exception name the AWS-protocol edge answers with. Edges never invent error names.

export interface ErrorSpec {
  /** OCI distribution-spec error code (the `code` field of the /v2 error JSON). */
  readonly oci: string;
  /** HTTP status on the /v2 edge. */
  readonly status: number;
  /** ECR exception name (`__type`) on the ECR API edge. */
  readonly ecr: string;
  /** Default human-readable message. */
  readonly message: string;
}

export const errorTable = {
  BlobUnknown: { oci: 'BLOB_UNKNOWN', status: 404, ecr: 'LayersNotFoundException', message: 'blob unknown to registry' },
  BlobUploadUnknown: { oci: 'BLOB_UPLOAD_UNKNOWN', status: 404, ecr: 'UploadNotFoundException', message: 'blob upload unknown to registry' },
  BlobUploadInvalid: { oci: 'BLOB_UPLOAD_INVALID', status: 400, ecr: 'InvalidLayerPartException', message: 'blob upload invalid' },
  UploadOutOfOrder: { oci: 'BLOB_UPLOAD_INVALID', status: 416, ecr: 'InvalidLayerPartException', message: 'chunk does not start at the end of the upload' },
  RangeNotSatisfiable: { oci: 'RANGE_INVALID', status: 416, ecr: 'InvalidParameterException', message: 'requested range not satisfiable' },
  DigestInvalid: { oci: 'DIGEST_INVALID', status: 400, ecr: 'InvalidLayerException', message: 'provided digest did not match uploaded content' },
  DigestMalformed: { oci: 'DIGEST_INVALID', status: 400, ecr: 'InvalidParameterException', message: 'digest is malformed or uses an unsupported algorithm' },
  SizeInvalid: { oci: 'SIZE_INVALID', status: 400, ecr: 'InvalidLayerException', message: 'provided length did not match content length' },
  ManifestBlobUnknown: { oci: 'MANIFEST_BLOB_UNKNOWN', status: 400, ecr: 'LayersNotFoundException', message: 'manifest references a blob unknown to this repository' },
  ManifestChildUnknown: { oci: 'MANIFEST_BLOB_UNKNOWN', status: 400, ecr: 'ReferencedImagesNotFoundException', message: 'index references a manifest unknown to this repository' },
  ManifestInvalid: { oci: 'MANIFEST_INVALID', status: 400, ecr: 'InvalidParameterException', message: 'manifest invalid' },
  ManifestTooLarge: { oci: 'MANIFEST_INVALID', status: 413, ecr: 'InvalidParameterException', message: 'manifest exceeds the size limit' },
  ManifestDigestMismatch: { oci: 'DIGEST_INVALID', status: 400, ecr: 'ImageDigestDoesNotMatchException', message: 'manifest does not match the digest it was pushed by' },
  ManifestUnknown: { oci: 'MANIFEST_UNKNOWN', status: 404, ecr: 'ImageNotFoundException', message: 'manifest unknown to registry' },
  ManifestNotAcceptable: { oci: 'MANIFEST_UNKNOWN', status: 404, ecr: 'UnsupportedImageTypeException', message: 'manifest exists but its media type is not in the Accept header' },
  NameInvalid: { oci: 'NAME_INVALID', status: 400, ecr: 'InvalidParameterException', message: 'invalid repository name' },
  NameUnknown: { oci: 'NAME_UNKNOWN', status: 404, ecr: 'RepositoryNotFoundException', message: 'repository name not known to registry' },
  TagInvalid: { oci: 'TAG_INVALID', status: 400, ecr: 'InvalidParameterException', message: 'invalid tag' },
  PaginationInvalid: { oci: 'PAGINATION_NUMBER_INVALID', status: 400, ecr: 'InvalidParameterException', message: 'invalid pagination parameter' },
  Unsupported: { oci: 'UNSUPPORTED', status: 405, ecr: 'UnsupportedCommandException', message: 'the operation is unsupported' },
  Unauthorized: { oci: 'UNAUTHORIZED', status: 401, ecr: 'UnrecognizedClientException', message: 'authentication required' },
  Denied: { oci: 'DENIED', status: 403, ecr: 'AccessDeniedException', message: 'requested access to the resource is denied' },
  TooManyRequests: { oci: 'TOOMANYREQUESTS', status: 429, ecr: 'ThrottlingException', message: 'too many requests' },
  Internal: { oci: 'UNKNOWN', status: 500, ecr: 'ServerException', message: 'internal server error' },
  // Encrypted repositories (docs/encryption.md): the repository's KMS key is disabled,
  // pending deletion or deleted, or the stored ciphertext failed its integrity check.
  KmsKeyUnusable: { oci: 'DENIED', status: 403, ecr: 'KmsException', message: 'the KMS key that protects this repository cannot be used' },
  // ECR-only failures; on /v2 they surface with the nearest OCI code.
  RepositoryAlreadyExists: { oci: 'DENIED', status: 409, ecr: 'RepositoryAlreadyExistsException', message: 'the repository already exists' },
  RepositoryNotEmpty: { oci: 'DENIED', status: 409, ecr: 'RepositoryNotEmptyException', message: 'the repository contains images' },
  RepositoryPolicyNotFound: { oci: 'NAME_UNKNOWN', status: 404, ecr: 'RepositoryPolicyNotFoundException', message: 'the repository has no policy' },
  RegistryPolicyNotFound: { oci: 'NAME_UNKNOWN', status: 404, ecr: 'RegistryPolicyNotFoundException', message: 'the registry has no policy' },
  ImageAlreadyExists: { oci: 'MANIFEST_INVALID', status: 409, ecr: 'ImageAlreadyExistsException', message: 'the image already exists' },
  ImageTagAlreadyExists: { oci: 'DENIED', status: 409, ecr: 'ImageTagAlreadyExistsException', message: 'the tag is immutable and already points at another image' },
  LayerAlreadyExists: { oci: 'BLOB_UPLOAD_INVALID', status: 409, ecr: 'LayerAlreadyExistsException', message: 'the layer already exists' },
  LayerPartTooSmall: { oci: 'BLOB_UPLOAD_INVALID', status: 400, ecr: 'LayerPartTooSmallException', message: 'layer parts other than the last must be at least 5 MiB' },
  EmptyUpload: { oci: 'BLOB_UPLOAD_INVALID', status: 400, ecr: 'EmptyUploadException', message: 'the upload contains no data' },
  InvalidLayerPart: { oci: 'BLOB_UPLOAD_INVALID', status: 416, ecr: 'InvalidLayerPartException', message: 'the layer part is invalid' },
  TooManyTags: { oci: 'DENIED', status: 400, ecr: 'TooManyTagsException', message: 'a resource may carry at most 50 tags' },
  InvalidTagParameter: { oci: 'DENIED', status: 400, ecr: 'InvalidTagParameterException', message: 'invalid resource tag' },
  LimitExceeded: { oci: 'TOOMANYREQUESTS', status: 429, ecr: 'LimitExceededException', message: 'a service limit was exceeded' },
  TemplateAlreadyExists: { oci: 'DENIED', status: 409, ecr: 'TemplateAlreadyExistsException', message: 'a repository creation template with this prefix already exists' },
  TemplateNotFound: { oci: 'NAME_UNKNOWN', status: 404, ecr: 'TemplateNotFoundException', message: 'no repository creation template with this prefix' },
  InvalidParameter: { oci: 'UNSUPPORTED', status: 400, ecr: 'InvalidParameterException', message: 'invalid parameter' },
  Validation: { oci: 'UNSUPPORTED', status: 400, ecr: 'ValidationException', message: 'the request failed validation' },
  UnknownOperation: { oci: 'UNSUPPORTED', status: 404, ecr: 'UnknownOperationException', message: 'unknown operation' },
  Serialization: { oci: 'UNSUPPORTED', status: 400, ecr: 'SerializationException', message: 'the request body is not valid JSON' },
  ImageNotFound: { oci: 'MANIFEST_UNKNOWN', status: 404, ecr: 'ImageNotFoundException', message: 'the requested image does not exist' },
  LayersNotFound: { oci: 'BLOB_UNKNOWN', status: 404, ecr: 'LayersNotFoundException', message: 'the layers do not exist' },
  LifecyclePolicyNotFound: { oci: 'NAME_UNKNOWN', status: 404, ecr: 'LifecyclePolicyNotFoundException', message: 'the repository has no lifecycle policy' },
  LifecyclePolicyPreviewNotFound: { oci: 'NAME_UNKNOWN', status: 404, ecr: 'LifecyclePolicyPreviewNotFoundException', message: 'there is no lifecycle policy preview for the repository' },
  LifecyclePolicyPreviewInProgress: { oci: 'DENIED', status: 409, ecr: 'LifecyclePolicyPreviewInProgressException', message: 'a lifecycle policy preview is already in progress for the repository' },
  // Archive storage class. On /v2 an archived image is not there to pull (ECR answers 404
  // too); the message says how to get it back. docs/errors.md explains the choice.
  ImageArchived: { oci: 'MANIFEST_UNKNOWN', status: 404, ecr: 'ImageArchivedException', message: 'the image is archived and cannot be pulled until it is restored' },
  ImageStorageClassUpdateNotSupported: { oci: 'DENIED', status: 409, ecr: 'ImageStorageClassUpdateNotSupportedException', message: 'the image cannot move to that storage class now' },
  // Pull time update exclusions (src/modules/pull-time).
  ExclusionAlreadyExists: { oci: 'DENIED', status: 409, ecr: 'ExclusionAlreadyExistsException', message: 'the principal is already excluded from pull time updates' },
  SigningConfigurationNotFound: { oci: 'NAME_UNKNOWN', status: 404, ecr: 'SigningConfigurationNotFoundException', message: 'the registry has no signing configuration' },
  ExclusionNotFound: { oci: 'NAME_UNKNOWN', status: 404, ecr: 'ExclusionNotFoundException', message: 'the principal is not excluded from pull time updates' },
  // Scanning (src/modules/scanning).
  ScanNotFound: { oci: 'NAME_UNKNOWN', status: 400, ecr: 'ScanNotFoundException', message: 'no scan exists for the image' },
  UnsupportedImageType: { oci: 'UNSUPPORTED', status: 400, ecr: 'UnsupportedImageTypeException', message: 'the image type is not supported' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorName = keyof typeof errorTable;

/** A failure with a name from the error table; edges translate it into their protocol. */
export class DomainError extends Error {
  readonly spec: ErrorSpec;
  constructor(
    readonly errorName: ErrorName,
    message?: string,
    readonly detail?: unknown,
  ) {
    super(message ?? errorTable[errorName].message);
    this.name = `DomainError(${errorName})`;
    this.spec = errorTable[errorName];
  }
}

export function isDomainError(err: unknown, name?: ErrorName): err is DomainError {
  return err instanceof DomainError && (name === undefined || err.errorName === name);
}
