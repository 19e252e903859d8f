package io.spinfer;

import io.spinfer.jni.SpinferNative;
import io.spinfer.jni.spinfer_status_t;
import java.util.function.Function;
import java.util.function.Supplier;

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

  /**
   * Runs {@code call}, a native call that writes one value (a new handle, a length) into
   * {@code out[0]}; checks its status and returns the value.
   */
  static long out(Function<long[], spinfer_status_t> call) {
    long[] out = new long[1];
    check(call.apply(out));
    return out[0];
  }

  /** {@code value}, or SpinferException(INVALID_ARGUMENT) naming {@code name} when it is null. */
  static <T> T nonNull(T value, String name) {
    if (value == null) throw error(Status.INVALID_ARGUMENT, name + " is null");
    return value;
  }

  /** {@code body}'s result; when it throws, {@code cleanup} runs before the exception propagates. */
  static <T> T onFailure(Supplier<T> body, Runnable cleanup) {
    try {
      return body.get();
    } catch (RuntimeException e) {
      cleanup.run();
      throw e;
    }
  }

  /** A failure found by the Java layer itself (closed handle, short buffer). */
  static SpinferException error(Status status, String message) {
    return new SpinferException(status, message);
  }
}
