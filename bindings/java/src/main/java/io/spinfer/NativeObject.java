package io.spinfer;

import io.spinfer.jni.spinfer_status_t;
import java.lang.ref.Cleaner;
import java.lang.ref.Reference;
import java.util.function.LongConsumer;
import java.util.function.LongFunction;

/**
 * Base of every Java owner of a C handle (contexts, matrices, layers, KV caches,
 * models): owns the {@link NativeHandle}, ties it to this object's lifetime and
 * provides the close/isClosed life cycle. Handles that refer to other handles also
 * own the {@link Dependencies} retained for them, released after the C object is
 * destroyed.
 */
abstract class NativeObject implements AutoCloseable {
  private final NativeHandle handle;
  private final Cleaner.Cleanable cleanable;

  /** Takes ownership of {@code pointer}; {@code destroy} must not refer to this object. */
  NativeObject(long pointer, LongConsumer destroy, String kind) {
    this.handle = new NativeHandle(pointer, destroy, kind);
    this.cleanable = handle.attachTo(this);
  }

  /** Like the above; {@code dependencies} are released once the C object is destroyed. */
  NativeObject(long pointer, LongConsumer destroy, String kind, Dependencies dependencies) {
    this(pointer, p -> {
      destroy.accept(p);
      dependencies.release();
    }, kind);
  }

  /** The C handle; SpinferException(INVALID_ARGUMENT) once closed. Fence `this` after use. */
  long pointer() {
    return handle.get();
  }

  NativeHandle handle() {
    return handle;
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

  /** Runs {@code call} on this object's C handle and checks its status. */
  final void call(LongFunction<spinfer_status_t> body) {
    try {
      Native.check(body.apply(pointer()));
    } finally {
      Reference.reachabilityFence(this);
    }
  }

  /** A native query on this object's C handle that writes one value; returns that value. */
  final long query(Query query) {
    try {
      return Native.out(out -> query.run(pointer(), out));
    } finally {
      Reference.reachabilityFence(this);
    }
  }

  /** A native call on a C handle that writes one value into {@code out[0]}. */
  @FunctionalInterface
  interface Query {
    spinfer_status_t run(long pointer, long[] out);
  }
}
