package io.spinfer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** The tests' own fp16/bf16 rounding is a reference, so it is checked against known bit patterns. */
class NumericsTest {
  @Test
  void halfRoundingMatchesKnownBitPatterns() {
    assertEquals((short) 0x3c00, Numerics.floatToHalf(1.0f));
    assertEquals((short) 0xc000, Numerics.floatToHalf(-2.0f));
    assertEquals((short) 0x7bff, Numerics.floatToHalf(65504.0f));
    assertEquals((short) 0x7bff, Numerics.floatToHalf(65519.0f));
    assertEquals((short) 0x7c00, Numerics.floatToHalf(65520.0f));
    assertEquals((short) 0x2e66, Numerics.floatToHalf(0.1f));
    assertEquals((short) 0x0001, Numerics.floatToHalf(0x1p-24f));
    assertEquals((short) 0x0000, Numerics.floatToHalf(0x1p-25f)); // tie to even: 0
    assertEquals((short) 0x0002, Numerics.floatToHalf(0x1.8p-24f)); // tie to even: 2
    assertEquals((short) 0x0400, Numerics.floatToHalf(0x1p-14f));
    assertEquals((short) 0x3c00, Numerics.floatToHalf(1.0f + 0x1p-11f)); // tie to even: down
    assertEquals((short) 0x3c02, Numerics.floatToHalf(1.0f + 3 * 0x1p-11f)); // tie to even: up
    assertEquals((short) 0x8000, Numerics.floatToHalf(-0.0f));
  }

  @Test
  void bf16RoundingMatchesKnownBitPatterns() {
    assertEquals((short) 0x3f80, Numerics.floatToBf16(1.0f));
    assertEquals((short) 0x3f80, Numerics.floatToBf16(1.0f + 0x1p-8f)); // tie to even: down
    assertEquals((short) 0x3f82, Numerics.floatToBf16(1.0f + 3 * 0x1p-8f)); // tie to even: up
    assertEquals((short) 0xc040, Numerics.floatToBf16(-3.0f));
  }

  @Test
  void sixteenBitRoundTripsAreExactOnRepresentableValues() {
    Random random = new Random(Numerics.freshSeed());
    for (int i = 0; i < 10000; ++i) {
      short h = (short) random.nextInt(0x7c00); // finite positive halves
      assertEquals(h, Numerics.floatToHalf(Numerics.halfToFloat(h)));
      short b = (short) random.nextInt(0x7f80);
      assertEquals(b, Numerics.floatToBf16(Numerics.bf16ToFloat(b)));
    }
  }
}
