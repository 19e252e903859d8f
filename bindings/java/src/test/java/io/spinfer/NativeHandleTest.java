package io.spinfer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * The ownership rules that keep C objects alive exactly as long as needed: destroyed
 * once, after the owner is closed and every dependent (a layer on a matrix) is gone.
 */
class NativeHandleTest {
  @Test
  void closingTwiceDestroysOnce() {
    List<Long> destroyed = new ArrayList<>();
    NativeHandle h = new NativeHandle(42, destroyed::add, "Thing");
    assertEquals(42, h.get());
    h.run();
    h.run();
    assertEquals(List.of(42L), destroyed);
    assertTrue(h.isClosed());
    SpinferException e = assertThrows(SpinferException.class, h::get);
    assertEquals("Thing is closed", e.getMessage());
    assertEquals(Status.INVALID_ARGUMENT, e.status());
  }

  @Test
  void aDependentKeepsTheObjectAliveAfterItsOwnerCloses() {
    AtomicInteger destroyed = new AtomicInteger();
    NativeHandle matrix = new NativeHandle(7, p -> destroyed.incrementAndGet(), "Matrix");
    Dependencies layer = new Dependencies().add(matrix);
    matrix.run(); // the Java Matrix is closed...
    assertThrows(SpinferException.class, matrix::get);
    assertEquals(0, destroyed.get(), "...but the layer still uses the C matrix");
    layer.release();
    assertEquals(1, destroyed.get());
    layer.release(); // releasing twice is harmless
    assertEquals(1, destroyed.get());
  }

  @Test
  void aClosedHandleCannotGainDependentsAndEarlierOnesAreReleased() {
    AtomicInteger destroyed = new AtomicInteger();
    NativeHandle context = new NativeHandle(1, p -> destroyed.incrementAndGet(), "Context");
    NativeHandle closed = new NativeHandle(2, p -> destroyed.incrementAndGet(), "Matrix");
    closed.run();
    assertEquals(1, destroyed.get());
    Dependencies deps = new Dependencies();
    SpinferException e = assertThrows(SpinferException.class, () -> deps.add(context).add(closed));
    assertEquals("Matrix is closed", e.getMessage());
    context.run(); // the failed add gave the context reference back, so closing destroys it
    assertEquals(2, destroyed.get());
  }

  @Test
  void manyThreadsRetainingAndReleasingDestroyExactlyOnce() throws InterruptedException {
    AtomicInteger destroyed = new AtomicInteger();
    NativeHandle h = new NativeHandle(9, p -> destroyed.incrementAndGet(), "Matrix");
    Thread[] threads = new Thread[8];
    for (int t = 0; t < threads.length; ++t) {
      threads[t] = new Thread(() -> {
        for (int i = 0; i < 10000; ++i) {
          h.retain();
          h.release();
        }
      });
      threads[t].start();
    }
    for (Thread t : threads) t.join();
    assertEquals(0, destroyed.get());
    h.run();
    assertEquals(1, destroyed.get());
  }
}
