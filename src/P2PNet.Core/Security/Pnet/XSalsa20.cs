using System.Security.Cryptography;

namespace P2PNet.Security.Pnet;

/// <summary>
/// The XSalsa20 stream cipher (32-byte key, 24-byte nonce, 64-bit block counter): XORs a continuous keystream into
/// data, however the data is split across calls. Also plain Salsa20 with an 8-byte nonce (<see cref="CreateSalsa20"/>),
/// for the key fingerprint.
/// </summary>
/// <remarks>
/// Whole chunks of the kernel (384 bytes with AVX2) are XORed straight from the input to the output in one pass; a
/// call's tail takes one more chunk of keystream into a buffer, whose rest begins the next call. Not thread-safe: one
/// instance per direction of a connection.
/// </remarks>
internal sealed class XSalsa20 : IDisposable
{
    private readonly Salsa20Kernel _kernel;
    private readonly int _chunkSize;
    private readonly uint[] _state = new uint[16];
    private readonly uint[] _diagonal = new uint[16];
    private readonly byte[] _keystream;
    private ulong _counter;
    private int _keystreamUsed;

    private XSalsa20(ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce8, Salsa20Kernel kernel, ulong firstBlock)
    {
        bool supported = kernel switch
        {
            Salsa20Kernel.Scalar => true,
            Salsa20Kernel.Vector128 => Salsa20Vector128.IsSupported,
            Salsa20Kernel.Avx2 => Salsa20Avx2.IsSupported,
            _ => false,
        };
        if (!supported)
        {
            throw new PlatformNotSupportedException($"The {kernel} Salsa20 kernel does not run on this machine.");
        }
        _kernel = kernel;
        _chunkSize = kernel switch
        {
            Salsa20Kernel.Avx2 => Salsa20Avx2.ChunkSize,
            Salsa20Kernel.Vector128 => Salsa20Vector128.ChunkSize,
            _ => Salsa20Core.BlockSize,
        };
        Salsa20Core.Initialize(_state, key, nonce8);
        Salsa20Core.Diagonalize(_state, _diagonal);
        _keystream = new byte[_chunkSize];
        _keystreamUsed = _chunkSize;
        _counter = firstBlock;
    }

    /// <summary>The fastest kernel this machine runs.</summary>
    public static Salsa20Kernel BestKernel =>
        Salsa20Avx2.IsSupported ? Salsa20Kernel.Avx2 : Salsa20Vector128.IsSupported ? Salsa20Kernel.Vector128 : Salsa20Kernel.Scalar;

    /// <summary>XSalsa20 with a 32-byte key and a 24-byte nonce.</summary>
    public static XSalsa20 Create(ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce24) => Create(key, nonce24, BestKernel, firstBlock: 0);

    /// <summary>XSalsa20 on a chosen kernel, starting at keystream block <paramref name="firstBlock"/> (tests use both).</summary>
    /// <exception cref="PlatformNotSupportedException">The kernel does not run on this machine.</exception>
    public static XSalsa20 Create(ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce24, Salsa20Kernel kernel, ulong firstBlock)
    {
        if (key.Length != 32 || nonce24.Length != 24)
        {
            throw new ArgumentException("XSalsa20 takes a 32-byte key and a 24-byte nonce.");
        }
        Span<byte> subkey = stackalloc byte[32];
        Salsa20Core.HSalsa20(key, nonce24[..16], subkey);
        var cipher = new XSalsa20(subkey, nonce24[16..], kernel, firstBlock);
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
        return new XSalsa20(key, nonce8, BestKernel, firstBlock: 0);
    }

    /// <summary>The kernel this instance runs.</summary>
    public Salsa20Kernel Kernel => _kernel;

    /// <summary>XORs the next <c>input.Length</c> keystream bytes into <paramref name="input"/>, writing to
    /// <paramref name="output"/>, which is either the same memory or does not overlap it.</summary>
    public void Transform(ReadOnlySpan<byte> input, Span<byte> output)
    {
        if (output.Length < input.Length)
        {
            throw new ArgumentException("The output is shorter than the input.", nameof(output));
        }
        if (input.Overlaps(output, out int shift) && shift != 0)
        {
            throw new ArgumentException("The output overlaps the input at another offset.", nameof(output));
        }
        // The rest of the chunk a previous call started.
        int buffered = Math.Min(_chunkSize - _keystreamUsed, input.Length);
        if (buffered > 0)
        {
            Salsa20Core.Xor(input, _keystream.AsSpan(_keystreamUsed, buffered), output);
            _keystreamUsed += buffered;
            input = input[buffered..];
            output = output[buffered..];
        }
        int chunks = input.Length / _chunkSize;
        if (chunks > 0)
        {
            XorChunks(input, output, chunks);
            int done = chunks * _chunkSize;
            input = input[done..];
            output = output[done..];
        }
        if (!input.IsEmpty)
        {
            _keystream.AsSpan().Clear();
            XorChunks(_keystream, _keystream, 1);
            Salsa20Core.Xor(input, _keystream.AsSpan(0, input.Length), output);
            _keystreamUsed = input.Length;
        }
    }

    private void XorChunks(ReadOnlySpan<byte> input, Span<byte> output, int chunks) => _counter = _kernel switch
    {
        Salsa20Kernel.Avx2 => Salsa20Avx2.Xor(_diagonal, _counter, input, output, chunks),
        Salsa20Kernel.Vector128 => Salsa20Vector128.Xor(_diagonal, _counter, input, output, chunks),
        _ => Salsa20Core.XorBlocks(_state, _counter, input, output, chunks),
    };

    public void Dispose()
    {
        CryptographicOperations.ZeroMemory(System.Runtime.InteropServices.MemoryMarshal.AsBytes(_state.AsSpan()));
        CryptographicOperations.ZeroMemory(System.Runtime.InteropServices.MemoryMarshal.AsBytes(_diagonal.AsSpan()));
        CryptographicOperations.ZeroMemory(_keystream);
    }
}
