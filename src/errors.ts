// Error classes with stable codes, and the process exit codes of the contract.
// A user mistake is reported as its message alone, never with a stack trace.

export const EXIT_OK = 0;
export const EXIT_RUNTIME = 1;
export const EXIT_USAGE = 2;
export const EXIT_NO_SUPERVISOR = 3;

export class SuperviseError extends Error {
  readonly code: string;
  readonly exitCode: number;
  constructor(message: string, code: string, exitCode: number) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
  }
}

/** A bad flag, value, config file or missing script/command: exit 2. */
export class UsageError extends SuperviseError {
  constructor(message: string, code = 'USAGE') {
    super(message, code, EXIT_USAGE);
  }
}

/** The supervisor could not run: port in use, first generation never ready, …: exit 1. */
export class RuntimeFailure extends SuperviseError {
  constructor(message: string, code = 'RUNTIME') {
    super(message, code, EXIT_RUNTIME);
  }
}

export function isSuperviseError(error: unknown): error is SuperviseError {
  return error instanceof SuperviseError;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
