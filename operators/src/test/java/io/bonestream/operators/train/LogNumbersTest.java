package io.bonestream.operators.train;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class LogNumbersTest {
  @Test
  void lossesHaveFourDecimals() {
    assertEquals("0.5282", LogNumbers.loss(0.5282379130977407));
    assertEquals("3.0000", LogNumbers.loss(3));
    assertEquals("NaN", LogNumbers.loss(Double.NaN));
  }

  @Test
  void tolerancesArePercentagesWithoutTrailingZeros() {
    assertEquals("10%", LogNumbers.percent(0.1));
    assertEquals("100%", LogNumbers.percent(1.0));
    assertEquals("2.5%", LogNumbers.percent(0.025));
    assertEquals("33.3%", LogNumbers.percent(1.0 / 3));
    assertEquals("0%", LogNumbers.percent(0));
  }
}
