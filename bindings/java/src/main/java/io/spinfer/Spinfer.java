package io.spinfer;

import io.spinfer.jni.SpinferNative;
import io.spinfer.jni.SpinferNativeConstants;
import io.spinfer.jni.SpinferNativeJNI;

/**
 * Library-wide facts: versions and build features.
 *
 * <p>The JNI library {@code libspinfer_jni.so} is loaded on first use, from the file
 * or directory named by the system property {@value #LIBRARY_PATH_PROPERTY} when it
 * is set, else from {@code java.library.path}. It finds {@code libspinfer.so} through
 * its RPATH or the system's library search path.
 */
public final class Spinfer {
  /** System property naming the JNI library file, or the directory holding it. */
  public static final String LIBRARY_PATH_PROPERTY = SpinferNativeJNI.LIBRARY_PATH_PROPERTY;

  /** Version of the TCA-BME byte layout this binding was generated for. */
  public static final int FORMAT_VERSION = SpinferNativeConstants.SPINFER_FORMAT_VERSION;

  private Spinfer() {}

  /** Version of the loaded native library, "MAJOR.MINOR.PATCH". */
  public static String version() {
    return SpinferNative.version();
  }

  /** Version of the loaded native library as MAJOR * 10000 + MINOR * 100 + PATCH. */
  public static long versionNumber() {
    return SpinferNative.version_number();
  }

  /** Whether the native library was built with CUDA kernels. */
  public static boolean hasCuda() {
    return SpinferNative.has_cuda() != 0;
  }
}
