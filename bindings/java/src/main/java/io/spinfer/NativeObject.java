package io.spinfer;

import java.lang.ref.Cleaner;
import java.util.function.LongConsumer;

/**
 * Base of the handles that refer to other handles (layers, KV caches, models): owns
 * the C handle and the {@link Dependencies} retained for it, releasing them after
 * the C object is destroyed.
 */
abstract class NativeObject implements AutoCloseable {
  final NativeHandle handle;
  private final Cleaner.Cleanable cleanable;

  NativeObject(long pointer, LongConsumer destroy, String kind, Dependencies dependencies) {
    this.handle = new NativeHandle(pointer, p -> {
      destroy.accept(p);
      dependencies.release();
    }, kind);
    this.cleanable = handle.attachTo(this);
  }

  /** The C handle; SpinferException(INVALID_ARGUMENT) once closed. Fence `this` after use. */
  long pointer() {
    return handle.get();
  }

  /** Whether close() has run. */
  public boolean isClosed() {
    return handle.isClosed();
  }

  /**
   * Frees the native object (idempotent). No other call may be using it. The
   * matrices and context it refers to stay alive until it is gone.
   */
  @Override
  public void close() {
    cleanable.clean();
  }

  /** Runs {@code create}, which fills its one-element array with the new handle. */
  static long create(java.util.function.Function<long[], io.spinfer.jni.spinfer_status_t> create) {
    long[] out = new long[1];
    Native.check(create.apply(out));
    return out[0];
  }
}
