package io.spinfer;

import java.lang.ref.Cleaner;
import java.util.function.LongConsumer;

/**
 * Owns one C handle and destroys it exactly once, when its Java owner is closed (or,
 * as a safety net for a forgotten close, garbage-collected: Cleaner) AND no dependent
 * still refers to it. Dependents are C objects that keep using this one: a layer
 * refers to its matrices and must be destroyed before its context, so creating a
 * layer retains both and destroying it releases them. Closing a matrix that a live
 * layer uses therefore makes the Java Matrix unusable at once but frees the C matrix
 * only after the layer.
 *
 * <p>Owners keep themselves reachable during native calls (Reference.reachabilityFence)
 * so the Cleaner cannot close a handle that a call is still using.
 */
final class NativeHandle implements Runnable {
  private static final Cleaner CLEANER = Cleaner.create();

  private final long raw;
  private final LongConsumer destroy;
  private final String kind;
  private volatile long open; // raw until closed, then 0
  private int references = 1; // the owner's, plus one per live dependent; guarded by this

  /** {@code destroy} must not refer to the owner, or the owner never becomes unreachable. */
  NativeHandle(long pointer, LongConsumer destroy, String kind) {
    this.raw = pointer;
    this.open = pointer;
    this.destroy = destroy;
    this.kind = kind;
  }

  /** Ties this handle's lifetime to {@code owner}; clean() on the result closes it. */
  Cleaner.Cleanable attachTo(Object owner) {
    return CLEANER.register(owner, this);
  }

  /** The live pointer; throws SpinferException(INVALID_ARGUMENT) once closed. */
  long get() {
    long p = open;
    if (p == 0) throw Native.error(Status.INVALID_ARGUMENT, kind + " is closed");
    return p;
  }

  boolean isClosed() {
    return open == 0;
  }

  /** Adds a dependent: the C object stays alive until {@link #release()}. Throws once closed. */
  synchronized long retain() {
    if (open == 0) throw Native.error(Status.INVALID_ARGUMENT, kind + " is closed");
    ++references;
    return raw;
  }

  /** Drops one reference; the last one destroys the C object. */
  void release() {
    boolean last;
    synchronized (this) {
      last = --references == 0;
    }
    if (last) destroy.accept(raw);
  }

  /** Closes the owner's side (only the first call does anything). */
  @Override
  public void run() {
    synchronized (this) {
      if (open == 0) return;
      open = 0;
    }
    release();
  }
}
