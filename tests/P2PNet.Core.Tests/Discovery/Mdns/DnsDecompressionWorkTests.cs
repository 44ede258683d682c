using P2PNet.Discovery.Mdns.Internal;

namespace P2PNet.Core.Tests.Discovery;

/// <summary>
/// Backward-only compression pointers cannot loop but can chain; a hostile 9000-byte message must not cost ~10^6 steps.
/// The work is counted by the codec itself (labels read plus pointers followed), not measured in wall time.
/// </summary>
public sealed class DnsDecompressionWorkTests
{
    private const ushort UnknownType = 0xFF00;

    /// <summary>
    /// One record whose raw (unparsed) data holds a root label followed by <paramref name="chain"/> pointers, each pointing
    /// to the one before; then <paramref name="records"/> empty records whose names are a pointer to the chain's last link.
    /// </summary>
    private static byte[] PointerChainMessage(int chain, int records)
    {
        const int chainStart = 12 + 1 + 10; // header, the first record's root name, its type/class/ttl/length
        var message = new List<byte>();
        void U16(int value) { message.Add((byte)(value >> 8)); message.Add((byte)value); }
        U16(0); U16(0x8400); U16(0); U16(1 + records); U16(0); U16(0);
        message.Add(0); // root name
        U16(UnknownType); U16(1); U16(0); U16(0); U16(1 + 2 * chain);
        message.Add(0); // the chain's end: the root label at chainStart
        int previous = chainStart;
        for (int i = 0; i < chain; i++)
        {
            int at = message.Count;
            U16(0xC000 | previous);
            previous = at;
        }
        for (int i = 0; i < records; i++)
        {
            U16(0xC000 | previous);
            U16(UnknownType); U16(1); U16(0); U16(0); U16(0);
        }
        Assert.True(message.Count <= DnsMessageCodec.MaxMessageSize, $"test message is {message.Count} bytes");
        return [.. message];
    }

    [Fact]
    public void Parse_MaximalPointerChainsInA9000ByteMessage_ThrowsAfterBoundedWork()
    {
        // 2,244 links × 374 records ≈ 840,000 hops without a cap: the worst a 9000-byte message can ask for.
        var message = PointerChainMessage(chain: 2244, records: 374);
        int steps = 0;

        var error = Assert.Throws<WireFormatException>(() => DnsMessageCodec.Parse(message, ref steps));

        Assert.Contains("compression pointers", error.Message, StringComparison.Ordinal);
        Assert.InRange(steps, 1, DnsMessageCodec.MaxPointerHopsPerName + 2);
    }

    [Fact]
    public void Parse_NameOverTheHopCap_Throws()
    {
        var message = PointerChainMessage(chain: DnsMessageCodec.MaxPointerHopsPerName, records: 1); // one hop over
        int steps = 0;

        var error = Assert.Throws<WireFormatException>(() => DnsMessageCodec.Parse(message, ref steps));

        Assert.Contains("compression pointers", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_NameAtTheHopCap_IsAccepted()
    {
        // One hop from the record's name into the chain, then the chain's links.
        var message = PointerChainMessage(chain: DnsMessageCodec.MaxPointerHopsPerName - 1, records: 1);

        var parsed = DnsMessageCodec.Parse(message);

        Assert.Equal("", parsed.Answers[1].Name);
    }

    [Fact]
    public void Parse_ManyNamesUnderTheHopCapButOverTheMessageBudget_ThrowsAfterBoundedWork()
    {
        // 100 links × 730 records ≈ 74,000 steps, each name under the per-name cap.
        var message = PointerChainMessage(chain: 100, records: 730);
        int steps = 0;

        var error = Assert.Throws<WireFormatException>(() => DnsMessageCodec.Parse(message, ref steps));

        Assert.Contains("pointer hops to read", error.Message, StringComparison.Ordinal);
        Assert.Equal(DnsMessageCodec.MaxNameStepsPerMessage + 1, steps);
    }

    [Fact]
    public void Parse_LargeRealisticResponse_StaysWellUnderTheBudget()
    {
        // 60 answers about one peer, every name compressed against the first: a busy but honest mDNS response.
        var records = Enumerable.Range(0, 60).Select(i => new DnsRecord(
            "abcdefghijklmnopqrstuvwxyz0123456789._p2p._udp.local", DnsType.Txt, 1, 120,
            new DnsTxtData([System.Text.Encoding.ASCII.GetBytes($"dnsaddr=/ip4/10.0.0.{i}/tcp/4001")]))).ToList();
        var encoded = DnsMessageCodec.Encode(new DnsMessage(0, 0x8400, [], records, [], []));
        int steps = 0;

        var parsed = DnsMessageCodec.Parse(encoded, ref steps);

        Assert.Equal(60, parsed.Answers.Count);
        Assert.InRange(steps, 60, DnsMessageCodec.MaxNameStepsPerMessage / 10);
    }
}
