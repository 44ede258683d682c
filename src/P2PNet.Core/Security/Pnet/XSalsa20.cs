using System.Security.Cryptography;

namespace P2PNet.Security.Pnet;

/// <summary>
/// The XSalsa20 stream cipher (32-byte key, 24-byte nonce): XORs a continuous keystream into data, however the data is
/// split across calls. Also plain Salsa20 with an 8-byte nonce (<see cref="CreateSalsa20"/>), for the key fingerprint.
/// </summary>
/// <remarks>Not thread-safe: one instance per direction of a connection.</remarks>
internal sealed class XSalsa20 : IDisposable
{
    private readonly uint[] _state = new uint[16];
    private readonly byte[] _keystream = new byte[Salsa20Core.BlockSize];
    private int _keystreamUsed = Salsa20Core.BlockSize;

    private XSalsa20()
    {
    }

    /// <summary>XSalsa20 with a 32-byte key and a 24-byte nonce.</summary>
    public static XSalsa20 Create(ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce24)
    {
        if (key.Length != 32 || nonce24.Length != 24)
        {
            throw new ArgumentException("XSalsa20 takes a 32-byte key and a 24-byte nonce.");
        }
        Span<byte> subkey = stackalloc byte[32];
        Salsa20Core.HSalsa20(key, nonce24[..16], subkey);
        var cipher = new XSalsa20();
        Salsa20Core.Initialize(cipher._state, subkey, nonce24[16..]);
        CryptographicOperations.ZeroMemory(subkey);
        return cipher;
    }

    /// <summary>Salsa20/20 with a 32-byte key and an 8-byte nonce.</summary>
    public static XSalsa20 CreateSalsa20(ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce8)
    {
        if (key.Length != 32 || nonce8.Length != 8)
        {
            throw new ArgumentException("Salsa20 takes a 32-byte key and an 8-byte nonce.");
        }
        var cipher = new XSalsa20();
        Salsa20Core.Initialize(cipher._state, key, nonce8);
        return cipher;
    }

    /// <summary>XORs the next <c>input.Length</c> keystream bytes into <paramref name="input"/>, writing to
    /// <paramref name="output"/> (which may be the same memory).</summary>
    public void Transform(ReadOnlySpan<byte> input, Span<byte> output)
    {
        if (output.Length < input.Length)
        {
            throw new ArgumentException("The output is shorter than the input.", nameof(output));
        }
        // Finish the block a previous call started.
        while (_keystreamUsed < Salsa20Core.BlockSize && !input.IsEmpty)
        {
            output[0] = (byte)(input[0] ^ _keystream[_keystreamUsed++]);
            input = input[1..];
            output = output[1..];
        }
        if (Salsa20Core.IsWideSupported)
        {
            const int wide = Salsa20Core.BlockSize * Salsa20Core.WideBlocks;
            while (input.Length >= wide)
            {
                Salsa20Core.Xor8Blocks(_state, input[..wide], output);
                Advance(Salsa20Core.WideBlocks);
                input = input[wide..];
                output = output[wide..];
            }
        }
        while (!input.IsEmpty)
        {
            Salsa20Core.Block(_state, _keystream);
            Advance(1);
            int n = Math.Min(input.Length, Salsa20Core.BlockSize);
            for (int i = 0; i < n; i++)
            {
                output[i] = (byte)(input[i] ^ _keystream[i]);
            }
            _keystreamUsed = n;
            input = input[n..];
            output = output[n..];
        }
    }

    private void Advance(int blocks)
    {
        ulong counter = (_state[8] | (ulong)_state[9] << 32) + (ulong)blocks;
        _state[8] = (uint)counter;
        _state[9] = (uint)(counter >> 32);
    }

    public void Dispose()
    {
        CryptographicOperations.ZeroMemory(System.Runtime.InteropServices.MemoryMarshal.AsBytes(_state.AsSpan()));
        CryptographicOperations.ZeroMemory(_keystream);
    }
}
