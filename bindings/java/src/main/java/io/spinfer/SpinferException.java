package io.spinfer;

/**
 * Failure of a spinfer call. {@link #getMessage()} is the library's own message
 * (spinfer_last_error_message) naming the problem, or, for the few checks only the
 * Java layer can make (a closed handle, a buffer shorter than its shape), a message
 * written in the same style; {@link #status()} is the status code.
 *
 * <p>Unchecked, so that handles work in try-with-resources without boilerplate.
 */
public class SpinferException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final Status status;

  /** An exception for {@code status} with {@code message}. */
  public SpinferException(Status status, String message) {
    super(message);
    this.status = status;
  }

  /** The status the call failed with (never {@link Status#SUCCESS}). */
  public Status status() {
    return status;
  }

  @Override
  public String toString() {
    return "SpinferException[" + status + "]: " + getMessage();
  }
}
