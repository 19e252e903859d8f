package io.spinfer;

import java.lang.ref.Cleaner;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongConsumer;

/**
 * Owns one C handle and destroys it exactly once: on close(), or, as a safety net for
 * a forgotten close, when its Java owner becomes unreachable (Cleaner). Owners keep
 * themselves reachable during native calls (Reference.reachabilityFence) so the
 * Cleaner cannot free a handle that a call is still using.
 */
final class NativeHandle implements Runnable {
  private static final Cleaner CLEANER = Cleaner.create();

  private final AtomicLong pointer;
  private final LongConsumer destroy;
  private final String kind;

  /** {@code destroy} must not refer to the owner, or the owner never becomes unreachable. */
  NativeHandle(long pointer, LongConsumer destroy, String kind) {
    this.pointer = new AtomicLong(pointer);
    this.destroy = destroy;
    this.kind = kind;
  }

  /** Ties this handle's lifetime to {@code owner}; clean() on the result closes it. */
  Cleaner.Cleanable attachTo(Object owner) {
    return CLEANER.register(owner, this);
  }

  /** The live pointer; throws SpinferException(INVALID_ARGUMENT) once closed. */
  long get() {
    long p = pointer.get();
    if (p == 0) throw Native.error(Status.INVALID_ARGUMENT, kind + " is closed");
    return p;
  }

  boolean isClosed() {
    return pointer.get() == 0;
  }

  /** Destroys the handle; only the first call does anything. */
  @Override
  public void run() {
    long p = pointer.getAndSet(0);
    if (p != 0) destroy.accept(p);
  }
}
