/**
 * Java binding of spinfer: unstructured-sparse (pruned) weight matrices in the
 * TCA-BME format of SpInfer (Fan et al., EuroSys '25), and Y = X * W^T (+ bias) on the
 * host or on NVIDIA GPUs.
 *
 * <p>{@link io.spinfer.Context} and {@link io.spinfer.Matrix} own native handles and are
 * {@link java.lang.AutoCloseable}: use try-with-resources. Every failure is a
 * {@link io.spinfer.SpinferException} carrying the library's message and a
 * {@link io.spinfer.Status}. The generated low-level layer is {@code io.spinfer.jni}.
 */
package io.spinfer;
