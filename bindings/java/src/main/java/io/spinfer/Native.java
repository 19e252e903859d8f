package io.spinfer;

import io.spinfer.jni.SpinferNative;
import io.spinfer.jni.spinfer_status_t;

/** Turns C statuses into exceptions. Package-private plumbing. */
final class Native {
  private Native() {}

  /**
   * Throws a SpinferException carrying the library's thread-local message when
   * {@code status} is a failure. Call it right after the native call, on the same
   * thread, so the message belongs to that call.
   */
  static void check(spinfer_status_t status) {
    if (status == spinfer_status_t.SPINFER_STATUS_SUCCESS) return;
    String message = SpinferNative.last_error_message();
    if (message == null || message.isEmpty()) message = SpinferNative.status_string(status);
    throw new SpinferException(Status.of(status), message);
  }

  /** {@code value}, or SpinferException(INVALID_ARGUMENT) naming {@code name} when it is null. */
  static <T> T nonNull(T value, String name) {
    if (value == null) throw error(Status.INVALID_ARGUMENT, name + " is null");
    return value;
  }

  /** A failure found by the Java layer itself (closed handle, short buffer). */
  static SpinferException error(Status status, String message) {
    return new SpinferException(status, message);
  }
}
