// Errors of the IAM and STS APIs (query protocol), each once with its HTTP status.
// The codes are AWS's own, so SDKs raise the exception classes users already catch.

export const iamErrorTable = {
  NoSuchEntity: { status: 404, type: 'Sender' },
  EntityAlreadyExists: { status: 409, type: 'Sender' },
  DeleteConflict: { status: 409, type: 'Sender' },
  LimitExceeded: { status: 409, type: 'Sender' },
  MalformedPolicyDocument: { status: 400, type: 'Sender' },
  ValidationError: { status: 400, type: 'Sender' },
  InvalidInput: { status: 400, type: 'Sender' },
  AccessDenied: { status: 403, type: 'Sender' },
  InvalidAction: { status: 400, type: 'Sender' },
  MissingAction: { status: 400, type: 'Sender' },
  MissingParameter: { status: 400, type: 'Sender' },
  ServiceFailure: { status: 500, type: 'Receiver' },
} as const;

export type IamErrorCode = keyof typeof iamErrorTable;

export class IamError extends Error {
  readonly status: number;
  readonly type: 'Sender' | 'Receiver';
  constructor(
    readonly code: IamErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'IamError';
    this.status = iamErrorTable[code].status;
    this.type = iamErrorTable[code].type;
  }
}

export const isIamError = (err: unknown): err is IamError => err instanceof IamError;
