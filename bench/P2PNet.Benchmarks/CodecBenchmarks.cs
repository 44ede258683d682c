using System.Buffers;
using BenchmarkDotNet.Attributes;
using P2PNet.Multiformats;
using P2PNet.Multistream;
using P2PNet.Muxing.Yamux;

namespace P2PNet.Benchmarks;

/// <summary>The per-frame and per-negotiation codecs: Yamux headers, multistream messages, varints, multiaddrs.</summary>
[MemoryDiagnoser]
public class CodecBenchmarks
{
    private readonly byte[] _header = new byte[12];
    private readonly ArrayBufferWriter<byte> _writer = new(256);
    private readonly byte[] _varint = new byte[10];
    private byte[] _multistream = [];
    private ReadOnlySequence<byte> _yamuxSequence;
    private Multiaddr _address = null!;
    private byte[] _addressBytes = [];
    private const string AddressText = "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWBiFkDc34zxNC8B1sspA66GGPUDLiWwHL39XWwn7BfMwP";

    [GlobalSetup]
    public void Setup()
    {
        YamuxFrameCodec.WriteHeader(_header, new YamuxFrameHeader(YamuxFrameType.Data, YamuxFrameFlags.None, 3, 65536));
        _yamuxSequence = new ReadOnlySequence<byte>(_header);
        var w = new ArrayBufferWriter<byte>();
        MultistreamMessage.Write(w, "/yamux/1.0.0");
        _multistream = w.WrittenSpan.ToArray();
        _address = Multiaddr.Parse(AddressText);
        _addressBytes = _address.ToBytes();
    }

    [Benchmark]
    public void YamuxHeaderEncode() =>
        YamuxFrameCodec.WriteHeader(_header, new YamuxFrameHeader(YamuxFrameType.Data, YamuxFrameFlags.None, 3, 65536));

    [Benchmark]
    public uint YamuxHeaderDecode()
    {
        var buffer = _yamuxSequence;
        return YamuxFrameCodec.TryReadHeader(ref buffer, out var header) ? header.Length : 0;
    }

    [Benchmark]
    public int MultistreamEncode()
    {
        _writer.ResetWrittenCount();
        MultistreamMessage.Write(_writer, "/yamux/1.0.0");
        return _writer.WrittenCount;
    }

    /// <summary>Parsing yields the protocol id as a string, so one string per message is inherent.</summary>
    [Benchmark]
    public string? MultistreamDecode()
    {
        var buffer = new ReadOnlySequence<byte>(_multistream);
        return MultistreamMessage.TryParse(ref buffer, out string? message) ? message : null;
    }

    [Benchmark]
    public ulong VarintRoundTrip()
    {
        int n = Varint.Write(_varint, 300_000_000UL);
        Varint.TryRead(_varint.AsSpan(0, n), out ulong value, out _);
        return value;
    }

    [Benchmark]
    public Multiaddr MultiaddrParseText() => Multiaddr.Parse(AddressText);

    [Benchmark]
    public string MultiaddrToText() => _address.ToString();

    [Benchmark]
    public Multiaddr MultiaddrFromBytes() => Multiaddr.FromBytes(_addressBytes);
}
