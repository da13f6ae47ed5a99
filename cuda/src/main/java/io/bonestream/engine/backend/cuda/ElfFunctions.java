package io.bonestream.engine.backend.cuda;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Set;
import java.util.TreeSet;

/**
 * The functions an ELF64 file defines, from its symbol tables ({@code .symtab} and {@code .dynsym}):
 * a CUBIN that NVRTC made lists each kernel there under its {@code extern "C"} name.
 */
public final class ElfFunctions {
  private static final int SHT_SYMTAB = 2;
  private static final int SHT_DYNSYM = 11;
  private static final int STT_FUNC = 2;
  private static final int SYMBOL_SIZE = 24;

  private ElfFunctions() {}

  /** Names of the defined function symbols; fails on anything but a little-endian ELF64 file. */
  public static Set<String> of(byte[] elf) {
    ByteBuffer b = ByteBuffer.wrap(elf).order(ByteOrder.LITTLE_ENDIAN);
    if (elf.length < 64 || b.getInt(0) != 0x464c457f || elf[4] != 2 || elf[5] != 1) {
      throw new IllegalArgumentException("not a little-endian ELF64 file (" + elf.length + " bytes)");
    }
    long sectionHeaders = b.getLong(0x28);
    int headerSize = Short.toUnsignedInt(b.getShort(0x3A));
    int sections = Short.toUnsignedInt(b.getShort(0x3C));
    Set<String> names = new TreeSet<>();
    for (int i = 0; i < sections; i++) {
      int h = Math.toIntExact(sectionHeaders + (long) i * headerSize);
      int type = b.getInt(h + 4);
      if (type != SHT_SYMTAB && type != SHT_DYNSYM) {
        continue;
      }
      int offset = Math.toIntExact(b.getLong(h + 0x18));
      long size = b.getLong(h + 0x20);
      int strings = Math.toIntExact(b.getLong(Math.toIntExact(sectionHeaders + (long) b.getInt(h + 0x28) * headerSize) + 0x18));
      for (int s = offset; s + SYMBOL_SIZE <= offset + size; s += SYMBOL_SIZE) {
        int name = b.getInt(s);
        int info = elf[s + 4] & 0xff;
        int sectionIndex = Short.toUnsignedInt(b.getShort(s + 6));
        if ((info & 0xf) == STT_FUNC && sectionIndex != 0 && name != 0) {
          names.add(string(elf, strings + name));
        }
      }
    }
    return names;
  }

  private static String string(byte[] elf, int from) {
    int end = from;
    while (end < elf.length && elf[end] != 0) {
      end++;
    }
    return new String(elf, from, end - from, StandardCharsets.UTF_8);
  }
}
