package io.spinfer;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A minimal safetensors writer for dense F32 tensors (the format: 8-byte little-endian
 * header length, a JSON header of dtype/shape/data_offsets, then the raw data), so the
 * tests can build a model directory from Java alone.
 */
final class DenseSafetensors {
  private final Map<String, float[]> data = new LinkedHashMap<>();
  private final Map<String, long[]> shapes = new LinkedHashMap<>();

  DenseSafetensors put(String name, float[] values, long... shape) {
    data.put(name, values);
    shapes.put(name, shape);
    return this;
  }

  void write(Path path) throws IOException {
    StringBuilder json = new StringBuilder("{");
    long offset = 0;
    for (Map.Entry<String, float[]> e : data.entrySet()) {
      if (json.length() > 1) json.append(',');
      long bytes = 4L * e.getValue().length;
      json.append('"').append(e.getKey()).append("\":{\"dtype\":\"F32\",\"shape\":")
          .append(java.util.Arrays.toString(shapes.get(e.getKey())).replace(" ", ""))
          .append(",\"data_offsets\":[").append(offset).append(',').append(offset + bytes).append("]}");
      offset += bytes;
    }
    json.append('}');
    while (json.length() % 8 != 0) json.append(' ');
    byte[] header = json.toString().getBytes(StandardCharsets.UTF_8);
    ByteBuffer out = ByteBuffer.allocate(8 + header.length + (int) offset).order(ByteOrder.LITTLE_ENDIAN);
    out.putLong(header.length).put(header);
    for (float[] values : data.values()) for (float v : values) out.putFloat(v);
    Files.write(path, out.array());
  }
}
