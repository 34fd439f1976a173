import { IamError } from '../../domain/iam/errors.js';

// EventBridge's error names (botocore's events model). The AWS JSON edge answers an
// IamError whose code ends in "Exception" with that code as `__type` (HTTP 400), so these
// ride on it rather than widening the edge.

export type EventsErrorCode =
  | 'ResourceNotFoundException'
  | 'ResourceAlreadyExistsException'
  | 'InvalidEventPatternException'
  | 'ValidationException'
  | 'LimitExceededException'
  | 'ConcurrentModificationException';

export class EventsError extends IamError {
  constructor(code: EventsErrorCode, message: string) {
    super('ValidationError', message);
    Object.defineProperty(this, 'code', { value: code, enumerable: true });
    this.name = 'EventsError';
  }
}

export const notFound = (message: string) => new EventsError('ResourceNotFoundException', message);
export const invalid = (message: string) => new EventsError('ValidationException', message);
