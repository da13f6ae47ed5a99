package io.bonestream.engine.device;

/**
 * A typed range of a device's memory: {@code size} elements of {@code type} from element
 * {@code offset} of an allocation. Slicing makes a view of the same memory; only the allocation
 * itself ({@code offset} 0, from {@link Device#alloc}) is freed.
 */
public final class Buf {
  private final Object host;  // the Java reference device's array (float[] or int[]), else null
  private final long address; // a GPU or native allocation's base address, else 0
  private final Object owner; // what keeps native memory alive while a view of it is reachable, or null
  private final DType type;
  private final long offset;
  private final long size;

  private Buf(Object host, long address, DType type, long offset, long size, Object owner) {
    this.host = host;
    this.address = address;
    this.owner = owner;
    this.type = type;
    this.offset = offset;
    this.size = size;
  }

  /** A Java array ({@code float[]} or {@code int[]}) as an allocation: the Java reference device's memory. */
  public static Buf ofArray(Object array, DType type, long size) {
    return new Buf(array, 0, type, 0, size, null);
  }

  /** A GPU allocation at {@code address}. */
  public static Buf ofAddress(long address, DType type, long size) {
    return new Buf(null, address, type, 0, size, null);
  }

  /**
   * Native memory at {@code address} kept alive by {@code owner} (e.g. the ND4J array whose memory
   * it is, or a token whose cleaner frees it): every view of it references the owner.
   */
  public static Buf ofAddress(long address, DType type, long size, Object owner) {
    return new Buf(null, address, type, 0, size, owner);
  }

  /** The Java array of an allocation made by {@link #ofArray}, else null. */
  public Object array() {
    return host;
  }

  /** What keeps this buffer's memory alive (see {@link #ofAddress(long, DType, long, Object)}), or null. */
  public Object owner() {
    return owner;
  }

  public DType type() {
    return type;
  }

  /** Elements in this view. */
  public long size() {
    return size;
  }

  /** Element offset of this view in its allocation. */
  public long offset() {
    return offset;
  }

  /** The GPU address of this view's first element (0 on the Java device). */
  public long pointer() {
    return address == 0 ? 0 : address + offset * type.bytes();
  }

  /** The allocation's base address, for freeing. */
  public long baseAddress() {
    return address;
  }

  /** The view of {@code length} elements from element {@code from} of this view. */
  public Buf slice(long from, long length) {
    if (from < 0 || length < 0 || from + length > size) {
      throw new IndexOutOfBoundsException("slice [" + from + ", " + (from + length) + ") of a buffer of "
          + size + " elements");
    }
    return new Buf(host, address, type, offset + from, length, owner);
  }

  /** The view from element {@code from} to the end. */
  public Buf from(long from) {
    return slice(from, size - from);
  }

  @Override
  public String toString() {
    return type + "[" + size + "]@" + offset;
  }
}
