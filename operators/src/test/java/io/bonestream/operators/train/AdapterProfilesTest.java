package io.bonestream.operators.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.engine.config.TrainConfig;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Which profile an adapter id gets: globs with * and ?, every other character literal, first match wins. */
class AdapterProfilesTest {
  private static AdapterProfile profile(int r) {
    return new AdapterProfile(AdapterConfig.builder().r(r).build(), TrainConfig.builder().build());
  }

  private static boolean matches(String glob, String id) {
    return new AdapterProfiles.Override(glob, profile(4)).matches(id);
  }

  @Test
  void globsMatchAsWritten() {
    assertTrue(matches("tenant-a", "tenant-a"));
    assertFalse(matches("tenant-a", "tenant-ab"));
    assertFalse(matches("tenant-a", "tenant-"));
    assertTrue(matches("tenant-*", "tenant-"));
    assertTrue(matches("tenant-*", "tenant-xyz"));
    assertFalse(matches("tenant-*", "tenan"));
    assertTrue(matches("*", ""));
    assertTrue(matches("*", "anything"));
    assertFalse(matches("", "x"));
    assertTrue(matches("", ""));
    assertTrue(matches("a?c", "abc"));
    assertFalse(matches("a?c", "ac"));
    assertTrue(matches("*-eu-*", "shop-eu-1"));
    assertFalse(matches("*-eu-*", "shop-us-1"));
    // a star that must give back characters it took first
    assertTrue(matches("*ab", "aab"));
    assertTrue(matches("a*b*c", "axxbyybzc"));
    assertFalse(matches("a*b*c", "axxbyybz"));
    assertTrue(matches("**x", "yyx"));
    assertTrue(matches("*?", "z"));
    assertFalse(matches("*?", ""));
  }

  @Test
  void regexCharactersAreLiteral() {
    assertTrue(matches("a.b", "a.b"));
    assertFalse(matches("a.b", "axb"));
    assertTrue(matches("t+[1]", "t+[1]"));
    assertFalse(matches("t+[1]", "tt1"));
    assertTrue(matches("\\d*", "\\dzz"));
    assertFalse(matches("\\d*", "1"));
  }

  @Test
  void theFirstMatchingOverrideWinsElseTheDefaults() {
    AdapterProfile defaults = profile(4);
    AdapterProfile vip = profile(8);
    AdapterProfile eu = profile(16);
    AdapterProfiles profiles = new AdapterProfiles(defaults, List.of(
        new AdapterProfiles.Override("vip-*", vip), new AdapterProfiles.Override("*-eu", eu)));
    assertSame(vip, profiles.forAdapter("vip-eu"));
    assertSame(eu, profiles.forAdapter("shop-eu"));
    assertSame(defaults, profiles.forAdapter("shop-us"));
    assertEquals(16, profiles.forAdapter("x-eu").adapter().r());
  }
}
