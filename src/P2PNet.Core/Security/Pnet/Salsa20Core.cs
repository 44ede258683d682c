using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace P2PNet.Security.Pnet;

/// <summary>
/// The Salsa20/20 block function (Bernstein, "Salsa20 specification", §8–§10) and HSalsa20 ("Extending the Salsa20
/// nonce", §2), scalar. The wide kernels (<see cref="Salsa20Avx2"/>, <see cref="Salsa20Vector128"/>) share the
/// state layouts defined here.
/// </summary>
internal static class Salsa20Core
{
    public const int BlockSize = 64;

    private const uint C0 = 0x61707865, C1 = 0x3320646e, C2 = 0x79622d32, C3 = 0x6b206574;

    /// <summary>Fills <paramref name="state"/> with the Salsa20 input for a 32-byte key and 8-byte nonce. The block
    /// counter (words 8 and 9) is left 0: the kernels take it as a separate 64-bit value.</summary>
    public static void Initialize(Span<uint> state, ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce8)
    {
        state[0] = C0;
        for (int i = 0; i < 4; i++)
        {
            state[1 + i] = BinaryPrimitives.ReadUInt32LittleEndian(key[(4 * i)..]);
            state[11 + i] = BinaryPrimitives.ReadUInt32LittleEndian(key[(16 + 4 * i)..]);
        }
        state[5] = C1;
        state[6] = BinaryPrimitives.ReadUInt32LittleEndian(nonce8);
        state[7] = BinaryPrimitives.ReadUInt32LittleEndian(nonce8[4..]);
        state[8] = 0;
        state[9] = 0;
        state[10] = C2;
        state[15] = C3;
    }

    /// <summary>
    /// The state rearranged along its diagonals, as the vector kernels hold it: four rows of four words,
    /// A = (x0, x5, x10, x15), B = (x4, x9, x14, x3), C = (x8, x13, x2, x7), D = (x12, x1, x6, x11). A column
    /// quarter-round then works lane-wise on A, B, C, D; rotating the lanes of B, C, D lines up the rows. The counter
    /// words (x8 in C's lane 0, x9 in B's lane 1) stay 0 here.
    /// </summary>
    public static void Diagonalize(ReadOnlySpan<uint> state, Span<uint> diagonal)
    {
        ReadOnlySpan<byte> order = [0, 5, 10, 15, 4, 9, 14, 3, 8, 13, 2, 7, 12, 1, 6, 11];
        for (int i = 0; i < 16; i++)
        {
            diagonal[i] = state[order[i]];
        }
    }

    /// <summary>HSalsa20: derives the XSalsa20 subkey from the key and the first 16 nonce bytes.</summary>
    public static void HSalsa20(ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce16, Span<byte> subkey)
    {
        Span<uint> x = stackalloc uint[16];
        x[0] = C0;
        x[5] = C1;
        x[10] = C2;
        x[15] = C3;
        for (int i = 0; i < 4; i++)
        {
            x[1 + i] = BinaryPrimitives.ReadUInt32LittleEndian(key[(4 * i)..]);
            x[11 + i] = BinaryPrimitives.ReadUInt32LittleEndian(key[(16 + 4 * i)..]);
            x[6 + i] = BinaryPrimitives.ReadUInt32LittleEndian(nonce16[(4 * i)..]);
        }
        Rounds(x);
        ReadOnlySpan<byte> picks = [0, 5, 10, 15, 6, 7, 8, 9];
        for (int i = 0; i < 8; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(subkey[(4 * i)..], x[picks[i]]);
        }
        x.Clear();
    }

    /// <summary>XORs <paramref name="blocks"/> keystream blocks, counters <paramref name="counter"/> onwards, from
    /// <paramref name="input"/> into <paramref name="output"/> (the same memory or apart); returns the next counter.</summary>
    public static ulong XorBlocks(ReadOnlySpan<uint> state, ulong counter, ReadOnlySpan<byte> input, Span<byte> output, int blocks)
    {
        Span<byte> keystream = stackalloc byte[BlockSize];
        for (int b = 0; b < blocks; b++)
        {
            Block(state, counter++, keystream);
            int offset = b * BlockSize;
            Xor(input.Slice(offset, BlockSize), keystream, output.Slice(offset, BlockSize));
        }
        keystream.Clear();
        return counter;
    }

    /// <summary>One keystream block for block number <paramref name="counter"/>.</summary>
    public static void Block(ReadOnlySpan<uint> state, ulong counter, Span<byte> output)
    {
        Span<uint> x = stackalloc uint[16];
        state.CopyTo(x);
        x[8] = (uint)counter;
        x[9] = (uint)(counter >> 32);
        Rounds(x);
        for (int i = 0; i < 16; i++)
        {
            uint initial = i switch { 8 => (uint)counter, 9 => (uint)(counter >> 32), _ => state[i] };
            BinaryPrimitives.WriteUInt32LittleEndian(output[(4 * i)..], x[i] + initial);
        }
        x.Clear();
    }

    /// <summary><paramref name="output"/> = <paramref name="input"/> XOR <paramref name="keystream"/> over the keystream's
    /// length; <paramref name="output"/> may be <paramref name="input"/>'s memory, never the keystream's.</summary>
    public static void Xor(ReadOnlySpan<byte> input, ReadOnlySpan<byte> keystream, Span<byte> output)
    {
        int length = keystream.Length;
        if (input.Length < length || output.Length < length)
        {
            throw new ArgumentException("The input or output is shorter than the keystream.");
        }
        ref byte src = ref MemoryMarshal.GetReference(input);
        ref byte key = ref MemoryMarshal.GetReference(keystream);
        ref byte dst = ref MemoryMarshal.GetReference(output);
        nuint i = 0;
        nuint n = (nuint)length;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 32 <= n; i += 32)
            {
                (Vector256.LoadUnsafe(ref src, i) ^ Vector256.LoadUnsafe(ref key, i)).StoreUnsafe(ref dst, i);
            }
        }
        if (Vector128.IsHardwareAccelerated)
        {
            for (; i + 16 <= n; i += 16)
            {
                (Vector128.LoadUnsafe(ref src, i) ^ Vector128.LoadUnsafe(ref key, i)).StoreUnsafe(ref dst, i);
            }
        }
        for (; i < n; i++)
        {
            Unsafe.Add(ref dst, i) = (byte)(Unsafe.Add(ref src, i) ^ Unsafe.Add(ref key, i));
        }
    }

    private static void Rounds(Span<uint> x)
    {
        uint x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3], x4 = x[4], x5 = x[5], x6 = x[6], x7 = x[7];
        uint x8 = x[8], x9 = x[9], x10 = x[10], x11 = x[11], x12 = x[12], x13 = x[13], x14 = x[14], x15 = x[15];
        for (int i = 0; i < 10; i++)
        {
            x4 ^= BitOperations.RotateLeft(x0 + x12, 7); x8 ^= BitOperations.RotateLeft(x4 + x0, 9);
            x12 ^= BitOperations.RotateLeft(x8 + x4, 13); x0 ^= BitOperations.RotateLeft(x12 + x8, 18);
            x9 ^= BitOperations.RotateLeft(x5 + x1, 7); x13 ^= BitOperations.RotateLeft(x9 + x5, 9);
            x1 ^= BitOperations.RotateLeft(x13 + x9, 13); x5 ^= BitOperations.RotateLeft(x1 + x13, 18);
            x14 ^= BitOperations.RotateLeft(x10 + x6, 7); x2 ^= BitOperations.RotateLeft(x14 + x10, 9);
            x6 ^= BitOperations.RotateLeft(x2 + x14, 13); x10 ^= BitOperations.RotateLeft(x6 + x2, 18);
            x3 ^= BitOperations.RotateLeft(x15 + x11, 7); x7 ^= BitOperations.RotateLeft(x3 + x15, 9);
            x11 ^= BitOperations.RotateLeft(x7 + x3, 13); x15 ^= BitOperations.RotateLeft(x11 + x7, 18);

            x1 ^= BitOperations.RotateLeft(x0 + x3, 7); x2 ^= BitOperations.RotateLeft(x1 + x0, 9);
            x3 ^= BitOperations.RotateLeft(x2 + x1, 13); x0 ^= BitOperations.RotateLeft(x3 + x2, 18);
            x6 ^= BitOperations.RotateLeft(x5 + x4, 7); x7 ^= BitOperations.RotateLeft(x6 + x5, 9);
            x4 ^= BitOperations.RotateLeft(x7 + x6, 13); x5 ^= BitOperations.RotateLeft(x4 + x7, 18);
            x11 ^= BitOperations.RotateLeft(x10 + x9, 7); x8 ^= BitOperations.RotateLeft(x11 + x10, 9);
            x9 ^= BitOperations.RotateLeft(x8 + x11, 13); x10 ^= BitOperations.RotateLeft(x9 + x8, 18);
            x12 ^= BitOperations.RotateLeft(x15 + x14, 7); x13 ^= BitOperations.RotateLeft(x12 + x15, 9);
            x14 ^= BitOperations.RotateLeft(x13 + x12, 13); x15 ^= BitOperations.RotateLeft(x14 + x13, 18);
        }
        x[0] = x0; x[1] = x1; x[2] = x2; x[3] = x3; x[4] = x4; x[5] = x5; x[6] = x6; x[7] = x7;
        x[8] = x8; x[9] = x9; x[10] = x10; x[11] = x11; x[12] = x12; x[13] = x13; x[14] = x14; x[15] = x15;
    }
}
