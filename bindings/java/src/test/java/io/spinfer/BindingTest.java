package io.spinfer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.spinfer.jni.SpinferNative;
import io.spinfer.jni.SpinferNativeConstants;
import io.spinfer.jni.spinfer_backend_t;
import io.spinfer.jni.spinfer_dtype_t;
import io.spinfer.jni.spinfer_status_t;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The hand-written layer agrees with the generated one, and the generated typemaps guard memory. */
class BindingTest {
  @Test
  void versionsAgreeWithTheHeader() {
    String expected = SpinferNativeConstants.SPINFER_VERSION_MAJOR + "."
        + SpinferNativeConstants.SPINFER_VERSION_MINOR + "." + SpinferNativeConstants.SPINFER_VERSION_PATCH;
    assertEquals(expected, Spinfer.version());
    assertEquals(SpinferNativeConstants.SPINFER_VERSION_MAJOR * 10000L
        + SpinferNativeConstants.SPINFER_VERSION_MINOR * 100L + SpinferNativeConstants.SPINFER_VERSION_PATCH,
        Spinfer.versionNumber());
  }

  @Test
  void javaEnumsMirrorTheCEnumsOneToOne() {
    assertEquals(spinfer_status_t.values().length, Status.values().length);
    for (spinfer_status_t raw : spinfer_status_t.values()) {
      Status status = Status.of(raw);
      assertEquals(raw.swigValue(), status.ordinal(), raw.name());
      assertEquals(raw, status.raw());
      assertEquals(raw.name(), SpinferNative.status_string(raw));
    }
    assertEquals(spinfer_dtype_t.values().length, DType.values().length);
    for (spinfer_dtype_t raw : spinfer_dtype_t.values()) {
      DType dtype = DType.of(raw);
      assertEquals(raw, dtype.raw());
      assertEquals(SpinferNative.dtype_size(raw), dtype.sizeBytes(), raw.name());
    }
    assertEquals(spinfer_backend_t.values().length, Backend.values().length);
    for (spinfer_backend_t raw : spinfer_backend_t.values()) assertEquals(raw, Backend.of(raw).raw());
  }

  /**
   * Every pointer type of the header is mapped by spinfer.i (handles and data to long,
   * outputs to arrays): SWIG's fallback, an opaque SWIGTYPE_* class, means a new type
   * in spinfer.h still needs its typemap line.
   */
  @Test
  void noHeaderTypeFellBackToAnOpaqueSwigWrapper() throws Exception {
    List<String> fallbacks = new ArrayList<>();
    List<Class<?>> classes = new ArrayList<>(List.of(SpinferNative.class));
    for (String s : List.of("context_config_t", "matrix_info_t", "spmm_options_t", "linear_config_t",
        "mlp_config_t", "kv_cache_config_t", "attention_config_t", "decoder_config_t", "decoder_weights_t",
        "model_config_t", "model_info_t")) {
      classes.add(Class.forName("io.spinfer.jni.spinfer_" + s));
    }
    for (Class<?> c : classes) {
      for (Method m : c.getDeclaredMethods()) {
        List<Class<?>> types = new ArrayList<>(List.of(m.getParameterTypes()));
        types.add(m.getReturnType());
        for (Class<?> t : types) {
          if (t.getSimpleName().startsWith("SWIGTYPE_")) fallbacks.add(c.getSimpleName() + "." + m.getName() + ": " + t.getSimpleName());
        }
      }
    }
    assertEquals(List.of(), fallbacks);
  }

  @Test
  void lowLevelOutputArraysMustHoldTheResult() {
    assertThrows(IndexOutOfBoundsException.class,
        () -> SpinferNative.context_create(new long[0], spinfer_backend_t.SPINFER_BACKEND_HOST));
    assertThrows(IndexOutOfBoundsException.class, () -> SpinferNative.file_matrix_count("x", new long[0]));
  }

  @Test
  void lowLevelSaveRefusesArraysOfDifferentLengths() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> SpinferNative.save("never-written.safetensors", new long[] {0, 0}, new String[] {"a"}));
    assertTrue(e.getMessage().contains("differ"));
  }

  @Test
  void directBufferAddressesAreZeroOnlyForNonDirectBuffers() {
    assertEquals(0, SpinferNative.direct_buffer_address(null));
    assertEquals(0, SpinferNative.direct_buffer_address(java.nio.ByteBuffer.allocate(8)));
    assertTrue(SpinferNative.direct_buffer_address(java.nio.ByteBuffer.allocateDirect(8)) != 0);
  }
}
